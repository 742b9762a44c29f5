//! The report files a delivery carries (SPEC §6, deliveries): each closed business day's report to
//! the ministry, each closed month's SDU return to the SDU. A delivery's payload is
//! `{"files":[{"name","content_base64"}]}`: every report file followed by its `.sha256` and `.sig`
//! exactly as the export folder holds them, so a receiver writes them out and checks them with
//! `sha256sum -c` and `azyq-server report verify` (or openssl, see [`super::signing`]).

use azyq_shared::api::{DeliveryKind, MonthStatus};
use azyq_shared::Month;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::{returns, signing};
use crate::db::schema::months;
use crate::db::Conn;
use crate::domain::{deliveries, keys};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// One file of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOut {
    pub name: String,
    /// The file's bytes, standard base64 with padding.
    pub content_base64: String,
}

/// The payload of a `daily_report` or `sdu_return` delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFiles {
    pub files: Vec<FileOut>,
}

impl ReportFiles {
    /// Each file (name, bytes) followed by its `.sha256` and `.sig`, signed with the report key.
    pub fn sealed(files: &[(String, Vec<u8>)], kid: u16, key: &SigningKey) -> ReportFiles {
        let mut out = Vec::with_capacity(files.len() * 3);
        for (name, bytes) in files {
            let (checksum, signature) = signing::sidecars(name, bytes, kid, key);
            out.push(FileOut { name: name.clone(), content_base64: B64.encode(bytes) });
            out.push(FileOut { name: format!("{name}.sha256"), content_base64: B64.encode(checksum) });
            out.push(FileOut { name: format!("{name}.sig"), content_base64: B64.encode(signature) });
        }
        ReportFiles { files: out }
    }
}

/// The SDU return's file name for a month.
pub fn sdu_file_name(month: Month) -> String {
    format!("azyq-sdu-return-{month}.json")
}

/// Queues the SDU return of every closed month that has none queued (after the month close, by
/// the scheduler, whoever closed the month): the return as JSON, signed. Idempotent.
pub fn queue_sdu_returns(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<usize> {
    let closed: Vec<String> = with_conn!(conn, c => months::table
        .filter(months::status.eq(MonthStatus::Closed))
        .order(months::month)
        .select(months::month)
        .load(c))?;
    let mut queued = 0;
    for month in closed {
        if deliveries::is_queued(conn, DeliveryKind::SduReturn, &month)? {
            continue;
        }
        let month = Month::parse(&month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
        let sdu = returns::sdu_return(conn, month)?;
        let bytes = serde_json::to_vec_pretty(&sdu).map_err(AppError::internal)?;
        let key = keys::report_key(conn)?;
        let payload = ReportFiles::sealed(&[(sdu_file_name(month), bytes)], keys::REPORT_KID, &key);
        if deliveries::enqueue(conn, DeliveryKind::SduReturn, month.as_ref(), &payload, now)? {
            queued += 1;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_travels_with_its_checksum_and_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let sealed = ReportFiles::sealed(&[("a.csv".into(), b"x,y\r\n".to_vec())], 1, &key);
        let names: Vec<&str> = sealed.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.csv", "a.csv.sha256", "a.csv.sig"]);
        let decoded = |i: usize| String::from_utf8(B64.decode(&sealed.files[i].content_base64).unwrap()).unwrap();
        assert_eq!(decoded(0), "x,y\r\n");
        let (sha, sig) = signing::sidecars("a.csv", b"x,y\r\n", 1, &key);
        assert_eq!((decoded(1), decoded(2)), (sha, sig));

        // Written out, the three verify as an exported report does.
        let dir = tempfile::tempdir().unwrap();
        for f in &sealed.files {
            std::fs::write(dir.path().join(&f.name), B64.decode(&f.content_base64).unwrap()).unwrap();
        }
        let public = key.verifying_key();
        assert!(signing::verify(&dir.path().join("a.csv"), |kid| (kid == 1).then_some(public)).is_ok());
    }
}
