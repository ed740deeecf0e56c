# What the boto3 conformance cases share (fleet/tests/all/aws_control/*.py,
# run by run.py for fleet/tests/all/aws_control.rs): the `iot` client pointed
# at the service under test, AWS's own SigV4 signer for hand-made requests,
# and small assertions.
#
# Everything comes from the environment the Rust harness sets (nothing from
# ~/.aws: it points AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE at
# nothing):
#   JOBHOST_AWS_ENDPOINT            http://127.0.0.1:<port> of the HTTP API
#   JOBHOST_AWS_ACCESS_KEY_ID       the key the service accepts
#   JOBHOST_AWS_SECRET_ACCESS_KEY   its secret
#   JOBHOST_FLEET_TOKEN             the service's bearer token
#
# A case is a function marked @case that raises on failure and may return a
# dict of details for the Rust side to check (printed as JSON).

import hashlib
import json
import os
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ENDPOINT = os.environ["JOBHOST_AWS_ENDPOINT"]
KEY_ID = os.environ["JOBHOST_AWS_ACCESS_KEY_ID"]
SECRET = os.environ["JOBHOST_AWS_SECRET_ACCESS_KEY"]
TOKEN = os.environ["JOBHOST_FLEET_TOKEN"]
REGION = "us-east-1"
ACCOUNT = "123456789012"


def case(fn):
    """Marks a function as a case run.py can run by its name."""
    fn.is_case = True
    return fn


def iot(region=REGION, key_id=KEY_ID, secret=SECRET, signed=True):
    """boto3's `iot` client for the service: the configured key (or the
    given one), no retries (a failure shows at once), and unsigned when
    `signed` is false (botocore.UNSIGNED)."""
    config = Config(retries={"mode": "standard", "max_attempts": 1})
    if not signed:
        config = config.merge(Config(signature_version=botocore.UNSIGNED))
    return boto3.session.Session().client(
        "iot",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def thing_arn(name, region=REGION):
    return f"arn:aws:iot:{region}:{ACCOUNT}:thing/{name}"


def sdk_versions():
    return {"boto3": boto3.__version__, "botocore": botocore.__version__}


def client_error(call, *args, **kwargs):
    """Runs `call`, which must fail with a ClientError; returns its parsed
    error (`Code`, `Message`) with the HTTP status added."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        error = dict(e.response["Error"])
        error["status"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
        return error
    raise AssertionError(f"{getattr(call, '__name__', call)} did not fail")


def raises(exception, call, *args, **kwargs):
    """Runs `call`, which must raise `exception` (e.g. one of a client's
    typed `client.exceptions.*`); returns it."""
    try:
        call(*args, **kwargs)
    except exception as e:
        return e
    raise AssertionError(f"{getattr(call, '__name__', call)} did not raise {exception.__name__}")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def signed_request(method, path, body=b"", headers=None, send_body=None,
                   key_id=KEY_ID, secret=SECRET, region=REGION):
    """A request signed by botocore's own SigV4Auth (signing name `iot`),
    sent with urllib: `send_body`, when given, replaces the body after
    signing (a tampered request). Returns (status, headers, body bytes)."""
    request = AWSRequest(method=method, url=ENDPOINT + path, data=body,
                         headers=dict(headers or {}))
    SigV4Auth(Credentials(key_id, secret), "iot", region).add_auth(request)
    return send(method, path, request.headers.items(),
                body if send_body is None else send_body)


def send(method, path, headers, body=b""):
    """A raw HTTP request; returns (status, headers, body bytes) whatever
    the status."""
    request = urllib.request.Request(ENDPOINT + path, data=body or None, method=method)
    for name, value in headers:
        request.add_header(name, value)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def error_of(status_headers_body):
    """(status, x-amzn-ErrorType, message) of a raw response."""
    status, headers, body = status_headers_body
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message = json.loads(body).get("message")
    except ValueError:
        message = body.decode(errors="replace")
    return status, lowered.get("x-amzn-errortype"), message


def thing_group_arn(name, region=REGION):
    return f"arn:aws:iot:{region}:{ACCOUNT}:thinggroup/{name}"
