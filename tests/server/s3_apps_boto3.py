"""S3 as applications use it (issue #26), through boto3 against a running airlock server:
emptying a versioned bucket page by page, retried multipart completions, Object Lock refused
instead of ignored, full-object and composite multipart checksums, `encoding-type=url`,
SSE headers on reads, `max-keys=0`, conditional writes (concurrent creators: one wins),
checksums on reads (`ChecksumMode=ENABLED`), `GetObjectAttributes`.

Usage: s3_apps_boto3.py SERVER_JSON [SECTION...]. Runs every section, or the ones named.
Prints one line per check; exits non-zero on the first unexpected result.
"""

import base64
import configparser
import datetime
import hashlib
import json
import sys
import zlib

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])
HTTPS = info["https_endpoint"]
CA = info["ca_bundle"]
A, B = "111111111111", "222222222222"


def client(profile="account-b", config=None):
    return boto3.client(
        "s3",
        endpoint_url=HTTPS,
        verify=CA,
        region_name="us-east-1",
        config=config,
        aws_access_key_id=creds[profile]["aws_access_key_id"],
        aws_secret_access_key=creds[profile]["aws_secret_access_key"],
    )


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(name, cond, detail=""):
    if not cond:
        fail(f"{name}: {detail}")
    print(f"ok   {name}")


def expect_error(name, fn, code, status, message=None):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"].get("Code")
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if got != code or got_status != status:
            fail(f"{name}: expected {code}/{status}, got {got}/{got_status}: {e.response['Error']}")
        if message is not None and message not in e.response["Error"].get("Message", ""):
            fail(f"{name}: expected a message with {message!r}, got {e.response['Error']}")
        print(f"ok   {name}: {code} {status}")
        return e.response
    fail(f"{name}: expected {code}/{status}, but the call succeeded")


s3 = client()


# ---------------------------------------------------------------- 1. emptying a versioned bucket
def versions_paging():
    def fill(bucket):
        for i in range(4):
            for n in range(3):
                s3.put_object(Bucket=bucket, Key=f"dir/k{i}", Body=f"{i}.{n}".encode())
            if i % 2 == 0:
                s3.delete_object(Bucket=bucket, Key=f"dir/k{i}")
        s3.put_object(Bucket=bucket, Key="top", Body=b"t")

    def remaining(bucket):
        r = s3.list_object_versions(Bucket=bucket)
        return r.get("Versions", []) + r.get("DeleteMarkers", [])

    # The loop of Terraform's force_destroy and of most "empty the bucket" scripts: list a
    # page, delete everything on it, ask for the next page with the page's markers.
    for max_keys in (1, 2, 3):
        bucket = f"empty-versions-{max_keys}"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        fill(bucket)
        total = len(remaining(bucket))
        kwargs, pages, deleted = {}, 0, 0
        while True:
            page = s3.list_object_versions(Bucket=bucket, MaxKeys=max_keys, **kwargs)
            pages += 1
            entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
            for e in entries:
                s3.delete_object(Bucket=bucket, Key=e["Key"], VersionId=e["VersionId"])
                deleted += 1
            if not page["IsTruncated"]:
                break
            kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page.get("NextVersionIdMarker", "")}
            if pages > 100:
                fail("the listing does not end")
        check(f"MaxKeys={max_keys}: every version deleted page by page", deleted == total and remaining(bucket) == [], (deleted, total, remaining(bucket)))
        s3.delete_bucket(Bucket=bucket)

    # The same with boto3's paginator and batch deletes.
    bucket = "empty-versions-paginator"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    fill(bucket)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        if entries:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries]})
    check("paginator with DeleteObjects empties the bucket", remaining(bucket) == [], remaining(bucket))
    s3.delete_bucket(Bucket=bucket)

    # Markers naming a version that no longer exists: the listing continues after it.
    bucket = "stale-markers"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    m = [s3.put_object(Bucket=bucket, Key="m", Body=str(n).encode())["VersionId"] for n in range(3)]
    gone = s3.put_object(Bucket=bucket, Key="n", Body=b"n")["VersionId"]
    z = s3.put_object(Bucket=bucket, Key="z", Body=b"z")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="m", VersionId=m[1])
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="m", VersionIdMarker=m[1])
    got = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])]
    check("VersionIdMarker of a deleted version continues after it", got == [("m", m[0], False), ("n", gone, True), ("z", z, True)], got)
    s3.delete_object(Bucket=bucket, Key="m", VersionId=m[2])
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="m", VersionIdMarker=m[2])
    got = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])]
    check("the version after a deleted latest one is the latest", got[0] == ("m", m[0], True), got)
    s3.delete_object(Bucket=bucket, Key="n", VersionId=gone)
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="n", VersionIdMarker=gone)
    got = [(v["Key"], v["VersionId"]) for v in r.get("Versions", [])]
    check("KeyMarker of a deleted key continues with the next key", got == [("z", z)], got)
    expect_error(
        "a malformed VersionIdMarker is still refused",
        lambda: s3.list_object_versions(Bucket=bucket, KeyMarker="m", VersionIdMarker="not-a-version"),
        "InvalidArgument",
        400,
    )


