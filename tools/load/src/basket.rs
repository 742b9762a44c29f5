//! The load's SZPT products and the baskets a till builds from them: 1-10 lines, some with
//! serialised codes, every discount within the cap (mostly small, so vouchers last the run).

use rand::Rng;
use serde_json::{json, Value};

/// A product of the load catalogue; its GTIN is `gtin(body)`.
pub struct LoadProduct {
    /// The first 13 digits of the GTIN-14; the check digit is computed.
    pub body: &'static str,
    pub group: &'static str,
    pub name: &'static str,
    /// `piece` or `kg` (prices per kg, quantity in grams).
    pub unit: &'static str,
    /// Shelf price per unit in tiyn.
    pub shelf_tiyn: i64,
    /// Marked goods: always scanned with a serial (AI 21), one unit per line.
    pub serialised: bool,
}

const fn product(
    body: &'static str,
    group: &'static str,
    name: &'static str,
    unit: &'static str,
    shelf_tiyn: i64,
    serialised: bool,
) -> LoadProduct {
    LoadProduct { body, group, name, unit, shelf_tiyn, serialised }
}

/// Ten SZPT products of the shipped groups (GS1 Kazakhstan prefix 487).
pub const PRODUCTS: [LoadProduct; 10] = [
    product("0487100000101", "milk", "Молоко 2,5% 1 л", "piece", 52_000, true),
    product("0487100000102", "kefir", "Кефир 2,5% 1 л", "piece", 48_000, true),
    product("0487100000103", "butter", "Масло сливочное 200 г", "piece", 120_000, true),
    product("0487100000104", "bread", "Хлеб пшеничный 1 с.", "piece", 25_000, false),
    product("0487100000105", "flour", "Мука пшеничная 1 с. 2 кг", "piece", 90_000, false),
    product("0487100000106", "sugar", "Сахар 1 кг", "piece", 60_000, false),
    product("0487100000107", "eggs", "Яйца С1 10 шт", "piece", 85_000, false),
    product("0487100000108", "rice", "Рис 1 кг", "piece", 70_000, false),
    product("0487100000109", "potatoes", "Картофель", "kg", 25_000, false),
    product("0487100000110", "chicken", "Курица (тушка)", "kg", 180_000, false),
];

/// The cap every load product gets, in basis points of the shelf price.
pub const CAP_BP: i64 = 1500;

/// A GTIN-14 from its first 13 digits and the GS1 mod-10 check digit.
pub fn gtin(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b.saturating_sub(b'0')) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// The body of `PUT /api/v1/catalog`.
pub fn catalog_body() -> Value {
    let products: Vec<Value> = PRODUCTS
        .iter()
        .map(|p| {
            json!({"gtin": gtin(p.body), "group": p.group, "name": p.name, "unit": p.unit, "discount_cap_bp": CAP_BP})
        })
        .collect();
    json!({ "products": products })
}

/// One basket line as the till sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub code: String,
    pub quantity: i64,
    pub shelf_tiyn: i64,
    pub reduced_tiyn: i64,
}

impl Line {
    /// The line's JSON for `POST /api/v1/pos/baskets`.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "quantity": self.quantity, "shelf_price_tiyn": self.shelf_tiyn,
               "reduced_price_tiyn": self.reduced_tiyn})
    }
}

/// A discount in basis points: nine lines in ten take 0.5-3%, the rest up to the cap itself.
pub fn discount_bp(rng: &mut impl Rng) -> i64 {
    if rng.gen_bool(0.9) {
        rng.gen_range(50..=300)
    } else {
        rng.gen_range(301..=CAP_BP)
    }
}

/// Most lines in a basket.
pub const MAX_LINES: usize = 10;

/// A basket of `min` (at least 1) to [`MAX_LINES`] lines; `serial` gives a code's serial, unique
/// for the run.
pub fn lines(rng: &mut impl Rng, min: usize, serial: &mut impl FnMut() -> String) -> Vec<Line> {
    let n = rng.gen_range(min.clamp(1, MAX_LINES)..=MAX_LINES);
    (0..n)
        .map(|_| {
            let p = &PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
            line_of(p, rng, serial)
        })
        .collect()
}

/// A line of `p`: a serial if it is marked, grams if weighed, else 1-3 pieces.
fn line_of(p: &LoadProduct, rng: &mut impl Rng, serial: &mut impl FnMut() -> String) -> Line {
    // Shelf prices wander a little from shop to shop and day to day.
    let shelf = p.shelf_tiyn + rng.gen_range(-20..=20) * 100;
    let reduced = shelf - shelf * discount_bp(rng) / 10_000;
    let (code, quantity) = if p.serialised {
        (format!("(01){}(21){}", gtin(p.body), serial()), 1)
    } else if p.unit == "kg" {
        (gtin(p.body), rng.gen_range(300..=3_000))
    } else {
        (gtin(p.body), rng.gen_range(1..=3))
    };
    Line { code, quantity, shelf_tiyn: shelf, reduced_tiyn: reduced }
}

