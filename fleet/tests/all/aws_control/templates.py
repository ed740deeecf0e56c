# Custom job templates through boto3's `iot` client, signed with SigV4, as
# an AWS script would call them (fleet/tests/all/aws_control/templates.rs):
# CreateJobTemplate, DescribeJobTemplate, ListJobTemplates (with boto3's own
# paginator), CreateJob with jobTemplateArn and documentParameters,
# DeleteJobTemplate, and the typed exceptions.

import json

from harness import case, check, iot, raises, thing_arn

DOCUMENT = {"operation": "install", "url": "${aws:iot:parameter:url}"}

SETTINGS = {
    "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
    "presignedUrlConfig": {"expiresInSec": 600},
    "jobExecutionsRolloutConfig": {"maximumPerMinute": 100},
    "abortConfig": {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                      "thresholdPercentage": 25.0,
                                      "minNumberOfExecutedThings": 4}]},
    "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "TIMED_OUT",
                                                   "numberOfRetries": 2}]},
    "maintenanceWindows": [{"startTime": "cron(0 * * * ? *)", "durationInMinutes": 59}],
}


def create_template(client, template_id, document=None, **extra):
    return client.create_job_template(
        jobTemplateId=template_id,
        description=f"template {template_id}",
        document=json.dumps(document if document is not None else DOCUMENT),
        **extra,
    )


@case
def create_and_describe():
    client = iot()
    created = create_template(client, "boto-tpl", **SETTINGS)
    check(created["jobTemplateId"] == "boto-tpl", created)
    check(created["jobTemplateArn"].endswith(":jobtemplate/boto-tpl"), created)
    described = client.describe_job_template(jobTemplateId="boto-tpl")
    check(described["jobTemplateArn"] == created["jobTemplateArn"], described)
    check(described["description"] == "template boto-tpl", described)
    check(json.loads(described["document"]) == DOCUMENT, described)
    # botocore parsed the epoch-seconds timestamp into a datetime.
    check(described["createdAt"].year >= 2024, described)
    for field, value in SETTINGS.items():
        check(described[field] == value, (field, described))
    return {"jobTemplateArn": created["jobTemplateArn"]}


@case
def list_in_pages():
    client = iot()
    for i in range(5):
        create_template(client, f"boto-page-{i}", document={"operation": "echo"})
    paginator = client.get_paginator("list_job_templates")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    ids = [t["jobTemplateId"] for p in pages for t in p["jobTemplates"]]
    mine = [i for i in ids if i.startswith("boto-page-")]
    check(mine == [f"boto-page-{i}" for i in range(5)], ids)
    check(len(pages) >= 3, pages)
    check(all(len(p["jobTemplates"]) <= 2 for p in pages), pages)
    summary = pages[0]["jobTemplates"][0]
    check(set(summary) == {"jobTemplateArn", "jobTemplateId", "description", "createdAt"},
          summary)
    return {"ids": ids, "pages": len(pages)}


@case
def create_job_from_template():
    client = iot()
    arn = create_template(client, "boto-install", timeoutConfig={"inProgressTimeoutInMinutes": 20})[
        "jobTemplateArn"]
    created = client.create_job(
        jobId="boto-from-tpl",
        targets=[thing_arn("dev-1")],
        jobTemplateArn=arn,
        documentParameters={"url": "https://example.com/fw.bin"},
    )
    check(created["jobId"] == "boto-from-tpl", created)
    job = client.describe_job(jobId="boto-from-tpl")["job"]
    check(job["jobTemplateArn"] == arn, job)
    check(job["description"] == "template boto-install", job)
    check(job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 20}, job)
    check(job["documentParameters"] == {"url": "https://example.com/fw.bin"}, job)
    document = json.loads(client.get_job_document(jobId="boto-from-tpl")["document"])
    check(document == {"operation": "install", "url": "https://example.com/fw.bin"}, document)
    before = client.get_job_document(jobId="boto-from-tpl", beforeSubstitution=True)["document"]
    check(json.loads(before) == DOCUMENT, before)
    # A field given to CreateJob replaces the template's.
    client.create_job(
        jobId="boto-from-tpl-2",
        targets=[thing_arn("dev-1")],
        jobTemplateArn=arn,
        documentParameters={"url": "https://example.com/fw2.bin"},
        timeoutConfig={"inProgressTimeoutInMinutes": 5},
        description="overridden",
    )
    job = client.describe_job(jobId="boto-from-tpl-2")["job"]
    check(job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}, job)
    check(job["description"] == "overridden", job)
    return {"jobTemplateArn": arn}


@case
def delete_keeps_jobs():
    client = iot()
    arn = create_template(client, "boto-gone", document={"operation": "echo"})["jobTemplateArn"]
    client.create_job(jobId="boto-orphan", targets=[thing_arn("dev-1")], jobTemplateArn=arn)
    client.delete_job_template(jobTemplateId="boto-gone")
    raises(client.exceptions.ResourceNotFoundException,
           client.describe_job_template, jobTemplateId="boto-gone")
    listed = [t["jobTemplateId"] for t in client.list_job_templates()["jobTemplates"]]
    check("boto-gone" not in listed, listed)
    job = client.describe_job(jobId="boto-orphan")["job"]
    check(job["jobTemplateArn"] == arn, job)
    document = json.loads(client.get_job_document(jobId="boto-orphan")["document"])
    check(document == {"operation": "echo"}, document)
    raises(client.exceptions.ResourceNotFoundException,
           client.create_job, jobId="boto-orphan-2", targets=[thing_arn("dev-1")],
           jobTemplateArn=arn)
    return {}


@case
def from_a_job():
    client = iot()
    client.create_job(jobId="boto-src", targets=[thing_arn("dev-1")],
                      document=json.dumps({"operation": "echo", "n": 1}),
                      jobExecutionsRetryConfig={"criteriaList": [
                          {"failureType": "FAILED", "numberOfRetries": 1}]})
    job_arn = client.describe_job(jobId="boto-src")["job"]["jobArn"]
    client.create_job_template(jobTemplateId="boto-copy", description="copied", jobArn=job_arn)
    described = client.describe_job_template(jobTemplateId="boto-copy")
    check(json.loads(described["document"]) == {"operation": "echo", "n": 1}, described)
    check(described["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"] == 1,
          described)
    return {}


@case
def typed_exceptions():
    client = iot()
    create_template(client, "boto-twice")
    raises(client.exceptions.ConflictException, create_template, client, "boto-twice")
    raises(client.exceptions.ResourceNotFoundException,
           client.describe_job_template, jobTemplateId="boto-no-such-template")
    raises(client.exceptions.ResourceNotFoundException,
           client.delete_job_template, jobTemplateId="boto-no-such-template")
    tags = raises(client.exceptions.InvalidRequestException, create_template, client,
                  "boto-tags", tags=[{"Key": "k", "Value": "v"}])
    check("`tags` is not supported yet" in str(tags), tags)
    missing = raises(client.exceptions.InvalidRequestException,
                     client.create_job, jobId="boto-no-param", targets=[thing_arn("dev-1")],
                     jobTemplateArn=create_template(client, "boto-param")["jobTemplateArn"])
    check("needs \"url\"" in str(missing), missing)
    return {}
