# Authentication as AWS's SDK meets it (fleet/tests/all/aws_control/auth.rs):
# what boto3 gets for a wrong secret, an unknown key, no signature, a
# signature from the future or the past, and a body changed after signing
# (signed by botocore's own SigV4Auth, sent with urllib).

import json
import os

import boto3

from harness import (ENDPOINT, KEY_ID, REGION, SECRET, TOKEN, case, check, client_error,
                     error_of, iot, raises, send, sha256_hex, signed_request)

JOB = {"targets": ["dev-1"], "document": {"operation": "echo"}}


@case
def any_region_signs():
    # The service has no regions: a client keeps the one it has.
    for region in ["us-east-1", "eu-west-3", "ap-southeast-2"]:
        iot(region=region).list_jobs()
    return {}


@case
def endpoint_from_the_environment():
    # What docs/fleet.md tells AWS CLI users: AWS_ENDPOINT_URL_IOT instead
    # of --endpoint-url.
    os.environ["AWS_ENDPOINT_URL_IOT"] = ENDPOINT
    try:
        client = boto3.session.Session().client(
            "iot", region_name=REGION, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        check(client.meta.endpoint_url == ENDPOINT, client.meta.endpoint_url)
        client.list_jobs()
    finally:
        del os.environ["AWS_ENDPOINT_URL_IOT"]
    return {}


@case
def wrong_secret():
    error = client_error(iot(secret="not-" + SECRET).list_jobs)
    check(error["status"] == 403, error)
    check(error["Code"] == "InvalidSignatureException", error)
    check("signature we calculated does not match" in error["Message"], error)
    check(SECRET not in error["Message"], "the message holds the secret")
    # The canonical request is shown, to help whoever wrote the signer.
    check("x-amz-date" in error["Message"], error)
    return error


@case
def unknown_key():
    error = client_error(iot(key_id="AKIDNOSUCHKEY").list_jobs)
    check(error["status"] == 403, error)
    check(error["Code"] == "UnrecognizedClientException", error)
    check("AKIDNOSUCHKEY" in error["Message"], error)
    return error


@case
def unsigned_is_refused():
    client = iot(signed=False)
    # The service has a bearer token too, so an unsigned request gets the
    # iot model's own UnauthorizedException (401), typed by boto3.
    refused = raises(client.exceptions.UnauthorizedException, client.list_jobs)
    check("Bearer" in str(refused) and "SigV4" in str(refused), refused)
    raises(client.exceptions.UnauthorizedException,
           client.create_job, jobId="unsigned", targets=["dev-1"], document="{}")
    return {"message": str(refused)}


@case
def bearer_token_still_works():
    body = json.dumps(JOB).encode()
    status, _, answer = send("PUT", "/jobs/bearer-1",
                             [("Authorization", f"Bearer {TOKEN}"),
                              ("Content-Type", "application/json")], body)
    check(status == 200, (status, answer))
    status, _, _ = send("GET", "/jobs/bearer-1", [("Authorization", "Bearer wrong")])
    check(status == 401, status)
    return {}


def skew_refusal(message_start):
    error = client_error(iot().list_jobs)
    check(error["status"] == 403 and error["Code"] == "InvalidSignatureException", error)
    check(error["Message"].startswith(message_start), error)
    return error


@case
def expired_signature():
    # Run when the Rust side has moved the service's clock 16 minutes ahead.
    return skew_refusal("Signature expired: ")


@case
def signature_from_the_future():
    # Run when the Rust side has moved the service's clock 16 minutes back.
    return skew_refusal("Signature not yet current: ")


@case
def body_changed_after_signing():
    signed = json.dumps(JOB).encode()
    sent = json.dumps(dict(JOB, targets=["dev-1", "dev-evil"])).encode()
    headers = {"Content-Type": "application/json"}
    status, error_type, message = error_of(
        signed_request("PUT", "/jobs/tampered", signed, headers, send_body=sent))
    check((status, error_type) == (403, "InvalidSignatureException"), (status, error_type, message))
    # The same request, unchanged, is accepted: the signer is right.
    status, _, answer = signed_request("PUT", "/jobs/untampered", signed, headers)
    check(status == 200, (status, answer))
    return {}


@case
def declared_body_hash_must_match():
    signed = json.dumps(JOB).encode()
    sent = json.dumps(dict(JOB, targets=["dev-evil"])).encode()
    headers = {"Content-Type": "application/json", "X-Amz-Content-SHA256": sha256_hex(signed)}
    status, error_type, message = error_of(
        signed_request("PUT", "/jobs/tampered-declared", signed, headers, send_body=sent))
    check((status, error_type) == (403, "InvalidSignatureException"), (status, error_type, message))
    check("X-Amz-Content-Sha256" in message, message)
    status, _, answer = signed_request("PUT", "/jobs/declared", signed, headers)
    check(status == 200, (status, answer))
    return {"message": message}


@case
def large_signed_upload_streams():
    # Over the 2 MiB the service reads whole: it must declare its hash,
    # which is then checked as the body streams to disk.
    big = bytes(range(256)) * (3 * 4096)
    headers = {"Content-Type": "application/octet-stream",
               "X-Amz-Content-SHA256": sha256_hex(big)}
    status, _, answer = signed_request("PUT", "/artifacts/big.bin", big, headers)
    check(status == 200, (status, answer))
    check(json.loads(answer)["size"] == len(big), answer)
    forged = big[:-1] + b"\x00"
    status, error_type, message = error_of(
        signed_request("PUT", "/artifacts/forged.bin", big, headers, send_body=forged))
    check(status == 400 and "X-Amz-Content-Sha256" in message, (status, error_type, message))
    # (Without the header such a body is refused with 413 before it is
    # read: fleet/src/api/sigv4/tests.rs, as a client here would see a
    # broken pipe as often as the answer.)
    return {"forged": message}
