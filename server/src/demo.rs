//! `azyq-server demo`: a seeded month a newcomer can try at once — three pilot localities, a shop
//! with a cashier, the catalogue with demo GTINs, a dozen families (most have consented), and the
//! logins printed. Seeding is idempotent; a rerun sets fresh passwords and prints them again.

use std::fmt::Write as _;

use azyq_shared::api::{FamilyIn, Locality, MemberIn, Role, ShopBody};
use azyq_shared::{BusinessDay, Iin, Month};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;

use crate::db::schema::consents;
use crate::db::Db;
use crate::domain::{accounts, catalog, import, places};
use crate::error::AppResult;
use crate::with_conn;

pub const SHOP_ID: &str = "demo-shop-1";
pub const CASHIER: &str = "kassir1";
pub const OPERATOR: &str = "operator";
pub const VIEWER: &str = "viewer";

/// Demo products: GTINs in the GS1 restricted-circulation range (prefix 02), so they can never
/// clash with a real product.
pub const DEMO_PRODUCTS_CSV: &str = include_str!("../data/demo-products.csv");

/// The pilot localities of the Algorithm: Kokshetau, Akkol, Pavlodar.
pub fn pilot_localities() -> Vec<Locality> {
    [("111010000", "Кокшетау"), ("113220100", "Акколь"), ("551010000", "Павлодар")]
        .into_iter()
        .map(|(kato, name)| Locality { kato: kato.into(), name: name.into() })
        .collect()
}

/// The n-th valid IIN of a deterministic series (born 1985-05-15 and on), for demo and test data.
pub fn demo_iin(n: u32) -> Iin {
    let mut k = n * 3;
    loop {
        let prefix = format!("850515{:05}", 30_000 + k % 70_000);
        let mut digits = [0u8; 11];
        for (i, b) in prefix.bytes().enumerate() {
            digits[i] = b - b'0';
        }
        if let Some(check) = Iin::check_digit(&digits) {
            if let Ok(iin) = Iin::parse(&format!("{prefix}{check}")) {
                return iin;
            }
        }
        k += 1;
    }
}

const NAMES: &[&str] = &[
    "Айгерим Бекова",
    "Ерлан Бекова",
    "Дана Ахметова",
    "Нурлан Ахметов",
    "Асель Сейткали",
    "Марат Сейткали",
    "Жанна Омарова",
    "Бауыржан Омаров",
    "Гульнара Исаева",
    "Серик Исаев",
    "Алия Нурланова",
    "Тимур Нурланов",
];

/// The demo families of a month: 12 families, 2 members each; family 11 has no phone.
pub fn families() -> Vec<FamilyIn> {
    let katos = ["551010000", "111010000", "113220100"];
    (0..12u32)
        .map(|f| FamilyIn {
            family_id: format!("DEMO-{:02}", f + 1),
            kato: katos[(f % 3) as usize].into(),
            phone: (f != 10).then(|| format!("+7701555{:04}", f + 1)),
            members: (0..2u32)
                .map(|m| MemberIn {
                    iin: demo_iin(f * 2 + m).to_string(),
                    name: NAMES[((f * 2 + m) as usize) % NAMES.len()].into(),
                    birth_date: "1985-05-15".into(),
                })
                .collect(),
        })
        .collect()
}

fn password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..12).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// What the demo prints for the newcomer.
pub struct Seeded {
    pub month: Month,
    pub operator_password: String,
    pub viewer_password: String,
    pub cashier_password: String,
}