# ---------------------------------------------------------------- 2. retried completion
def complete_retry():
    bucket = "complete-retry"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    uid = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=1, Body=b"a" * (5 * 1024 * 1024))["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=2, Body=b"b" * 100)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload=parts)
    check(
        "a retried completion answers 200 with the same result",
        again["ResponseMetadata"]["HTTPStatusCode"] == 200
        and again["ETag"] == first["ETag"]
        and again["VersionId"] == first["VersionId"]
        and again["ServerSideEncryption"] == first["ServerSideEncryption"] == "AES256",
        (first, again),
    )
    versions = s3.list_object_versions(Bucket=bucket, Prefix="big").get("Versions", [])
    check("the retry made no second version", [v["VersionId"] for v in versions] == [first["VersionId"]], versions)
    check("the object is whole", s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 5 * 1024 * 1024 + 100)
    expect_error(
        "another part list for a completed upload",
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]}),
        "NoSuchUpload",
        404,
    )
    expect_error(
        "the same completion under another key",
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="other", UploadId=uid, MultipartUpload=parts),
        "NoSuchUpload",
        404,
    )
    expect_error("ListParts of a completed upload", lambda: s3.list_parts(Bucket=bucket, Key="big", UploadId=uid), "NoSuchUpload", 404)
    expect_error(
        "UploadPart to a completed upload",
        lambda: s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=3, Body=b"x"),
        "NoSuchUpload",
        404,
    )
    expect_error("AbortMultipartUpload of a completed upload", lambda: s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=uid), "NoSuchUpload", 404)
    check("not listed as in progress", s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [])
    # Another principal retrying the completion does not get the result.
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}),
    )
    expect_error(
        "a retry by another principal",
        lambda: client("account-a").complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload=parts),
        "NoSuchUpload",
        404,
    )
    # An aborted upload is not completed: no replay.
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    p = s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid2, PartNumber=1, Body=b"x")["ETag"]
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid2)
    expect_error(
        "completing an aborted upload",
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid2, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p}]}),
        "NoSuchUpload",
        404,
    )


# ---------------------------------------------------------------- 3. Object Lock
MISSING_LOCK = "Bucket is missing Object Lock Configuration"


