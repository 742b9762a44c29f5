//! TLS: the certificate `serve` presents. rustls with the `ring` provider only: aws-lc-rs,
//! rustls' default, needs cmake and builds slowly.

use std::path::Path;
use std::sync::Arc;

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
}
