"""KMS through boto3: error codes, messages and HTTP statuses, the JSON 1.1 protocol on the wire,
pagination, cross-account use by a role session, and condition keys (kms:CallerAccount,
kms:EncryptionContext:*, kms:RequestAlias, aws:SecureTransport) decided on real requests.

Takes the server's server.json and the seed's key policy file; prints one JSON object; exits non-zero on any unexpected result."""
import base64
import configparser
import json
import sys

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
import urllib3

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])
A, B, REGION = "111111111111", "222222222222", "us-east-1"
checks = 0


def keys(alias):
    return creds[alias]["aws_access_key_id"], creds[alias]["aws_secret_access_key"]


def client(service, alias=None, key=None, secret=None, token=None, endpoint=None):
    if alias:
        key, secret = keys(alias)
    endpoint = endpoint or info["https_endpoint"]
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        verify=info["ca_bundle"] if endpoint.startswith("https") else None,
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False))


def error(fn, **kw):
    try:
        fn(**kw)
    except Exception as e:  # botocore ClientError
        r = e.response
        return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__}({kw}) unexpectedly succeeded")


def expect(got, code, message=None, status=400):
    global checks
    checks += 1
    assert got[0] == code, f"expected {code}, got {got}"
    assert got[2] == status, f"expected HTTP {status}, got {got}"
    if message is not None:
        assert got[1] == message, f"expected message {message!r}, got {got[1]!r}"


kms_b = client("kms", "account-b")
kms_a = client("kms", "account-a")
# The seed's Step 1 key policy, verbatim (path given by the Rust test).
seed_policy = open(sys.argv[2]).read()

key = kms_b.create_key(Policy=seed_policy, Description="KMS key for cross-account S3 bucket encryption")["KeyMetadata"]
key_id, key_arn = key["KeyId"], key["Arn"]
kms_b.create_alias(AliasName="alias/cross-account-s3-key", TargetKeyId=key_id)
alias_arn = f"arn:aws:kms:{REGION}:{B}:alias/cross-account-s3-key"

# ---- validation errors, with AWS's messages
expect(error(kms_b.generate_data_key, KeyId=key_id, KeySpec="AES_256", NumberOfBytes=32),
       "ValidationException", "Please specify either number of bytes or key spec.")
expect(error(kms_b.generate_data_key, KeyId=key_id), "ValidationException", "Please specify either number of bytes or key spec.")
expect(error(kms_b.generate_data_key, KeyId=key_id, NumberOfBytes=2000), "ValidationException",
       "1 validation error detected: Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
expect(error(kms_b.generate_data_key, KeyId=key_id, KeySpec="AES_512"), "ValidationException",
       "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]")
expect(error(kms_b.encrypt, KeyId=key_id, Plaintext=b"x" * 4097), "ValidationException")
expect(error(kms_b.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=5), "ValidationException",
       "1 validation error detected: Value '5' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7")
expect(error(kms_b.describe_key, KeyId="nonsense"), "NotFoundException", "Invalid keyId nonsense")
missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
expect(error(kms_b.describe_key, KeyId=missing), "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{B}:key/{missing}' does not exist")
expect(error(kms_b.get_key_policy, KeyId=key_id, PolicyName="other"), "NotFoundException", "No such policy exists")
expect(error(kms_b.create_key, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"), "UnsupportedOperationException")
expect(error(kms_b.create_key, KeySpec="NOPE"), "ValidationException")
expect(error(kms_b.create_alias, AliasName="no-prefix", TargetKeyId=key_id), "ValidationException")
expect(error(kms_b.create_alias, AliasName="alias/aws/s3", TargetKeyId=key_id), "NotAuthorizedException")
expect(error(kms_b.create_alias, AliasName="alias/cross-account-s3-key", TargetKeyId=key_id), "AlreadyExistsException",
       f"An alias with the name {alias_arn} already exists")
expect(error(kms_b.tag_resource, KeyId=key_id, Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}]), "TagException")
expect(error(kms_b.put_key_policy, KeyId=key_id, PolicyName="default", Policy="{not json"), "MalformedPolicyDocumentException")
lockout = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                                                              "Action": "kms:Decrypt", "Resource": "*"}]})
expect(error(kms_b.put_key_policy, KeyId=key_id, PolicyName="default", Policy=lockout), "MalformedPolicyDocumentException",
       "The new key policy will not allow you to update the key policy in the future.")
