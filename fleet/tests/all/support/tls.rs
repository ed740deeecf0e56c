//! Test PKI made at test time with rcgen (no openssl CLI, no files in the
//! repo): one CA that signs both the broker's server certificate and the
//! clients' certificates, like AWS IoT's per-thing certificates.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rumqttc::{TlsConfiguration, Transport};

/// PEM files of a test PKI in a directory the caller owns (e.g. a tempdir).
pub struct TestPki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl TestPki {
    /// Creates the CA and a server certificate valid for `localhost` and
    /// `127.0.0.1`, written as `ca.pem`, `server.pem` and `server.key` in `dir`.
    pub fn generate(dir: &Path) -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "jobhost test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&key).expect("CA certificate");
        let pki = TestPki {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
            ca_pem: ca.pem(),
        };
        write(&pki.ca(), &pki.ca_pem);

        let (cert, key) = pki.issue(
            "localhost",
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        write(&pki.server_cert(), &cert);
        write(&pki.server_key(), &key);
        pki
    }

    /// The CA certificate (trust anchor for both sides).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// A client certificate and key (PEM) with subject CN `cn`.
    pub fn client(&self, cn: &str) -> (String, String) {
        self.issue(cn, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// rumqttc transport trusting this CA, presenting the client
    /// certificate for `cn` if given. The rustls process-wide crypto
    /// provider must be installed first (see
    /// `jobhost_fleet::broker::install_crypto_provider`).
    pub fn transport(&self, cn: Option<&str>) -> Transport {
        Transport::Tls(TlsConfiguration::Simple {
            ca: self.ca_pem.clone().into_bytes(),
            alpn: None,
            client_auth: cn.map(|cn| {
                let (cert, key) = self.client(cn);
                (cert.into_bytes(), key.into_bytes())
            }),
        })
    }

    /// A client certificate and key with subject CN `cn`, written as
    /// `<file>.pem` and `<file>.key` next to the CA (for a device's config
    /// file or a CLI flag). Returns (certificate, key) paths.
    pub fn client_files(&self, cn: &str, file: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.client(cn);
        let (cert_path, key_path) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        write(&cert_path, &cert);
        write(&key_path, &key);
        (cert_path, key_path)
    }

    /// rumqttc transport trusting this CA and presenting `client_auth`
    /// (certificate and key PEM) if given: for a certificate from another
    /// CA, say.
    pub fn transport_presenting(&self, client_auth: Option<(String, String)>) -> Transport {
        Transport::Tls(TlsConfiguration::Simple {
            ca: self.ca_pem.clone().into_bytes(),
            alpn: None,
            client_auth: client_auth.map(|(cert, key)| (cert.into_bytes(), key.into_bytes())),
        })
    }

    fn issue(
        &self,
        cn: &str,
        san: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let mut params = CertificateParams::new(san).expect("certificate params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signed certificate");
        (cert.pem(), key.serialize_pem())
    }
}

fn write(path: &Path, pem: &str) {
    std::fs::write(path, pem).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

impl TestPki {
    /// The CA's private key, written as `ca.key` next to `ca.pem`: for a
    /// service that signs with this CA (`jobhost-fleet serve --ca-key`).
    pub fn ca_key_file(&self) -> PathBuf {
        let path = self.dir.join("ca.key");
        write(&path, &self.issuer.key().serialize_pem());
        path
    }
}

/// The TLS alert a refused connection attempt received, if that is how it
/// failed. rustls's error reaches rumqttc inside an `io::Error`, wrapped
/// according to where it surfaced: during the handshake, or (TLS 1.3, where
/// the server checks the client's certificate after the client's side of the
/// handshake is done) while reading the CONNACK.
pub fn tls_alert(error: &rumqttc::ConnectionError) -> Option<rustls::AlertDescription> {
    use rumqttc::{ConnectionError as C, StateError as S, TlsError as T};
    let io = match error {
        C::Tls(T::TLS(rustls::Error::AlertReceived(alert))) => return Some(*alert),
        C::Io(e)
        | C::Tls(T::Io(e))
        | C::MqttState(S::Io(e))
        | C::MqttState(S::Deserialization(rumqttc::Error::Io(e))) => e,
        _ => return None,
    };
    match io.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

/// The alert with which the broker refused `what`'s TLS handshake. Fails
/// on anything else: an accepted session, a CONNACK (the handshake passed
/// and MQTT refused), or any other error (nothing listening, a reset, a
/// timeout), none of which shows that the TLS layer refused the client.
pub fn handshake_refused(
    result: Result<super::TestClient, rumqttc::ConnectionError>,
    what: &str,
) -> rustls::AlertDescription {
    match result {
        Ok(_) => panic!("{what}: was accepted"),
        Err(e) => tls_alert(&e)
            .unwrap_or_else(|| panic!("{what}: expected a TLS alert from the broker, got {e:?}")),
    }
}
