//! `[broker]` resolved: where and how the agent connects, with the TLS
//! material read from disk.

use super::raw::RawBroker;
use super::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Client id.
    pub client_id: String,
    /// Credentials.
    pub credentials: Option<(String, String)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Clean session flag.
    pub clean_session: bool,
    /// TLS material, read from disk.
    pub tls: Option<Tls>,
}

/// TLS material, loaded.
#[derive(Clone)]
pub struct Tls {
    /// CA PEM.
    pub ca: Vec<u8>,
    /// Device certificate and key PEM.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
    /// Where the device certificate and key were read from: what a
    /// certificate rotation replaces (and reads again to reconnect).
    pub client_files: Option<(PathBuf, PathBuf)>,
    /// ALPN protocols.
    pub alpn: Vec<String>,
}

impl std::fmt::Debug for Tls {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca", &format_args!("{} bytes", self.ca.len()))
            .field(
                "client_auth",
                &self.client_auth.as_ref().map(|_| "<redacted>"),
            )
            .field("alpn", &self.alpn)
            .finish()
    }
}

/// Resolves `[broker]`: reads the TLS files (relative paths anchored by
/// `resolve`) and checks the values; the client id defaults to the thing.
pub(super) fn resolve_broker(
    raw: &RawBroker,
    thing_name: &str,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Broker, ConfigError> {
    let invalid = |m: String| ConfigError::Invalid(m);
    let tls = match &raw.tls {
        None => None,
        Some(t) => {
            let read = |p: &Path| {
                let p = resolve(p);
                std::fs::read(&p).map_err(|source| ConfigError::Read { path: p, source })
            };
            let client_files = match (&t.cert, &t.key) {
                (Some(c), Some(k)) => Some((resolve(c), resolve(k))),
                _ => None,
            };
            let client_auth = match (&t.cert, &t.key) {
                (Some(c), Some(k)) => {
                    let (cert, key) = (read(c)?, read(k)?);
                    check_pair(&cert, &key, &resolve(c), &resolve(k))?;
                    Some((cert, key))
                }
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        "broker.tls.cert and broker.tls.key go together".into(),
                    ))
                }
            };
            Some(Tls {
                ca: read(&t.ca)?,
                client_auth,
                client_files,
                alpn: t.alpn.clone(),
            })
        }
    };
    let credentials = match (&raw.username, &raw.password) {
        (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
        (None, Some(_)) => return Err(invalid("broker.password needs broker.username".into())),
        (None, None) => None,
    };
    if let Some(aws) = aws_endpoint(&raw.host) {
        check_aws(aws, raw.port, tls.as_ref())?;
    }
    let keep_alive = raw.keep_alive_secs.unwrap_or(30);
    if !(5..=1200).contains(&keep_alive) {
        return Err(invalid(format!(
            "broker.keep_alive_secs = {keep_alive}: must be 5-1200 (AWS allows 30-1200)"
        )));
    }
    Ok(Broker {
        host: raw.host.clone(),
        port: raw.port,
        client_id: raw
            .client_id
            .clone()
            .unwrap_or_else(|| thing_name.to_owned()),
        credentials,
        keep_alive: Duration::from_secs(keep_alive),
        clean_session: raw.clean_session.unwrap_or(true),
        tls,
    })
}

/// A client certificate that is not for the key beside it fails every TLS
/// handshake with an unhelpful alert; say so at start, naming both files.
fn check_pair(
    cert: &[u8],
    key: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), ConfigError> {
    let key = Zeroizing::new(String::from_utf8_lossy(key).into_owned());
    crate::certstore::pair_matches(cert, &key)
        .map(drop)
        .map_err(|why| {
            ConfigError::Invalid(format!(
                "broker.tls: certificate {} and key {}: {why}",
                cert_path.display(),
                key_path.display()
            ))
        })
}

