# Rollouts, abort rules, retries, timeouts and schedules through boto3's
# `iot` client, signed with SigV4, as an AWS deployment script sets them
# (fleet/tests/all/aws_control/rollouts.rs): what CreateJob is given,
# DescribeJob returns in AWS's shapes; UpdateJob and CancelJob change what
# AWS lets them change; a value out of AWS's range is refused naming it.

import datetime
import json

from harness import case, check, iot, raises, thing_arn

DOCUMENT = json.dumps({"operation": "echo"})
THINGS = [thing_arn(t) for t in ("canary-1", "canary-2", "canary-3")]
ROLLOUT = {"maximumPerMinute": 1}
ABORT = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                           "thresholdPercentage": 50.0, "minNumberOfExecutedThings": 2}]}
RETRY = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2},
                          {"failureType": "TIMED_OUT", "numberOfRetries": 1}]}


def at(minutes):
    """`minutes` from now as AWS's StringDateTime (UTC, to the minute)."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M")


@case
def staged_rollout():
    client = iot()
    client.create_job(jobId="boto-canary", targets=THINGS, document=DOCUMENT,
                      jobExecutionsRolloutConfig=ROLLOUT, abortConfig=ABORT,
                      jobExecutionsRetryConfig=RETRY,
                      timeoutConfig={"inProgressTimeoutInMinutes": 30},
                      presignedUrlConfig={"expiresInSec": 900})
    job = client.describe_job(jobId="boto-canary")["job"]
    check(job["jobExecutionsRolloutConfig"] == ROLLOUT, job)
    check(job["abortConfig"] == ABORT, job)
    check(job["jobExecutionsRetryConfig"] == RETRY, job)
    check(job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}, job)
    check(job["presignedUrlConfig"] == {"expiresInSec": 900}, job)
    # One a minute: one thing notified so far, the others wait.
    check(job["jobProcessDetails"]["numberOfQueuedThings"] == 1, job)

    exponential = {"baseRatePerMinute": 2, "incrementFactor": 1.5,
                   "rateIncreaseCriteria": {"numberOfSucceededThings": 1}}
    client.create_job(jobId="boto-exponential", targets=THINGS, document=DOCUMENT,
                      jobExecutionsRolloutConfig={"exponentialRate": exponential})
    job = client.describe_job(jobId="boto-exponential")["job"]
    check(job["jobExecutionsRolloutConfig"] == {"exponentialRate": exponential}, job)
    return {"queued": job["jobProcessDetails"]["numberOfQueuedThings"]}


@case
def scheduled():
    client = iot()
    scheduling = {"startTime": at(60), "endTime": at(180), "endBehavior": "CANCEL"}
    client.create_job(jobId="boto-later", targets=THINGS, document=DOCUMENT,
                      schedulingConfig=scheduling)
    job = client.describe_job(jobId="boto-later")["job"]
    check(job["status"] == "SCHEDULED", job)
    check(job["schedulingConfig"]["startTime"] == scheduling["startTime"], job)
    check(job["schedulingConfig"]["endBehavior"] == "CANCEL", job)
    check(job["jobProcessDetails"].get("numberOfQueuedThings", 0) == 0, job)
    return {"status": job["status"]}


@case
def retries_set_to_zero():
    client = iot()
    client.update_job(jobId="boto-canary", jobExecutionsRetryConfig={
        "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 0}]})
    criteria = client.describe_job(jobId="boto-canary")["job"]["jobExecutionsRetryConfig"]
    check({"failureType": "FAILED", "numberOfRetries": 0} in criteria["criteriaList"], criteria)
    # AWS lets UpdateJob lower retries to 0 only.
    e = raises(client.exceptions.InvalidRequestException, client.update_job,
               jobId="boto-canary", jobExecutionsRetryConfig={
                   "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 1}]})
    return {"message": e.response["Error"]["Message"]}


@case
def cancel_with_a_reason():
    client = iot()
    client.cancel_job(jobId="boto-canary", reasonCode="CANARY_FAILED",
                      comment="stopped by boto3")
    job = client.describe_job(jobId="boto-canary")["job"]
    check(job["status"] == "CANCELED", job)
    check(job["reasonCode"] == "CANARY_FAILED", job)
    check(job["comment"] == "stopped by boto3", job)
    return {"status": job["status"]}


@case
def out_of_range_is_refused_naming_the_field():
    client = iot()
    # botocore checks minimums itself; the maximum is the service's to check.
    e = raises(client.exceptions.InvalidRequestException, client.create_job,
               jobId="boto-too-fast", targets=THINGS, document=DOCUMENT,
               jobExecutionsRolloutConfig={"maximumPerMinute": 5000})
    return {"message": e.response["Error"]["Message"]}
