//! `jobhost-fleet serve`: the jobs service, its broker and HTTP API, until
//! SIGINT/SIGTERM.

use crate::api::AwsCredentials;
use crate::broker::{BrokerTls, OperatorCredentials};
use crate::certificates::DEFAULT_VALIDITY;
use crate::server::{BrokerChoice, CaFiles, Server, ServerConfig, DEFAULT_URL_TTL};
use crate::uploads::DEFAULT_MAX_CONCURRENT_UPLOADS;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The embedded broker's default address: MQTT's registered ports, on
/// loopback until told otherwise.
const DEFAULT_MQTT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
const DEFAULT_MQTT_TLS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8883);

/// Run the jobs service: MQTT broker (embedded unless --broker), the AWS IoT
/// Jobs device API on it, and the HTTP API.
#[derive(Debug, Args)]
#[command(after_help = "\
The global --token (or JOBHOST_FLEET_TOKEN), when given, is required on the management API, and
serve refuses an --http address other than loopback without one (devices reach that port too, for
artifacts, uploads and CSRs, through presigned URLs that need no token). The API speaks plain HTTP:
off loopback, put a TLS-terminating reverse proxy in front of it and give --public-url https://...

--aws-access-key-id (or JOBHOST_FLEET_AWS_ACCESS_KEY_ID) lets AWS's SDKs and the AWS CLI sign
management requests with AWS SigV4 (service `iot`, any region), beside or instead of the token. Its
secret is read from the environment variable JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY or from
--aws-secret-access-key-file, never from the command line.

Without TLS the embedded broker cannot tell devices apart (a device is the client id it claims),
so plain MQTT listens on loopback only, unless --allow-plain-mqtt.

With --tls-cert, --tls-key and --tls-client-ca the embedded broker speaks MQTT over TLS and
requires a client certificate signed by the client CA; a device's identity is its certificate's
CN (= its thing name), and its MQTT client id must equal it, as with AWS IoT. The service itself
connects over a second, loopback-only listener that admits only the service (with a per-start
password); the public listener refuses the service identity whatever certificate is presented.

With --events-client-id and --events-password (or JOBHOST_FLEET_EVENTS_PASSWORD) the embedded
broker admits one more identity, for monitoring applications: that client id with that password
(and with mTLS a client certificate whose CN is that client id) may subscribe to $aws/events/#,
where the service publishes the AWS IoT Jobs events once enabled (PATCH /event-configurations),
and may publish nothing. No device may use that client id. Devices may never subscribe there.

Examples:
  jobhost-fleet serve                                   # embedded broker on 127.0.0.1:1883, API on :8080
  jobhost-fleet serve --mqtt 0.0.0.0:8883 --tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem
  jobhost-fleet serve ... --tls-client-ca ca.pem --ca-cert ca.pem --ca-key ca.key   # also rotate device certificates
  jobhost-fleet serve --broker mqtt://127.0.0.1:1884 --broker-username jobhost-fleet --broker-password ...
  JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY=... jobhost-fleet serve --aws-access-key-id AKIAFLEET   # boto3, aws CLI
  JOBHOST_FLEET_EVENTS_PASSWORD=... jobhost-fleet serve --events-client-id monitor   # jobs events for monitoring")]
pub struct ServeArgs {
    /// Directory for the job database (jobs.sqlite) and artifacts.
    #[arg(long, value_name = "DIR", default_value = "fleet-data")]
    data_dir: PathBuf,

    /// Listen address of the embedded MQTT broker [default: 127.0.0.1:1883,
    /// or 127.0.0.1:8883 with --tls-cert].
    #[arg(long, value_name = "ADDR", conflicts_with = "broker")]
    mqtt: Option<SocketAddr>,

    /// Let the embedded broker listen for plain (non-TLS) MQTT on a
    /// non-loopback --mqtt address. Devices are then NOT authenticated:
    /// anyone who can reach the port can connect as any thing. Only for a
    /// network where every host is trusted; prefer --tls-cert.
    #[arg(long, conflicts_with_all = ["broker", "tls_cert"])]
    allow_plain_mqtt: bool,

