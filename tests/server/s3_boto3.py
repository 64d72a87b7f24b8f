"""S3 through boto3 against a running airlock server: AWS error codes, statuses and shapes,
virtual-hosted-style addressing, presigned URLs, checksums, copies, batch deletes, tags and
condition keys, account-level Block Public Access (s3control), aws:SecureTransport.

Usage: s3_boto3.py SERVER_JSON. Prints one line per check; exits non-zero on the first
unexpected result.
"""

import configparser
import hashlib
import base64
import json
import socket
import ssl
import sys
import urllib.request
import urllib.error

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])
HTTPS = info["https_endpoint"]
HTTP = info["http_endpoint"]
CA = info["ca_bundle"]
A, B = "111111111111", "222222222222"


def keys(profile):
    return dict(
        aws_access_key_id=creds[profile]["aws_access_key_id"],
        aws_secret_access_key=creds[profile]["aws_secret_access_key"],
    )


def client(service, profile="account-b", endpoint=HTTPS, region="us-east-1", config=None, **extra):
    k = dict(keys(profile))
    k.update(extra)
    return boto3.client(
        service, endpoint_url=endpoint, verify=CA, region_name=region, config=config, **k
    )


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(name, cond, detail=""):
    if not cond:
        fail(f"{name}: {detail}")
    print(f"ok   {name}")


def expect_error(name, fn, code, status):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"].get("Code")
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if got != code or got_status != status:
            fail(f"{name}: expected {code}/{status}, got {got}/{got_status}: {e.response['Error']}")
        print(f"ok   {name}: {code} {status}")
        return e.response
    fail(f"{name}: expected {code}/{status}, but the call succeeded")


s3 = client("s3")
s3a = client("s3", profile="account-a")

