//! `azyq-server demo`: a seeded month a newcomer can try at once — three pilot localities, a shop
//! with a cashier in each pilot region, the catalogue with demo GTINs, a dozen families (most have
//! consented), and the logins printed. Seeding is idempotent; a rerun sets fresh passwords and
//! prints them again.

use std::fmt::Write as _;

use azyq_shared::api::{ConsentStatus, FamilyIn, Locality, MemberIn, Role, ShopBody};
use azyq_shared::{BusinessDay, Iin, Month};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;

use crate::db::schema::consents;
use crate::db::Db;
use crate::domain::sms::Policy;
use crate::domain::{accounts, catalog, import, places, programme};
use crate::error::AppResult;
use crate::with_conn;

/// A demo shop and its cashier. A voucher sells only in its family's region, so there is one in
/// each pilot region: Pavlodar (55) and Akmola (11, Kokshetau and Akkol).
pub struct DemoShop {
    pub id: &'static str,
    pub name: &'static str,
    pub kato: &'static str,
    pub address: &'static str,
    pub cashier: &'static str,
}

pub const SHOPS: [DemoShop; 2] = [
    DemoShop {
        id: "demo-shop-1",
        name: "Демо-магазин «Береке»",
        kato: "551010000",
        address: "Павлодар, ул. Лермонтова, 1",
        cashier: "kassir1",
    },
    DemoShop {
        id: "demo-shop-2",
        name: "Демо-магазин «Достық»",
        kato: "111010000",
        address: "Кокшетау, ул. Абая, 10",
        cashier: "kassir2",
    },
];

/// The demo shop of a locality's region (the KATO's first two digits name the region).
pub fn shop_of(kato: &str) -> Option<&'static DemoShop> {
    SHOPS.iter().find(|s| s.kato.get(..2) == kato.get(..2))
}
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
    /// One password per shop of [`SHOPS`], in its order.
    pub cashier_passwords: Vec<String>,
}

