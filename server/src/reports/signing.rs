//! Signing and checking exported report files (SPEC §6): the ministry can prove a file is ours and
//! unchanged, and a crash never leaves a half-written one.
//!
//! For a report `FILE`, [`write_signed`] writes three files side by side:
//!
//! - `FILE`, the report;
//! - `FILE.sha256`: `<64 lower-case hex>  <file name>\n`, the `sha256sum` format, so that
//!   `sha256sum -c FILE.sha256` checks it in that folder;
//! - `FILE.sig`: `kid=<n> <base64>\n`: the report key's id (decimal) and the detached Ed25519
//!   signature (RFC 8032, 64 bytes, standard base64 with padding) over FILE's bytes exactly; the
//!   same form as the `X-Signature` header of the HTTP reports.
//!
//! Checking without Azyq (bash), given the report key's public key as base64 of its 32 raw bytes:
//!
//! ```text
//! sha256sum -c FILE.sha256
//! (printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; echo "$PUBLIC_KEY" | base64 -d) \
//!     | openssl pkey -pubin -inform DER -out report-key.pem
//! cut -d' ' -f2 FILE.sig | base64 -d > FILE.sig.bin
//! openssl pkeyutl -verify -pubin -inkey report-key.pem -rawin -in FILE -sigfile FILE.sig.bin
//! ```

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The SHA-256 (hex) of `bytes` and their detached signature as a `.sig` file holds it,
/// `kid=<n> <base64>` without the newline: what a written file and an API answer both carry.
pub fn seal(bytes: &[u8], kid: u16, key: &SigningKey) -> (String, String) {
    (hex::encode(Sha256::digest(bytes)), format!("kid={kid} {}", B64.encode(key.sign(bytes).to_bytes())))
}

/// The contents of `FILE.sha256` and `FILE.sig` for a file named `name` holding `bytes` (formats
/// in the module docs): what [`write_signed`] writes beside it, and what a delivery carries.
pub fn sidecars(name: &str, bytes: &[u8], kid: u16, key: &SigningKey) -> (String, String) {
    let (sha256, signature) = seal(bytes, kid, key);
    sealed_sidecars(&sha256, &signature, name)
}

/// The texts of `FILE.sha256` and `FILE.sig` for a file already sealed ([`seal`]): what the
/// console offers for download beside a report.
pub fn sealed_sidecars(sha256: &str, signature: &str, name: &str) -> (String, String) {
    (format!("{sha256}  {name}\n"), format!("{signature}\n"))
}

/// Writes `FILE`, `FILE.sha256` and `FILE.sig` (formats in the module docs).
///
/// Each is first written in full to a temporary file in the same folder and fsynced, then renamed
/// into place, so no reader ever sees a half file. Any stale `FILE.sig` is removed before the new
/// `FILE` replaces the old, and the new `.sig` is renamed last: a crash part way leaves a set with no
/// `.sig` (which [`verify`] reports as missing), never a new file beside an old signature that would
/// only show up as a mismatch. The folder is fsynced so the renames themselves survive a crash.
pub fn write_signed(path: &Path, bytes: &[u8], kid: u16, key: &SigningKey) -> anyhow::Result<()> {
    let name = file_name(path)?;
    let dir = folder(path);
    let (checksum, signature) = sidecars(&name, bytes, kid, key);
    let (sha_path, sig_path) = (sidecar(path, "sha256"), sidecar(path, "sig"));

    // All three are on disk before anything is replaced, so e.g. a full disk leaves the old set whole.
    let temps = [
        (Temp::write(dir, &name, bytes)?, path),
        (Temp::write(dir, &name, checksum.as_bytes())?, sha_path.as_path()),
        (Temp::write(dir, &name, signature.as_bytes())?, sig_path.as_path()),
    ];
    match fs::remove_file(&sig_path) {
        Ok(()) => sync_dir(dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing the old {}", sig_path.display())),
    }
    for (temp, target) in temps {
        temp.commit(target)?;
    }
    sync_dir(dir)
}

/// What a successful [`verify`] proved: the file's SHA-256 (hex) and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub sha256: String,
    pub kid: u16,
}

