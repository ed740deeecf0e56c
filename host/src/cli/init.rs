//! `jobhost init`: write a commented configuration, for a local broker or,
//! with `--aws`, for AWS IoT Core, checked as the agent would load it.

use crate::config::{aws_endpoint, AwsSetup, Config, Setup, AWS_MQTT_PORT};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Write a commented agent configuration.
#[derive(Debug, Args)]
#[command(
    after_help = "For AWS IoT Core (docs/aws-iot-core.md walks through it):\n  \
jobhost init --aws --endpoint $(aws iot describe-endpoint --endpoint-type iot:Data-ATS \
--query endpointAddress --output text) \\\n    --thing my-device --cert device.pem.crt \
--key private.pem.key --ca AmazonRootCA1.pem"
)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(long, short, value_name = "FILE", default_value = "jobhost.toml")]
    output: PathBuf,

    /// Replace an existing file.
    #[arg(long)]
    force: bool,

    /// The thing name (1-128 characters of [a-zA-Z0-9:_-]); also the MQTT
    /// client id with --aws.
    #[arg(long, value_name = "NAME")]
    thing: Option<String>,

    /// The agent's state directory (journal, compiled plugins); default
    /// `state` beside the file.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// The installed plugins' directory; default `plugins` beside the file.
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,

    /// Connect to AWS IoT Core: needs --endpoint, --thing, --cert, --key and
    /// --ca. The files are checked (readable, the certificate is for the
    /// key) and the written config is loaded as the agent would load it.
    #[arg(long, requires_all = ["endpoint", "thing", "cert", "key", "ca"])]
    aws: bool,

    /// The account's data endpoint, from `aws iot describe-endpoint
    /// --endpoint-type iot:Data-ATS` (<prefix>-ats.iot.<region>.amazonaws.com).
    #[arg(long, value_name = "HOST", requires = "aws")]
    endpoint: Option<String>,

    /// The device certificate (PEM), as AWS IoT issued or registered it.
    #[arg(long, value_name = "FILE", requires = "aws")]
    cert: Option<PathBuf>,

    /// The device's private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, value_name = "FILE", requires = "aws")]
    key: Option<PathBuf>,

    /// The CA that signs AWS IoT's server certificate (AmazonRootCA1.pem for
    /// an ATS endpoint).
    #[arg(long, value_name = "FILE", requires = "aws")]
    ca: Option<PathBuf>,

    /// 8883 (MQTT over TLS), or 443 for networks that let only HTTPS out
    /// (ALPN x-amzn-mqtt-ca is set for it).
    #[arg(long, default_value_t = AWS_MQTT_PORT, value_parser = aws_port, requires = "aws")]
    port: u16,
}

fn aws_port(value: &str) -> Result<u16, String> {
    match value.parse() {
        Ok(port @ (AWS_MQTT_PORT | 443)) => Ok(port),
        _ => Err(format!(
            "AWS IoT Core takes MQTT on {AWS_MQTT_PORT} or 443, not {value}"
        )),
    }
}

pub fn run(args: InitArgs) -> Result<ExitCode> {
    if args.output.exists() && !args.force {
        bail!(
            "{} exists; use --force to replace it",
            args.output.display()
        );
    }
    if let Some(thing) = &args.thing {
        if !jobhost_protocol::topics::is_valid_thing_name(thing) {
            bail!("--thing {thing:?}: a thing name is 1-128 characters of [a-zA-Z0-9:_-]");
        }
    }
    let aws = if args.aws {
        Some(aws_setup(&args)?)
    } else {
        None
    };
    let text = crate::config::render_example(&Setup {
        thing_name: args.thing.clone(),
        state_dir: args.state_dir.clone(),
        plugin_dir: args.plugin_dir.clone(),
        aws,
    });
    write_checked(&args.output, &text, args.aws)?;
    let next = if args.aws {
        "add your operator key to [trust], then run"
    } else {
        "edit thing_name and [broker], then run"
    };
    eprintln!(
        "wrote {}; {next}: jobhost agent --config {}",
        args.output.display(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks what `--aws` was given, before anything is written.
fn aws_setup(args: &InitArgs) -> Result<AwsSetup> {
    let (Some(endpoint), Some(cert), Some(key), Some(ca)) =
        (&args.endpoint, &args.cert, &args.key, &args.ca)
    else {
        bail!("--aws needs --endpoint, --thing, --cert, --key and --ca");
    };
    match aws_endpoint(endpoint) {
        Some(Ok(e)) if !e.ats => eprintln!(
            "warning: {endpoint} is a legacy (Symantec-signed) endpoint; AWS recommends the \
             ATS one (`aws iot describe-endpoint --endpoint-type iot:Data-ATS`) with AmazonRootCA1.pem"
        ),
        Some(Ok(_)) => {}
        Some(Err(why)) => bail!("--endpoint: {why}"),
        None => eprintln!(
            "note: {endpoint} is not under amazonaws.com; taking it for an AWS IoT custom domain"
        ),
    }
    let absolute = |flag: &str, path: &Path| {
        std::fs::canonicalize(path)
            .with_context(|| format!("--{flag} {}: cannot read it", path.display()))
    };
    let (ca, cert, key) = (
        absolute("ca", ca)?,
        absolute("cert", cert)?,
        absolute("key", key)?,
    );
    warn_if_key_readable_by_others(&key);
    Ok(AwsSetup {
        endpoint: endpoint.clone(),
        port: args.port,
        ca,
        cert,
        key,
    })
}

fn warn_if_key_readable_by_others(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(key) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} is readable by others (mode {mode:o}): chmod 600 it, in a directory \
                 only the agent's user can read",
                key.display()
            );
        }
    }
}

/// Writes `text` to `path`, and with `check` only once it loads as the
/// agent's config (files read, the pair matched, the endpoint checked):
/// written beside `path` first, so relative paths resolve the same, then
/// renamed over it. A refused config leaves `path` as it was.
fn write_checked(path: &Path, text: &str, check: bool) -> Result<()> {
    if !check {
        return write_private(path, text)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let draft = crate::durable::with_suffix(path, ".init");
    write_private(&draft, text).with_context(|| format!("cannot write {}", draft.display()))?;
    let loaded = Config::load(&draft);
    let result = match loaded {
        Ok(_) => std::fs::rename(&draft, path)
            .with_context(|| format!("cannot write {}", path.display())),
        Err(e) => Err(anyhow::Error::new(e).context("the configuration would not load")),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&draft);
    }
    result
}

/// Writes `text` to `path` readable by its owner only (0600): the config
/// may come to hold a broker password, and `--force` over a file that was
/// readable by others narrows it too.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file this call creates.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
