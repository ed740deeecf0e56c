//! `jobhost init`, as an operator runs it: the real binary, real PEM files,
//! and the written config loaded as the agent loads it.

use jobhost::config::Config;
use std::path::Path;
use std::process::Output;

/// A device key and a certificate for it (self-signed: AWS's would be
/// signed by AWS's CA; the agent only checks that it is for the key), and
/// a CA file, in `dir`. Returns the key's PEM.
fn device_files(dir: &Path) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["my-device".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("device.pem.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("private.pem.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("AmazonRootCA1.pem"), cert.pem()).unwrap();
    key.serialize_pem()
}

fn init(dir: &Path, args: &[&str]) -> Output {
    crate::support::jobhost_command()
        .current_dir(dir)
        .arg("init")
        .args(args)
        .output()
        .unwrap()
}

const AWS: [&str; 11] = [
    "--aws",
    "--endpoint",
    "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
    "--thing",
    "my-device",
    "--cert",
    "device.pem.crt",
    "--key",
    "private.pem.key",
    "--ca",
    "AmazonRootCA1.pem",
];

#[test]
fn init_aws_writes_a_config_the_agent_loads_for_aws_iot_core() {
    let dir = tempfile::tempdir().unwrap();
    device_files(dir.path());
    let out = init(dir.path(), &[&AWS[..], &["--port", "443"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.path().join("jobhost.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.thing_name, "my-device");
    let broker = &config.broker;
    assert_eq!(
        broker.host,
        "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com"
    );
    assert_eq!(broker.port, 443);
    assert_eq!(broker.client_id, "my-device");
    let tls = broker.tls.as_ref().expect("TLS");
    assert_eq!(tls.alpn, ["x-amzn-mqtt-ca"]);
    let (cert, key) = tls.client_files.clone().expect("the device pair");
    assert_eq!(
        cert,
        dir.path().canonicalize().unwrap().join("device.pem.crt")
    );
    assert_eq!(
        key,
        dir.path().canonicalize().unwrap().join("private.pem.key")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The rest is the commented example, for the operator to go on with.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[trust]") && text.contains("# [plugins.download-file]"));

    // 8883: no ALPN.
    let out = init(dir.path(), &[&AWS[..], &["-o", "plain.toml"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = Config::load(&dir.path().join("plain.toml")).unwrap();
    assert_eq!(config.broker.port, 8883);
    assert!(config.broker.tls.unwrap().alpn.is_empty());
}

#[test]
fn init_aws_refuses_a_key_that_is_not_the_certificates_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    device_files(dir.path());
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("private.pem.key"), other.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("jobhost.toml"), "# the operator's config\n").unwrap();
    let out = init(dir.path(), &[&AWS[..], &["--force"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("device.pem.crt")
            && stderr.contains("private.pem.key")
            && stderr.contains("not for this key"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("jobhost.toml")).unwrap(),
        "# the operator's config\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("toml") && n != "jobhost.toml")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn init_aws_refuses_what_is_not_a_data_endpoint_a_port_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    device_files(dir.path());
    let with = |replace: (&str, &str)| {
        let args: Vec<&str> = AWS
            .iter()
            .map(|a| if *a == replace.0 { replace.1 } else { a })
            .collect();
        let out = init(dir.path(), &args);
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let control_plane = with((AWS[2], "iot.eu-west-1.amazonaws.com"));
    assert!(
        control_plane.contains("describe-endpoint"),
        "{control_plane}"
    );
    let missing = with(("device.pem.crt", "nowhere.pem"));
    assert!(missing.contains("--cert nowhere.pem"), "{missing}");
    let bad_thing = with(("my-device", "my device"));
    assert!(bad_thing.contains("thing name"), "{bad_thing}");
    let out = init(dir.path(), &[&AWS[..], &["--port", "1883"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("8883 or 443"));
    assert!(!dir.path().join("jobhost.toml").exists());
}
