# The job operations through boto3's `iot` client, signed with SigV4, as an
# AWS script would call them (fleet/tests/all/aws_control/jobs.rs). Thing
# `dev:2` has a `:` so that its path is percent-encoded, which SigV4 signs
# encoded twice.

import json

from harness import case, check, client_error, iot, raises, thing_arn

DOCUMENT = {"operation": "echo", "message": "from boto3"}


def create(client, job_id, *things):
    """CreateJob of DOCUMENT for `things`, by their ARNs."""
    return client.create_job(jobId=job_id, targets=[thing_arn(t) for t in things],
                             document=json.dumps(DOCUMENT))


@case
def create_and_describe():
    client = iot()
    created = client.create_job(
        jobId="boto-1",
        targets=[thing_arn("dev-1"), thing_arn("dev:2")],
        document=json.dumps(DOCUMENT),
        description="created by boto3",
    )
    check(created["jobId"] == "boto-1", created)
    check(created["jobArn"].endswith(":job/boto-1"), created)
    job = client.describe_job(jobId="boto-1")["job"]
    check(job["status"] == "IN_PROGRESS", job)
    check(job["description"] == "created by boto3", job)
    check(job["jobProcessDetails"]["numberOfQueuedThings"] == 2, job)
    # botocore parsed the epoch-seconds timestamp into a datetime.
    check(job["createdAt"].year >= 2024, job)
    document = client.get_job_document(jobId="boto-1")["document"]
    check(json.loads(document) == DOCUMENT, document)
    return {"jobArn": created["jobArn"], "targets": job["targets"]}


@case
def list_with_a_filter():
    client = iot()
    create(client, "boto-list", "dev-1")
    every = [j["jobId"] for j in client.list_jobs()["jobs"]]
    check("boto-list" in every, every)
    # A query string, which the signature covers too.
    running = [j["jobId"] for j in client.list_jobs(status="IN_PROGRESS", maxResults=50)["jobs"]]
    check("boto-list" in running, running)
    done = [j["jobId"] for j in client.list_jobs(status="COMPLETED")["jobs"]]
    check("boto-list" not in done, done)
    return {"jobs": every}


@case
def executions():
    client = iot()
    create(client, "boto-exec", "dev:2")
    for_job = client.list_job_executions_for_job(jobId="boto-exec", status="QUEUED")
    summaries = for_job["executionSummaries"]
    check(len(summaries) == 1, for_job)
    check(summaries[0]["thingArn"].endswith(":thing/dev:2"), summaries)
    check(summaries[0]["jobExecutionSummary"]["status"] == "QUEUED", summaries)
    execution = client.describe_job_execution(jobId="boto-exec", thingName="dev:2")["execution"]
    check(execution["status"] == "QUEUED", execution)
    check(execution["thingArn"].endswith(":thing/dev:2"), execution)
    for_thing = client.list_job_executions_for_thing(thingName="dev:2")["executionSummaries"]
    check("boto-exec" in [s["jobId"] for s in for_thing], for_thing)
    return {"executionNumber": execution["executionNumber"]}


@case
def cancel():
    client = iot()
    create(client, "boto-cancel", "dev-1")
    canceled = client.cancel_job(jobId="boto-cancel", comment="no longer needed")
    check(canceled["jobId"] == "boto-cancel", canceled)
    job = client.describe_job(jobId="boto-cancel")["job"]
    check(job["status"] == "CANCELED", job)
    check(job.get("comment") == "no longer needed", job)
    execution = client.describe_job_execution(jobId="boto-cancel", thingName="dev-1")["execution"]
    check(execution["status"] == "CANCELED", execution)
    return {"status": job["status"]}


@case
def typed_exceptions():
    client = iot()
    missing = raises(client.exceptions.ResourceNotFoundException,
                     client.describe_job, jobId="boto-no-such-job")
    check("boto-no-such-job" in str(missing), missing)
    raises(client.exceptions.ResourceNotFoundException,
           client.describe_job_execution, jobId="boto-1", thingName="no-such-thing")
    create(client, "boto-twice", "dev-1")
    raises(client.exceptions.ResourceAlreadyExistsException, create, client, "boto-twice", "dev-1")
    invalid = raises(client.exceptions.InvalidRequestException,
                     client.create_job, jobId="boto-bad", targets=[thing_arn("dev-1")],
                     document="{not json")
    error = client_error(client.describe_job, jobId="boto-no-such-job")
    check(error["status"] == 404 and error["Code"] == "ResourceNotFoundException", error)
    return {"invalid": str(invalid)}
