//! The report key as a recipient has it: `report verify --public-key` takes the published key
//! without the server's database — the `/.well-known/report-keys` URL, that document saved to a
//! file, or the bare key (base64url, as the document spells it).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use azyq_shared::api::VoucherKeys;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;

use crate::tls::Outbound;

/// The report keys by kid, from `source`: an `http(s)://` URL of the published document, a file
/// holding the document or a bare key, or the bare key itself (kid 1, the report key's).
pub fn load(source: &str, outbound: &Outbound) -> anyhow::Result<HashMap<u16, VerifyingKey>> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let answer = outbound
            .agent(Duration::from_secs(10))
            .get(source)
            .call()
            .map_err(|e| anyhow::anyhow!("fetching the report keys from {source}: {e}"))?;
        answer.into_string().with_context(|| format!("reading the report keys from {source}"))?
    } else if std::path::Path::new(source).is_file() {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
    } else {
        source.to_owned()
    };
    parse(text.trim()).with_context(|| format!("--public-key {}", shown(source)))
}

/// A key typed on the command line is named by its start only; a URL or a path whole.
fn shown(source: &str) -> String {
    if source.contains(['/', '.']) {
        source.to_owned()
    } else {
        format!("{}…", source.chars().take(8).collect::<String>())
    }
}

fn parse(text: &str) -> anyhow::Result<HashMap<u16, VerifyingKey>> {
    if text.starts_with('{') {
        let doc: VoucherKeys = serde_json::from_str(text).context("not a report-keys document")?;
        if doc.keys.is_empty() {
            bail!("the document lists no key");
        }
        return doc.keys.iter().map(|k| Ok((k.kid, key(&k.public_key)?))).collect();
    }
    Ok(HashMap::from([(crate::domain::keys::REPORT_KID, key(text)?)]))
}

fn key(b64: &str) -> anyhow::Result<VerifyingKey> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim_end_matches('=')))
        .map_err(|_| anyhow::anyhow!("not a key: expected 32 bytes in base64url, a URL or a file"))?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|b: Vec<u8>| anyhow::anyhow!("a key is 32 bytes, this one is {}", b.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("not a valid Ed25519 public key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn public(seed: u8) -> (VerifyingKey, String) {
        let key = SigningKey::from_bytes(&[seed; 32]).verifying_key();
        (key, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.to_bytes()))
    }

    #[test]
    fn a_bare_key_is_the_report_kid() {
        let (key, b64) = public(7);
        assert_eq!(parse(&b64).unwrap(), HashMap::from([(1, key)]));
    }

    #[test]
    fn the_published_document_gives_every_kid() {
        let (a, a64) = public(7);
        let (b, b64) = public(9);
        let doc = format!(
            r#"{{"keys":[{{"kid":1,"alg":"EdDSA","public_key":"{a64}","not_after":null}},{{"kid":2,"alg":"EdDSA","public_key":"{b64}","not_after":null}}]}}"#
        );
        assert_eq!(parse(&doc).unwrap(), HashMap::from([(1, a), (2, b)]));
    }

    #[test]
    fn garbage_is_named_not_a_key() {
        for bad in ["", "not-a-key!", "AAAA", r#"{"keys":[]}"#, "{"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
