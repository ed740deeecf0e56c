# UpdateEventConfigurations and DescribeEventConfigurations through boto3's
# `iot` client, signed with SigV4 (fleet/tests/all/aws_control/events.rs),
# as a script that switches AWS's job events on would call them.

from harness import case, check, iot, raises


@case
def event_configurations():
    client = iot()
    before = client.describe_event_configurations()
    check(before["eventConfigurations"]["JOB"] == {"Enabled": False}, before)
    check(before["eventConfigurations"]["THING"] == {"Enabled": False}, before)
    reply = client.update_event_configurations(
        eventConfigurations={"JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": True}})
    check(set(reply) == {"ResponseMetadata"}, reply)
    after = client.describe_event_configurations()
    check(after["eventConfigurations"]["JOB"] == {"Enabled": True}, after)
    check(after["eventConfigurations"]["JOB_EXECUTION"] == {"Enabled": True}, after)
    # botocore parsed the epoch-seconds timestamps into datetimes.
    check(after["creationDate"].year >= 2024, after)
    check(after["lastModifiedDate"] >= after["creationDate"], after)
    refused = raises(client.exceptions.InvalidRequestException,
                     client.update_event_configurations,
                     eventConfigurations={"THING": {"Enabled": True}})
    check("THING" in str(refused), str(refused))
    return {"types": sorted(after["eventConfigurations"])}
