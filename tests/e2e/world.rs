//! A month ready for the till: localities, shops with cashiers, the catalogue, a consenting family
//! with activated vouchers; and direct access to the database for the books and for minting tokens
//! with the server's own key (to reach states the wallet would refuse to mint for).

use azyq_shared::api::{
    Authorized, BasketState, BasketView, Captured, ImportReport, LookupResponse, Payment, PaymentMethod, PosCatalog,
    PosDailyReport, QrToken, Refund, RefundRequest, Role, SessionResponse, Voucher, Vouchers,
};
use azyq_shared::Tiyn;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::helpers::*;

pub const NOW: &str = "2026-12-06T05:00:00Z";
pub const CASHIER_PASSWORD: &str = "cashier-password-1";
pub const MILK: &str = "04600000000015";
pub const FLOUR: &str = "04870000000012";
pub const POTATOES: &str = "02000000000084";
pub const NOT_SZPT: &str = "04000000000006";

pub struct World {
    pub op: String,
    /// Recipients: the two members of family FAM (Pavlodar), applicant phone below.
    pub iins: [String; 2],
    pub phone: &'static str,
}

/// A GTIN-14 with its check digit, for tests that need more products.
pub fn gtin(body13: &str) -> String {
    (0..10)
        .map(|c| format!("{body13}{c}"))
        .find(|g| azyq_shared::gs1::Gtin::parse(g).is_ok())
        .expect("one check digit fits")
}

/// The pilot, three shops with a cashier `kassa` each (two in Pavlodar, one in Kokshetau) and the
/// catalogue of milk, flour and potatoes.
pub fn setup_shops(server: &Server, op: &str) {
    assert_eq!(gtin("0460000000001"), MILK);
    setup_pilot(server, op);
    for (shop, kato) in [("SHOP-A", "551010000"), ("SHOP-C", "551010000"), ("SHOP-K", "111010000")] {
        let (s, b) = server.put(
            &format!("/api/v1/shops/{shop}"),
            Some(op),
            &json!({"name": format!("Магазин {shop}"), "kato": kato, "address": "ул. 1"}),
        );
        assert_eq!(s, 200, "{b}");
        let (s, b) = server.post(
            &format!("/api/v1/shops/{shop}/cashiers"),
            Some(op),
            &json!({"login": "kassa", "password": CASHIER_PASSWORD}),
        );
        assert_eq!(s, 201, "{b}");
    }
    let catalog = json!({"products": [
        {"gtin": MILK, "group": "milk", "name": "Молоко 2.5% 1 л", "unit": "piece"},
        {"gtin": FLOUR, "group": "flour", "name": "Мука 1 с. 2 кг", "unit": "piece", "discount_cap_bp": 1500},
        {"gtin": POTATOES, "group": "potatoes", "name": "Картофель", "unit": "kg", "discount_cap_bp": 2000},
    ]});
    let (s, b) = server.put("/api/v1/catalog", Some(op), &catalog);
    assert_eq!(s, 200, "{b}");
}

pub fn setup(db: &TestDb, server: &Server, seed: u32) -> World {
    let op = server.operator_token();
    setup_shops(server, &op);
    let iins = [iin(seed, 1), iin(seed, 2)];
    let phone = "+77015550001";
    let list = json!({"families": [{"family_id": "FAM", "kato": "551010000", "phone": phone, "members": [
        {"iin": iins[0], "name": "Айгерим Бекова", "birth_date": "1990-01-01"},
        {"iin": iins[1], "name": "Ерлан Беков", "birth_date": "1988-01-01"}]}]});
    let report: ImportReport =
        server.post_as(&format!("/api/v1/months/{}/recipients", server.month()), Some(&op), &list).success(200);
    assert_eq!(report.accepted, 2, "{report:?}");
    assert_eq!(
        server.post(&format!("/api/v1/months/{}/consent-requests", server.month()), Some(&op), &json!({})).0,
        200
    );
    assert_eq!(server.sms_reply(phone, "21*1"), "yes");
    let _ = db;
    World { op, iins, phone }
}

impl World {
    /// The vouchers of member `m`'s family, as the wallet lists them (members in issue order).
    pub fn vouchers(&self, server: &Server, m: usize) -> Vec<Voucher> {
        let list: Vouchers =
            server.get_as("/api/v1/wallet/vouchers", Some(&server.wallet_token(&self.iins[m]))).success(200);
        list.vouchers
    }

    /// Member `m`'s own voucher.
    pub fn voucher(&self, server: &Server, m: usize) -> Voucher {
        self.vouchers(server, m).swap_remove(m)
    }