/// Seeds the demo month (families 1-9 have consented; 10 and 12 are still asked; 11 has no phone).
pub fn seed(db: &Db, sms: &Policy, now: DateTime<Utc>) -> AppResult<Seeded> {
    let month = BusinessDay::of(now).month().map_err(|e| crate::error::AppError::validation("now", e.to_string()))?;
    let seeded = Seeded {
        month,
        operator_password: password(),
        viewer_password: password(),
        cashier_passwords: SHOPS.iter().map(|_| password()).collect(),
    };
    db.write(|c| {
        catalog::seed_groups(c, now)?;
        accounts::upsert_operator(c, OPERATOR, &seeded.operator_password, Role::Operator, now)?;
        accounts::upsert_operator(c, VIEWER, &seeded.viewer_password, Role::Viewer, now)?;
        places::put_localities(c, &pilot_localities(), "demo", now)?;
        // The pilot order ran to April 2026 (order p.9); the demo runs in today's month, as if the
        // programme had been extended to it by agreement.
        programme::cover(c, month, "demo", now)?;
        for (shop, password) in SHOPS.iter().zip(&seeded.cashier_passwords) {
            let body = ShopBody { name: shop.name.into(), kato: shop.kato.into(), address: shop.address.into() };
            places::put_shop(c, shop.id, &body, "demo", now)?;
            accounts::upsert_cashier(c, shop.id, shop.cashier, password, "demo", now)?;
        }
        if catalog::products(c)?.is_empty() {
            let products = catalog::parse_products_csv(DEMO_PRODUCTS_CSV.as_bytes())?;
            catalog::put_products(c, &products, "demo", now)?;
        }
        // Standing consents, as if given by SMS in an earlier month: import issues their vouchers.
        for f in 1..=9 {
            with_conn!(c, c => diesel::insert_into(consents::table)
                .values((consents::family_id.eq(format!("DEMO-{f:02}")), consents::status.eq(ConsentStatus::Given), consents::updated_at.eq(now.naive_utc())))
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        let (rows, group) = import::rows_from_json(&families());
        import::import(c, month, &rows, Some(&group), sms, "demo", now)?;
        Ok(())
    })?;
    Ok(seeded)
}

/// How long the demo's QR codes stay valid: long enough to try the till at leisure (the wallet's
/// own codes last minutes).
pub const DEMO_QR_HOURS: i64 = 12;

/// The till kit written into `demo/`: QR images, each to be sold at the shop its name begins with.
pub struct Kit {
    /// `(shop, image)` for every QR written.
    pub codes: Vec<(&'static DemoShop, std::path::PathBuf)>,
    pub products: std::path::PathBuf,
}

/// Activates the vouchers of the first three demo families (one in each pilot locality) and writes
/// QR codes for them into `dir` — three per voucher, as each token is good for one basket — named
/// `{shop}-voucher-{id}-{n}.png` after the demo shop of the family's region, where they sell; and
/// `products.txt`, demo product codes to type or scan at the till.
pub fn write_till_kit(db: &Db, dir: &std::path::Path, now: DateTime<Utc>) -> anyhow::Result<Kit> {
    std::fs::create_dir_all(dir)?;
    let families = families();
    let mut codes = Vec::new();
    for member in 0..6u32 {
        let family = &families[(member / 2) as usize];
        let shop =
            shop_of(&family.kato).ok_or_else(|| anyhow::anyhow!("no demo shop in the region of {}", family.kato))?;
        let iin = demo_iin(member);
        let vouchers = db.read(|c| crate::domain::wallet::family_vouchers(c, &iin))?;
        let Some(v) = vouchers.iter().find(|v| v.member_name == NAMES[member as usize]) else { continue };
        db.write(|c| crate::domain::wallet::activate(c, &iin, v.id, now))?;
        for n in 1..=3 {
            let token = db
                .read(|c| crate::domain::wallet::mint_qr(c, &iin, v.id, chrono::Duration::hours(DEMO_QR_HOURS), now))?;
            let path = dir.join(format!("{}-voucher-{}-{n}.png", shop.id, v.id));
            std::fs::write(&path, crate::qr::png(&token.token)?)?;
            codes.push((shop, path));
        }
    }
    let products = dir.join("products.txt");
    std::fs::write(&products, product_codes())?;
    Ok(Kit { codes, products })
}

/// What the demo prints about its till kit: how many codes, and the whole till command for each
/// shop with the codes that sell there.
pub fn kit_banner(kit: &Kit, base_url: &str) -> anyhow::Result<String> {
    let mut s = String::new();
    writeln!(
        s,
        "Till kit in demo/: {} QR codes (valid {} h, one basket each) and products.txt (codes and prices in tenge).",
        kit.codes.len(),
        DEMO_QR_HOURS
    )?;
    writeln!(s, "Start the till in a second terminal, with the cashier's password above (a voucher sells in its own region only):")?;
    for shop in &SHOPS {
        let n = kit.codes.iter().filter(|(s, _)| s.id == shop.id).count();
        writeln!(
            s,
            "  cargo run -p azyq-pos -- --server {base_url} --shop {} --terminal T1 --login {}   # {n} codes demo/{}-*.png",
            shop.id, shop.cashier, shop.id
        )?;
    }
    writeln!(
        s,
        "  (--terminal names this till within its shop: up to 32 letters, digits, '-' or '_'; T1, T2, … will do)"
    )?;
    Ok(s)
}

/// The demo's suggested shelf and reduced price (cap 15 %) of the `i`-th demo product, in tiyn.
fn suggested_price(i: usize) -> (i64, i64) {
    let shelf = 20_000 + 5_000 * (i as i64 % 7);
    (shelf, shelf - shelf * 15 / 100)
}

/// The demo's second shop, in Kokshetau, where the demo itself sells a few baskets today (its
/// cashier sells the Akmola region's QR codes of the till kit too).
pub const SECOND_SHOP_ID: &str = SHOPS[1].id;
const SECOND_CASHIER: &str = SHOPS[1].cashier;

/// What the demo sells at its second shop today: (member, [(product index, pieces)]). The members
/// are of families in the Akmola region (Kokshetau, Akkol), as the shop is.
const DEMO_SALES: &[(u32, &[(usize, i64)])] = &[(2, &[(0, 2), (1, 1)]), (4, &[(2, 3)]), (8, &[(4, 1), (3, 2)])];

/// A few sales at the second demo shop today, paid in cash, so the console's report of the day
/// has figures and charts. Made once a day: a rerun the same day sells nothing more. Returns the
/// baskets sold.
pub fn sell_today(db: &Db, rules: crate::domain::redeem::SaleRules, now: DateTime<Utc>) -> anyhow::Result<usize> {
    use crate::db::schema::baskets;
    use crate::domain::{idempotency, redeem, wallet};
    use azyq_shared::api::{AuthorizeRequest, BasketLineIn, Payment, PaymentMethod};
    use azyq_shared::Tiyn;

    let since = BusinessDay::of(now).start_instant().naive_utc();
    let sold: i64 = db.read(|c| {
        Ok(with_conn!(c, c => baskets::table
            .filter(baskets::shop_id.eq(SECOND_SHOP_ID))
            .filter(baskets::created_at.ge(since))
            .count()
            .get_result(c))?)
    })?;
    if sold > 0 {
        return Ok(0);
    }
    let products = catalog::parse_products_csv(DEMO_PRODUCTS_CSV.as_bytes())?;
    let till =
        redeem::Till { shop_id: SECOND_SHOP_ID.into(), terminal_id: "demo-till".into(), login: SECOND_CASHIER.into() };
    let mut baskets_sold = 0;
    for (member, lines) in DEMO_SALES {
        let iin = demo_iin(*member);
        let vouchers = db.read(|c| wallet::family_vouchers(c, &iin))?;
        let Some(v) = vouchers.iter().find(|v| v.member_name == NAMES[*member as usize]) else { continue };
        if v.status == azyq_shared::api::VoucherStatus::Issued {
            db.write(|c| wallet::activate(c, &iin, v.id, now))?;
        }
        let token = db.read(|c| wallet::mint_qr(c, &iin, v.id, chrono::Duration::minutes(5), now))?;
        let lines = lines
            .iter()
            .filter_map(|(i, quantity)| {
                let (shelf, reduced) = suggested_price(*i);
                products.get(*i).map(|p| BasketLineIn {
                    code: p.gtin.clone(),
                    quantity: *quantity,
                    shelf_price_tiyn: Tiyn::new(shelf),
                    reduced_price_tiyn: Tiyn::new(reduced),
                })
            })
            .collect();
        let req = AuthorizeRequest { tokens: vec![token.token], lines };
        let hash = idempotency::request_hash("demo:authorize", &req);
        let t = redeem::Transition { till: &till, key: None, hash: &hash, now };
        let held = redeem::authorize(db, &t, &req, rules, None)?;
        let payment = Payment { method: PaymentMethod::Cash, paid_tiyn: held.to_pay_tiyn };
        let hash = idempotency::request_hash("demo:capture", &payment);
        let t = redeem::Transition { till: &till, key: None, hash: &hash, now };
        redeem::capture(db, &t, held.basket_id, &payment)?;
        baskets_sold += 1;
    }
    Ok(baskets_sold)
}

/// Demo product codes as a scanner would type them, with suggested prices.
pub fn product_codes() -> String {
    let mut out = String::from(
        "# Demo product codes for azyq-pos: type or paste one into the scan field.\n\
         # Plain EAN-13 = non-serialised goods; (01)…(21)… = a marked, serialised unit (each sells once);\n\
         # 2X PPPPP WWWWW C = an in-store scale label (PLU, weight in grams): its weight is the quantity.\n\
         # Suggested prices in tenge, as the till asks for them: shelf / reduced (the cap is 15%).\n\
         # Weighed goods: the quantity in grams, the prices per kg.\n",
    );
    let products = crate::domain::catalog::parse_products_csv(DEMO_PRODUCTS_CSV.as_bytes()).unwrap_or_default();
    for (i, p) in products.iter().enumerate() {
        let (shelf, reduced) = suggested_price(i);
        let unit = if p.unit == azyq_shared::api::Unit::Kg { "за кг" } else { "за шт." };
        let (shelf, reduced) = (tenge(shelf), tenge(reduced));
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

/// Tiyn as the till's price field takes them: "200,00".
fn tenge(tiyn: i64) -> String {
    format!("{},{:02}", tiyn / 100, tiyn % 100)
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
    for (shop, password) in SHOPS.iter().zip(&seeded.cashier_passwords) {
        writeln!(s, "  cashier   shop {} ({})  login {}  password {password}", shop.id, shop.address, shop.cashier)?;
    }
    let token = wallet_token(wallet_secret, &demo_iin(0), now)?;
    writeln!(s, "  wallet token of the first demo recipient (valid 24 h):\n    {token}")?;
    writeln!(s, "Web console: {base_url}/console/ (log in as operator or viewer above)")?;
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

    /// The till asks for prices in tenge ("Цена на полке, ₸"): products.txt gives them so, with
    /// two decimals after a comma, never in tiyn.
    #[test]
    fn demo_prices_are_in_tenge_as_the_till_asks() {
        for line in product_codes().lines().filter(|l| !l.starts_with('#')) {
            let prices = line.split('\t').nth(2).unwrap();
            let (pair, unit) = prices.split_once(' ').unwrap();
            assert!(unit == "за кг" || unit == "за шт.", "{line}");
            let (shelf, reduced) = pair.split_once('/').unwrap();
            let tenge = |t: &str| {
                let (whole, frac) = t.split_once(',').unwrap();
                assert_eq!(frac.len(), 2, "{line}");
                whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
            };
            let (shelf, reduced) = (tenge(shelf), tenge(reduced));
            assert!((10_000..1_000_000).contains(&shelf), "a shelf price of 100 to 10 000 ₸: {line}");
            assert!(reduced < shelf && (shelf - reduced) * 100 <= shelf * 15, "{line}");
        }
    }

    #[test]
    fn every_family_of_the_kit_has_a_shop_in_its_region() {
        for f in families().iter().take(3) {
            let shop = shop_of(&f.kato).unwrap();
            assert_eq!(shop.kato[..2], f.kato[..2]);
        }
        assert_eq!(shop_of("113220100").map(|s| s.id), Some("demo-shop-2"), "Akkol is in Akmola region");
    }
}