def object_lock():
    r = expect_error(
        "CreateBucket with Object Lock enabled",
        lambda: s3.create_bucket(Bucket="worm-bucket", ObjectLockEnabledForBucket=True),
        "NotImplemented",
        501,
        message="Object Lock",
    )
    check("the refused bucket was not created", "worm-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]], r)
    s3.create_bucket(Bucket="lockless-bucket", ObjectLockEnabledForBucket=False)
    bucket = "lockless-bucket"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    lock_args = [
        ("mode and date", {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}),
        ("legal hold", {"ObjectLockLegalHoldStatus": "ON"}),
    ]
    for what, extra in lock_args:
        expect_error(f"PutObject with Object Lock {what}", lambda: s3.put_object(Bucket=bucket, Key="w", Body=b"x", **extra), "InvalidRequest", 400, MISSING_LOCK)
        expect_error(f"CreateMultipartUpload with Object Lock {what}", lambda: s3.create_multipart_upload(Bucket=bucket, Key="w", **extra), "InvalidRequest", 400, MISSING_LOCK)
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    expect_error(
        "CopyObject with Object Lock",
        lambda: s3.copy_object(Bucket=bucket, Key="w", CopySource=f"{bucket}/src", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until),
        "InvalidRequest",
        400,
        MISSING_LOCK,
    )
    check("nothing was written", [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["src"])
    expect_error(
        "PutObjectRetention",
        lambda: s3.put_object_retention(Bucket=bucket, Key="src", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until}),
        "InvalidRequest",
        400,
        MISSING_LOCK,
    )
    expect_error("PutObjectLegalHold", lambda: s3.put_object_legal_hold(Bucket=bucket, Key="src", LegalHold={"Status": "ON"}), "InvalidRequest", 400, MISSING_LOCK)
    expect_error("GetObjectRetention", lambda: s3.get_object_retention(Bucket=bucket, Key="src"), "InvalidRequest", 400, MISSING_LOCK)
    expect_error("GetObjectLegalHold", lambda: s3.get_object_legal_hold(Bucket=bucket, Key="src"), "InvalidRequest", 400, MISSING_LOCK)
    expect_error(
        "PutObjectLockConfiguration",
        lambda: s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}},
        ),
        "NotImplemented",
        501,
        message="Object Lock",
    )
    expect_error("GetObjectLockConfiguration", lambda: s3.get_object_lock_configuration(Bucket=bucket), "ObjectLockConfigurationNotFoundError", 404)


# ---------------------------------------------------------------- 4. multipart checksums
def _table(poly):
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_T32C = _table(0x82F63B78)
_T64 = _table(0x9A6C9329AC4BC9B5)


def crc32c(data):
    c, t = 0xFFFFFFFF, _T32C
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return (c ^ 0xFFFFFFFF).to_bytes(4, "big")


def crc64nvme(data):
    c, t, m = 0xFFFFFFFFFFFFFFFF, _T64, 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return ((c ^ m) & m).to_bytes(8, "big")


def crc32(data):
    return zlib.crc32(data).to_bytes(4, "big")


def b64(raw):
    return base64.b64encode(raw).decode()


def checksums():
    bucket = "mpu-checksums"
    s3.create_bucket(Bucket=bucket)
    data1 = bytes(range(256)) * (5 * 1024 * 4)  # 5 MiB
    data2 = b"the last part" * 10
    whole = data1 + data2
    for alg, fn in (("CRC32", crc32), ("CRC32C", crc32c), ("CRC64NVME", crc64nvme)):
        member = "Checksum" + alg
        key = f"full-{alg}"
        mp = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg, ChecksumType="FULL_OBJECT")
        uid = mp["UploadId"]
        parts = []
        for n, d in ((1, data1), (2, data2)):
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=d, **{member: b64(fn(d))})
            parts.append({"PartNumber": n, "ETag": r["ETag"], member: b64(fn(d))})
        full = b64(fn(whole))
        expect_error(
            f"a wrong full-object {alg}",
            lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}, ChecksumType="FULL_OBJECT", **{member: b64(fn(b"other"))}),
            "BadDigest",
            400,
        )
        done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}, ChecksumType="FULL_OBJECT", **{member: full})
        check(f"full-object {alg} on CompleteMultipartUpload", done.get(member) == full and done.get("ChecksumType") == "FULL_OBJECT", done)
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        check(f"HeadObject full-object {alg}", head.get(member) == full and head.get("ChecksumType") == "FULL_OBJECT", head)

    # Composite: the checksum of the parts' checksums, then -N.
    for alg, fn in (("SHA256", lambda d: hashlib.sha256(d).digest()), ("CRC32", crc32)):
        member = "Checksum" + alg
        key = f"composite-{alg}"
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg, ChecksumType="COMPOSITE")["UploadId"]
        parts, raw = [], b""
        for n, d in ((1, data1), (2, data2)):
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=d, **{member: b64(fn(d))})
            parts.append({"PartNumber": n, "ETag": r["ETag"], member: b64(fn(d))})
            raw += fn(d)
        composite = f"{b64(fn(raw))}-2"
        expect_error(
            f"a wrong composite {alg}",
            lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}, **{member: f"{b64(fn(b'x'))}-2"}),
            "BadDigest",
            400,
        )
        done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}, ChecksumType="COMPOSITE", **{member: composite})
        check(f"composite {alg} (…-N) on CompleteMultipartUpload", done.get(member) == composite and done.get("ChecksumType") == "COMPOSITE", done)
    expect_error(
        "CompleteMultipartUpload with another checksum type than the upload's",
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mismatch",
            UploadId=(u := s3.create_multipart_upload(Bucket=bucket, Key="mismatch", ChecksumAlgorithm="CRC32", ChecksumType="COMPOSITE")["UploadId"]),
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s3.upload_part(Bucket=bucket, Key="mismatch", UploadId=u, PartNumber=1, Body=b"x")["ETag"]}]},
            ChecksumType="FULL_OBJECT",
        ),
        "InvalidRequest",
        400,
    )


