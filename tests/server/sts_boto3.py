"""STS rules through boto3: session tags need sts:TagSession, principal tags reach later calls,
SourceIdentity needs sts:SetSourceIdentity, MaxSessionDuration bounds DurationSeconds,
PolicyArns narrow the session."""
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
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False))


def code_of(fn, **kw):
    try:
        fn(**kw)
        return None
    except Exception as e:  # botocore ClientError
        return e.response["Error"]["Code"]


iam_b = client("iam", "account-b")
sts_a = client("sts", "account-a")

trust_plain = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]}
iam_b.create_role(RoleName="Plain", AssumeRolePolicyDocument=json.dumps(trust_plain))
arn_plain = "arn:aws:iam::222222222222:role/Plain"

# Session tags need sts:TagSession in the trust policy.
assert code_of(sts_a.assume_role, RoleArn=arn_plain, RoleSessionName="t1", Tags=[{"Key": "project", "Value": "x"}]) == "AccessDenied"
# SourceIdentity needs sts:SetSourceIdentity.
assert code_of(sts_a.assume_role, RoleArn=arn_plain, RoleSessionName="t1", SourceIdentity="alice") == "AccessDenied"
# DurationSeconds beyond the role's MaxSessionDuration (3600).
assert code_of(sts_a.assume_role, RoleArn=arn_plain, RoleSessionName="t1", DurationSeconds=7200) == "ValidationError"
assert code_of(sts_a.assume_role, RoleArn=arn_plain, RoleSessionName="t1", DurationSeconds=100) == "ValidationError"
assert code_of(sts_a.assume_role, RoleArn=arn_plain, RoleSessionName="x") == "ValidationError"
# A malformed session policy.
assert code_of(sts_a.assume_role, RoleArn=arn_plain, RoleSessionName="t1", Policy="{nope") == "MalformedPolicyDocument"

trust_tags = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
              "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]}
iam_b.create_role(RoleName="Tagged", AssumeRolePolicyDocument=json.dumps(trust_tags), MaxSessionDuration=7200)
# The role may read IAM only for its own project tag: aws:PrincipalTag comes from the session tags.
iam_b.put_role_policy(RoleName="Tagged", PolicyName="ByTag", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:GetRole", "iam:ListRoles"], "Resource": "*",
                   "Condition": {"StringEquals": {"aws:PrincipalTag/project": "x"}}}]}))
out = sts_a.assume_role(RoleArn="arn:aws:iam::222222222222:role/Tagged", RoleSessionName="tagged", DurationSeconds=7200,
                        Tags=[{"Key": "project", "Value": "x"}], SourceIdentity="alice")
assert out["SourceIdentity"] == "alice", out
c = out["Credentials"]
iam_session = client("iam", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
iam_session.get_role(RoleName="Tagged")
out = sts_a.assume_role(RoleArn="arn:aws:iam::222222222222:role/Tagged", RoleSessionName="other-tag",
                        Tags=[{"Key": "project", "Value": "y"}])
c = out["Credentials"]
iam_y = client("iam", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
assert code_of(iam_y.get_role, RoleName="Tagged") == "AccessDenied"

# PolicyArns: a managed policy as session policy narrows to its actions.
pol = iam_b.create_policy(PolicyName="OnlyList", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))["Policy"]
out = sts_a.assume_role(RoleArn="arn:aws:iam::222222222222:role/Tagged", RoleSessionName="narrow",
                        Tags=[{"Key": "project", "Value": "x"}], PolicyArns=[{"arn": pol["Arn"]}])
c = out["Credentials"]
iam_n = client("iam", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
iam_n.list_roles()
assert code_of(iam_n.get_role, RoleName="Tagged") == "AccessDenied"

# A key created with no UserName belongs to the calling user.
key = client("iam", "account-a").create_access_key()["AccessKey"]
assert key["UserName"] == "admin", key
sts_k = client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
assert sts_k.get_caller_identity()["Arn"] == "arn:aws:iam::111111111111:user/admin"

print(json.dumps({"ok": True}))