/// Why a file failed [`verify`]; the message names the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file or one of its `.sha256` / `.sig` companions does not exist.
    #[error("{} is missing", .0.display())]
    Missing(PathBuf),
    /// The file's bytes do not hash to what `.sha256` says: the file changed (or is truncated).
    #[error("checksum mismatch: the file's SHA-256 is {actual} but its .sha256 says {expected}")]
    ChecksumMismatch { expected: String, actual: String },
    /// The signature does not match the file: the file changed since signing (with its `.sha256`
    /// changed to match), the `.sig` was altered, or another key signed it.
    #[error("bad signature: the file was not signed by report key {kid} as it is now")]
    BadSignature { kid: u16 },
    /// The `.sig` names a key id the caller does not know.
    #[error("signed with unknown report key {0}")]
    UnknownKey(u16),
    /// A companion file is not in its documented format.
    #[error("malformed {0}")]
    Malformed(String),
    /// A file exists but could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks `FILE` against `FILE.sha256` and `FILE.sig` with the public key `key_for(kid)` gives.
///
/// The checksum is compared first (so a changed file is reported as such), then the signature with
/// `verify_strict`, which also refuses weak keys and non-canonical signatures. A one-byte change in
/// any of the three files fails one of the checks.
pub fn verify(path: &Path, key_for: impl Fn(u16) -> Option<VerifyingKey>) -> Result<Verified, VerifyError> {
    let name = file_name(path).map_err(|e| VerifyError::Malformed(format!("file name: {e}")))?;
    let bytes = read(path)?;
    let sha_path = sidecar(path, "sha256");
    let expected = parse_checksum(&read(&sha_path)?, &name)
        .map_err(|what| VerifyError::Malformed(format!("{}: {what}", sha_path.display())))?;
    let sig_path = sidecar(path, "sig");
    let (kid, signature) = parse_signature(&read(&sig_path)?)
        .map_err(|what| VerifyError::Malformed(format!("{}: {what}", sig_path.display())))?;

    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(VerifyError::ChecksumMismatch { expected, actual });
    }
    let key = key_for(kid).ok_or(VerifyError::UnknownKey(kid))?;
    key.verify_strict(&bytes, &signature).map_err(|_| VerifyError::BadSignature { kid })?;
    Ok(Verified { sha256: actual, kid })
}

/// The file name as it goes into the `.sha256` line; `sha256sum` escapes `\` and newlines, which
/// our names never contain, so such a name is refused rather than escaped.
fn file_name(path: &Path) -> anyhow::Result<String> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        bail!("{} has no UTF-8 file name", path.display());
    };
    if name.contains(['\n', '\r', '\\']) {
        bail!("{name:?}: a report file name may not contain a line break or a backslash");
    }
    Ok(name.to_owned())
}

fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `FILE.ext`: the extension is appended, not substituted (`a.csv` → `a.csv.sig`).
fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn read(path: &Path) -> Result<Vec<u8>, VerifyError> {
    fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => VerifyError::Missing(path.to_owned()),
        _ => VerifyError::Io { path: path.to_owned(), source: e },
    })
}

/// The one line without its final newline; a second line is an error, not ignored.
fn one_line(bytes: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains(['\n', '\r']) {
        return Err("more than one line".into());
    }
    Ok(line)
}

/// `<hex>  <name>` (or `<hex> *<name>`, `sha256sum`'s binary mode) → the lower-case hex.
fn parse_checksum(bytes: &[u8], name: &str) -> Result<String, String> {
    let line = one_line(bytes)?;
    let Some((hex, rest)) = line.split_at_checked(64) else {
        return Err("expected \"<64 hex digits>  <file name>\"".into());
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the checksum is not 64 hex digits".into());
    }
    let Some(listed) = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")) else {
        return Err("expected two spaces between the checksum and the file name".into());
    };
    if listed != name {
        return Err(format!("it is the checksum of {listed:?}, not of {name:?}"));
    }
    Ok(hex.to_ascii_lowercase())
}