# ---------------------------------------------------------------- bucket errors
s3.create_bucket(Bucket="errors-bucket")
expect_error("NoSuchBucket", lambda: s3.get_object(Bucket="no-such-bucket-here", Key="k"), "NoSuchBucket", 404)
r = expect_error("NoSuchBucket names the bucket", lambda: s3.list_objects_v2(Bucket="no-such-bucket-here"), "NoSuchBucket", 404)
check("NoSuchBucket BucketName element", r["Error"].get("BucketName") == "no-such-bucket-here", r["Error"])
expect_error("NoSuchKey", lambda: s3.get_object(Bucket="errors-bucket", Key="missing"), "NoSuchKey", 404)
expect_error("ExpectedBucketOwner mismatch", lambda: s3.list_objects_v2(Bucket="errors-bucket", ExpectedBucketOwner=A), "AccessDenied", 403)
check("ExpectedBucketOwner match", s3.list_objects_v2(Bucket="errors-bucket", ExpectedBucketOwner=B)["KeyCount"] == 0)
expect_error("InvalidBucketName", lambda: s3.create_bucket(Bucket="Bad_Name"), "InvalidBucketName", 400)
expect_error("BucketAlreadyExists (other account)", lambda: s3a.create_bucket(Bucket="errors-bucket"), "BucketAlreadyExists", 409)
eu = client("s3", region="eu-west-1")
eu.create_bucket(Bucket="errors-bucket-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
expect_error(
    "BucketAlreadyOwnedByYou (outside us-east-1)",
    lambda: eu.create_bucket(Bucket="errors-bucket-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}),
    "BucketAlreadyOwnedByYou",
    409,
)
check("GetBucketLocation", eu.get_bucket_location(Bucket="errors-bucket-eu")["LocationConstraint"] == "eu-west-1")
check("GetBucketLocation us-east-1 is empty", s3.get_bucket_location(Bucket="errors-bucket")["LocationConstraint"] is None)
expect_error(
    "InvalidBucketAclWithObjectOwnership",
    lambda: s3.create_bucket(Bucket="acl-bucket-x", ACL="public-read"),
    "InvalidBucketAclWithObjectOwnership",
    400,
)
s3.put_object(Bucket="errors-bucket", Key="k", Body=b"0123456789")
expect_error("BucketNotEmpty", lambda: s3.delete_bucket(Bucket="errors-bucket"), "BucketNotEmpty", 409)

# ---------------------------------------------------------------- object errors and conditions
etag = s3.head_object(Bucket="errors-bucket", Key="k")["ETag"]
expect_error("InvalidRange", lambda: s3.get_object(Bucket="errors-bucket", Key="k", Range="bytes=10-"), "InvalidRange", 416)
check("Range", s3.get_object(Bucket="errors-bucket", Key="k", Range="bytes=2-4")["Body"].read() == b"234")
check("suffix Range", s3.get_object(Bucket="errors-bucket", Key="k", Range="bytes=-3")["Body"].read() == b"789")
expect_error("PreconditionFailed (If-Match)", lambda: s3.get_object(Bucket="errors-bucket", Key="k", IfMatch='"nope"'), "PreconditionFailed", 412)
expect_error("NotModified (If-None-Match)", lambda: s3.get_object(Bucket="errors-bucket", Key="k", IfNoneMatch=etag), "304", 304)
check("If-Match matches", s3.get_object(Bucket="errors-bucket", Key="k", IfMatch=etag)["Body"].read() == b"0123456789")
expect_error(
    "PreconditionFailed (If-None-Match: * on write)",
    lambda: s3.put_object(Bucket="errors-bucket", Key="k", Body=b"x", IfNoneMatch="*"),
    "PreconditionFailed",
    412,
)
expect_error("InvalidArgument (version id)", lambda: s3.get_object(Bucket="errors-bucket", Key="k", VersionId="bogus"), "InvalidArgument", 400)
expect_error(
    "AccessControlListNotSupported",
    lambda: s3.put_object(Bucket="errors-bucket", Key="acl", Body=b"x", ACL="public-read"),
    "AccessControlListNotSupported",
    400,
)
expect_error("AccessControlListNotSupported (PutBucketAcl)", lambda: s3.put_bucket_acl(Bucket="errors-bucket", ACL="public-read"), "AccessControlListNotSupported", 400)
s3.put_object(Bucket="errors-bucket", Key="owner-full", Body=b"x", ACL="bucket-owner-full-control")
acl = s3.get_object_acl(Bucket="errors-bucket", Key="owner-full")
check("GetObjectAcl owner FULL_CONTROL", acl["Grants"][0]["Permission"] == "FULL_CONTROL", acl)

# ---------------------------------------------------------------- configuration errors
expect_error("MalformedXML", lambda: s3.put_bucket_versioning(Bucket="errors-bucket", VersioningConfiguration={"Status": "Bogus"}), "MalformedXML", 400)
expect_error("MalformedPolicy", lambda: s3.put_bucket_policy(Bucket="errors-bucket", Policy="not json"), "MalformedPolicy", 400)
expect_error(
    "MalformedPolicy (resource outside the bucket)",
    lambda: s3.put_bucket_policy(
        Bucket="errors-bucket",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other-bucket/*"}]}),
    ),
    "MalformedPolicy",
    400,
)
expect_error("NoSuchBucketPolicy", lambda: s3.get_bucket_policy(Bucket="errors-bucket"), "NoSuchBucketPolicy", 404)
expect_error("NoSuchBucketPolicy (status)", lambda: s3.get_bucket_policy_status(Bucket="errors-bucket"), "NoSuchBucketPolicy", 404)
enc = s3.get_bucket_encryption(Bucket="errors-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
check("default encryption is SSE-S3 (S3 since 2023)", enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", enc)
s3.delete_bucket_encryption(Bucket="errors-bucket")
check("GetBucketEncryption after delete is SSE-S3", s3.get_bucket_encryption(Bucket="errors-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256")
s3.delete_public_access_block(Bucket="errors-bucket")
expect_error("NoSuchPublicAccessBlockConfiguration", lambda: s3.get_public_access_block(Bucket="errors-bucket"), "NoSuchPublicAccessBlockConfiguration", 404)
check("OwnershipControls default BucketOwnerEnforced", s3.get_bucket_ownership_controls(Bucket="errors-bucket")["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced")
s3.delete_bucket_ownership_controls(Bucket="errors-bucket")
expect_error("OwnershipControlsNotFoundError", lambda: s3.get_bucket_ownership_controls(Bucket="errors-bucket"), "OwnershipControlsNotFoundError", 404)
s3.put_bucket_ownership_controls(Bucket="errors-bucket", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
expect_error("NoSuchTagSet", lambda: s3.get_bucket_tagging(Bucket="errors-bucket"), "NoSuchTagSet", 404)
s3.put_bucket_tagging(Bucket="errors-bucket", Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
check("GetBucketTagging", s3.get_bucket_tagging(Bucket="errors-bucket")["TagSet"] == [{"Key": "team", "Value": "data"}])
expect_error("NoSuchCORSConfiguration", lambda: s3.get_bucket_cors(Bucket="errors-bucket"), "NoSuchCORSConfiguration", 404)

# ---------------------------------------------------------------- multipart errors
mp = s3.create_multipart_upload(Bucket="errors-bucket", Key="mp")
uid = mp["UploadId"]
expect_error("NoSuchUpload", lambda: s3.upload_part(Bucket="errors-bucket", Key="mp", UploadId="bogus", PartNumber=1, Body=b"x"), "NoSuchUpload", 404)
expect_error("NoSuchUpload (list parts)", lambda: s3.list_parts(Bucket="errors-bucket", Key="mp", UploadId="bogus"), "NoSuchUpload", 404)
p1 = s3.upload_part(Bucket="errors-bucket", Key="mp", UploadId=uid, PartNumber=1, Body=b"a" * 1024)["ETag"]
p2 = s3.upload_part(Bucket="errors-bucket", Key="mp", UploadId=uid, PartNumber=2, Body=b"b" * 1024)["ETag"]
expect_error(
    "InvalidPart",
    lambda: s3.complete_multipart_upload(Bucket="errors-bucket", Key="mp", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00"'}]}),
    "InvalidPart",
    400,
)
expect_error(
    "InvalidPartOrder",
    lambda: s3.complete_multipart_upload(Bucket="errors-bucket", Key="mp", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": p2}, {"PartNumber": 1, "ETag": p1}]}),
    "InvalidPartOrder",
    400,
)
expect_error(
    "EntityTooSmall",
    lambda: s3.complete_multipart_upload(Bucket="errors-bucket", Key="mp", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]}),
    "EntityTooSmall",
    400,
)
parts = s3.list_parts(Bucket="errors-bucket", Key="mp", UploadId=uid)["Parts"]
check("ListParts", [p["PartNumber"] for p in parts] == [1, 2] and parts[0]["Size"] == 1024, parts)
uploads = s3.list_multipart_uploads(Bucket="errors-bucket")["Uploads"]
check("ListMultipartUploads", [u["UploadId"] for u in uploads] == [uid], uploads)
s3.abort_multipart_upload(Bucket="errors-bucket", Key="mp", UploadId=uid)
expect_error("NoSuchUpload after abort", lambda: s3.list_parts(Bucket="errors-bucket", Key="mp", UploadId=uid), "NoSuchUpload", 404)
# A one-part upload of any size completes; UploadPartCopy from an object.
mp = s3.create_multipart_upload(Bucket="errors-bucket", Key="mp2", ChecksumAlgorithm="SHA256")
e1 = s3.upload_part(Bucket="errors-bucket", Key="mp2", UploadId=mp["UploadId"], PartNumber=1, Body=b"c" * (5 * 1024 * 1024), ChecksumAlgorithm="SHA256")
e2 = s3.upload_part_copy(Bucket="errors-bucket", Key="mp2", UploadId=mp["UploadId"], PartNumber=2, CopySource={"Bucket": "errors-bucket", "Key": "k"}, CopySourceRange="bytes=0-4")
done = s3.complete_multipart_upload(
    Bucket="errors-bucket",
    Key="mp2",
    UploadId=mp["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1["ETag"], "ChecksumSHA256": e1["ChecksumSHA256"]}, {"PartNumber": 2, "ETag": e2["CopyPartResult"]["ETag"]}]},
)
body = s3.get_object(Bucket="errors-bucket", Key="mp2")["Body"].read()
check("multipart with UploadPartCopy", body == b"c" * (5 * 1024 * 1024) + b"01234" and done["ETag"].endswith('-2"'), done)
part2 = s3.get_object(Bucket="errors-bucket", Key="mp2", PartNumber=2)
check("GetObject PartNumber", part2["Body"].read() == b"01234" and part2["PartsCount"] == 2, part2["ResponseMetadata"])

# ---------------------------------------------------------------- versions
s3.create_bucket(Bucket="versions-bucket")
s3.put_bucket_versioning(Bucket="versions-bucket", VersioningConfiguration={"Status": "Enabled"})
v1 = s3.put_object(Bucket="versions-bucket", Key="v", Body=b"1")["VersionId"]
marker = s3.delete_object(Bucket="versions-bucket", Key="v")["VersionId"]
r = expect_error("NoSuchKey on a delete marker", lambda: s3.get_object(Bucket="versions-bucket", Key="v"), "NoSuchKey", 404)
check("x-amz-delete-marker header", r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true", r["ResponseMetadata"])
expect_error("MethodNotAllowed (GET a delete marker)", lambda: s3.get_object(Bucket="versions-bucket", Key="v", VersionId=marker), "MethodNotAllowed", 405)
bogus = v1[:16] + ("A" * 16 if v1[16:] != "A" * 16 else "B" * 16)
expect_error("NoSuchVersion", lambda: s3.get_object(Bucket="versions-bucket", Key="v", VersionId=bogus), "NoSuchVersion", 404)
s3.put_bucket_versioning(Bucket="versions-bucket", VersioningConfiguration={"Status": "Suspended"})
nv = s3.put_object(Bucket="versions-bucket", Key="v", Body=b"null version")
check("suspended: writes are the null version", nv.get("VersionId") == "null", nv)
check("suspended status", s3.get_bucket_versioning(Bucket="versions-bucket")["Status"] == "Suspended")
page = s3.list_object_versions(Bucket="versions-bucket", MaxKeys=1)
check("ListObjectVersions pages", page["IsTruncated"] and len(page["Versions"]) + len(page.get("DeleteMarkers", [])) == 1, page)

# ---------------------------------------------------------------- listing
s3.create_bucket(Bucket="list-bucket")
for k in ["a/1", "a/2", "b", "c/x/1", "c/y", "d e+f"]:
    s3.put_object(Bucket="list-bucket", Key=k, Body=k.encode())
pager = s3.get_paginator("list_objects_v2")
seen = []
for p in pager.paginate(Bucket="list-bucket", Delimiter="/", PaginationConfig={"PageSize": 2}):
    seen += [o["Key"] for o in p.get("Contents", [])] + [c["Prefix"] for c in p.get("CommonPrefixes", [])]
check("ListObjectsV2 pages with delimiter", sorted(seen) == ["a/", "b", "c/", "d e+f"], seen)
v1list = s3.list_objects(Bucket="list-bucket", Prefix="c/", Marker="c/x/1")
check("ListObjects v1 marker", [o["Key"] for o in v1list["Contents"]] == ["c/y"], v1list)
start = s3.list_objects_v2(Bucket="list-bucket", StartAfter="c/y")
check("StartAfter", [o["Key"] for o in start["Contents"]] == ["d e+f"], start)

# ---------------------------------------------------------------- virtual-hosted style
real_getaddrinfo = socket.getaddrinfo


def resolve_localhost_subdomains(host, *args, **kw):
    # The machine's resolver does not map *.localhost; a client-side shim does, as
    # systemd-resolved or /etc/hosts would on a workstation.
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return real_getaddrinfo(host, *args, **kw)


socket.getaddrinfo = resolve_localhost_subdomains
port = HTTP.rsplit(":", 1)[1]
vhost = client("s3", endpoint=f"http://localhost:{port}", config=Config(s3={"addressing_style": "virtual"}))
hosts = []
vhost.meta.events.register("before-send.s3", lambda request, **kw: hosts.append(request.url.split("/")[2]))
vhost.create_bucket(Bucket="vhost-bucket")
vhost.put_object(Bucket="vhost-bucket", Key="dir/file.txt", Body=b"virtual")
check("virtual-hosted get", vhost.get_object(Bucket="vhost-bucket", Key="dir/file.txt")["Body"].read() == b"virtual")
check("virtual-hosted list", [o["Key"] for o in vhost.list_objects_v2(Bucket="vhost-bucket")["Contents"]] == ["dir/file.txt"])
check("requests were virtual-hosted", all(h.startswith("vhost-bucket.localhost") for h in hosts), hosts)
socket.getaddrinfo = real_getaddrinfo

# ---------------------------------------------------------------- presigned URLs
ctx = ssl.create_default_context(cafile=CA)
v2 = s3.generate_presigned_url("get_object", Params={"Bucket": "errors-bucket", "Key": "k"}, ExpiresIn=300)
try:
    urllib.request.urlopen(v2, context=ctx)
    fail("a Signature Version 2 URL was accepted")
except urllib.error.HTTPError as e:
    check("Signature Version 2 is refused (buckets since 2020)", e.code == 400 and b"AWS4-HMAC-SHA256" in e.read(), e.code)
v4 = client("s3", config=Config(signature_version="s3v4"))
url = v4.generate_presigned_url("get_object", Params={"Bucket": "errors-bucket", "Key": "k"}, ExpiresIn=300)
check("presigned GET", urllib.request.urlopen(url, context=ctx).read() == b"0123456789")
try:
    urllib.request.urlopen(url.replace("Signature=", "Signature=0"), context=ctx)
    fail("tampered presigned URL accepted")
except urllib.error.HTTPError as e:
    check("tampered presigned URL", e.code == 403 and b"SignatureDoesNotMatch" in e.read(), e.code)

# ---------------------------------------------------------------- checksums
data = b"checksummed payload" * 1000
sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
put = s3.put_object(Bucket="errors-bucket", Key="sum", Body=data, ChecksumAlgorithm="SHA256")
check("PutObject ChecksumSHA256", put.get("ChecksumSHA256") == sha, put)
head = s3.head_object(Bucket="errors-bucket", Key="sum", ChecksumMode="ENABLED")
check("HeadObject ChecksumSHA256", head.get("ChecksumSHA256") == sha, head)
got = s3.get_object(Bucket="errors-bucket", Key="sum", ChecksumMode="ENABLED")
check("GetObject validated by botocore", got["Body"].read() == data)
expect_error(
    "BadDigest (Content-MD5)",
    lambda: s3.put_object(Bucket="errors-bucket", Key="bad", Body=b"abc", ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode()),
    "BadDigest",
    400,
)
check("boto3's default CRC32 is kept", s3.head_object(Bucket="errors-bucket", Key="k", ChecksumMode="ENABLED").get("ChecksumCRC32") is not None)
bare = client("s3", config=Config(request_checksum_calculation="when_required"))
plain = bare.put_object(Bucket="errors-bucket", Key="crc", Body=b"crc me")
h = s3.head_object(Bucket="errors-bucket", Key="crc", ChecksumMode="ENABLED")
check("S3 computes a CRC64NVME for uploads without a checksum", h.get("ChecksumCRC64NVME") is not None and h.get("ChecksumType") == "FULL_OBJECT", h)

# ---------------------------------------------------------------- copy
s3.create_bucket(Bucket="copy-bucket")
s3.put_object(Bucket="errors-bucket", Key="src", Body=b"copy me", Metadata={"color": "blue"}, ContentType="text/x-test", Tagging="a=1")
cp = s3.copy_object(Bucket="copy-bucket", Key="dst", CopySource={"Bucket": "errors-bucket", "Key": "src"})
dst = s3.get_object(Bucket="copy-bucket", Key="dst")
check("CopyObject copies data and metadata", dst["Body"].read() == b"copy me" and dst["Metadata"] == {"color": "blue"} and dst["ContentType"] == "text/x-test", dst["ResponseMetadata"])
check("CopyObject result ETag", cp["CopyObjectResult"]["ETag"] == dst["ETag"], cp)
check("CopyObject copies tags", s3.get_object_tagging(Bucket="copy-bucket", Key="dst")["TagSet"] == [{"Key": "a", "Value": "1"}])
s3.copy_object(Bucket="copy-bucket", Key="dst2", CopySource="errors-bucket/src", MetadataDirective="REPLACE", Metadata={"x": "y"}, ContentType="text/plain")
d2 = s3.head_object(Bucket="copy-bucket", Key="dst2")
check("CopyObject REPLACE", d2["Metadata"] == {"x": "y"} and d2["ContentType"] == "text/plain", d2)
expect_error("CopyObject onto itself unchanged", lambda: s3.copy_object(Bucket="errors-bucket", Key="src", CopySource="errors-bucket/src"), "InvalidRequest", 400)
expect_error("CopyObject source missing", lambda: s3.copy_object(Bucket="copy-bucket", Key="x", CopySource="errors-bucket/none"), "NoSuchKey", 404)
expect_error(
    "CopyObject source condition",
    lambda: s3.copy_object(Bucket="copy-bucket", Key="x", CopySource="errors-bucket/src", CopySourceIfMatch='"nope"'),
    "PreconditionFailed",
    412,
)

# ---------------------------------------------------------------- condition keys and batch deletes
iam = client("iam")
iam.create_user(UserName="scoped")
iam.put_user_policy(
    UserName="scoped",
    PolicyName="scoped",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::list-bucket", "Condition": {"StringLike": {"s3:prefix": "a/*"}}},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::errors-bucket/*", "Condition": {"StringEquals": {"s3:ExistingObjectTag/a": "1"}}},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::errors-bucket/*", "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "data"}}},
                {"Effect": "Allow", "Action": ["s3:PutObjectTagging", "s3:DeleteObject"], "Resource": "arn:aws:s3:::errors-bucket/*"},
                {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::errors-bucket/keep*"},
            ],
        }
    ),
)
k = iam.create_access_key(UserName="scoped")["AccessKey"]
scoped = client("s3", aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])
check("s3:prefix allows a/", [o["Key"] for o in scoped.list_objects_v2(Bucket="list-bucket", Prefix="a/")["Contents"]] == ["a/1", "a/2"])
expect_error("s3:prefix denies other prefixes", lambda: scoped.list_objects_v2(Bucket="list-bucket", Prefix="c/"), "AccessDenied", 403)
check("s3:ExistingObjectTag allows the tagged object", scoped.get_object(Bucket="errors-bucket", Key="src")["Body"].read() == b"copy me")
expect_error("s3:ExistingObjectTag denies an untagged object", lambda: scoped.get_object(Bucket="errors-bucket", Key="k"), "AccessDenied", 403)
scoped.put_object(Bucket="errors-bucket", Key="tagged-put", Body=b"x", Tagging="team=data")
expect_error("s3:RequestObjectTag denies other tags", lambda: scoped.put_object(Bucket="errors-bucket", Key="t2", Body=b"x", Tagging="team=ops"), "AccessDenied", 403)
s3.put_object(Bucket="errors-bucket", Key="keep-me", Body=b"x")
s3.put_object(Bucket="errors-bucket", Key="drop-me", Body=b"x")
res = scoped.delete_objects(Bucket="errors-bucket", Delete={"Objects": [{"Key": "keep-me"}, {"Key": "drop-me"}]})
check("DeleteObjects: per-key decisions", [d["Key"] for d in res.get("Deleted", [])] == ["drop-me"] and [(e["Key"], e["Code"]) for e in res.get("Errors", [])] == [("keep-me", "AccessDenied")], res)
check("DeleteObjects kept the denied key", s3.head_object(Bucket="errors-bucket", Key="keep-me")["ContentLength"] == 1)

# A missing key is 404 only to a caller who may list the bucket; to others it is 403, as on S3.
iam.create_user(UserName="reader")
iam.put_user_policy(
    UserName="reader",
    PolicyName="get",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::errors-bucket/*"}]}),
)
k = iam.create_access_key(UserName="reader")["AccessKey"]
reader = client("s3", aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])
check("GetObject allowed without s3:ListBucket", reader.get_object(Bucket="errors-bucket", Key="keep-me")["Body"].read() == b"x")
expect_error("missing key without s3:ListBucket", lambda: reader.get_object(Bucket="errors-bucket", Key="never-written"), "AccessDenied", 403)
expect_error("HEAD of a missing key without s3:ListBucket", lambda: reader.head_object(Bucket="errors-bucket", Key="never-written"), "403", 403)
iam.put_user_policy(
    UserName="reader",
    PolicyName="list",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::errors-bucket"}]}),
)
expect_error("missing key with s3:ListBucket", lambda: reader.get_object(Bucket="errors-bucket", Key="never-written"), "NoSuchKey", 404)

# ---------------------------------------------------------------- SSE-KMS headers and key choice
kms = client("kms")
key = kms.create_key()["KeyMetadata"]["Arn"]
other = kms.create_key()["KeyMetadata"]["Arn"]
s3.create_bucket(Bucket="kms-bucket")
s3.put_bucket_encryption(Bucket="kms-bucket", ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}, "BucketKeyEnabled": True}]})
r = s3.put_object(Bucket="kms-bucket", Key="default", Body=b"k")
check("default SSE-KMS with bucket key", r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == key and r["BucketKeyEnabled"] is True, r)
r = s3.put_object(Bucket="kms-bucket", Key="named", Body=b"k", ServerSideEncryption="aws:kms", SSEKMSKeyId=other, BucketKeyEnabled=False)
check("request names another key", r["SSEKMSKeyId"] == other and not r.get("BucketKeyEnabled"), r)
r = s3.put_object(Bucket="kms-bucket", Key="s3-managed", Body=b"k", ServerSideEncryption="AES256")
check("SSE-S3 on request", r["ServerSideEncryption"] == "AES256", r)
r = s3.put_object(Bucket="kms-bucket", Key="aws-s3-key", Body=b"k", ServerSideEncryption="aws:kms")
check("aws:kms without a key id uses the account's default S3 key", r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"].startswith("arn:aws:kms:us-east-1:222222222222:key/"), r)
check("read back under the default S3 key", s3.get_object(Bucket="kms-bucket", Key="aws-s3-key")["Body"].read() == b"k")
expect_error("invalid SSE algorithm", lambda: s3.put_object(Bucket="kms-bucket", Key="x", Body=b"k", ServerSideEncryption="bogus"), "InvalidArgument", 400)
expect_error(
    "unknown KMS key",
    lambda: s3.put_object(Bucket="kms-bucket", Key="x", Body=b"k", ServerSideEncryption="aws:kms", SSEKMSKeyId="arn:aws:kms:us-east-1:222222222222:key/00000000-0000-0000-0000-000000000000"),
    "KMS.NotFoundException",
    400,
)
# The hardened seed's "deny PUTs naming another key", decided by the bucket policy.
s3.put_bucket_policy(
    Bucket="kms-bucket",
    Policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyOtherKeys",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::kms-bucket/*",
                    "Condition": {
                        "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key},
                        "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::kms-bucket", "arn:aws:s3:::kms-bucket/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    ),
)
expect_error(
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    lambda: s3.put_object(Bucket="kms-bucket", Key="x", Body=b"k", ServerSideEncryption="aws:kms", SSEKMSKeyId=other),
    "AccessDenied",
    403,
)
s3.put_object(Bucket="kms-bucket", Key="ok", Body=b"k")
plain_http = client("s3", endpoint=HTTP)
expect_error("aws:SecureTransport false", lambda: plain_http.get_object(Bucket="kms-bucket", Key="ok"), "AccessDenied", 403)
check("over TLS", s3.get_object(Bucket="kms-bucket", Key="ok")["Body"].read() == b"k")

# ---------------------------------------------------------------- account-level Block Public Access
# s3control puts the account id in front of the endpoint's host (ACCOUNT.localhost), which the
# same client-side resolver shim maps to the server; the CA's certificate covers *.localhost.
socket.getaddrinfo = resolve_localhost_subdomains
https_port = HTTPS.rsplit(":", 1)[1]
control = client("s3control", endpoint=f"https://localhost:{https_port}")
expect_error("NoSuchPublicAccessBlockConfiguration (account)", lambda: control.get_public_access_block(AccountId=B), "NoSuchPublicAccessBlockConfiguration", 404)
control.put_public_access_block(AccountId=B, PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
check("account PAB stored", control.get_public_access_block(AccountId=B)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True)
public = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::errors-bucket/*"}]})
expect_error("account BlockPublicPolicy rejects a public policy", lambda: s3.put_bucket_policy(Bucket="errors-bucket", Policy=public), "AccessDenied", 403)
expect_error("account PAB of another account", lambda: control.get_public_access_block(AccountId=A), "AccessDenied", 403)
control.delete_public_access_block(AccountId=B)
s3.put_bucket_policy(Bucket="errors-bucket", Policy=public)
check("public policy accepted once no setting blocks it", s3.get_bucket_policy_status(Bucket="errors-bucket")["PolicyStatus"]["IsPublic"] is True)

socket.getaddrinfo = real_getaddrinfo
print("all S3 boto3 checks passed")
