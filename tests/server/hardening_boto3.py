"""Signature edge cases of the hardening issue, through real boto3 clients and raw sockets.

Usage: hardening_boto3.py SERVER_JSON [SECTIONS]
(SECTIONS: comma-separated from presign, unsigned, continue; default all)

- Presigned URLs live at most 7 days: a URL with X-Amz-Expires above 604800 is refused with
  400 AuthorizationQueryParametersError, also when it is dated 8 days ago with a 9-day expiry;
  a 7-day URL is served.
- Every x-amz-* header must be signed: a presigned PUT that signed only `host`, sent with added
  metadata, tags, storage class, redirect or encryption headers, is refused with 403
  AccessDenied naming them in HeadersNotSigned, and stores nothing; the same for headers added
  to a header-signed request after signing.
- A refused upload does not poison the connection: boto3 sends `Expect: 100-continue` with
  every PutObject; a denied PutObject followed by a good call on the same client succeeds, and
  on a raw socket the refusal comes without `100 Continue` and the next request on the
  connection is answered as itself (or the connection is closed), never read as a body.

Prints one JSON object; exits non-zero on any unexpected result."""
import configparser
import datetime
import json
import socket
import ssl
import sys
import urllib.error
import urllib.request

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError

info = json.load(open(sys.argv[1]))
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])
A = "111111111111"
checks = 0
BUCKET = "hardening-bucket"
SECTIONS = (sys.argv[2] if len(sys.argv) > 2 else "presign,unsigned,continue").split(",")


def client(service, alias="account-a", **cfg):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=info["https_endpoint"],
        verify=info["ca_bundle"],
        aws_access_key_id=creds[alias]["aws_access_key_id"],
        aws_secret_access_key=creds[alias]["aws_secret_access_key"],
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"},
                      signature_version="s3v4", **cfg),
    )


def check(cond, what):
    global checks
    if not cond:
        print(json.dumps({"failed": what}))
        sys.exit(1)
    checks += 1


ctx = ssl.create_default_context(cafile=info["ca_bundle"])


def fetch(url, method="GET", data=None, headers=None):
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


s3 = client("s3")
s3.create_bucket(Bucket=BUCKET)
s3.put_object(Bucket=BUCKET, Key="present", Body=b"hello")

# --- 1. Presigned URLs expire within a week.
if "presign" in SECTIONS:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "present"},
                                    ExpiresIn=604800)
    status, body = fetch(url)
    check(status == 200 and body == "hello", f"a 7-day URL is served: {status} {body}")
    for expires in (604801, 10**9):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "present"},
                                        ExpiresIn=expires)
        status, body = fetch(url)
        check(status == 400 and "<Code>AuthorizationQueryParametersError</Code>" in body
              and "604800" in body, f"X-Amz-Expires={expires}: {status} {body}")
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real_now() - datetime.timedelta(days=8)
    try:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "present"},
                                        ExpiresIn=9 * 86400)
    finally:
        botocore.auth.get_current_datetime = real_now
    status, body = fetch(url)
    check(status == 400 and "AuthorizationQueryParametersError" in body,
          f"a URL dated 8 days ago with a 9-day expiry: {status} {body}")

