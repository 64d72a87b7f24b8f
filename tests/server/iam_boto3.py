"""IAM through boto3: error codes and shapes, managed policies with versions, boundaries,
users and keys, instance profiles. Exits non-zero with a message on the first mismatch."""
import configparser
import json
import sys

import boto3
from botocore.config import Config

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])


def client(service, alias="account-a", **kw):
    c = creds[alias]
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=info["https_endpoint"],
        verify=info["ca_bundle"],
        aws_access_key_id=kw.get("key", c["aws_access_key_id"]),
        aws_secret_access_key=kw.get("secret", c["aws_secret_access_key"]),
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


iam = client("iam")
checks = 0


def expect_error(code, fn, *args, **kwargs):
    global checks
    try:
        fn(*args, **kwargs)
    except iam.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{fn.__name__}: expected {code}, got {got}: {e}"
        checks += 1
        return e
    raise AssertionError(f"{fn.__name__}: expected {code}, call succeeded")


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
READ = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
WRITE = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]})

# Roles, with tags, path, max session duration.
r = iam.create_role(RoleName="App", Path="/service/", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=7200,
                    Tags=[{"Key": "team", "Value": "data"}])["Role"]
assert r["Arn"] == "arn:aws:iam::111111111111:role/service/App", r
assert r["MaxSessionDuration"] == 7200
assert r["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
assert iam.list_role_tags(RoleName="App")["Tags"] == [{"Key": "team", "Value": "data"}]
expect_error("EntityAlreadyExists", iam.create_role, RoleName="app", AssumeRolePolicyDocument=TRUST)
expect_error("ValidationError", iam.create_role, RoleName="bad name!", AssumeRolePolicyDocument=TRUST)
expect_error("ValidationError", iam.update_role, RoleName="App", MaxSessionDuration=60)
expect_error("NoSuchEntity", iam.get_role, RoleName="Nope")
expect_error("MalformedPolicyDocument", iam.update_assume_role_policy, RoleName="App", PolicyDocument="{not json")
iam.update_role(RoleName="App", Description="d", MaxSessionDuration=3600)
assert iam.get_role(RoleName="App")["Role"]["Description"] == "d"

# Managed policies and versions.
p = iam.create_policy(PolicyName="Reader", PolicyDocument=READ, Description="reads")["Policy"]
arn = p["Arn"]
assert arn == "arn:aws:iam::111111111111:policy/Reader" and p["DefaultVersionId"] == "v1", p
expect_error("EntityAlreadyExists", iam.create_policy, PolicyName="Reader", PolicyDocument=READ)
v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=WRITE, SetAsDefault=True)["PolicyVersion"]
assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"], v2
doc = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"]
assert doc["Statement"][0]["Action"] == "s3:PutObject", doc
versions = [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]]
assert sorted(versions) == ["v1", "v2"], versions
for _ in range(3):
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=READ)
expect_error("LimitExceeded", iam.create_policy_version, PolicyArn=arn, PolicyDocument=READ)
expect_error("DeleteConflict", iam.delete_policy_version, PolicyArn=arn, VersionId="v2")
iam.attach_role_policy(RoleName="App", PolicyArn=arn)
iam.attach_role_policy(RoleName="App", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
attached = {a["PolicyName"] for a in iam.list_attached_role_policies(RoleName="App")["AttachedPolicies"]}
assert attached == {"Reader", "AmazonS3ReadOnlyAccess"}, attached
assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
expect_error("NoSuchEntity", iam.attach_role_policy, RoleName="App", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
expect_error("DeleteConflict", iam.delete_policy, PolicyArn=arn)
expect_error("DeleteConflict", iam.delete_role, RoleName="App")
local = [x["PolicyName"] for x in iam.list_policies(Scope="Local")["Policies"]]
assert local == ["Reader"], local
assert any(x["PolicyName"] == "AdministratorAccess" for x in iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"])

# Inline policies.
iam.put_role_policy(RoleName="App", PolicyName="inline", PolicyDocument=READ)
assert iam.list_role_policies(RoleName="App")["PolicyNames"] == ["inline"]
got = iam.get_role_policy(RoleName="App", PolicyName="inline")
assert got["PolicyDocument"] == json.loads(READ) and got["RoleName"] == "App", got
expect_error("NoSuchEntity", iam.get_role_policy, RoleName="App", PolicyName="other")

# Permissions boundary.
iam.put_role_permissions_boundary(RoleName="App", PermissionsBoundary=arn)
assert iam.get_role(RoleName="App")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
iam.delete_role_permissions_boundary(RoleName="App")
assert "PermissionsBoundary" not in iam.get_role(RoleName="App")["Role"]

# Instance profiles.
ip = iam.create_instance_profile(InstanceProfileName="AppProfile")["InstanceProfile"]
assert ip["Arn"] == "arn:aws:iam::111111111111:instance-profile/AppProfile" and ip["Roles"] == [], ip
iam.add_role_to_instance_profile(InstanceProfileName="AppProfile", RoleName="App")
ip = iam.get_instance_profile(InstanceProfileName="AppProfile")["InstanceProfile"]
assert [x["RoleName"] for x in ip["Roles"]] == ["App"], ip
iam.create_role(RoleName="Other", AssumeRolePolicyDocument=TRUST)
expect_error("LimitExceeded", iam.add_role_to_instance_profile, InstanceProfileName="AppProfile", RoleName="Other")
assert [x["InstanceProfileName"] for x in iam.list_instance_profiles_for_role(RoleName="App")["InstanceProfiles"]] == ["AppProfile"]
expect_error("DeleteConflict", iam.delete_instance_profile, InstanceProfileName="AppProfile")

# Tear down in AWS's order.
iam.remove_role_from_instance_profile(InstanceProfileName="AppProfile", RoleName="App")
iam.delete_instance_profile(InstanceProfileName="AppProfile")
iam.delete_role_policy(RoleName="App", PolicyName="inline")
iam.detach_role_policy(RoleName="App", PolicyArn=arn)
iam.detach_role_policy(RoleName="App", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
iam.delete_role(RoleName="App")
for v in ("v1", "v3", "v4", "v5"):
    iam.delete_policy_version(PolicyArn=arn, VersionId=v)
iam.delete_policy(PolicyArn=arn)
expect_error("NoSuchEntity", iam.get_policy, PolicyArn=arn)

# Users and access keys.
iam.create_user(UserName="carol", Tags=[{"Key": "dept", "Value": "ops"}])
k1 = iam.create_access_key(UserName="carol")["AccessKey"]
assert k1["AccessKeyId"].startswith("AKIA") and len(k1["SecretAccessKey"]) == 40, k1
iam.create_access_key(UserName="carol")
expect_error("LimitExceeded", iam.create_access_key, UserName="carol")
carol_sts = client("sts", key=k1["AccessKeyId"], secret=k1["SecretAccessKey"])
assert carol_sts.get_caller_identity()["Arn"] == "arn:aws:iam::111111111111:user/carol"
iam.update_access_key(UserName="carol", AccessKeyId=k1["AccessKeyId"], Status="Inactive")
try:
    carol_sts.get_caller_identity()
    raise AssertionError("an inactive key authenticated")
except carol_sts.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidClientTokenId", e
expect_error("DeleteConflict", iam.delete_user, UserName="carol")
for k in iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]:
    iam.delete_access_key(UserName="carol", AccessKeyId=k["AccessKeyId"])
iam.delete_user(UserName="carol")
users = [u["UserName"] for u in iam.list_users()["Users"]]
assert users == ["admin"], users

# Pagination.
for i in range(3):
    iam.create_role(RoleName=f"Page{i}", AssumeRolePolicyDocument=TRUST)
page = iam.list_roles(MaxItems=2)
assert page["IsTruncated"] and len(page["Roles"]) == 2, page
rest = iam.list_roles(MaxItems=10, Marker=page["Marker"])
assert not rest["IsTruncated"] and len(rest["Roles"]) == 2, rest

print(json.dumps({"ok": True, "error_checks": checks}))
