//! What a job runs on: `--target` (things or groups, by name or ARN) and
//! `--group` (thing groups by name), shared by `job create` and `job
//! associate` (AssociateTargetsWithJob).

use super::client::{segment, Client};
use crate::arn::{self, Resource};
use anyhow::Result;
use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

/// `--target` and `--group`; at least one of them.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct Targets {
    /// Things or thing groups, by name or ARN (a bare name is a group's if
    /// such a group exists and no thing has the name); repeatable.
    #[arg(long = "target", value_name = "TARGET", num_args = 1..)]
    targets: Vec<String>,
    /// Thing groups by name (or ARN), never read as a thing's; repeatable.
    #[arg(long = "group", value_name = "NAME", num_args = 1..)]
    groups: Vec<String>,
}

impl Targets {
    /// CreateJob's and AssociateTargetsWithJob's `targets`: the --target
    /// values as given, then each --group as a thing group ARN.
    pub fn into_targets(self) -> Vec<String> {
        let groups = self.groups.into_iter().map(|g| match arn::parse(&g) {
            Some(Resource::ThingGroup(_)) => g,
            // Anything else is meant as a name: if it is not one, the
            // service's refusal quotes it inside the ARN.
            _ => arn::thing_group_arn(&g),
        });
        self.targets.into_iter().chain(groups).collect()
    }
}

/// `job associate`.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  jobhost-fleet job associate onboard --group OldGateways --target gw-99 --comment 'gateways too'

Only an IN_PROGRESS job created with --continuous takes more targets.")]
pub struct AssociateArgs {
    /// The job.
    job_id: String,
    #[command(flatten)]
    targets: Targets,
    /// Why, for the record: becomes the job's comment.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
}

/// AssociateTargetsWithJob: the things the new targets reach get
/// executions now.
pub async fn associate(client: &Client, args: AssociateArgs) -> Result<()> {
    let mut body = json!({ "targets": args.targets.into_targets() });
    if let Some(c) = args.comment {
        body["comment"] = Value::String(c);
    }
    let path = format!("/jobs/{}/targets", segment(&args.job_id));
    client
        .send(client.request(Method::POST, &path).json(&body))
        .await?;
    println!("targets associated with job {}", args.job_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        targets: Targets,
    }

    fn targets(args: &[&str]) -> Result<Vec<String>, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("job").chain(args.iter().copied()))?;
        Ok(cli.targets.into_targets())
    }

    #[test]
    fn groups_become_thing_group_arns_after_the_targets() {
        let group_arn = "arn:aws:iot:eu-west-1:123456789012:thinggroup/Lab";
        assert_eq!(
            targets(&["--group", "Fleet", "--target", "dev-1", "dev-2", "--group", group_arn,])
                .unwrap(),
            [
                "dev-1".to_owned(),
                "dev-2".to_owned(),
                arn::thing_group_arn("Fleet"),
                group_arn.to_owned(),
            ]
        );
        assert_eq!(
            targets(&["--group", "Fleet"]).unwrap(),
            [arn::thing_group_arn("Fleet")]
        );
        assert_eq!(targets(&["--target", "dev-1"]).unwrap(), ["dev-1"]);
    }

    #[test]
    fn a_target_or_a_group_is_required() {
        let error = targets(&[]).unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
    }
}