# ---------------------------------------------------------------- 5. encoding-type=url
def encoding():
    bucket = "encoded-listings"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = ["a b/1", "a+b/2", "dir/sub/ü é", "dir/x~y*z", "top"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
        s3.create_multipart_upload(Bucket=bucket, Key=k)
    enc = {"a b/1": "a+b/1", "a+b/2": "a%2Bb/2", "dir/sub/ü é": "dir/sub/%C3%BC+%C3%A9", "dir/x~y*z": "dir/x%7Ey*z", "top": "top"}

    r = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    check("ListObjectsV2 encodes keys as S3 does ('/' kept)", [o["Key"] for o in r["Contents"]] == [enc[k] for k in keys], r["Contents"])
    r = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Prefix="dir/", Delimiter="/", StartAfter="dir/a b")
    check(
        "ListObjectsV2 prefix, delimiter, start-after, common prefixes",
        r["Prefix"] == "dir/" and r["Delimiter"] == "/" and r["StartAfter"] == "dir/a+b" and [c["Prefix"] for c in r["CommonPrefixes"]] == ["dir/sub/"],
        r,
    )
    r = s3.list_objects(Bucket=bucket, EncodingType="url", Delimiter="/", Marker="a b/1", MaxKeys=1)
    check(
        "ListObjects marker, next marker, common prefixes",
        r["Marker"] == "a+b/1" and r["NextMarker"] == "a%2Bb/" and [c["Prefix"] for c in r["CommonPrefixes"]] == ["a%2Bb/"],
        r,
    )
    r = s3.list_object_versions(Bucket=bucket, EncodingType="url", KeyMarker="a b/1", MaxKeys=1)
    check(
        "ListObjectVersions keys and markers",
        r["KeyMarker"] == "a+b/1" and r["NextKeyMarker"] == "a%2Bb/2" and [v["Key"] for v in r["Versions"]] == ["a%2Bb/2"],
        r,
    )
    r = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", KeyMarker="a b/1", MaxUploads=2)
    check(
        "ListMultipartUploads keys and markers",
        r.get("EncodingType") == "url"
        and r["KeyMarker"] == "a+b/1"
        and [u["Key"] for u in r["Uploads"]] == ["a%2Bb/2", "dir/sub/%C3%BC+%C3%A9"]
        and r["NextKeyMarker"] == "dir/sub/%C3%BC+%C3%A9",
        r,
    )
    r = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", Prefix="a", Delimiter="/")
    check("ListMultipartUploads common prefixes", [c["Prefix"] for c in r["CommonPrefixes"]] == ["a+b/", "a%2Bb/"], r)
    # boto3 sets encoding-type=url itself and decodes: paginating round-trips every key.
    seen = []
    for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [o["Key"] for o in p["Contents"]]
    check("paginated keys round-trip", seen == keys, seen)
    seen = []
    for p in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [v["Key"] for v in p["Versions"]]
    check("paginated version keys round-trip", seen == keys, seen)