    /// Run the embedded broker with TLS and client-certificate
    /// authentication (mTLS): the broker's certificate chain (PEM). Needs
    /// --tls-key and --tls-client-ca.
    #[arg(
        long,
        value_name = "FILE",
        requires_all = ["tls_key", "tls_client_ca"],
        conflicts_with = "broker"
    )]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// CA certificate(s) (PEM) that sign the devices' certificates; a
    /// device's certificate CN is its thing name and must be its client id.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,

    /// Use an external broker instead of the embedded one: mqtt://HOST:PORT.
    /// It must grant this service `$aws/things/+/jobs/#` and confine each
    /// thing to its own topics (see docs/fleet.md for a mosquitto ACL).
    #[arg(long, value_name = "URL")]
    broker: Option<String>,

    /// Username for the external broker.
    #[arg(long, env = "JOBHOST_FLEET_BROKER_USERNAME", requires = "broker")]
    broker_username: Option<String>,

    /// Password for the external broker.
    #[arg(
        long,
        env = "JOBHOST_FLEET_BROKER_PASSWORD",
        hide_env_values = true,
        requires = "broker_username"
    )]
    broker_password: Option<String>,

    /// Listen address of the HTTP API and artifact downloads.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    http: SocketAddr,

    /// Base URL devices use to download artifacts [default: http://<--http>].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,

    /// Lifetime of presigned artifact URLs, in seconds (AWS: 60-3600).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_URL_TTL.as_secs())]
    url_ttl: u64,

    /// Largest file a device may upload to a `${jobhost:upload-url:…}` URL,
    /// in MiB (bigger uploads are refused with 413).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_upload_mib: u64,

    /// How many device uploads may be written at the same time (more are
    /// refused with 503 and Retry-After). Each URL stores one file.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONCURRENT_UPLOADS)]
    max_concurrent_uploads: usize,

    /// Sign devices' certificate requests (certificate rotation) with this
    /// CA certificate (PEM): `${jobhost:csr-url}` in a rotate-certificate
    /// job document becomes a presigned URL where the device POSTs one CSR,
    /// while its execution is IN_PROGRESS, and gets a client certificate
    /// with CN = its thing name. With mTLS this is normally the
    /// --tls-client-ca. Needs --ca-key.
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,

    /// The private key of --ca-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,

    /// Accept management requests signed with AWS SigV4 by this access key
    /// id (what boto3 and the AWS CLI call aws_access_key_id). Its secret
    /// comes from JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY or
    /// --aws-secret-access-key-file.
    #[arg(long, value_name = "ID", env = "JOBHOST_FLEET_AWS_ACCESS_KEY_ID")]
    aws_access_key_id: Option<String>,

    /// A file holding the secret access key of --aws-access-key-id (its
    /// only line; keep it owner-only), instead of the environment variable
    /// JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY.
    #[arg(long, value_name = "FILE", requires = "aws_access_key_id")]
    aws_secret_access_key_file: Option<PathBuf>,

    /// Validity of the certificates --ca-cert issues, in days. Nothing
    /// revokes them, so this bounds how long a leaked one works; a device
    /// must rotate before it runs out.
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_VALIDITY_DAYS, requires = "ca_cert")]
    cert_validity_days: u64,

    /// Admit a monitoring application on the embedded broker under this MQTT
    /// client id (and username), with --events-password: it may subscribe
    /// to the jobs events ($aws/events/#) and do nothing else. No device
    /// may use this client id. With mTLS it also needs a client
    /// certificate whose CN is this client id.
    #[arg(
        long,
        value_name = "CLIENT_ID",
        requires = "events_password",
        conflicts_with = "broker"
    )]
    events_client_id: Option<String>,

    /// The password of --events-client-id.
    #[arg(
        long,
        env = "JOBHOST_FLEET_EVENTS_PASSWORD",
        hide_env_values = true,
        requires = "events_client_id"
    )]
    events_password: Option<String>,
}

