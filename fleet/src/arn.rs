//! Amazon Resource Names of this service's resources, in AWS IoT's form
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html#awsiot-resources-for-iam-policies>):
//! the HTTP API returns them next to ids, and the jobs events
//! ([`crate::events`]) name things by them.
//!
//! The service is one local account in one region, so every ARN it forms
//! has the same region and account.

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

/// `arn:aws:iot:local:000000000000:jobtemplate/<id>`: a custom job
/// template's (AWS's managed templates have no account:
/// [`crate::templates::Template::arn`]).
pub fn job_template_arn(template_id: &str) -> String {
    format!("{}:jobtemplate/{template_id}", prefix())
}