# ---------------------------------------------------------------- 6. SSE headers on reads
def sse_on_read():
    bucket = "sse-on-read"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    reader = client()

    def add_sse(request, **kwargs):
        request.headers["x-amz-server-side-encryption"] = "AES256"

    reader.meta.events.register("before-sign.s3.GetObject", add_sse)
    reader.meta.events.register("before-sign.s3.HeadObject", add_sse)
    r = expect_error("GetObject with x-amz-server-side-encryption", lambda: reader.get_object(Bucket=bucket, Key="k"), "InvalidArgument", 400)
    check("names the header", r["Error"].get("ArgumentName") == "x-amz-server-side-encryption", r["Error"])
    expect_error("HeadObject with x-amz-server-side-encryption", lambda: reader.head_object(Bucket=bucket, Key="k"), "400", 400)
    check("GetObject without it", s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x")


# ---------------------------------------------------------------- 7. max-keys=0
def max_keys_zero():
    bucket = "max-keys-zero"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for k in ("a", "b/c"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
        s3.create_multipart_upload(Bucket=bucket, Key=k)
    r = s3.list_objects(Bucket=bucket, MaxKeys=0)
    check("ListObjects max-keys=0", r["IsTruncated"] is False and "Contents" not in r, r)
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=0, Delimiter="/")
    check("ListObjectsV2 max-keys=0", r["IsTruncated"] is False and r["KeyCount"] == 0 and "Contents" not in r and "CommonPrefixes" not in r, r)
    r = s3.list_object_versions(Bucket=bucket, MaxKeys=0)
    check("ListObjectVersions max-keys=0", r["IsTruncated"] is False and "Versions" not in r, r)
    r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=0)
    check("ListMultipartUploads max-uploads=0", r["IsTruncated"] is False and "Uploads" not in r, r)


# ---------------------------------------------------------------- 8. conditional writes
PRECONDITION = "At least one of the pre-conditions you specified did not hold"


