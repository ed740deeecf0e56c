# Things, thing groups and jobs on groups as boto3's `iot` client drives
# them (fleet/tests/all/aws_control/groups.rs): the registry, a static
# hierarchy, a dynamic group, snapshot and continuous jobs on a group ARN,
# AssociateTargetsWithJob, ListJobs' group filters, and a thing that joins
# after a continuous job was created getting its execution. The cases run in
# order on one service: each builds on the ones before.

import json

from harness import case, check, iot, raises, thing_arn, thing_group_arn

DOCUMENT = json.dumps({"operation": "echo", "message": "from boto3"})


def executions(client, job_id):
    """{thing name: (executionNumber, status)} of ListJobExecutionsForJob."""
    listed = client.list_job_executions_for_job(jobId=job_id)["executionSummaries"]
    return {
        s["thingArn"].split("/", 1)[1]: (
            s["jobExecutionSummary"]["executionNumber"],
            s["jobExecutionSummary"]["status"],
        )
        for s in listed
    }


@case
def registry_and_hierarchy():
    client = iot()
    thing = client.create_thing(thingName="g-dev-1",
                                attributePayload={"attributes": {"site": "berlin"}})
    check(thing["thingName"] == "g-dev-1" and thing["thingArn"].endswith(":thing/g-dev-1"), thing)
    client.create_thing(thingName="g-dev-2")
    client.create_thing(thingName="g-lab-1", attributePayload={"attributes": {"site": "lab"}})
    fleet = client.create_thing_group(thingGroupName="Fleet")
    check(fleet["thingGroupArn"].endswith(":thinggroup/Fleet"), fleet)
    client.create_thing_group(thingGroupName="EU", parentGroupName="Fleet",
                              thingGroupProperties={"thingGroupDescription": "Europe"})
    # By name and by ARN, as AddThingToThingGroup takes either.
    client.add_thing_to_thing_group(thingGroupName="EU", thingName="g-dev-1")
    client.add_thing_to_thing_group(thingGroupArn=thing_group_arn("Fleet"),
                                    thingArn=thing_arn("g-dev-2"))
    eu = client.describe_thing_group(thingGroupName="EU")
    check(eu["thingGroupMetadata"]["parentGroupName"] == "Fleet", eu)
    check(eu["thingGroupProperties"]["thingGroupDescription"] == "Europe", eu)
    roots = [g["groupName"] for g in eu["thingGroupMetadata"]["rootToParentThingGroups"]]
    check(roots == ["Fleet"], roots)
    members = client.list_things_in_thing_group(thingGroupName="Fleet", recursive=True)["things"]
    check(sorted(members) == ["g-dev-1", "g-dev-2"], members)
    raises(client.exceptions.ResourceNotFoundException,
           client.describe_thing_group, thingGroupName="Nowhere")
    return {"euId": eu["thingGroupId"], "version": eu["version"]}


@case
def dynamic_group():
    client = iot()
    created = client.create_dynamic_thing_group(thingGroupName="Labs",
                                                queryString="attributes.site:lab")
    check(created["queryString"] == "attributes.site:lab", created)
    check(created["indexName"] == "AWS_Things", created)
    labs = client.describe_thing_group(thingGroupName="Labs")
    check(labs["status"] == "ACTIVE" and labs["queryString"] == "attributes.site:lab", labs)
    members = client.list_things_in_thing_group(thingGroupName="Labs")["things"]
    check(members == ["g-lab-1"], members)
    raises(client.exceptions.InvalidQueryException, client.create_dynamic_thing_group,
           thingGroupName="Broken", queryString="attributes.site:(")
    return {"members": members}


@case
def snapshot_job_on_a_group():
    client = iot()
    created = client.create_job(jobId="g-snap", targets=[thing_group_arn("Fleet")],
                                document=DOCUMENT, targetSelection="SNAPSHOT")
    check(created["jobId"] == "g-snap", created)
    job = client.describe_job(jobId="g-snap")["job"]
    check(job["targetSelection"] == "SNAPSHOT", job)
    check(job["targets"] == ["arn:aws:iot:local:000000000000:thinggroup/Fleet"], job)
    runs = executions(client, "g-snap")
    check(runs == {"g-dev-1": (1, "QUEUED"), "g-dev-2": (1, "QUEUED")}, runs)
    # A snapshot is taken at creation: a later member gets nothing.
    client.create_thing(thingName="g-dev-3")
    client.add_thing_to_thing_group(thingGroupName="EU", thingName="g-dev-3")
    check("g-dev-3" not in executions(client, "g-snap"), executions(client, "g-snap"))
    return {"targets": job["targets"]}


@case
def continuous_job_and_a_late_joiner():
    client = iot()
    client.create_job(jobId="g-cont", targets=[thing_group_arn("EU")],
                      document=DOCUMENT, targetSelection="CONTINUOUS")
    job = client.describe_job(jobId="g-cont")["job"]
    check(job["targetSelection"] == "CONTINUOUS" and job["status"] == "IN_PROGRESS", job)
    before = executions(client, "g-cont")
    check(before == {"g-dev-1": (1, "QUEUED"), "g-dev-3": (1, "QUEUED")}, before)
    client.create_thing(thingName="g-late")
    client.add_thing_to_thing_group(thingGroupName="EU", thingName="g-late")
    late = client.describe_job_execution(jobId="g-cont", thingName="g-late")["execution"]
    check(late["status"] == "QUEUED" and late["executionNumber"] == 1, late)
    # Leaving takes the queued execution away: REMOVED.
    client.remove_thing_from_thing_group(thingGroupName="EU", thingName="g-dev-3")
    gone = client.describe_job_execution(jobId="g-cont", thingName="g-dev-3")["execution"]
    check(gone["status"] == "REMOVED", gone)
    return {"late": late["executionNumber"]}


@case
def associate_targets():
    client = iot()
    associated = client.associate_targets_with_job(
        jobId="g-cont", targets=[thing_group_arn("Labs")], comment="labs too")
    check(associated["jobId"] == "g-cont", associated)
    job = client.describe_job(jobId="g-cont")["job"]
    check(job["targets"][-1].endswith(":thinggroup/Labs"), job)
    runs = executions(client, "g-cont")
    check(runs["g-lab-1"] == (1, "QUEUED"), runs)
    # Only continuous jobs take targets after creation.
    raises(client.exceptions.InvalidRequestException, client.associate_targets_with_job,
           jobId="g-snap", targets=[thing_group_arn("Labs")])
    return {"targets": job["targets"]}


@case
def list_jobs_by_group():
    client = iot()
    client.create_job(jobId="g-other", targets=[thing_arn("g-dev-2")], document=DOCUMENT)

    def ids(**filters):
        return sorted(j["jobId"] for j in client.list_jobs(**filters)["jobs"])

    on_fleet = ids(thingGroupName="Fleet")
    check(on_fleet == ["g-snap"], on_fleet)
    on_eu = ids(thingGroupName="EU")
    check(on_eu == ["g-cont"], on_eu)
    eu_id = client.describe_thing_group(thingGroupName="EU")["thingGroupId"]
    check(ids(thingGroupId=eu_id) == ["g-cont"], eu_id)
    continuous = ids(targetSelection="CONTINUOUS")
    check(continuous == ["g-cont"], continuous)
    # With pages: the filter holds across them.
    first = client.list_jobs(thingGroupName="Labs", maxResults=1)
    check([j["jobId"] for j in first["jobs"]] == ["g-cont"] and "nextToken" not in first, first)
    return {"fleet": on_fleet, "eu": on_eu}