/// Where `serve` reads the secret of `--aws-access-key-id` from when no
/// file is given: an environment variable, so the secret is not in the
/// command line that `ps` shows, and not the AWS SDKs' own
/// `AWS_SECRET_ACCESS_KEY`, which holds the operator's AWS credentials.
const AWS_SECRET_ENV: &str = "JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY";

/// [`DEFAULT_VALIDITY`] in days, for `--cert-validity-days`.
const DEFAULT_VALIDITY_DAYS: u64 = DEFAULT_VALIDITY.as_secs() / 86_400;

pub async fn run(args: ServeArgs, token: Option<String>) -> Result<ExitCode> {
    let broker = match &args.broker {
        None => embedded_broker(&args),
        Some(url) => {
            let (host, port) = parse_mqtt_url(url)?;
            let credentials = args
                .broker_username
                .clone()
                .map(|u| (u, args.broker_password.clone().unwrap_or_default()));
            BrokerChoice::External {
                host,
                port,
                credentials,
            }
        }
    };
    if !(60..=3600).contains(&args.url_ttl) {
        bail!("--url-ttl must be 60-3600 seconds, like AWS's expiresInSec");
    }
    let aws_credentials = aws_credentials(
        args.aws_access_key_id.as_deref(),
        args.aws_secret_access_key_file.as_deref(),
        std::env::var(AWS_SECRET_ENV).ok(),
    )?;
    let config = ServerConfig {
        data_dir: args.data_dir.clone(),
        broker,
        http: args.http,
        public_url: args.public_url.clone(),
        url_ttl: Duration::from_secs(args.url_ttl),
        token,
        events_operator: args
            .events_client_id
            .clone()
            .zip(args.events_password.clone())
            .map(|(client_id, password)| OperatorCredentials {
                client_id,
                password,
            }),
        aws_credentials,
        ..ServerConfig::default()
    };
    let mqtt = if args.tls_cert.is_some() {
        "MQTT over mTLS"
    } else {
        "MQTT"
    };
    if !(1..=1 << 20).contains(&args.max_upload_mib) {
        bail!("--max-upload-mib must be 1-1048576");
    }
    if !(1..=1024).contains(&args.max_concurrent_uploads) {
        bail!("--max-concurrent-uploads must be 1-1024");
    }
    if !(1..=3650).contains(&args.cert_validity_days) {
        bail!("--cert-validity-days must be 1-3650");
    }
    let validity = Duration::from_secs(args.cert_validity_days * 86_400);
    let config = ServerConfig {
        ca: args
            .ca_cert
            .clone()
            .zip(args.ca_key.clone())
            .map(|(cert, key)| CaFiles {
                cert,
                key,
                validity,
            }),
        ..config
    };
    let server = Server::start(config)
        .await
        .context("cannot start the jobs service")?;
    server.uploads.set_max_bytes(args.max_upload_mib << 20);
    server
        .uploads
        .set_max_concurrent(args.max_concurrent_uploads);
    if args.allow_plain_mqtt && !server.mqtt_addr.ip().is_loopback() {
        eprintln!(
            "jobhost-fleet: WARNING: plain MQTT on {} is not authenticated: anyone who can reach \
             it can connect as any thing (--allow-plain-mqtt)",
            server.mqtt_addr
        );
    }
    eprintln!(
        "jobhost-fleet: {mqtt} on {}, HTTP API on http://{}, data in {}",
        server.mqtt_addr,
        server.http_addr,
        args.data_dir.display()
    );
    wait_for_signal().await;
    eprintln!("jobhost-fleet: stopping");
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// The SigV4 access key: `id` with its secret from `file` or, without one,
/// from `env_secret` (the value of [`AWS_SECRET_ENV`]); none without `id`.
fn aws_credentials(
    id: Option<&str>,
    file: Option<&std::path::Path>,
    env_secret: Option<String>,
) -> Result<Option<AwsCredentials>> {
    let Some(id) = id else {
        if env_secret.is_some() {
            bail!("{AWS_SECRET_ENV} is set but --aws-access-key-id is not: give the key's id too");
        }
        return Ok(None);
    };
    let secret = match (file, env_secret) {
        (Some(_), Some(_)) => {
            bail!("give the AWS secret access key once: --aws-secret-access-key-file or {AWS_SECRET_ENV}, not both")
        }
        (Some(file), None) => {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!(
                    "cannot read --aws-secret-access-key-file {}",
                    file.display()
                )
            })?;
            text.trim().to_owned()
        }
        (None, Some(secret)) => secret,
        (None, None) => bail!(
            "--aws-access-key-id needs its secret access key: set {AWS_SECRET_ENV} or give \
             --aws-secret-access-key-file (never on the command line)"
        ),
    };
    AwsCredentials::new(id, secret)
        .map(Some)
        .context("--aws-access-key-id")
}