def race(fns):
    """Runs the calls at once; returns (results, error codes)."""
    import threading

    results, errors, lock = [], [], threading.Lock()
    barrier = threading.Barrier(len(fns))

    def run(fn):
        barrier.wait()
        try:
            r = fn()
            with lock:
                results.append(r)
        except ClientError as e:
            with lock:
                errors.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))

    threads = [threading.Thread(target=run, args=(f,)) for f in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def conditional_writes():
    bucket = "conditional-writes"
    s3.create_bucket(Bucket=bucket)
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")
    check("If-None-Match: * creates a new key", first["ResponseMetadata"]["HTTPStatusCode"] == 200)
    expect_error("If-None-Match: * on an existing key", lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*"), "PreconditionFailed", 412, PRECONDITION)
    expect_error("If-None-Match with an ETag on PutObject", lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch=first["ETag"]), "NotImplemented", 501)
    expect_error("If-Match with another ETag", lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch='"0123456789abcdef0123456789abcdef"'), "PreconditionFailed", 412, PRECONDITION)
    expect_error("If-Match on a missing key", lambda: s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=first["ETag"]), "NoSuchKey", 404)
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=first["ETag"])
    check("If-Match with the current ETag replaces", s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two")
    expect_error("If-Match with the replaced ETag", lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=first["ETag"]), "PreconditionFailed", 412)
    check("the failed writes changed nothing", s3.head_object(Bucket=bucket, Key="k")["ETag"] == second["ETag"])
    # A delete marker is no current object.
    versioned = "conditional-versioned"
    s3.create_bucket(Bucket=versioned)
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=versioned, Key="k", Body=b"v1")
    s3.delete_object(Bucket=versioned, Key="k")
    s3.put_object(Bucket=versioned, Key="k", Body=b"v2", IfNoneMatch="*")
    check("If-None-Match: * over a delete marker", s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"v2")

    # Concurrent creators: exactly one wins, the others see 412, the object is the winner's.
    bodies = [f"creator {i}".encode() * 100 for i in range(8)]
    results, errors = race([lambda b=b: (b, s3.put_object(Bucket=bucket, Key="race", Body=b, IfNoneMatch="*")) for b in bodies])
    check("one of 8 concurrent If-None-Match: * creators wins", len(results) == 1 and errors == [("PreconditionFailed", 412)] * 7, (len(results), errors))
    check("the object is the winner's", s3.get_object(Bucket=bucket, Key="race")["Body"].read() == results[0][0])
    # Concurrent If-Match writers of the same ETag: exactly one wins.
    etag = s3.head_object(Bucket=bucket, Key="race")["ETag"]
    results, errors = race([lambda b=b: (b, s3.put_object(Bucket=bucket, Key="race", Body=b + b"!", IfMatch=etag)) for b in bodies])
    check("one of 8 concurrent If-Match writers wins", len(results) == 1 and errors == [("PreconditionFailed", 412)] * 7, (len(results), errors))

    # CompleteMultipartUpload.
    def upload(key, body):
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        e = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=body)["ETag"]
        return uid, {"Parts": [{"PartNumber": 1, "ETag": e}]}

    uid, parts = upload("k", b"multipart")
    expect_error("CompleteMultipartUpload If-None-Match: * on an existing key", lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload=parts, IfNoneMatch="*"), "PreconditionFailed", 412, PRECONDITION)
    expect_error("CompleteMultipartUpload If-None-Match with an ETag", lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload=parts, IfNoneMatch=second["ETag"]), "NotImplemented", 501)
    expect_error("CompleteMultipartUpload If-Match with another ETag", lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload=parts, IfMatch=first["ETag"]), "PreconditionFailed", 412)
    expect_error("CompleteMultipartUpload If-Match on a missing key", lambda u=upload("k2", b"x"): s3.complete_multipart_upload(Bucket=bucket, Key="k2", UploadId=u[0], MultipartUpload=u[1], IfMatch=first["ETag"]), "NoSuchKey", 404)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload=parts, IfMatch=second["ETag"])
    check("CompleteMultipartUpload If-Match with the current ETag", s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"multipart" and done["ETag"].endswith('-1"'), done)
    uploads = [upload("mpu-race", f"upload {i}".encode()) for i in range(4)]
    results, errors = race([lambda u=u: s3.complete_multipart_upload(Bucket=bucket, Key="mpu-race", UploadId=u[0], MultipartUpload=u[1], IfNoneMatch="*") for u in uploads])
    check("one of 4 concurrent If-None-Match: * completions wins", len(results) == 1 and errors == [("PreconditionFailed", 412)] * 3, (len(results), errors))

    # CopyObject's conditions on the source.
    src = s3.head_object(Bucket=bucket, Key="k")
    copy = lambda **kw: s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/k", **kw)
    past = src["LastModified"] - datetime.timedelta(days=1)
    future = src["LastModified"] + datetime.timedelta(days=1)
    expect_error("x-amz-copy-source-if-match with another ETag", lambda: copy(CopySourceIfMatch=first["ETag"]), "PreconditionFailed", 412)
    expect_error("x-amz-copy-source-if-none-match with the ETag", lambda: copy(CopySourceIfNoneMatch=src["ETag"]), "PreconditionFailed", 412)
    expect_error("x-amz-copy-source-if-modified-since in the future", lambda: copy(CopySourceIfModifiedSince=future), "PreconditionFailed", 412)
    expect_error("x-amz-copy-source-if-unmodified-since in the past", lambda: copy(CopySourceIfUnmodifiedSince=past), "PreconditionFailed", 412)
    copy(CopySourceIfMatch=src["ETag"], CopySourceIfUnmodifiedSince=future)
    copy(CopySourceIfNoneMatch=first["ETag"], CopySourceIfModifiedSince=past)
    check("copies whose source conditions hold", s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"multipart")


