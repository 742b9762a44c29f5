//! A list as it comes: JSON families or CSV rows, each member one row in file order.

use azyq_shared::api::FamilyIn;

use crate::error::{AppError, AppResult};

/// One member row as uploaded, with its family's fields beside it (CSV shape).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RawRow {
    pub family_id: String,
    pub kato: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub iin: String,
    pub name: String,
    pub birth_date: String,
}

/// Flattens the JSON shape into rows; `group` tells which family object each row came from.
pub fn rows_from_json(families: &[FamilyIn]) -> (Vec<RawRow>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut group = Vec::new();
    for (i, f) in families.iter().enumerate() {
        for m in &f.members {
            rows.push(RawRow {
                family_id: f.family_id.clone(),
                kato: f.kato.clone(),
                phone: f.phone.clone(),
                iin: m.iin.clone(),
                name: m.name.clone(),
                birth_date: m.birth_date.clone(),
            });
            group.push(i);
        }
    }
    (rows, group)
}

/// A list file as uploaded, JSON (`{"families":[…]}`) or CSV: its rows, and for JSON which family
/// object each row came from. An empty list is refused.
pub fn rows_from_upload(body: &[u8], json: bool) -> AppResult<(Vec<RawRow>, Option<Vec<usize>>)> {
    let (rows, group) = if json {
        let list: azyq_shared::api::RecipientList =
            serde_json::from_slice(body).map_err(|e| AppError::validation("body", format!("неверный JSON: {e}")))?;
        let (rows, group) = rows_from_json(&list.families);
        (rows, Some(group))
    } else {
        (rows_from_csv(body)?, None)
    };
    if rows.is_empty() {
        return Err(super::empty_list());
    }
    Ok((rows, group))
}

/// Reads the CSV shape: `family_id,kato,phone,iin,name,birth_date` with a header row.
pub fn rows_from_csv(body: &[u8]) -> AppResult<Vec<RawRow>> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| AppError::validation("header", format!("заголовок CSV: {e}")))?.clone();
    let expected = ["family_id", "kato", "phone", "iin", "name", "birth_date"];
    if headers.iter().collect::<Vec<_>>() != expected {
        return Err(AppError::validation("header", format!("заголовок CSV должен быть: {}", expected.join(","))));
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.deserialize::<RawRow>().enumerate() {
        let row = rec.map_err(|e| {
            AppError::validation(&format!("row {}", i + 1), format!("строка {}: {e}", i + 1)).with("row", i + 1)
        })?;
        rows.push(row);
    }
    Ok(rows)
}
