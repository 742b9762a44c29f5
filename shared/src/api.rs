//! Request and response bodies of the HTTP API (shared/API.md), shared by the server and the till.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Tiyn;

pub use crate::states::{
    BasketStatus, ConsentStatus, DeliveryKind, DeliveryStatus, FamilyStatus, MonthStatus, NoticeKind,
    OfflineSaleStatus, PaymentMethod, Role, SignalCode, SmsStatus, Unit, VoucherStatus,
};

#[cfg(feature = "server")]
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => $text:literal,)*) => {
        /// Every stable error code of the API. The till matches on these, so a code is never renamed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(ToSchema))]
        pub enum ErrorCode {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl ErrorCode {
            /// The snake_case text of the code, as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    Validation => "validation",
    Unauthorized => "unauthorized",
    InvalidCredentials => "invalid_credentials",
    TooManyAttempts => "too_many_attempts",
    Forbidden => "forbidden",
    NotFound => "not_found",
    VoucherNotFound => "voucher_not_found",
    BasketNotFound => "basket_not_found",
    ShopNotFound => "shop_not_found",
    TokenUsed => "token_used",
    NotActivated => "not_activated",
    MonthClosed => "month_closed",
    MonthNotStarted => "month_not_started",
    MonthNotEnded => "month_not_ended",
    NoConsent => "no_consent",
    VoucherExhausted => "voucher_exhausted",
    BasketState => "basket_state",
    HoldExpired => "hold_expired",
    IdempotencyConflict => "idempotency_conflict",
    RateNotSet => "rate_not_set",
    OutsideProgramme => "outside_programme",
    TokenInvalid => "token_invalid",
    TokenExpired => "token_expired",
    UnknownKey => "unknown_key",
    WrongRegion => "wrong_region",
    InsufficientBalance => "insufficient_balance",
    NotSzptProduct => "not_szpt_product",
    DiscountOverCap => "discount_over_cap",
    CodeInvalid => "code_invalid",
    CodeAlreadySold => "code_already_sold",
    ProductExpired => "product_expired",
    PriceOverLimit => "price_over_limit",
    ProductRecalled => "product_recalled",
    OfflineLimit => "offline_limit",
    PayloadTooLarge => "payload_too_large",
    UnsupportedMediaType => "unsupported_media_type",
    Unavailable => "unavailable",
    Internal => "internal",
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            Validation => 400,
            Unauthorized | InvalidCredentials => 401,
            Forbidden => 403,
            NotFound | VoucherNotFound | BasketNotFound | ShopNotFound => 404,
            TokenUsed | NotActivated | MonthClosed | MonthNotStarted | MonthNotEnded | NoConsent | VoucherExhausted
            | BasketState | HoldExpired | IdempotencyConflict | RateNotSet | OutsideProgramme | OfflineLimit => 409,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            TokenInvalid | TokenExpired | UnknownKey | WrongRegion | InsufficientBalance | NotSzptProduct
            | DiscountOverCap | CodeInvalid | CodeAlreadySold | ProductExpired | PriceOverLimit | ProductRecalled => {
                422
            }
            TooManyAttempts => 429,
            Unavailable => 503,
            Internal => 500,
        }
    }
}

/// `{"error": {...}}`: the body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for the person at the screen (Russian).
    pub message: String,
    /// Code-specific details (`field`, `line`, `balance_tiyn`, …), flattened beside code and message.
    #[serde(flatten)]
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Health {
    pub status: String,
}