/// The fixed basket of issue 19's figures: three serialised milk, bread and flour (random prices
/// and discounts, as [`lines`]).
pub fn five(rng: &mut impl Rng, serial: &mut impl FnMut() -> String) -> Vec<Line> {
    [0usize, 0, 0, 3, 4].iter().map(|&i| line_of(&PRODUCTS[i], rng, serial)).collect()
}

/// The product of contended baskets: chicken by weight at exactly the cap, so that every gram
/// takes [`CONTEND_TIYN_PER_GRAM`] off the voucher with no rounding.
const CONTEND_PRODUCT: usize = 9;
const CONTEND_SHELF_PER_KG: i64 = 180_000;
const CONTEND_REDUCED_PER_KG: i64 = CONTEND_SHELF_PER_KG - CONTEND_SHELF_PER_KG * CAP_BP / 10_000;
/// Discount of one gram of the contended product.
pub const CONTEND_TIYN_PER_GRAM: i64 = (CONTEND_SHELF_PER_KG - CONTEND_REDUCED_PER_KG) / 1_000;
/// Grams per line of a contended basket.
const CONTEND_GRAMS_PER_LINE: i64 = 5_000;

/// Two discount targets for a contended pair on a voucher with `balance` left: each 55-95% of it,
/// so each basket alone fits and both together do not (for a balance of 1 000 tiyn or more).
pub fn contended_targets(balance: i64, rng: &mut impl Rng) -> (i64, i64) {
    let mut one = || balance * rng.gen_range(55..=95) / 100;
    (one(), one())
}

/// A basket whose discount is the largest multiple of [`CONTEND_TIYN_PER_GRAM`] not above
/// `target` (so within 26 tiyn below it): lines of chicken by weight at the cap.
pub fn for_discount(target: i64) -> Vec<Line> {
    let p = &PRODUCTS[CONTEND_PRODUCT];
    let mut grams = (target / CONTEND_TIYN_PER_GRAM).max(1);
    let mut lines = Vec::new();
    while grams > 0 {
        let quantity = grams.min(CONTEND_GRAMS_PER_LINE);
        grams -= quantity;
        lines.push(Line {
            code: gtin(p.body),
            quantity,
            shelf_tiyn: CONTEND_SHELF_PER_KG,
            reduced_tiyn: CONTEND_REDUCED_PER_KG,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn gtins_carry_valid_check_digits() {
        for p in &PRODUCTS {
            let g = gtin(p.body);
            assert_eq!(azyq_shared::gs1::Gtin::parse(&g).expect("a valid GTIN").as_str(), g);
        }
        // The e2e suite's milk, computed independently.
        assert_eq!(gtin("0460000000001"), "04600000000015");
    }

    #[test]
    fn baskets_stay_within_the_rules() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut n = 0;
        let mut serial = || {
            n += 1;
            format!("S{n:08}")
        };
        for i in 0..2_000 {
            let min = i % 4;
            let lines = lines(&mut rng, min, &mut serial);
            assert!((min.max(1)..=MAX_LINES).contains(&lines.len()));
            for l in &lines {
                assert!(l.reduced_tiyn < l.shelf_tiyn && l.reduced_tiyn > 0);
                assert!((l.shelf_tiyn - l.reduced_tiyn) * 10_000 <= CAP_BP * l.shelf_tiyn, "{l:?}");
                let code = azyq_shared::gs1::parse(&l.code).expect("a valid GS1 code");
                assert_eq!(code.is_serialised(), l.code.contains("(21)"));
                assert!(l.quantity >= 1 && (!code.is_serialised() || l.quantity == 1));
            }
        }
    }

    /// A line's discount as the server prices it: amounts rounded half up, per kg in grams.
    fn discount(l: &Line) -> i64 {
        let unit = PRODUCTS.iter().find(|p| l.code.contains(&gtin(p.body))).map_or("piece", |p| p.unit);
        let amount = |price: i64| if unit == "kg" { (price * l.quantity + 500) / 1_000 } else { price * l.quantity };
        amount(l.shelf_tiyn) - amount(l.reduced_tiyn)
    }

    #[test]
    fn contended_baskets_hit_their_target_and_overdraw_together() {
        assert_eq!(CONTEND_TIYN_PER_GRAM, 27);
        assert_eq!(PRODUCTS[CONTEND_PRODUCT].unit, "kg");
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for balance in [1_000, 20_000, 20_001, 99_999, 432_500, 1_000_000] {
            for _ in 0..200 {
                let (a, b) = contended_targets(balance, &mut rng);
                let (da, db) = (for_discount(a), for_discount(b));
                let (da, db): (i64, i64) = (da.iter().map(discount).sum(), db.iter().map(discount).sum());
                for (target, got) in [(a, da), (b, db)] {
                    assert!(got <= target && target - got < CONTEND_TIYN_PER_GRAM, "{target} {got}");
                }
                assert!(da <= balance && db <= balance, "each alone fits {balance}: {da} {db}");
                assert!(da + db > balance, "together they do not {balance}: {da} {db}");
            }
        }
        for l in for_discount(1_000_000) {
            assert!(l.quantity <= 5_000);
            assert!((l.shelf_tiyn - l.reduced_tiyn) * 10_000 <= CAP_BP * l.shelf_tiyn);
        }
    }
}