/// Seeds the demo month (families 1-9 have consented; 10 and 12 are still asked; 11 has no phone).
pub fn seed(db: &Db, now: DateTime<Utc>) -> AppResult<Seeded> {
    let month = BusinessDay::of(now).month().map_err(|e| crate::error::AppError::validation("now", e.to_string()))?;
    let seeded =
        Seeded { month, operator_password: password(), viewer_password: password(), cashier_password: password() };
    db.write(|c| {
        catalog::seed_groups(c, now)?;
        accounts::upsert_operator(c, OPERATOR, &seeded.operator_password, Role::Operator, now)?;
        accounts::upsert_operator(c, VIEWER, &seeded.viewer_password, Role::Viewer, now)?;
        places::put_localities(c, &pilot_localities(), "demo", now)?;
        places::put_shop(
            c,
            SHOP_ID,
            &ShopBody { name: "Демо-магазин «Береке»".into(), kato: "551010000".into(), address: "Павлодар, ул. Лермонтова, 1".into() },
            "demo",
            now,
        )?;
        accounts::upsert_cashier(c, SHOP_ID, CASHIER, &seeded.cashier_password, "demo", now)?;
        if catalog::products(c)?.is_empty() {
            let products = catalog::parse_products_csv(DEMO_PRODUCTS_CSV.as_bytes())?;
            catalog::put_products(c, &products, "demo", now)?;
        }
        // Standing consents, as if given by SMS in an earlier month: import issues their vouchers.
        for f in 1..=9 {
            with_conn!(c, c => diesel::insert_into(consents::table)
                .values((consents::family_id.eq(format!("DEMO-{f:02}")), consents::status.eq("given"), consents::updated_at.eq(now.naive_utc())))
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        let (rows, group) = import::rows_from_json(&families());
        import::import(c, month, &rows, Some(&group), "demo", now)?;
        Ok(())
    })?;
    Ok(seeded)
}

/// How long the demo's QR codes stay valid: long enough to try the till at leisure (the wallet's
/// own codes last minutes).
pub const DEMO_QR_HOURS: i64 = 12;

/// Activates the vouchers of the first three demo families and writes QR codes for them into
/// `dir` (three per voucher: each token is good for one basket), and a list of demo product codes
/// to type or scan at the till. Returns the files written.
pub fn write_till_kit(db: &Db, dir: &std::path::Path, now: DateTime<Utc>) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for member in 0..6u32 {
        let iin = demo_iin(member);
        let vouchers = db.read(|c| crate::domain::wallet::family_vouchers(c, &iin))?;
        let Some(v) = vouchers.iter().find(|v| v.member_name == NAMES[member as usize]) else { continue };
        db.write(|c| crate::domain::wallet::activate(c, &iin, v.id, now))?;
        for n in 1..=3 {
            let token = db
                .read(|c| crate::domain::wallet::mint_qr(c, &iin, v.id, chrono::Duration::hours(DEMO_QR_HOURS), now))?;
            let path = dir.join(format!("voucher-{}-{n}.png", v.id));
            std::fs::write(&path, crate::qr::png(&token.token)?)?;
            written.push(path);
        }
    }
    let path = dir.join("products.txt");
    std::fs::write(&path, product_codes())?;
    written.push(path);
    Ok(written)
}

/// Demo product codes as a scanner would type them, with suggested prices.
pub fn product_codes() -> String {
    let mut out = String::from(
        "# Demo product codes for azyq-pos: type or paste one into the scan field.\n\
         # Plain EAN-13 = non-serialised goods; (01)…(21)… = a marked, serialised unit (each sells once);\n\
         # 2X PPPPP WWWWW C = an in-store scale label (PLU, weight in grams): its weight is the quantity.\n\
         # Suggested prices in tiyn: shelf / reduced (cap 15%). Weighed goods: quantity in grams.\n",
    );
    let products = crate::domain::catalog::parse_products_csv(DEMO_PRODUCTS_CSV.as_bytes()).unwrap_or_default();
    for (i, p) in products.iter().enumerate() {
        let shelf = 20_000 + 5_000 * (i as i64 % 7);
        let reduced = shelf - shelf * 15 / 100;
        let unit = if p.unit == azyq_shared::api::Unit::Kg { "per kg" } else { "per piece" };
        let Ok(gtin) = azyq_shared::gs1::Gtin::parse(&p.gtin) else { continue };
        // The EAN-13 printed on the pack is the GTIN-14 without its leading zero.
        let ean13 = gtin.as_str().strip_prefix('0').unwrap_or(gtin.as_str());
        out.push_str(&format!("{ean13}\t{}\t{shelf}/{reduced} {unit}\n", p.name));
        let label = p.plu.as_deref().and_then(|plu| azyq_shared::gs1::Plu::parse(plu).ok());
        if let Some(label) = label.and_then(|plu| azyq_shared::gs1::ScaleLabel::weight(0, plu, 1_250)) {
            out.push_str(&format!("{label}\t{} (scale label, 1 250 g)\t{shelf}/{reduced} {unit}\n", p.name));
        }
        if p.group == "milk" || p.group == "butter" {
            for serial in ["DEMO0001", "DEMO0002", "DEMO0003"] {
                out.push_str(&format!("(01){gtin}(21){serial}\t{} (serialised)\t{shelf}/{reduced} {unit}\n", p.name));
            }
        }
    }
    out
}

/// A wallet JWT for a demo recipient, signed with the configured HS256 secret.
pub fn wallet_token(secret: &str, iin: &Iin, now: DateTime<Utc>) -> anyhow::Result<String> {
    let claims = serde_json::json!({
        "iin": iin.as_ref(),
        "aud": crate::http::auth::WALLET_AUDIENCE,
        "exp": (now + chrono::Duration::hours(24)).timestamp(),
    });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The text printed after seeding.
pub fn banner(seeded: &Seeded, base_url: &str, wallet_secret: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
    let mut s = String::new();
    writeln!(s, "Azyq demo: month {} seeded.", seeded.month)?;
    writeln!(s, "  operator  login {OPERATOR}  password {}", seeded.operator_password)?;
    writeln!(s, "  viewer    login {VIEWER}  password {}", seeded.viewer_password)?;
    writeln!(s, "  cashier   shop {SHOP_ID}  login {CASHIER}  password {}", seeded.cashier_password)?;
    let token = wallet_token(wallet_secret, &demo_iin(0), now)?;
    writeln!(s, "  wallet token of the first demo recipient (valid 24 h):\n    {token}")?;
    writeln!(s, "Try:")?;
    writeln!(s, "  curl -s -H 'Authorization: Bearer {token}' {base_url}/api/v1/wallet/vouchers")?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_product_codes_all_parse() {
        let text = product_codes();
        let codes: Vec<&str> =
            text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next()).collect();
        assert!(codes.len() >= 19 + 6, "{codes:?}");
        for code in codes {
            azyq_shared::gs1::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        }
    }
}
