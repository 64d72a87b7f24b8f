"""CloudTrail LookupEvents through boto3: after a mix of IAM, STS and KMS calls, the events are
found by every lookup attribute, newest first, paged with MaxResults/NextToken (and by boto3's
paginator), filtered by time; data events are absent; invalid input gets CloudTrail's errors.

Takes the server's server.json; prints one JSON object; exits non-zero on any unexpected result."""
import configparser
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])
A, B, REGION = "111111111111", "222222222222", "us-east-1"
checks = 0


def client(service, alias="account-a", key=None, secret=None, token=None):
    if alias:
        key, secret = creds[alias]["aws_access_key_id"], creds[alias]["aws_secret_access_key"]
    return boto3.client(service, region_name=REGION, endpoint_url=info["https_endpoint"],
                        verify=info["ca_bundle"], aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"max_attempts": 1}))


def check(cond, what):
    global checks
    if not cond:
        print(json.dumps({"failed": what}))
        sys.exit(1)
    checks += 1


def error(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    check(False, f"{fn.__name__} {kw} succeeded")


start = datetime.now(timezone.utc) - timedelta(seconds=2)
iam, kms, s3 = client("iam"), client("kms"), client("s3")
iam.create_role(RoleName="TrailRole", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                   "Action": "sts:AssumeRole"}]}))
for i in range(5):
    iam.create_user(UserName=f"trail-user-{i}")
key = kms.create_key()["KeyMetadata"]["Arn"]
kms.generate_data_key(KeyId=key, KeySpec="AES_256")
s3.create_bucket(Bucket="trail-boto3")
s3.put_object(Bucket="trail-boto3", Key="o", Body=b"data")
assumed = client("sts").assume_role(RoleArn=f"arn:aws:iam::{A}:role/TrailRole",
                                     RoleSessionName="boto3-session")["Credentials"]
# A denied call by the session (the role has no permissions).
session_iam = client("iam", alias=None, key=assumed["AccessKeyId"],
                     secret=assumed["SecretAccessKey"], token=assumed["SessionToken"])
check(error(session_iam.create_user, UserName="nope") == ("AccessDenied", 403), "denied")

ct = client("cloudtrail")


def lookup(**kw):
    return ct.lookup_events(**kw)["Events"]


def names(events):
    return [e["EventName"] for e in events]


# EventName, newest first, paged by MaxResults / NextToken.
users = lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])
check(len(users) == 6, f"6 CreateUser events (5 + the denied one): {names(users)}")
times = [e["EventTime"] for e in users]
check(times == sorted(times, reverse=True), "newest first")
check(users[0]["ReadOnly"] == "false", "ReadOnly is a string")
denied = json.loads(users[0]["CloudTrailEvent"])
check(denied["errorCode"] == "AccessDenied", f"denial recorded: {denied}")
check(denied["userIdentity"]["type"] == "AssumedRole", "assumed role")
check(denied["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "TrailRole",
      "session issuer")
check(users[0]["Username"] == "boto3-session", "Username of a session is its name")

seen, token = [], None
while True:
    kw = {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
          "MaxResults": 2}
    if token:
        kw["NextToken"] = token
    page = ct.lookup_events(**kw)
    check(len(page["Events"]) <= 2, "MaxResults respected")
    seen += [e["EventId"] for e in page["Events"]]
    token = page.get("NextToken")
    if not token:
        break
check(seen == [e["EventId"] for e in users], "pages add up to the whole list, in order")
paged = [e["EventId"] for p in ct.get_paginator("lookup_events").paginate(
    LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
    PaginationConfig={"PageSize": 4}) for e in p["Events"]]
check(paged == seen, "boto3 paginator")

# The other attributes.
by_source = lookup(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}])
check(set(names(by_source)) == {"CreateKey", "GenerateDataKey"}, f"EventSource: {names(by_source)}")
by_resource = lookup(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key}])
check(set(names(by_resource)) == {"CreateKey", "GenerateDataKey"}, "ResourceName (ARN)")
by_type = lookup(LookupAttributes=[{"AttributeKey": "ResourceType", "AttributeValue": "AWS::IAM::Role"}])
check("CreateRole" in names(by_type), f"ResourceType: {names(by_type)}")
ro = lookup(LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "true"}])
check(all(json.loads(e["CloudTrailEvent"])["readOnly"] for e in ro) and "GenerateDataKey" in names(ro), "ReadOnly")
one = users[3]
by_id = lookup(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": one["EventId"]}])
check([e["EventId"] for e in by_id] == [one["EventId"]], "EventId")
by_key = lookup(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": assumed["AccessKeyId"]}])
check(names(by_key) == ["CreateUser"], f"AccessKeyId: {names(by_key)}")
by_user = lookup(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "boto3-session"}])
check(names(by_user) == ["CreateUser"], "Username")

# Data events are not in the event history; management S3 calls are.
check(lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutObject"}]) == [],
      "no data events")
check(names(lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateBucket"}])) == ["CreateBucket"],
      "CreateBucket is a management event")

# Time window.
check(lookup(StartTime=datetime.now(timezone.utc) + timedelta(hours=1)) == [], "future window empty")
check(len(lookup(StartTime=start, EndTime=datetime.now(timezone.utc) + timedelta(seconds=5))) > 0, "window")

# Account B sees none of A's events.
check(client("cloudtrail", alias="account-b").lookup_events()["Events"] == [], "per account")

# Invalid input.
check(error(ct.lookup_events, LookupAttributes=[
    {"AttributeKey": "EventName", "AttributeValue": "a"},
    {"AttributeKey": "EventSource", "AttributeValue": "b"}])[0] == "InvalidLookupAttributesException", "two attributes")
check(error(ct.lookup_events, MaxResults=51)[0] in ("InvalidMaxResultsException", "ParamValidationError"), "max")
check(error(ct.lookup_events, NextToken="not-a-token")[0] == "InvalidNextTokenException", "token")
check(error(ct.lookup_events, StartTime=datetime.now(timezone.utc),
            EndTime=datetime.now(timezone.utc) - timedelta(hours=1))[0] == "InvalidTimeRangeException", "range")

# The session may not look up events: LookupEvents is authorized like any call.
session_ct = client("cloudtrail", alias=None, key=assumed["AccessKeyId"],
                    secret=assumed["SecretAccessKey"], token=assumed["SessionToken"])
check(error(session_ct.lookup_events) == ("AccessDeniedException", 400), "LookupEvents authorized")

print(json.dumps({"ok": True, "checks": checks}))