/// The port AWS IoT Core takes MQTT over TLS on, without ALPN.
pub const AWS_MQTT_PORT: u16 = 8883;
/// The ALPN protocol AWS IoT Core needs for MQTT with a client certificate
/// on port 443 (where a firewall lets only HTTPS out).
pub const AWS_ALPN: &str = "x-amzn-mqtt-ca";

/// An AWS IoT Core data endpoint, as `aws iot describe-endpoint
/// --endpoint-type iot:Data-ATS` prints it: `<prefix>-ats.iot.<region>.
/// amazonaws.com` (`.amazonaws.com.cn` in China).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEndpoint {
    /// The account's endpoint prefix.
    pub prefix: String,
    /// The region, e.g. `eu-west-1`.
    pub region: String,
    /// An ATS endpoint (Amazon Trust Services certificates, AmazonRootCA1);
    /// the legacy form's certificates are Symantec's.
    pub ats: bool,
}

/// The AWS endpoint `host` names, if it is under amazonaws.com; `Err` with
/// why when it is but is not a data endpoint (a console or
/// control-plane host pasted by mistake).
pub fn aws_endpoint(host: &str) -> Option<Result<AwsEndpoint, String>> {
    let lower = host.to_ascii_lowercase();
    let rest = lower
        .strip_suffix(".amazonaws.com")
        .or_else(|| lower.strip_suffix(".amazonaws.com.cn"))?;
    let shape = || {
        format!(
            "{host} is not an AWS IoT Core data endpoint (<prefix>-ats.iot.<region>.amazonaws.com, \
             from `aws iot describe-endpoint --endpoint-type iot:Data-ATS`)"
        )
    };
    let parts: Vec<&str> = rest.split('.').collect();
    let [first, "iot", region] = parts.as_slice() else {
        return Some(Err(shape()));
    };
    let (prefix, ats) = match first.strip_suffix("-ats") {
        Some(prefix) => (prefix, true),
        None => (*first, false),
    };
    let label = |s: &str, extra: char| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
    };
    if !label(prefix, 'x') || !label(region, '-') {
        return Some(Err(shape()));
    }
    Some(Ok(AwsEndpoint {
        prefix: prefix.to_owned(),
        region: (*region).to_owned(),
        ats,
    }))
}