/// Operator/viewer log-in, or a cashier's when `shop_id` and `terminal_id` are given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SessionRequest {
    pub login: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SessionResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Locality {
    pub kato: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Localities {
    pub localities: Vec<Locality>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ShopBody {
    pub name: String,
    pub kato: String,
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Shop {
    pub shop_id: String,
    pub name: String,
    pub kato: String,
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CashierBody {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Cashier {
    pub shop_id: String,
    pub login: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CatalogGroup {
    pub code: String,
    pub name_ru: String,
    pub name_kk: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CatalogGroups {
    pub groups: Vec<CatalogGroup>,
}

/// The default discount cap: 15% of the shelf price (Alg. p.12), in basis points.
pub const DEFAULT_DISCOUNT_CAP_BP: i32 = 1500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Product {
    pub gtin: String,
    pub group: String,
    pub name: String,
    pub unit: Unit,
    /// The product's own cap in basis points of the shelf price; where absent, its group's cap in
    /// the shop's region ([`PriceLimit`]), else [`DEFAULT_DISCOUNT_CAP_BP`].
    #[serde(default)]
    pub discount_cap_bp: Option<i32>,
    /// The five-digit PLU that the shop's scales print on a label (SPEC §5), unique; goods sold by
    /// weight only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plu: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Products {
    pub products: Vec<Product>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CatalogReplaced {
    pub products: usize,
}

/// The akimat's rules for one SZPT group in one region (SPEC §3.3): the highest shelf price a till
/// may declare (per unit, or per kg for goods sold by weight) and the discount cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PriceLimit {
    /// An SZPT group code in force.
    pub group: String,
    /// Two-digit region code (the first two digits of KATO) of a pilot locality.
    pub region: String,
    /// No limit where absent.
    #[serde(default)]
    pub max_shelf_price_tiyn: Option<Tiyn>,
    /// The group's cap in basis points of the shelf price; the default 15% where absent. A
    /// product's own cap overrides it.
    #[serde(default)]
    pub discount_cap_bp: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PriceLimits {
    pub limits: Vec<PriceLimit>,
}

/// A food recall to place (SPEC §5): every batch of a GTIN, or one batch (AI 10) of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RecallRequest {
    pub gtin: String,
    #[serde(default)]
    pub batch: Option<String>,
    /// Why, in words a cashier reads to the customer.
    pub reason: String,
}

/// A recall in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Recall {
    pub id: i64,
    /// GTIN-14.
    pub gtin: String,
    /// `null`: every batch.
    pub batch: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Recalls {
    pub recalls: Vec<Recall>,
}

impl Recall {
    /// Whether this recall covers goods of `gtin` (GTIN-14) from `batch` (AI 10, if the code said).
    /// A recall of one batch covers only codes that name that batch.
    pub fn covers(&self, gtin: &str, batch: Option<&str>) -> bool {
        self.gtin == gtin && self.batch.as_deref().is_none_or(|b| Some(b) == batch)
    }
}

/// The rate of one month: a default and per-region overrides, in tiyn per member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Rates {
    pub default_tiyn: Tiyn,
    #[serde(default)]
    pub regions: std::collections::BTreeMap<String, Tiyn>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct MemberIn {
    pub iin: String,
    pub name: String,
    pub birth_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct FamilyIn {
    pub family_id: String,
    pub kato: String,
    pub phone: Option<String>,
    pub members: Vec<MemberIn>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RecipientList {
    pub families: Vec<FamilyIn>,
}

/// Why one row of a recipients list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub enum RejectCode {
    /// The IIN is not 12 digits or its check digit is wrong.
    InvalidIin,
    /// The KATO code is not 9 digits.
    InvalidKato,
    /// The locality is not one of the pilot's.
    NotPilotLocality,
    /// The applicant's phone is not a Kazakh mobile number.
    InvalidPhone,
    /// The same IIN is in two families of the month (or twice in one).
    MemberInTwoFamilies,
    /// The family id was already listed this month with other content.
    FamilyConflict,
    /// A family's rows disagree on locality or phone.
    FamilyInconsistent,
    /// A name is empty or a birth date is not a date.
    InvalidMember,
    /// Another row of the same family was refused, so the family is.
    FamilyRejected,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RejectedRow {
    pub row: usize,
    pub code: RejectCode,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ImportReport {
    /// Members accepted (including those already listed identically).
    pub accepted: usize,
    pub rejected: Vec<RejectedRow>,
    /// Families listed for the first time by this upload.
    pub new_families: usize,
    /// Vouchers issued at once for families whose consent holds from an earlier month.
    pub vouchers_issued: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Queued {
    pub queued: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct MonthClosed {
    pub month: String,
    pub no_answer: i64,
    pub lapsed: i64,
    pub expired: i64,
    pub expired_tiyn: Tiyn,
    pub holds_released: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SmsInbound {
    pub from: String,
    pub text: String,
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SmsInboundResult {
    /// What the reply was understood as: `yes`, `no`, `help` or `ignored`.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Voucher {
    pub id: i64,
    pub member_name: String,
    pub month: String,
    pub status: VoucherStatus,
    pub amount_tiyn: Tiyn,
    pub balance_tiyn: Tiyn,
    pub activated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Vouchers {
    pub vouchers: Vec<Voucher>,
}

/// A notice to the family in the wallet (SW p.4, p.7): vouchers issued, an answer recorded, the
/// month's end near.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Notification {
    pub kind: NoticeKind,
    pub month: String,
    /// Russian.
    pub text: String,
    /// The same in Kazakh.
    pub text_kk: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Notifications {
    /// Newest first.
    pub notifications: Vec<Notification>,
}

/// The months the service runs (SPEC §2.8), both inclusive, `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Programme {
    pub from_month: String,
    pub to_month: String,
}

/// Parses `YYYY-MM-DD` birth dates of the recipients list.
pub fn parse_birth_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // The usual `YYYY-MM-DD` read digit by digit (a national list holds a million), anything else
    // by chrono's parser, which reads that shape the same way.
    if let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = s.as_bytes() {
        let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
        if digits.iter().all(u8::is_ascii_digit) {
            let n = |from: usize, to: usize| digits[from..to].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            return NaiveDate::from_ymd_opt(n(0, 4) as i32, n(4, 6), n(6, 8));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A birth date as stored and hashed, `YYYY-MM-DD`: what `NaiveDate`'s `Display` writes, built from
/// its digits for the four-digit years (a national list writes a million birth dates twice; through
/// `format!` the import took 0.3 s more CPU).
pub fn birth_date_text(d: NaiveDate) -> String {
    use chrono::Datelike as _;
    if !(0..=9999).contains(&d.year()) {
        return d.to_string();
    }
    let (y, m, day) = (d.year().unsigned_abs(), d.month(), d.day());
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let text = [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(day / 10),
        digit(day),
    ];
    text.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_date_text_is_display() {
        for (y, m, d) in
            [(1990, 1, 1), (2019, 12, 31), (5, 3, 9), (0, 1, 1), (9999, 12, 31), (-1, 6, 15), (10_000, 1, 2)]
        {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(birth_date_text(date), date.to_string());
        }
    }

    #[test]
    fn birth_dates_read_as_chrono_reads_them() {
        for s in [
            "1990-01-01",
            " 2019-12-31 ",
            "2024-02-29",
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "0000-01-01",
            "1990-1-01",
            "1990-01-1",
            "199O-01-01",
            "+1990-01-01",
            "1990/01/01",
            "",
            "9999-12-31",
        ] {
            let chrono = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
            assert_eq!(parse_birth_date(s), chrono, "{s:?}");
        }
    }

    #[test]
    fn error_codes_are_snake_case_and_stable() {
        assert_eq!(ErrorCode::InsufficientBalance.as_str(), "insufficient_balance");
        assert_eq!(ErrorCode::TooManyAttempts.http_status(), 429);
        let json = serde_json::to_string(&ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::Validation,
                message: "x".into(),
                details: [("field".to_string(), serde_json::json!("month"))].into_iter().collect(),
            },
        })
        .unwrap();
        assert_eq!(json, r#"{"error":{"code":"validation","message":"x","field":"month"}}"#);
    }

    #[test]
    fn rating_averages_are_exact_to_the_cent() {
        assert_eq!(average_2dp(13, 3), "4.33");
        assert_eq!(average_2dp(14, 3), "4.67");
        assert_eq!(average_2dp(9, 2), "4.50");
        assert_eq!(average_2dp(5, 1), "5.00");
        assert_eq!(average_2dp(1, 8), "0.13"); // 0.125 rounds half up
        assert_eq!(average_2dp(0, 0), "");
        assert_eq!(average_2dp(i64::MAX, 1), format!("{}.00", i64::MAX));
        let mut f = ShopFeedback::new(2, 9, 1);
        f.add(&ShopFeedback::new(1, 4, 0));
        assert_eq!(f, ShopFeedback { ratings: 3, rating_sum: 13, rating_average: "4.33".into(), complaints: 1 });
    }
}

// ---------------------------------------------------------------------------------------------
// Keys, QR, the till and the wallet's history (shared/API.md "Public", "Wallet", "Till").

/// One public key of the voucher-token signers, as published at `/.well-known/voucher-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PublicKey {
    pub kid: u16,
    /// Always `EdDSA` (Ed25519).
    pub alg: String,
    /// The 32-byte key, base64url without padding.
    pub public_key: String,
    /// After this instant the key no longer verifies (null: no end set).
    pub not_after: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct VoucherKeys {
    pub keys: Vec<PublicKey>,
}

/// A freshly minted voucher token for the wallet to show as a QR code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct QrToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A product as the till sees it: the SZPT catalogue with the cap for the shop's region and the
/// shop's last prices for the GTIN, to pre-fill the basket line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PosProduct {
    pub gtin: String,
    pub group: String,
    pub name: String,
    pub unit: Unit,
    /// The cap in force for the shop's region: the product's own, else its group's, else 15%.
    pub discount_cap_bp: i32,
    pub last_shelf_price_tiyn: Option<Tiyn>,
    pub last_reduced_price_tiyn: Option<Tiyn>,
    /// The highest shelf price the till may declare in the shop's region (per kg for goods sold by
    /// weight); `None`: no limit (or a server older than this field).
    #[serde(default)]
    pub max_shelf_price_tiyn: Option<Tiyn>,
    /// The PLU its scale labels carry (goods sold by weight).
    #[serde(default)]
    pub plu: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PosCatalog {
    pub products: Vec<PosProduct>,
    /// The SZPT groups' names in Russian and Kazakh, retired groups included (old sales still name
    /// them); empty from a server older than this field.
    #[serde(default)]
    pub groups: Vec<CatalogGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct LookupRequest {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct LookupResponse {
    pub voucher_id: i64,
    /// The holder's masked name ("А*** Б***"), never the IIN.
    pub holder: String,
    pub month: String,
    pub status: VoucherStatus,
    pub balance_tiyn: Tiyn,
    pub token_expires_at: DateTime<Utc>,
}

/// One line of a basket as the till sends it. `quantity` is pieces, or grams for a `kg` product
/// (whose prices are then per kg).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct BasketLineIn {
    pub code: String,
    /// Pieces, or grams. For a scale label it may be left out (or 0): the label's weight is the
    /// quantity, and any other number is refused.
    #[serde(default)]
    pub quantity: i64,
    pub shelf_price_tiyn: Tiyn,
    pub reduced_price_tiyn: Tiyn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct AuthorizeRequest {
    /// Voucher tokens of one family, in the order scanned: the discount is drawn in this order.
    pub tokens: Vec<String>,
    pub lines: Vec<BasketLineIn>,
}

/// How much of a basket's discount one voucher carries, and its balance after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct VoucherCharge {
    pub voucher_id: i64,
    pub charged_tiyn: Tiyn,
    pub balance_tiyn: Tiyn,
}

/// A priced basket line, as the server computed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct BasketLine {
    pub index: usize,
    pub gtin: String,
    pub serial: Option<String>,
    pub group: String,
    pub name: String,
    pub unit: Unit,
    pub quantity: i64,
    pub shelf_price_tiyn: Tiyn,
    pub reduced_price_tiyn: Tiyn,
    /// Shelf price × quantity (per kg × grams / 1000, rounded half up).
    pub shelf_amount_tiyn: Tiyn,
    /// What the customer pays for the line.
    pub to_pay_tiyn: Tiyn,
    /// Charged to the voucher(s): shelf amount − to pay.
    pub discount_tiyn: Tiyn,
    pub refunded: bool,
}

/// The answer to an authorise: the hold placed and what the customer must pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Authorized {
    pub basket_id: i64,
    pub status: BasketStatus,
    pub discount_tiyn: Tiyn,
    pub to_pay_tiyn: Tiyn,
    pub hold_expires_at: DateTime<Utc>,
    pub vouchers: Vec<VoucherCharge>,
    pub lines: Vec<BasketLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Payment {
    pub method: PaymentMethod,
    pub paid_tiyn: Tiyn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CaptureRequest {
    pub payment: Payment,
}

/// The final receipt of a captured basket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Receipt {
    pub basket_id: i64,
    pub shop_id: String,
    pub shop_name: String,
    pub terminal_id: String,
    pub captured_at: DateTime<Utc>,
    pub lines: Vec<BasketLine>,
    pub discount_tiyn: Tiyn,
    pub to_pay_tiyn: Tiyn,
    pub payment: Payment,
    pub vouchers: Vec<VoucherCharge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Captured {
    pub basket_id: i64,
    pub status: BasketStatus,
    pub receipt: Receipt,
}

/// A basket as a till reads it back (after an answer it did not hear): its state, lines, vouchers,
/// and the receipt once paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct BasketView {
    pub basket_id: i64,
    pub status: BasketStatus,
    pub discount_tiyn: Tiyn,
    pub to_pay_tiyn: Tiyn,
    pub hold_expires_at: DateTime<Utc>,
    pub lines: Vec<BasketLine>,
    pub vouchers: Vec<VoucherCharge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct BasketState {
    pub basket_id: i64,
    pub status: BasketStatus,
}

/// `{"lines":[indexes]}` refunds those lines; `{}` refunds every line not yet refunded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RefundRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Refund {
    pub refund_id: i64,
    pub basket_id: i64,
    /// The basket's status after the refund: `partly_refunded` or `refunded`.
    pub status: BasketStatus,
    pub lines: Vec<usize>,
    pub refunded_tiyn: Tiyn,
    pub vouchers: Vec<VoucherCharge>,
}

/// Goods of one SZPT group in a report: pieces, grams (for goods sold by weight) and discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct GroupTotal {
    pub group: String,
    pub pieces: i64,
    pub grams: i64,
    pub discount_tiyn: Tiyn,
}

/// The shop's own day at the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PosDailyReport {
    pub date: String,
    pub shop_id: String,
    pub baskets_captured: i64,
    pub baskets_cancelled: i64,
    pub baskets_hold_expired: i64,
    pub refunds: i64,
    pub discount_tiyn: Tiyn,
    pub paid_tiyn: Tiyn,
    pub refunded_tiyn: Tiyn,
    pub by_group: Vec<GroupTotal>,
}

/// One basket in the recipient's history (Alg. p.27).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct HistoryBasket {
    pub basket_id: i64,
    pub shop_id: String,
    pub shop_name: String,
    pub at: DateTime<Utc>,
    pub status: BasketStatus,
    pub discount_tiyn: Tiyn,
    pub to_pay_tiyn: Tiyn,
    pub lines: Vec<BasketLine>,
    pub vouchers: Vec<VoucherCharge>,
    /// Sold at a till without a link and uploaded later (SPEC §3.9); `at` is the sale's time.
    #[serde(default)]
    pub offline: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct History {
    pub baskets: Vec<HistoryBasket>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct FeedbackRequest {
    /// 1 to 5.
    pub rating: i32,
    #[serde(default)]
    pub complaint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct FeedbackSaved {
    pub basket_id: i64,
    pub rating: i32,
    /// Whether a complaint was queued for the akimat's e-Otinish system.
    pub complaint_queued: bool,
}

// ---------------------------------------------------------------------------------------------
// Reports (SPEC §6). Money in tiyn; no personal data anywhere in these.

/// One region's figures of a business day (vouchers by the day their state changed; baskets by the
/// day they were captured, cancelled, expired or refunded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RegionFigures {
    /// Two-digit region code (first two digits of KATO).
    pub region: String,
    /// The region's name in Russian and in Kazakh, beside its code, for people reading.
    #[serde(default)]
    pub region_name: String,
    #[serde(default)]
    pub region_name_kk: String,
    pub vouchers_issued: i64,
    pub vouchers_issued_tiyn: Tiyn,
    pub vouchers_activated: i64,
    pub vouchers_activated_tiyn: Tiyn,
    pub vouchers_lapsed: i64,
    pub vouchers_lapsed_tiyn: Tiyn,
    pub vouchers_expired: i64,
    pub vouchers_expired_tiyn: Tiyn,
    #[serde(flatten)]
    pub baskets: BasketFigures,
}

/// Basket figures of a region or a shop for a business day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct BasketFigures {
    pub baskets_captured: i64,
    pub baskets_cancelled: i64,
    pub baskets_hold_expired: i64,
    /// Refund operations (a basket may be refunded line by line in several).
    pub refunds: i64,
    /// Discount charged to vouchers by captured baskets.
    pub discount_tiyn: Tiyn,
    /// Paid by recipients for captured baskets.
    pub paid_tiyn: Tiyn,
    /// Discount returned to vouchers by refunds.
    pub refunded_tiyn: Tiyn,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ShopFigures {
    pub shop_id: String,
    pub shop_name: String,
    pub region: String,
    /// The region's name in Russian and in Kazakh, beside its code, for people reading.
    #[serde(default)]
    pub region_name: String,
    #[serde(default)]
    pub region_name_kk: String,
    #[serde(flatten)]
    pub baskets: BasketFigures,
    /// Ratings and complaints the shop received in the period (Alg. p.29).
    #[serde(flatten)]
    pub feedback: ShopFeedback,
    /// Authorisations refused `price_over_limit` (a shelf price above the region's limit).
    #[serde(default)]
    pub refused_over_limit: i64,
    /// Authorisations refused `product_recalled`.
    #[serde(default)]
    pub refused_recalled: i64,
    /// Offline sales applied (SPEC §3.9), on the day they were sold.
    #[serde(default)]
    pub offline_sales: i64,
    /// The discount of those sales that the vouchers could not cover: the shop's loss.
    #[serde(default)]
    pub offline_shortfall_tiyn: Tiyn,
}

/// Refusals of recalled goods under one recall.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RecallFigures {
    pub recall_id: i64,
    pub gtin: String,
    pub batch: Option<String>,
    pub reason: String,
    pub refusals: i64,
}

/// One fraud or error signal of a shop (SPEC §6, signals): how often, and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Signal {
    pub code: SignalCode,
    pub count: i64,
    /// What was counted, in a sentence (Russian); never a person's data.
    pub detail: String,
}

/// A shop's signals over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ShopSignals {
    pub shop_id: String,
    pub name: String,
    pub region: String,
    pub signals: Vec<Signal>,
}

/// `GET /api/v1/reports/signals`: every shop that sold or was refused in the month, with each
/// signal's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SignalsReport {
    pub month: String,
    pub generated_at: DateTime<Utc>,
    pub shops: Vec<ShopSignals>,
}

/// What recipients said of a shop (Alg. p.29): ratings (1-5) and complaints, counted. The
/// average is `rating_sum / ratings` written with two decimals, rounded half up from the exact
/// integers (empty when there is no rating); no floating point is involved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ShopFeedback {
    pub ratings: i64,
    pub rating_sum: i64,
    pub rating_average: String,
    pub complaints: i64,
}

impl ShopFeedback {
    /// The summary of `ratings` ratings adding up to `rating_sum`, and `complaints` complaints.
    pub fn new(ratings: i64, rating_sum: i64, complaints: i64) -> ShopFeedback {
        ShopFeedback { ratings, rating_sum, rating_average: average_2dp(rating_sum, ratings), complaints }
    }

    /// Adds another period's or shop's figures (the average is made again from the sums).
    pub fn add(&mut self, other: &ShopFeedback) {
        *self = ShopFeedback::new(
            self.ratings + other.ratings,
            self.rating_sum + other.rating_sum,
            self.complaints + other.complaints,
        );
    }
}

/// `sum / count` with two decimals, rounded half up, by integer arithmetic: `average_2dp(13, 3)`
/// is `4.33`, `average_2dp(9, 2)` is `4.50`; empty for no count.
pub fn average_2dp(sum: i64, count: i64) -> String {
    if count <= 0 || sum < 0 {
        return String::new();
    }
    let (sum, count) = (i128::from(sum), i128::from(count));
    let hundredths = (sum * 200 + count) / (2 * count);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// Goods sold (captured) in a region by SZPT group: pieces, or grams for goods sold by weight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct GoodsFigures {
    pub region: String,
    /// The region's name in Russian and in Kazakh, beside its code, for people reading.
    #[serde(default)]
    pub region_name: String,
    #[serde(default)]
    pub region_name_kk: String,
    /// The SZPT group's code, and its names in Russian and in Kazakh.
    pub group: String,
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub group_name_kk: String,
    pub pieces: i64,
    pub grams: i64,
    pub discount_tiyn: Tiyn,
}

/// The consent figures of a region for the month so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ConsentFigures {
    pub region: String,
    /// The region's name in Russian and in Kazakh, beside its code, for people reading.
    #[serde(default)]
    pub region_name: String,
    #[serde(default)]
    pub region_name_kk: String,
    pub month: String,
    /// Start SMS queued (Alg. p.19).
    pub sms_sent: i64,
    /// Reminders queued (Alg. p.20).
    pub reminders: i64,
    pub yes: i64,
    pub no: i64,
    pub no_answer: i64,
    pub no_phone: i64,
}

/// The daily ministry report (Alg. p.28, order p.7.1), or a pilot summary over a date range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct MinistryReport {
    /// First and last business day covered (equal for a daily report), Asia/Almaty.
    pub from: String,
    pub to: String,
    pub generated_at: DateTime<Utc>,
    pub regions: Vec<RegionFigures>,
    pub shops: Vec<ShopFigures>,
    pub goods: Vec<GoodsFigures>,
    pub consent: Vec<ConsentFigures>,
    /// The sum of `regions`.
    pub totals: RegionFigures,
    /// Refusals of recalled goods by recall.
    #[serde(default)]
    pub recalls: Vec<RecallFigures>,
    /// The shops' signals over the same days (SPEC §6).
    #[serde(default)]
    pub signals: Vec<ShopSignals>,
}

/// A family the SDU must hear about (Alg. p.17): no phone, refused, or no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SduFamily {
    pub family_id: String,
    pub kato: String,
    /// `no_phone`, `refused` or `no_answer`.
    pub status: FamilyStatus,
    pub status_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SduReturn {
    pub month: String,
    pub families: Vec<SduFamily>,
}

/// One captured (possibly refunded) basket in a shop's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ReconciledBasket {
    pub basket_id: i64,
    pub captured_at: DateTime<Utc>,
    pub status: BasketStatus,
    pub discount_tiyn: Tiyn,
    pub paid_tiyn: Tiyn,
    pub refunded_tiyn: Tiyn,
    pub lines: Vec<BasketLine>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ReconciliationTotals {
    pub baskets: i64,
    pub discount_tiyn: Tiyn,
    pub paid_tiyn: Tiyn,
    pub refunded_tiyn: Tiyn,
    /// What the vouchers owe the shop: discount − refunded.
    pub net_discount_tiyn: Tiyn,
}

/// A shop's month for its loan agreement (Alg. p.8-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ShopReconciliation {
    pub shop_id: String,
    pub shop_name: String,
    pub month: String,
    pub baskets: Vec<ReconciledBasket>,
    pub totals: ReconciliationTotals,
    /// Ratings of the month's baskets and complaints about the month, summarised.
    #[serde(default)]
    pub feedback: ShopFeedback,
}

// ---------------------------------------------------------------------------------------------
// Complaints and deliveries (SPEC §3.8, §6).

/// A complaint about a shop without a basket (a family refused at the till, Alg. p.29).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ComplaintRequest {
    pub shop_id: String,
    pub text: String,
    /// The day it happened, `YYYY-MM-DD` (Asia/Almaty): not in the future.
    pub occurred_on: String,
}

/// The akimat a complaint is routed to through e-Otinish: that of the shop's region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Akimat {
    /// Two-digit region code (the first two digits of the shop's KATO).
    pub region: String,
    pub name: String,
}

/// A filed complaint, as the wallet is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ComplaintFiled {
    pub complaint_id: i64,
    pub shop_id: String,
    pub occurred_on: String,
    pub akimat: Akimat,
}

/// Where a delivery stands, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct DeliveryState {
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One complaint in the operator's list: no IIN, no phone; the complainant's name masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ComplaintView {
    pub complaint_id: i64,
    pub basket_id: Option<i64>,
    /// The rating given with the basket's complaint, if any.
    pub rating: Option<i32>,
    pub shop_id: String,
    pub shop_name: String,
    pub occurred_on: String,
    pub filed_at: DateTime<Utc>,
    /// "А*** Б***"; null for complaints filed before the complainant was recorded.
    pub complainant: Option<String>,
    pub text: String,
    pub akimat: Akimat,
    /// Null only for a moment, until the scheduler queues an older complaint.
    pub delivery: Option<DeliveryState>,
}

/// A shop's ratings of a month (ratings of the month's baskets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ShopRatings {
    pub shop_id: String,
    pub shop_name: String,
    pub region: String,
    #[serde(flatten)]
    pub feedback: ShopFeedback,
}

/// `GET /api/v1/complaints?month=`: the month's complaints and the shops' ratings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Complaints {
    pub month: String,
    pub complaints: Vec<ComplaintView>,
    pub ratings: Vec<ShopRatings>,
}

/// One thing the service owes another party, and how its delivery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Delivery {
    pub id: i64,
    pub kind: DeliveryKind,
    /// The day (`daily_report`), month (`sdu_return`) or complaint id (`complaint`).
    pub key: String,
    /// Where it goes (or went): `file:PATH` or `http:URL` (without credentials or query).
    pub destination: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// Why the last try failed; never personal data.
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Deliveries {
    pub deliveries: Vec<Delivery>,
}