/// `kid=<n> <base64 of 64 bytes>` → the key id and signature.
fn parse_signature(bytes: &[u8]) -> Result<(u16, Signature), String> {
    let line = one_line(bytes)?;
    let Some((kid, sig)) = line.strip_prefix("kid=").and_then(|rest| rest.split_once(' ')) else {
        return Err("expected \"kid=<n> <base64 signature>\"".into());
    };
    if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("key id {kid:?} is not a number"));
    }
    let kid: u16 = kid.parse().map_err(|_| format!("key id {kid} is out of range"))?;
    let raw = B64.decode(sig).map_err(|e| format!("the signature is not base64 ({e})"))?;
    let raw: [u8; Signature::BYTE_SIZE] =
        raw.try_into().map_err(|raw: Vec<u8>| format!("the signature has {} bytes, not 64", raw.len()))?;
    Ok((kid, Signature::from_bytes(&raw)))
}

/// A fully written, fsynced temporary file, removed on drop unless renamed into place.
struct Temp {
    path: PathBuf,
    committed: bool,
}

impl Temp {
    fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<Temp> {
        // Unique per process and call; a dot-name so folder watchers and globs skip it.
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
        // create_new: never truncate somebody else's file; the guard only exists once it is ours.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let temp = Temp { path, committed: false };
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", temp.path.display()))?;
        Ok(temp)
    }

    fn commit(mut self, target: &Path) -> anyhow::Result<()> {
        fs::rename(&self.path, target)
            .with_context(|| format!("renaming {} to {}", self.path.display(), target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path); // best effort: the error that got us here matters more
        }
    }
}