# --- 2. Unsigned x-amz-* headers are refused, and nothing is stored.
if "unsigned" in SECTIONS:
    added = {
        "x-amz-storage-class": "GLACIER",
        "x-amz-meta-owner": "mallory",
        "x-amz-tagging": "classification=public",
        "x-amz-website-redirect-location": "https://example.invalid/",
        "x-amz-server-side-encryption": "aws:kms",
    }
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "upload"},
                                        ExpiresIn=300)
    check("X-Amz-SignedHeaders=host" in put_url, f"the presigned PUT signs only host: {put_url}")
    for name, value in added.items():
        status, body = fetch(put_url, "PUT", b"payload", {name: value})
        check(status == 403 and "<Code>AccessDenied</Code>" in body
              and "There were headers present in the request which were not signed" in body
              and f"<HeadersNotSigned>{name}</HeadersNotSigned>" in body,
              f"presigned PUT with unsigned {name}: {status} {body}")
    status, body = fetch(put_url, "PUT", b"payload", added)
    check(status == 403 and "HeadersNotSigned" in body, f"all of them: {status} {body}")
    try:
        s3.head_object(Bucket=BUCKET, Key="upload")
        check(False, "a refused presigned PUT stored the object")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "404", f"nothing stored: {e.response}")
    status, body = fetch(put_url, "PUT", b"payload")
    check(status == 200, f"the same URL without added headers works: {status} {body}")
    head = s3.head_object(Bucket=BUCKET, Key="upload")
    check(head.get("StorageClass") in (None, "STANDARD") and not head.get("Metadata"),
          f"the stored object has what its signer chose: {head}")

    # A header added to a header-signed request after boto3 signed it.
    late = client("s3")


    def add_unsigned(request, **kwargs):
        request.headers["x-amz-meta-late"] = "1"


    late.meta.events.register("before-send.s3.PutObject", add_unsigned)
    try:
        late.put_object(Bucket=BUCKET, Key="late", Body=b"x")
        check(False, "a header added after signing was accepted")
    except ClientError as e:
        err = e.response["Error"]
        check(err["Code"] == "AccessDenied" and e.response["ResponseMetadata"]["HTTPStatusCode"] == 403,
              f"header-signed request with an unsigned header: {e.response}")
    # A header-signed request whose signature covers all its x-amz-* headers is fine.
    s3.put_object(Bucket=BUCKET, Key="signed", Body=b"x", Metadata={"a": "b"}, Tagging="k=v")
    check(s3.head_object(Bucket=BUCKET, Key="signed")["Metadata"] == {"a": "b"}, "signed metadata")

# --- 3. A refused upload does not poison the client's connection.
if "continue" in SECTIONS:
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoUploadsUnderDenied", "Effect": "Deny", "Principal": "*",
                       "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/denied/*"}]}))
    same = client("s3")
    for i in range(3):
        try:
            same.put_object(Bucket=BUCKET, Key=f"denied/{i}", Body=b"z" * 70000)
            check(False, "a denied PutObject succeeded")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "AccessDenied", f"denied put: {e.response}")
        same.put_object(Bucket=BUCKET, Key=f"allowed/{i}", Body=b"y" * 70000)
        got = same.get_object(Bucket=BUCKET, Key=f"allowed/{i}")["Body"].read()
        check(got == b"y" * 70000, "the next calls on the same client work")

    # Raw socket: a PUT with Expect: 100-continue and no credentials is refused without a
    # `100 Continue`, and the next request on the connection is answered as itself.
    host, port = "127.0.0.1", info["http_port"]
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(
        f"PUT /{BUCKET}/anon HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 10\r\n"
        "Expect: 100-continue\r\n\r\n".encode())
    first = b""
    while b"\r\n\r\n" not in first:
        chunk = sock.recv(65536)
        if not chunk:
            break
        first += chunk
    check(first.startswith(b"HTTP/1.1 403"), f"the refusal comes first: {first[:200]!r}")
    check(b"100 Continue" not in first, f"no 100 Continue before a refusal: {first[:200]!r}")
    # Read the rest of the refusal's body.
    head_end = first.index(b"\r\n\r\n") + 4
    length = 0
    for line in first[:head_end].decode().split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    rest = first[head_end:]
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    try:
        sock.sendall(f"GET /{BUCKET}?location HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        second = sock.recv(65536)
    except OSError:
        second = b""
    check(second == b"" or second.startswith(b"HTTP/1.1 403") and b"AccessDenied" in second,
          f"the next request is answered as itself or the connection is closed: {second[:300]!r}")
    sock.close()

print(json.dumps({"ok": True, "checks": checks}))