    pub fn voucher_id(&self, server: &Server, m: usize) -> i64 {
        self.voucher(server, m).id
    }

    pub fn activate(&self, server: &Server, m: usize) -> i64 {
        let id = self.voucher_id(server, m);
        let path = format!("/api/v1/wallet/vouchers/{id}/activate");
        let voucher: Voucher =
            server.post_as(&path, Some(&server.wallet_token(&self.iins[m])), &json!({})).success(200);
        voucher.id
    }

    /// Member `m` asks the wallet for a QR token of their voucher: the token, or the refusal.
    pub fn mint(&self, server: &Server, m: usize) -> Reply<QrToken> {
        let id = self.voucher_id(server, m);
        server.post_as(
            &format!("/api/v1/wallet/vouchers/{id}/qr"),
            Some(&server.wallet_token(&self.iins[m])),
            &json!({}),
        )
    }

    /// A fresh QR token for member `m`'s voucher, from the wallet.
    pub fn qr(&self, server: &Server, m: usize) -> String {
        self.mint(server, m).success(200).token
    }

    pub fn balance(&self, server: &Server, m: usize) -> Tiyn {
        self.voucher(server, m).balance_tiyn
    }
}

/// Logs a cashier of `shop` in.
pub fn cashier(server: &Server, shop: &str, terminal: &str) -> String {
    let session: SessionResponse = server
        .post_as(
            "/api/v1/sessions",
            None,
            &json!({"shop_id": shop, "terminal_id": terminal, "login": "kassa", "password": CASHIER_PASSWORD}),
        )
        .success(200);
    assert_eq!(session.role, Role::Cashier);
    session.token
}

const BASKETS: &str = "/api/v1/pos/baskets";

/// A session at a till: the till API with typed answers, as a cash register speaks it.
pub struct Till<'s> {
    pub server: &'s Server,
    pub token: String,
}

impl<'s> Till<'s> {
    /// The cashier of `shop` logged in at `terminal`.
    pub fn login(server: &'s Server, shop: &str, terminal: &str) -> Till<'s> {
        Till { server, token: cashier(server, shop, terminal) }
    }

    fn post<T: serde::de::DeserializeOwned>(&self, path: &str, key: Option<&str>, body: &Value) -> Reply<T> {
        let key: Vec<_> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
        self.server.send("POST", path, Some(&self.token), Some(body), &key).typed()
    }

    pub fn catalog(&self) -> Reply<PosCatalog> {
        self.server.get_as("/api/v1/pos/catalog", Some(&self.token))
    }

    pub fn lookup(&self, token: &str) -> Reply<LookupResponse> {
        self.post("/api/v1/pos/lookup", None, &json!({"token": token}))
    }

    /// Authorises a basket of `lines` (see [`line`]) on the vouchers of `tokens`, in scan order.
    pub fn authorize(&self, key: &str, tokens: &[&str], lines: &[Value]) -> Reply<Authorized> {
        self.post(BASKETS, Some(key), &json!({"tokens": tokens, "lines": lines}))
    }

    pub fn capture(&self, basket: i64, key: &str, payment: &Payment) -> Reply<Captured> {
        self.post(&format!("{BASKETS}/{basket}/capture"), Some(key), &json!({"payment": payment}))
    }

    pub fn cancel(&self, basket: i64) -> Reply<BasketState> {
        self.post(&format!("{BASKETS}/{basket}/cancel"), None, &json!({}))
    }

    /// Refunds the lines of these indexes, or (`None`) every line not refunded yet.
    pub fn refund(&self, basket: i64, key: &str, lines: Option<&[usize]>) -> Reply<Refund> {
        let body = RefundRequest { lines: lines.map(<[usize]>::to_vec) };
        self.post(&format!("{BASKETS}/{basket}/refund"), Some(key), &serde_json::to_value(body).unwrap())
    }

    /// The basket read back.
    pub fn basket(&self, basket: i64) -> Reply<BasketView> {
        self.server.get_as(&format!("{BASKETS}/{basket}"), Some(&self.token))
    }

    /// The shop's day (`date` as the till sends it).
    pub fn daily(&self, date: &str) -> Reply<PosDailyReport> {
        self.server.get_as(&format!("/api/v1/pos/reports/daily?date={date}"), Some(&self.token))
    }
}

/// A payment in cash of `paid`.
pub fn cash(paid: Tiyn) -> Payment {
    Payment { method: PaymentMethod::Cash, paid_tiyn: paid }
}

/// A payment by card of `paid`.
pub fn card(paid: Tiyn) -> Payment {
    Payment { method: PaymentMethod::Card, paid_tiyn: paid }
}

pub fn line(code: &str, quantity: i64, shelf: i64, reduced: i64) -> Value {
    json!({"code": code, "quantity": quantity, "shelf_price_tiyn": shelf, "reduced_price_tiyn": reduced})
}

/// A request with an Idempotency-Key.
pub fn post_keyed(server: &Server, path: &str, token: &str, key: &str, body: &Value) -> (u16, Value) {
    server.send("POST", path, Some(token), Some(body), &[("Idempotency-Key", key)]).json()
}

pub fn code(pair: &(u16, Value)) -> (u16, String) {
    (pair.0, pair.1["error"]["code"].as_str().unwrap_or("").to_owned())
}

/// Runs one SQL query returning one integer (in a column named `n`).
pub fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.scalar(sql)
}

