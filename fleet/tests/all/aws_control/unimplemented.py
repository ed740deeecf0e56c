# Operations of the AWS IoT model that jobhost-fleet does not implement, as
# boto3 meets them (fleet/tests/all/aws_control/unimplemented.rs): a typed
# InvalidRequestException naming the operation, never the "no such job" a
# 404 ResourceNotFoundException would say. Billing groups and fleet metrics
# are chosen because nobody plans them here.

from harness import case, check, client_error, iot, raises


@case
def unimplemented_operations_are_named():
    client = iot()
    refused = raises(client.exceptions.InvalidRequestException,
                     client.create_billing_group, billingGroupName="b1")
    message = str(refused)
    check("CreateBillingGroup" in message and "does not implement" in message, message)
    error = client_error(client.describe_fleet_metric, metricName="m1")
    check(error["status"] == 400 and error["Code"] == "InvalidRequestException", error)
    check("DescribeFleetMetric" in error["Message"], error)
    return {"message": message}


@case
def unimplemented_operations_need_credentials_first():
    client = iot(signed=False)
    raises(client.exceptions.UnauthorizedException,
           client.create_billing_group, billingGroupName="b1")
    return {}