/// The embedded broker `args` ask for: plain TCP, or mTLS when the TLS
/// files are given (clap makes sure they come together).
fn embedded_broker(args: &ServeArgs) -> BrokerChoice {
    match (&args.tls_cert, &args.tls_key, &args.tls_client_ca) {
        (Some(cert), Some(key), Some(client_ca)) => BrokerChoice::EmbeddedTls {
            listen: args.mqtt.unwrap_or(DEFAULT_MQTT_TLS),
            tls: BrokerTls {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: client_ca.clone(),
            },
        },
        _ => BrokerChoice::Embedded {
            listen: args.mqtt.unwrap_or(DEFAULT_MQTT),
            allow_plain_mqtt: args.allow_plain_mqtt,
        },
    }
}

/// `mqtt://host:port` (port defaults to 1883).
fn parse_mqtt_url(url: &str) -> Result<(String, u16)> {
    let rest = url.strip_prefix("mqtt://").with_context(|| format!("--broker {url}: expected mqtt://HOST:PORT (TLS to an external broker is not supported yet)"))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_owned(),
            port.parse()
                .with_context(|| format!("--broker {url}: bad port"))?,
        )),
        None => Ok((rest.to_owned(), 1883)),
    }
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::{aws_credentials, parse_mqtt_url};

    #[test]
    fn mqtt_urls() {
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(
            parse_mqtt_url("mqtt://broker").unwrap(),
            ("broker".into(), 1883)
        );
        assert!(parse_mqtt_url("mqtts://broker:8883").is_err());
        assert!(parse_mqtt_url("mqtt://broker:x").is_err());
    }

    #[test]
    fn the_aws_secret_comes_from_the_environment_or_a_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        let from_file = aws_credentials(Some("AKIDFLEET"), Some(&file), None)
            .unwrap()
            .unwrap();
        assert_eq!(from_file.access_key_id(), "AKIDFLEET");
        assert!(
            aws_credentials(Some("AKIDFLEET"), None, Some("from-env".into()))
                .unwrap()
                .is_some()
        );
        assert!(aws_credentials(None, None, None).unwrap().is_none());

        let err = |r: anyhow::Result<_>| format!("{:#}", r.err().unwrap());
        let both = err(aws_credentials(
            Some("AKIDFLEET"),
            Some(&file),
            Some("x".into()),
        ));
        assert!(both.contains("not both"), "{both}");
        let none = err(aws_credentials(Some("AKIDFLEET"), None, None));
        assert!(
            none.contains("JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY"),
            "{none}"
        );
        let no_id = err(aws_credentials(None, None, Some("x".into())));
        assert!(no_id.contains("--aws-access-key-id"), "{no_id}");
        std::fs::write(&file, "\n").unwrap();
        let empty = err(aws_credentials(Some("AKIDFLEET"), Some(&file), None));
        assert!(empty.contains("empty"), "{empty}");
        let missing = err(aws_credentials(
            Some("AKIDFLEET"),
            Some(&dir.path().join("no")),
            None,
        ));
        assert!(missing.contains("cannot read"), "{missing}");
        let bad_id = err(aws_credentials(Some("AKID/1"), None, Some("x".into())));
        assert!(bad_id.contains("letters, digits"), "{bad_id}");
    }
}