/// Runs SQL statements on the test's database (to corrupt the books on purpose).
pub fn exec(db: &TestDb, sql: &str) {
    db.execute(sql)
}

/// The books hold: no balance below zero, every voucher's money in exactly one place, held and
/// charged equal to what open and paid baskets carry, every serial claimed at most once.
pub fn assert_books(db: &TestDb) {
    let bad = scalar(
        db,
        "SELECT COUNT(*) AS n FROM vouchers WHERE balance_tiyn < 0 OR held_tiyn < 0 \
         OR amount_tiyn <> balance_tiyn + held_tiyn + charged_tiyn - refunded_tiyn + expired_tiyn",
    );
    assert_eq!(bad, 0, "vouchers whose money does not add up");
    let held_vs_baskets = scalar(
        db,
        "SELECT COUNT(*) AS n FROM vouchers v WHERE v.held_tiyn <> COALESCE((SELECT SUM(bv.charged_tiyn) FROM basket_vouchers bv \
         JOIN baskets b ON b.id = bv.basket_id WHERE bv.voucher_id = v.id AND b.status = 'authorized'), 0) \
         OR v.charged_tiyn <> COALESCE((SELECT SUM(bv.charged_tiyn) FROM basket_vouchers bv JOIN baskets b ON b.id = bv.basket_id \
         WHERE bv.voucher_id = v.id AND b.status IN ('captured', 'partly_refunded', 'refunded')), 0)",
    );
    assert_eq!(held_vs_baskets, 0, "held/charged disagree with the baskets");
    let doubled = scalar(
        db,
        "SELECT COUNT(*) AS n FROM (SELECT l.gtin, l.serial FROM basket_lines l JOIN baskets b ON b.id = l.basket_id \
         WHERE l.serial IS NOT NULL AND NOT l.refunded AND b.status IN ('authorized', 'captured', 'partly_refunded') \
         GROUP BY l.gtin, l.serial HAVING COUNT(*) > 1) d",
    );
    assert_eq!(doubled, 0, "a serial sold twice");
}

/// Mints a token with the server's own signing key (read from its database), for states the
/// wallet would not mint for: another voucher id, a closed month, a long expiry.
pub fn forge(db: &TestDb, voucher_id: i64, month: &str, issued: &str, expires: &str) -> String {
    let (key, kid) = server_signing_key(db);
    sign_with(&key, kid, voucher_id, month, issued, expires)
}

/// The server's newest voucher key and its kid, read from its database.
pub fn server_signing_key(db: &TestDb) -> (ed25519_dalek::SigningKey, u16) {
    #[derive(QueryableByName)]
    struct K {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        kid: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret_key: String,
    }
    let rows: Vec<K> = db.query("SELECT kid, secret_key FROM voucher_keys WHERE NOT retired ORDER BY kid DESC LIMIT 1");
    let seed: [u8; 32] = hex::decode(&rows[0].secret_key).unwrap().try_into().unwrap();
    (ed25519_dalek::SigningKey::from_bytes(&seed), rows[0].kid as u16)
}

pub fn sign_with(
    key: &ed25519_dalek::SigningKey,
    kid: u16,
    voucher_id: i64,
    month: &str,
    issued: &str,
    expires: &str,
) -> String {
    let fields = azyq_shared::token::TokenFields {
        kid,
        voucher_id: voucher_id as u64,
        month: azyq_shared::Month::parse(month).unwrap(),
        issued_at: issued.parse().unwrap(),
        expires_at: expires.parse().unwrap(),
        nonce: azyq_shared::token::Nonce::new_v1(),
        offline: None,
    };
    azyq_shared::token::sign(&fields, key).unwrap()
}
