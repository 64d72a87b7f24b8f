"""A role session outlives neither its role nor a role of the same name created after it:
assume role R in account B from account A, read an object, delete R, create R again with the
same name, trust policy and permissions, and check that the old session is refused while a new
AssumeRole works.

Usage: role_recreate_boto3.py SERVER_JSON. Prints one JSON object; exits non-zero on the first
unexpected result.
"""
import configparser
import json
import sys

import boto3
from botocore.config import Config

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])


def client(service, alias=None, key=None, secret=None, token=None):
    if alias:
        key, secret = creds[alias]["aws_access_key_id"], creds[alias]["aws_secret_access_key"]
    return boto3.client(service, region_name="us-east-1", endpoint_url=info["https_endpoint"], verify=info["ca_bundle"],
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def session_clients(c):
    k = dict(key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
    return client("s3", **k), client("sts", **k)


def error_of(fn, **kw):
    try:
        fn(**kw)
        return None
    except Exception as e:  # botocore ClientError
        return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])


iam_b = client("iam", "account-b")
s3_b = client("s3", "account-b")
sts_a = client("sts", "account-a")

bucket = "role-recreate-data"
s3_b.create_bucket(Bucket=bucket)
s3_b.put_object(Bucket=bucket, Key="report.txt", Body=b"quarterly numbers")

trust = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]})
read = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})
role_arn = "arn:aws:iam::222222222222:role/R"


def create_role():
    role = iam_b.create_role(RoleName="R", AssumeRolePolicyDocument=trust)["Role"]
    iam_b.put_role_policy(RoleName="R", PolicyName="Read", PolicyDocument=read)
    return role


first = create_role()
old = sts_a.assume_role(RoleArn=role_arn, RoleSessionName="before")
assert old["AssumedRoleUser"]["AssumedRoleId"].startswith(first["RoleId"] + ":"), old
s3_old, sts_old = session_clients(old["Credentials"])
body = s3_old.get_object(Bucket=bucket, Key="report.txt")["Body"].read()
assert body == b"quarterly numbers", body
assert sts_old.get_caller_identity()["Arn"] == "arn:aws:sts::222222222222:assumed-role/R/before"

iam_b.delete_role_policy(RoleName="R", PolicyName="Read")
iam_b.delete_role(RoleName="R")

# The role is gone: its session is an invalid security token (S3 words it InvalidToken).
deleted = {
    "get_object": error_of(s3_old.get_object, Bucket=bucket, Key="report.txt"),
    "get_caller_identity": error_of(sts_old.get_caller_identity),
}
assert deleted["get_object"] == ("InvalidToken", 400), deleted
assert deleted["get_caller_identity"] == ("InvalidClientTokenId", 403), deleted

# The same name, trust policy and permissions again: another role, with another unique id.
second = create_role()
assert second["RoleId"] != first["RoleId"], (first, second)
recreated = {
    "get_object": error_of(s3_old.get_object, Bucket=bucket, Key="report.txt"),
    "get_caller_identity": error_of(sts_old.get_caller_identity),
}
assert recreated["get_object"] == ("InvalidToken", 400), recreated
assert recreated["get_caller_identity"] == ("InvalidClientTokenId", 403), recreated

# A new session of the new role works.
new = sts_a.assume_role(RoleArn=role_arn, RoleSessionName="after")
assert new["AssumedRoleUser"]["AssumedRoleId"].startswith(second["RoleId"] + ":"), new
s3_new, sts_new = session_clients(new["Credentials"])
assert s3_new.get_object(Bucket=bucket, Key="report.txt")["Body"].read() == b"quarterly numbers"
assert sts_new.get_caller_identity()["Arn"] == "arn:aws:sts::222222222222:assumed-role/R/after"

print(json.dumps({"ok": True, "deleted": deleted, "recreated": recreated}))