/// AWS IoT Core takes MQTT only over TLS with a client certificate, on
/// 8883, or on 443 with ALPN `x-amzn-mqtt-ca`.
fn check_aws(
    endpoint: Result<AwsEndpoint, String>,
    port: u16,
    tls: Option<&Tls>,
) -> Result<(), ConfigError> {
    let endpoint = endpoint.map_err(|why| ConfigError::Invalid(format!("broker.host: {why}")))?;
    let invalid = |m: String| Err(ConfigError::Invalid(m));
    let Some(tls) = tls else {
        return invalid(format!(
            "broker.host is AWS IoT Core ({} region), which needs [broker.tls] with ca, cert and key",
            endpoint.region
        ));
    };
    if tls.client_auth.is_none() {
        return invalid("AWS IoT Core authenticates devices by certificate: set broker.tls.cert and broker.tls.key".into());
    }
    let alpn = tls.alpn.iter().any(|p| p == AWS_ALPN);
    match port {
        AWS_MQTT_PORT => Ok(()),
        443 if alpn => Ok(()),
        443 => invalid(format!(
            "AWS IoT Core on port 443 needs broker.tls.alpn = [\"{AWS_ALPN}\"]"
        )),
        other => invalid(format!(
            "broker.port = {other}: AWS IoT Core takes MQTT on {AWS_MQTT_PORT}, or 443 with ALPN"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device pair (and the same certificate as CA) in `dir`.
    fn pair(dir: &Path) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["device".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn resolve(dir: &Path, toml_text: &str) -> Result<Broker, ConfigError> {
        let raw: RawBroker = toml::from_str(toml_text).unwrap();
        resolve_broker(&raw, "device", &|p: &Path| dir.join(p))
    }

    const TLS: &str = "[tls]\nca = \"ca.pem\"\ncert = \"device.pem\"\nkey = \"device.key\"\n";

    #[test]
    fn a_certificate_for_another_key_is_refused_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path());
        let (_, other_key) = pair(dir.path());
        std::fs::write(dir.path().join("device.pem"), &cert).unwrap();
        std::fs::write(dir.path().join("device.key"), &key).unwrap();
        let text = format!("host = \"broker.local\"\nport = 8883\n{TLS}");
        assert!(resolve(dir.path(), &text).is_ok(), "the right pair loads");

        std::fs::write(dir.path().join("device.key"), &other_key).unwrap();
        let err = resolve(dir.path(), &text).unwrap_err().to_string();
        assert!(
            err.contains("device.pem")
                && err.contains("device.key")
                && err.contains("not for this key"),
            "{err}"
        );
        std::fs::write(dir.path().join("device.key"), "not a key").unwrap();
        let err = resolve(dir.path(), &text).unwrap_err().to_string();
        assert!(err.contains("does not parse"), "{err}");
    }

    #[test]
    fn aws_data_endpoints_are_told_from_other_hosts() {
        let ats = aws_endpoint("a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com");
        assert_eq!(
            ats,
            Some(Ok(AwsEndpoint {
                prefix: "a1b2c3d4e5f6g7".into(),
                region: "eu-west-1".into(),
                ats: true,
            }))
        );
        let legacy = aws_endpoint("a1b2c3d4e5f6g7.iot.us-east-1.amazonaws.com");
        assert!(matches!(legacy, Some(Ok(AwsEndpoint { ats: false, .. }))));
        let china = aws_endpoint("a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn");
        assert!(matches!(china, Some(Ok(_))), "{china:?}");
        for wrong in [
            "iot.eu-west-1.amazonaws.com",
            "s3.amazonaws.com",
            "a1b2-ats.iot.eu-west-1.amazonaws.com.evil.example",
            "a1_b2-ats.iot.eu-west-1.amazonaws.com",
        ] {
            match aws_endpoint(wrong) {
                Some(Err(why)) => assert!(why.contains("describe-endpoint"), "{why}"),
                None => assert!(!wrong.ends_with(".amazonaws.com"), "{wrong}"),
                Some(Ok(e)) => panic!("{wrong} taken for an endpoint: {e:?}"),
            }
        }
        assert_eq!(aws_endpoint("mqtt.example.com"), None);
    }

    #[test]
    fn aws_iot_core_needs_a_client_certificate_on_8883_or_443_with_alpn() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path());
        std::fs::write(dir.path().join("device.pem"), &cert).unwrap();
        std::fs::write(dir.path().join("device.key"), &key).unwrap();
        let host = "host = \"abc123-ats.iot.eu-west-1.amazonaws.com\"\n";
        let load = |rest: &str| resolve(dir.path(), &format!("{host}{rest}"));
        assert!(load(&format!("port = 8883\n{TLS}")).is_ok());
        assert!(load(&format!("port = 443\n{TLS}alpn = [\"x-amzn-mqtt-ca\"]\n")).is_ok());
        let err = |rest: &str| load(rest).unwrap_err().to_string();
        assert!(err("port = 8883\n").contains("needs [broker.tls]"));
        assert!(err("port = 8883\n[tls]\nca = \"ca.pem\"\n").contains("by certificate"));
        assert!(err(&format!("port = 443\n{TLS}")).contains("x-amzn-mqtt-ca"));
        assert!(err(&format!("port = 1883\n{TLS}")).contains("8883"));
        let err = resolve(
            dir.path(),
            &format!("host = \"iot.eu-west-1.amazonaws.com\"\nport = 8883\n{TLS}"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not an AWS IoT Core data endpoint"), "{err}");
    }
}