expect(error(kms_b.create_grant, KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{B}:root", Operations=["Decrypt"]),
       "UnsupportedOperationException")
expect(error(kms_b.decrypt, CiphertextBlob=b"not a ciphertext at all, just some bytes to decrypt"), "InvalidCiphertextException")
other = kms_b.create_key()["KeyMetadata"]
blob = kms_b.encrypt(KeyId=key_id, Plaintext=b"payload", EncryptionContext={"purpose": "test"})["CiphertextBlob"]
expect(error(kms_b.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "test"}, KeyId=other["KeyId"]), "IncorrectKeyException")
expect(error(kms_b.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "prod"}), "InvalidCiphertextException", "")
expect(error(kms_b.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256"), "InvalidKeyUsageException")

# ---- successful shapes
out = kms_b.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "test"}, KeyId="alias/cross-account-s3-key")
assert out["Plaintext"] == b"payload" and out["KeyId"] == key_arn and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT", out
re = kms_b.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"purpose": "test"}, DestinationKeyId=other["Arn"],
                      DestinationEncryptionContext={"purpose": "moved"})
assert re["SourceKeyId"] == key_arn and re["KeyId"] == other["Arn"], re
assert kms_b.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"purpose": "moved"})["Plaintext"] == b"payload"
wp = kms_b.generate_data_key_without_plaintext(KeyId=alias_arn, KeySpec="AES_128")
assert "Plaintext" not in wp and len(kms_b.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 16
assert len(kms_b.generate_random(NumberOfBytes=48)["Plaintext"]) == 48
kms_b.update_key_description(KeyId=key_id, Description="updated")
assert kms_b.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "updated"
kms_b.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
page1 = kms_b.list_resource_tags(KeyId=key_id, Limit=1)
assert page1["Truncated"] and page1["Tags"] == [{"TagKey": "a", "TagValue": "1"}], page1
page2 = kms_b.list_resource_tags(KeyId=key_id, Limit=1, Marker=page1["NextMarker"])
assert not page2["Truncated"] and page2["Tags"] == [{"TagKey": "b", "TagValue": "2"}], page2
kms_b.untag_resource(KeyId=key_id, TagKeys=["a"])
assert kms_b.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
listed = []
marker = None
while True:
    kw = {"Limit": 1}
    if marker:
        kw["Marker"] = marker
    p = kms_b.list_keys(**kw)
    listed += [k["KeyId"] for k in p["Keys"]]
    if not p["Truncated"]:
        break
    marker = p["NextMarker"]
assert sorted(listed) == sorted([key_id, other["KeyId"]]), listed
kms_b.create_alias(AliasName="alias/second", TargetKeyId=other["KeyId"])
kms_b.update_alias(AliasName="alias/second", TargetKeyId=key_id)
assert kms_b.describe_key(KeyId="alias/second")["KeyMetadata"]["KeyId"] == key_id
kms_b.delete_alias(AliasName="alias/second")
expect(error(kms_b.delete_alias, AliasName="alias/second"), "NotFoundException",
       f"Alias arn:aws:kms:{REGION}:{B}:alias/second is not found.")

# ---- the JSON protocol on the wire (raw, signed requests)
ak, sk = keys("account-b")
http = urllib3.PoolManager(ca_certs=info["ca_bundle"])


def raw(target, body, content_type="application/x-amz-json-1.1"):
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method="POST", url=info["https_endpoint"] + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ak, sk), "kms", REGION).add_auth(req)
    r = http.request("POST", req.url, body=req.body, headers=dict(req.headers.items()))
    return r.status, r.headers, r.data  # case-insensitive


