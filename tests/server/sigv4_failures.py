"""Authentication failures through real boto3 clients, one per SigV4 failure mode.

Usage: sigv4_failures.py SERVER_JSON EXPIRED_KEY EXPIRED_SECRET EXPIRED_TOKEN

Prints a JSON object: scenario -> {"code", "status", "message"} (or {"ok": true} when the call
succeeded). The Rust test asserts on it.
"""
import configparser
import datetime
import json
import sys
import time

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError

info = json.load(open(sys.argv[1]))
expired_key, expired_secret, expired_token = sys.argv[2], sys.argv[3], sys.argv[4]
creds = configparser.ConfigParser()
creds.read(info["aws_shared_credentials_file"])
key = creds["account-a"]["aws_access_key_id"]
secret = creds["account-a"]["aws_secret_access_key"]
endpoint = info["https_endpoint"]
ca = info["ca_bundle"]
no_retry = Config(retries={"max_attempts": 1, "mode": "standard"})


def sts(access_key, secret_key, token=None):
    return boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint,
        verify=ca,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        config=no_retry,
    )


def outcome(fn):
    try:
        fn()
        return {"ok": True}
    except ClientError as e:
        return {
            "code": e.response["Error"]["Code"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            "message": e.response["Error"].get("Message", ""),
        }


results = {}
results["valid"] = outcome(lambda: sts(key, secret).get_caller_identity())
results["bad_signature"] = outcome(lambda: sts(key, secret[:-1] + ("A" if secret[-1] != "A" else "B")).get_caller_identity())
results["unknown_key"] = outcome(lambda: sts("AKIAAAAAAAAAAAAAAAAA", secret).get_caller_identity())
results["expired_token"] = outcome(lambda: sts(expired_key, expired_secret, expired_token).get_caller_identity())
results["forged_token"] = outcome(lambda: sts(expired_key, expired_secret, expired_token[:-8] + "AAAAAAA=").get_caller_identity())

# Clock skew: the client's clock is 20 minutes behind (then ahead).
real_now = botocore.auth.get_current_datetime
for name, delta in (("skew_past", -20), ("skew_future", 20)):
    botocore.auth.get_current_datetime = lambda d=delta: real_now() + datetime.timedelta(minutes=d)
    try:
        results[name] = outcome(lambda: sts(key, secret).get_caller_identity())
    finally:
        botocore.auth.get_current_datetime = real_now
# 14 minutes is inside the allowed skew.
botocore.auth.get_current_datetime = lambda: real_now() - datetime.timedelta(minutes=14)
try:
    results["skew_allowed"] = outcome(lambda: sts(key, secret).get_caller_identity())
finally:
    botocore.auth.get_current_datetime = real_now


# Payload tampered after signing: the body no longer matches the signed payload hash.
def tampered():
    c = sts(key, secret)

    def swap_body(request, **kwargs):
        body = request.body
        if isinstance(body, bytes):
            body = body.decode()
        assert "GetCallerIdentity" in body, body
        # Same length, different content: only the signature can tell.
        request.body = body.replace("2011-06-15", "2011-06-16")

    c.meta.events.register("before-send.sts.GetCallerIdentity", swap_body)
    return c.get_caller_identity()


results["bad_payload"] = outcome(tampered)


# Declared payload hash that is not the hash of the body.
def declared_hash():
    c = sts(key, secret)

    def add_hash(request, **kwargs):
        request.headers["X-Amz-Content-SHA256"] = "0" * 64

    c.meta.events.register("before-sign.sts.GetCallerIdentity", add_hash)
    return c.get_caller_identity()


results["declared_payload_hash_mismatch"] = outcome(declared_hash)

# Presigned URLs: valid, then expired.
import urllib.request
import ssl
import xml.etree.ElementTree as ET

ctx = ssl.create_default_context(cafile=ca)


def fetch(url):
    try:
        with urllib.request.urlopen(url, context=ctx) as r:
            return {"ok": True, "status": r.status, "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        root = ET.fromstring(e.read())
        ns = {"a": "https://sts.amazonaws.com/doc/2011-06-15/"}
        return {
            "code": root.find("a:Error/a:Code", ns).text,
            "status": e.code,
            "message": root.find("a:Error/a:Message", ns).text,
        }


url = sts(key, secret).generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
results["presigned"] = fetch(url)
url = sts(key, secret).generate_presigned_url("get_caller_identity", ExpiresIn=1, HttpMethod="GET")
time.sleep(2.2)
results["presigned_expired"] = fetch(url)

print(json.dumps(results))