/// Makes renames and removals in `dir` durable. Only Unix can open a folder to fsync it.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing folder {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// A folder with `report.csv` signed by key 1 under kid 7.
    fn signed(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        write_signed(&path, content, 7, &key(1)).unwrap();
        (dir, path)
    }

    fn check(path: &Path) -> Result<Verified, VerifyError> {
        verify(path, |kid| (kid == 7).then(|| key(1).verifying_key()))
    }

    const CONTENT: &[u8] = "\u{feff}section,kind,region\r\nregion,row,75\r\n".as_bytes();

    #[test]
    fn writes_the_documented_files_and_verifies() {
        let (dir, path) = signed(CONTENT);
        let sha = hex::encode(Sha256::digest(CONTENT));
        assert_eq!(fs::read(&path).unwrap(), CONTENT);
        assert_eq!(fs::read_to_string(sidecar(&path, "sha256")).unwrap(), format!("{sha}  report.csv\n"));
        let sig = fs::read_to_string(sidecar(&path, "sig")).unwrap();
        let b64 = sig.strip_prefix("kid=7 ").and_then(|s| s.strip_suffix('\n')).unwrap();
        let raw: [u8; 64] = B64.decode(b64).unwrap().try_into().unwrap();
        key(1).verifying_key().verify_strict(CONTENT, &Signature::from_bytes(&raw)).unwrap();
        assert_eq!(check(&path).unwrap(), Verified { sha256: sha, kid: 7 });
        let mut names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["report.csv", "report.csv.sha256", "report.csv.sig"], "no temporary file left");
    }

    #[test]
    fn rewriting_replaces_the_whole_set() {
        let (_dir, path) = signed(CONTENT);
        write_signed(&path, b"new content", 7, &key(1)).unwrap();
        assert_eq!(check(&path).unwrap().sha256, hex::encode(Sha256::digest(b"new content")));
    }

    #[test]
    fn any_one_byte_change_in_any_of_the_three_files_is_caught() {
        let (_dir, path) = signed(CONTENT);
        for file in [path.clone(), sidecar(&path, "sha256"), sidecar(&path, "sig")] {
            let original = fs::read(&file).unwrap();
            for i in 0..original.len() {
                for flip in [0x01, 0x80] {
                    let mut changed = original.clone();
                    changed[i] ^= flip;
                    fs::write(&file, &changed).unwrap();
                    assert!(check(&path).is_err(), "{} byte {i} ^ {flip:#x} not caught", file.display());
                }
            }
            fs::write(&file, &original).unwrap();
        }
        check(&path).unwrap();
    }

    #[test]
    fn a_changed_file_is_a_checksum_mismatch() {
        let (_dir, path) = signed(CONTENT);
        let mut changed = CONTENT.to_vec();
        changed[10] ^= 0x04;
        fs::write(&path, &changed).unwrap();
        assert!(matches!(check(&path), Err(VerifyError::ChecksumMismatch { .. })));
        fs::write(&path, &CONTENT[..CONTENT.len() - 1]).unwrap();
        assert!(matches!(check(&path), Err(VerifyError::ChecksumMismatch { .. })), "truncation");
    }

    #[test]
    fn a_changed_file_with_a_matching_checksum_is_a_bad_signature() {
        let (_dir, path) = signed(CONTENT);
        let forged = b"region,row,75,1000000\r\n";
        fs::write(&path, forged).unwrap();
        fs::write(sidecar(&path, "sha256"), format!("{}  report.csv\n", hex::encode(Sha256::digest(forged)))).unwrap();
        let err = check(&path).unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature { kid: 7 }), "{err}");
        assert!(err.to_string().contains("bad signature"));
    }

    #[test]
    fn another_key_under_the_same_kid_is_a_bad_signature() {
        let (_dir, path) = signed(CONTENT);
        let err = verify(&path, |_| Some(key(2).verifying_key())).unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature { kid: 7 }), "{err}");
    }

    #[test]
    fn an_unknown_kid_is_named() {
        let (_dir, path) = signed(CONTENT);
        let err = verify(&path, |_| None).unwrap_err();
        assert!(matches!(err, VerifyError::UnknownKey(7)), "{err}");
        assert_eq!(err.to_string(), "signed with unknown report key 7");
    }

    #[test]
    fn missing_files_are_named() {
        let (_dir, path) = signed(CONTENT);
        for ext in ["sig", "sha256"] {
            let (dir2, path2) = signed(CONTENT);
            fs::remove_file(sidecar(&path2, ext)).unwrap();
            match check(&path2) {
                Err(VerifyError::Missing(p)) => assert_eq!(p, sidecar(&path2, ext)),
                other => panic!("missing .{ext}: {other:?}"),
            }
            drop(dir2);
        }
        fs::remove_file(&path).unwrap();
        assert!(matches!(check(&path), Err(VerifyError::Missing(p)) if p == path));
    }

    #[test]
    fn malformed_companions_are_refused_with_the_reason() {
        let (_dir, path) = signed(CONTENT);
        let good_sig = fs::read_to_string(sidecar(&path, "sig")).unwrap();
        let b64 = good_sig.trim_end().split_once(' ').unwrap().1.to_owned();
        for (bad, why) in [
            ("", "expected"),
            ("garbage\n", "expected"),
            (&format!("kid= {b64}\n"), "not a number"),
            (&format!("kid=-1 {b64}\n"), "not a number"),
            (&format!("kid=70000 {b64}\n"), "out of range"),
            ("kid=7 !!!not base64!!!\n", "not base64"),
            ("kid=7 AAAA\n", "3 bytes"),
            (&format!("{good_sig}{good_sig}"), "more than one line"),
        ] {
            fs::write(sidecar(&path, "sig"), bad).unwrap();
            match check(&path) {
                Err(VerifyError::Malformed(what)) => assert!(what.contains(why) && what.contains(".sig"), "{what}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        fs::write(sidecar(&path, "sig"), &good_sig).unwrap();
        let sha = hex::encode(Sha256::digest(CONTENT));
        for (bad, why) in [
            (format!("{sha}  other.csv\n"), "other.csv"),
            (format!("{sha} report.csv\n"), "two spaces"),
            (format!("{}  report.csv\n", "z".repeat(64)), "hex"),
            ("short\n".to_owned(), "expected"),
        ] {
            fs::write(sidecar(&path, "sha256"), bad).unwrap();
            match check(&path) {
                Err(VerifyError::Malformed(what)) => assert!(what.contains(why) && what.contains(".sha256"), "{what}"),
                other => panic!("{other:?}"),
            }
        }
        // sha256sum's binary-mode marker and upper-case hex are still the same checksum.
        fs::write(sidecar(&path, "sha256"), format!("{} *report.csv\n", sha.to_uppercase())).unwrap();
        check(&path).unwrap();
    }

    #[test]
    fn names_that_cannot_go_in_a_checksum_line_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_signed(&dir.path().join("a\nb.csv"), CONTENT, 7, &key(1)).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