# ---------------------------------------------------------------- 9. checksums on reads
def checksum_reads():
    bucket = "checksum-reads"
    s3.create_bucket(Bucket=bucket)
    body = b"checksummed body " * 300
    # botocore validates SHA256, SHA1 and CRC32 itself (CRC32C and CRC64NVME need botocore[crt],
    # so those are stated here and compared).
    for alg, fn in (("SHA256", lambda d: hashlib.sha256(d).digest()), ("SHA1", lambda d: hashlib.sha1(d).digest()), ("CRC32", crc32), ("CRC64NVME", crc64nvme)):
        member = "Checksum" + alg
        if alg == "CRC64NVME":
            s3.put_object(Bucket=bucket, Key=alg, Body=body, ChecksumCRC64NVME=b64(crc64nvme(body)))
        else:
            s3.put_object(Bucket=bucket, Key=alg, Body=body, ChecksumAlgorithm=alg)
        got = s3.get_object(Bucket=bucket, Key=alg, ChecksumMode="ENABLED")
        data = got["Body"].read()  # botocore validates the checksum as it reads
        check(f"GetObject ChecksumMode=ENABLED {alg}", data == body and got.get(member) == b64(fn(body)) and got.get("ChecksumType") == "FULL_OBJECT", {k: v for k, v in got.items() if k.startswith("Checksum")})
        head = s3.head_object(Bucket=bucket, Key=alg, ChecksumMode="ENABLED")
        check(f"HeadObject ChecksumMode=ENABLED {alg}", head.get(member) == b64(fn(body)) and head.get("ChecksumType") == "FULL_OBJECT", head)
        plain = client(config=Config(response_checksum_validation="when_required")).get_object(Bucket=bucket, Key=alg)
        check(f"no checksum without ChecksumMode ({alg})", member not in plain, plain)
        ranged = s3.get_object(Bucket=bucket, Key=alg, Range="bytes=0-9", ChecksumMode="ENABLED")
        check(f"no whole-object checksum on a ranged GET ({alg})", member not in ranged and ranged["Body"].read() == body[:10], ranged)
    # boto3's default: a CRC32 of every PUT.
    s3.put_object(Bucket=bucket, Key="default", Body=body)
    got = s3.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    check("GetObject returns the SDK's default CRC32", got["Body"].read() == body and got.get("ChecksumCRC32") == b64(crc32(body)), got)
    # Multipart: full object (validated by botocore) and composite (-N).
    data1, data2 = bytes(range(256)) * (5 * 1024 * 4), b"tail" * 100
    for ctype, key in (("FULL_OBJECT", "mpu-full"), ("COMPOSITE", "mpu-composite")):
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType=ctype)["UploadId"]
        parts, raw = [], b""
        for n, d in ((1, data1), (2, data2)):
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=d, ChecksumCRC32=b64(crc32(d)))
            parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": b64(crc32(d))})
            raw += crc32(d)
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}, ChecksumType=ctype)
        want = b64(crc32(data1 + data2)) if ctype == "FULL_OBJECT" else f"{b64(crc32(raw))}-2"
        got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        check(f"GetObject ChecksumMode=ENABLED multipart {ctype}", got["Body"].read() == data1 + data2 and got.get("ChecksumCRC32") == want and got.get("ChecksumType") == ctype, {k: v for k, v in got.items() if k.startswith("Checksum")})


