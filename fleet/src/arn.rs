//! Amazon Resource Names of this service's resources: jobs, things,
//! thing groups and custom job templates, in AWS IoT's form
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html#awsiot-resources-for-iam-policies>):
//! the HTTP API returns them next to ids, the jobs events
//! ([`crate::events`]) name things by them; and the reading of the ARNs an
//! operator sends (CreateJob's `targets`, AddThingToThingGroup's
//! `thingArn` / `thingGroupArn`).
//!
//! The service is one local account in one region, so every ARN it forms
//! has the same region and account. It accepts an ARN with any partition,
//! region and account: a script written for AWS names its own account, and
//! there is only one here.

/// The region in the ARNs this service forms.
pub const REGION: &str = "local";

/// The account in the ARNs this service forms.
pub const ACCOUNT: &str = "000000000000";

/// `arn:aws:iot:local:000000000000`.
fn prefix() -> String {
    format!("arn:aws:iot:{REGION}:{ACCOUNT}")
}

/// `arn:aws:iot:local:000000000000:job/<id>`.
pub fn job_arn(job_id: &str) -> String {
    format!("{}:job/{job_id}", prefix())
}

/// `arn:aws:iot:local:000000000000:thing/<name>`.
pub fn thing_arn(thing: &str) -> String {
    format!("{}:thing/{thing}", prefix())
}

/// `arn:aws:iot:local:000000000000:thinggroup/<name>`.
pub fn thing_group_arn(group: &str) -> String {
    format!("{}:thinggroup/{group}", prefix())
}

/// `arn:aws:iot:local:000000000000:jobtemplate/<id>`: a custom job
/// template's (AWS's managed templates have no account:
/// [`crate::templates::Template::arn`]).
pub fn job_template_arn(template_id: &str) -> String {
    format!("{}:jobtemplate/{template_id}", prefix())
}

/// What an IoT ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `…:thing/<name>`.
    Thing(&'a str),
    /// `…:thinggroup/<name>`.
    ThingGroup(&'a str),
}

/// Reads `arn:<partition>:iot:<region>:<account>:<type>/<name>` for the
/// types targets use. `None`: not an ARN, not an IoT ARN, or another type.
/// The name is not checked here; callers check it as they check a name
/// given without an ARN.
pub fn parse(arn: &str) -> Option<Resource<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("iot"), Some(_region), Some(_account), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if let Some(name) = res.strip_prefix("thing/") {
        Some(Resource::Thing(name))
    } else {
        res.strip_prefix("thinggroup/").map(Resource::ThingGroup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formed_arns_parse_back() {
        assert_eq!(parse(&thing_arn("t:1")), Some(Resource::Thing("t:1")));
        assert_eq!(
            parse(&thing_group_arn("g")),
            Some(Resource::ThingGroup("g"))
        );
        assert_eq!(job_arn("j"), "arn:aws:iot:local:000000000000:job/j");
    }

    #[test]
    fn any_partition_region_and_account_is_read() {
        assert_eq!(
            parse("arn:aws-cn:iot:cn-north-1:123456789012:thinggroup/Fleet"),
            Some(Resource::ThingGroup("Fleet"))
        );
        assert_eq!(
            parse("arn:aws:iot:eu-west-1:1:thing/a:b"),
            Some(Resource::Thing("a:b"))
        );
    }

    #[test]
    fn other_arns_and_names_are_not_targets() {
        for s in [
            "dev-1",
            "arn:aws:iot:r:a:job/j",
            "arn:aws:s3:r:a:thing/x",
            "arn:aws:iot:r:a",
            "arn:aws:iot:r:a:thingtype/x",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