status, headers, data = raw("TrentService.DescribeKey", json.dumps({"KeyId": key_id}))
assert status == 200 and headers["Content-Type"] == "application/x-amz-json-1.1", (status, headers)
assert "x-amzn-RequestId" in headers, headers
assert json.loads(data)["KeyMetadata"]["KeyId"] == key_id
for target, body, code in [
    ("TrentService.NoSuchOperation", "{}", "UnknownOperationException"),
    ("TrentService.DescribeKey", "not json", "SerializationException"),
    ("TrentService.DescribeKey", "[1, 2]", "SerializationException"),
    ("TrentService.DescribeKey", json.dumps({"KeyId": 12}), "SerializationException"),
    ("TrentService.Encrypt", json.dumps({"KeyId": key_id, "Plaintext": "***not base64***"}), "SerializationException"),
    ("TrentService.DescribeKey", "{}", "ValidationException"),
    ("TrentService.CreateGrant", "{}", "UnsupportedOperationException"),
]:
    status, headers, data = raw(target, body)
    err = json.loads(data)
    assert status == 400 and err["__type"] == code and "message" in err, (target, body, status, err)
    assert headers.get("x-amzn-ErrorType") == code, headers
    checks += 1
status, _, data = raw("TrentService.DescribeKey", "{}")
assert json.loads(data)["message"] == "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
empty_ok, _, data = raw("TrentService.EnableKey", json.dumps({"KeyId": key_id}))
assert empty_ok == 200 and data == b"", (empty_ok, data)

# ---- cross-account: a role session in account A (the seed's Step 9 shape, with a policy naming the real key)
iam_a = client("iam", "account-a")
iam_a.create_role(RoleName="EC2CrossAccountAssumeRole", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole"}]}))
iam_a.put_role_policy(RoleName="EC2CrossAccountAssumeRole", PolicyName="kms", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"], "Resource": key_arn}]}))
c = client("sts", "account-a").assume_role(RoleArn=f"arn:aws:iam::{A}:role/EC2CrossAccountAssumeRole", RoleSessionName="i-0123")["Credentials"]
kms_role = client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
dk = kms_role.generate_data_key(KeyId=alias_arn, KeySpec="AES_256", EncryptionContext={"aws:s3:arn": "arn:aws:s3:::cross-account-secure-bucket-demo/x"})
assert kms_role.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"aws:s3:arn": "arn:aws:s3:::cross-account-secure-bucket-demo/x"})["Plaintext"] == dk["Plaintext"]
expect(error(kms_role.encrypt, KeyId=key_arn, Plaintext=b"x"), "AccessDeniedException",
       f"User: arn:aws:sts::{A}:assumed-role/EC2CrossAccountAssumeRole/i-0123 is not authorized to perform: kms:Encrypt on resource: {key_arn} because no resource-based policy allows the kms:Encrypt action")

# ---- condition keys on real requests: a hardened key policy for account A
hardened = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "AUse", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": A, "kms:RequestAlias": "alias/cross-account-s3-key"},
                       "StringLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::cross-account-secure-bucket-demo/*"}}},
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ],
}
kms_b.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(hardened))
ok_ctx = {"aws:s3:arn": "arn:aws:s3:::cross-account-secure-bucket-demo/x"}
kms_role.generate_data_key(KeyId=alias_arn, KeySpec="AES_256", EncryptionContext=ok_ctx)
expect(error(kms_role.generate_data_key, KeyId=key_arn, KeySpec="AES_256", EncryptionContext=ok_ctx), "AccessDeniedException")
expect(error(kms_role.generate_data_key, KeyId=alias_arn, KeySpec="AES_256", EncryptionContext={"aws:s3:arn": "arn:aws:s3:::elsewhere/x"}),
       "AccessDeniedException")
expect(error(kms_role.generate_data_key, KeyId=alias_arn, KeySpec="AES_256"), "AccessDeniedException")
# Over plain HTTP, the explicit deny of aws:SecureTransport=false applies even to account B.
kms_b_http = client("kms", "account-b", endpoint=info["http_endpoint"])
expect(error(kms_b_http.describe_key, KeyId=key_id), "AccessDeniedException",
       f"User: arn:aws:iam::{B}:user/admin is not authorized to perform: kms:DescribeKey on resource: {key_arn} with an explicit deny in a resource-based policy")
assert kms_b.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id

print(json.dumps({"ok": True, "checks": checks}))