# ---------------------------------------------------------------- 10. GetObjectAttributes
ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def object_attributes():
    bucket = "object-attributes"
    s3.create_bucket(Bucket=bucket)
    body = b"attributes" * 100
    put = s3.put_object(Bucket=bucket, Key="single", Body=body, ChecksumAlgorithm="SHA256")
    a = s3.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=ALL_ATTRIBUTES)
    check(
        "GetObjectAttributes of a single PUT",
        a["ETag"] == put["ETag"].strip('"') == hashlib.md5(body).hexdigest()
        and a["ObjectSize"] == len(body)
        and a["StorageClass"] == "STANDARD"
        and a["Checksum"] == {"ChecksumSHA256": b64(hashlib.sha256(body).digest()), "ChecksumType": "FULL_OBJECT"}
        and "ObjectParts" not in a
        and "LastModified" in a,
        a,
    )
    only = s3.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["ObjectSize"])
    check("only the attributes asked for", only["ObjectSize"] == len(body) and "ETag" not in only and "Checksum" not in only, only)
    expect_error("an unknown attribute", lambda: s3.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["Size"]), "InvalidArgument", 400)
    expect_error("a missing key", lambda: s3.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"]), "NoSuchKey", 404)

    # Multipart with part checksums: the parts, paged.
    data = [bytes([65 + i]) * (5 * 1024 * 1024) for i in range(2)] + [b"tail"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="multi", ChecksumAlgorithm="CRC32", ChecksumType="COMPOSITE")["UploadId"]
    parts = []
    for n, d in enumerate(data, 1):
        r = s3.upload_part(Bucket=bucket, Key="multi", UploadId=uid, PartNumber=n, Body=d, ChecksumCRC32=b64(crc32(d)))
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": b64(crc32(d))})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=uid, MultipartUpload={"Parts": parts})
    a = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=ALL_ATTRIBUTES, MaxParts=2)
    op = a.get("ObjectParts", {})
    check(
        "GetObjectAttributes of a multipart object, first page of parts",
        a["ETag"] == done["ETag"].strip('"')
        and a["ObjectSize"] == sum(map(len, data))
        and a["Checksum"]["ChecksumCRC32"] == done["ChecksumCRC32"]
        and a["Checksum"]["ChecksumType"] == "COMPOSITE"
        and op.get("TotalPartsCount") == 3
        and op.get("IsTruncated") is True
        and op.get("MaxParts") == 2
        and str(op.get("NextPartNumberMarker")) == "2"
        and [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in op.get("Parts", [])] == [(n, len(d), b64(crc32(d))) for n, d in list(enumerate(data, 1))[:2]],
        a,
    )
    a = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=2)
    op = a.get("ObjectParts", {})
    check("the next page of parts", op.get("IsTruncated") is False and [p["PartNumber"] for p in op.get("Parts", [])] == [3], a)
    # Multipart without part checksums: the count only, as on AWS.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="plain")["UploadId"]
    e = client(config=Config(request_checksum_calculation="when_required")).upload_part(Bucket=bucket, Key="plain", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    a = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectParts"])
    check("parts without checksums are counted, not listed", a.get("ObjectParts", {}).get("TotalPartsCount") == 1 and "Parts" not in a["ObjectParts"], a)

    # Versions: the version's attributes, and x-amz-version-id.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"second!")
    a = s3.get_object_attributes(Bucket=bucket, Key="v", VersionId=v1, ObjectAttributes=["ObjectSize"])
    check("GetObjectAttributes of a version", a["ObjectSize"] == 5 and a["VersionId"] == v1, a)

    # Authorization: both actions are needed (GetObject and GetObjectAttributes).
    def allow(actions):
        s3.put_bucket_policy(
            Bucket=bucket,
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": actions, "Resource": f"arn:aws:s3:::{bucket}/*"}]}),
        )

    other = client("account-a")
    allow(["s3:GetObject"])
    expect_error("GetObjectAttributes with s3:GetObject only", lambda: other.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["ETag"]), "AccessDenied", 403)
    allow(["s3:GetObjectAttributes"])
    expect_error("GetObjectAttributes with s3:GetObjectAttributes only", lambda: other.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["ETag"]), "AccessDenied", 403)
    allow(["s3:GetObject", "s3:GetObjectAttributes"])
    check("GetObjectAttributes with both actions", other.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["ETag"])["ETag"] == hashlib.md5(body).hexdigest())
    expect_error("a version needs the Version actions", lambda: other.get_object_attributes(Bucket=bucket, Key="v", VersionId=v1, ObjectAttributes=["ETag"]), "AccessDenied", 403)
    allow(["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"])
    check("a version with the Version actions", other.get_object_attributes(Bucket=bucket, Key="v", VersionId=v1, ObjectAttributes=["ObjectSize"])["ObjectSize"] == 5)
    allow(["s3:GetObject", "s3:GetObjectAttributes"])
    expect_error("a missing key without s3:ListBucket", lambda: other.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"]), "AccessDenied", 403)


SECTIONS = {
    "versions_paging": versions_paging,
    "complete_retry": complete_retry,
    "object_lock": object_lock,
    "checksums": checksums,
    "encoding": encoding,
    "sse_on_read": sse_on_read,
    "max_keys_zero": max_keys_zero,
    "conditional_writes": conditional_writes,
    "checksum_reads": checksum_reads,
    "object_attributes": object_attributes,
}

for name in sys.argv[2:] or list(SECTIONS):
    print(f"--- {name}")
    SECTIONS[name]()
print("all S3 application checks passed")
