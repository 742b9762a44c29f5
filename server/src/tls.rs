//! TLS: the certificate `serve` presents, and the one HTTP agent every outbound sender (SMS
//! gateway; later e-Otinish and the ministry) speaks through. rustls with the `ring` provider only:
//! aws-lc-rs, rustls' default, needs cmake and builds slowly.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates in a PEM file; none at all is an error, so a key file given for a
/// certificate is caught at start-up.
fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the PEM certificates in {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display());
    }
    Ok(certs)
}

/// What `serve` speaks HTTPS with: the certificate chain and its key, checked to belong together.
pub fn server_config(files: TlsFiles<'_>) -> anyhow::Result<rustls::ServerConfig> {
    let chain = read_certificates(files.cert)?;
    let key = PrivateKeyDer::from_pem_file(files.key)
        .with_context(|| format!("reading the PEM private key in {}", files.key.display()))?;
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!("the key in {} does not serve the certificate in {}", files.key.display(), files.cert.display())
        })
}

/// How the server reaches other services: HTTPS that trusts the web PKI's roots and, when given,
/// a private CA (`AZYQ_OUTBOUND_CA_CERT`); plain HTTP where a URL asks for it. Made once at start.
#[derive(Clone)]
pub struct Outbound {
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl Outbound {
    /// Trusts the web PKI's roots, plus every certificate in `extra_ca` (PEM) when given.
    pub fn new(extra_ca: Option<&Path>) -> anyhow::Result<Outbound> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = extra_ca {
            for cert in read_certificates(path)? {
                roots.add(cert).with_context(|| format!("a CA certificate in {} is not usable", path.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Outbound { tls: Arc::new(tls) })
    }

    /// An agent whose whole request (connection and answer) takes at most `timeout`.
    pub fn agent(&self, timeout: Duration) -> ureq::Agent {
        ureq::AgentBuilder::new()
            .tls_config(self.tls.clone())
            .timeout(timeout)
            .user_agent(concat!("azyq-server/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// Why a request did not reach the service, for the log and the outbox: the TLS refusal when
/// there was one (an unknown CA, an expired certificate, another host's name), else ureq's kind.
/// Never the URL's query or a body.
pub fn transport_cause(t: &ureq::Transport) -> String {
    let mut source = std::error::Error::source(t);
    while let Some(e) = source {
        // An io::Error hides its inner error from `source()`: look inside it by hand.
        let inner = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map_or(e, |inner| inner as _);
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
        source = e.source();
    }
    t.kind().to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_certificate_and_its_key_make_a_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &made.cert.pem());
        let key = write(dir.path(), "key.pem", &made.key_pair.serialize_pem());
        assert!(server_config(TlsFiles { cert: &cert, key: &key }).is_ok());

        // Each broken file is named in the error.
        let missing = dir.path().join("missing.pem");
        let err = server_config(TlsFiles { cert: &missing, key: &key }).unwrap_err();
        assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
        let err = server_config(TlsFiles { cert: &key, key: &key }).unwrap_err();
        assert!(format!("{err:#}").contains("key.pem holds no PEM certificate"), "{err:#}");
        let err = server_config(TlsFiles { cert: &cert, key: &cert }).unwrap_err();
        assert!(format!("{err:#}").contains("private key in") && format!("{err:#}").contains("cert.pem"), "{err:#}");
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other_key = write(dir.path(), "other-key.pem", &other.key_pair.serialize_pem());
        let err = server_config(TlsFiles { cert: &cert, key: &other_key }).unwrap_err();
        assert!(format!("{err:#}").contains("does not serve the certificate"), "{err:#}");
    }

    #[test]
    fn a_private_ca_must_be_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["gw.local".to_owned()]).unwrap();
        let ca = write(dir.path(), "ca.pem", &made.cert.pem());
        assert!(Outbound::new(Some(&ca)).is_ok());
        assert!(Outbound::new(None).is_ok());
        let not_pem = write(dir.path(), "ca.txt", "not a certificate");
        let err = Outbound::new(Some(&not_pem)).unwrap_err();
        assert!(format!("{err:#}").contains("ca.txt"), "{err:#}");
    }
}
