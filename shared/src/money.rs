//! Money: an integer number of tiyn (1 KZT = 100 tiyn). No floating point ever.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of money in tiyn. Arithmetic is checked: an overflow is an error, never a wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)
)]
#[cfg_attr(feature = "server", diesel(sql_type = diesel::sql_types::BigInt))]
pub struct Tiyn(i64);

impl Tiyn {
    pub const ZERO: Tiyn = Tiyn(0);

    pub const fn new(tiyn: i64) -> Self {
        Tiyn(tiyn)
    }

    /// Whole tenge, as written in budget laws (1 MRP = 4 325 KZT).
    pub const fn from_tenge(tenge: i64) -> Self {
        Tiyn(tenge * 100)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The amount by reference (diesel binds a parameter by reference to the value it writes).
    pub fn as_i64_ref(&self) -> &i64 {
        &self.0
    }

    pub fn checked_add(self, other: Tiyn) -> Option<Tiyn> {
        self.0.checked_add(other.0).map(Tiyn)
    }

    pub fn checked_sub(self, other: Tiyn) -> Option<Tiyn> {
        self.0.checked_sub(other.0).map(Tiyn)
    }

    pub fn checked_mul(self, factor: i64) -> Option<Tiyn> {
        self.0.checked_mul(factor).map(Tiyn)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self * numerator / denominator`, rounded half away from zero, in 128-bit so it cannot overflow
    /// midway. Used for per-kilogram prices times grams and for caps in basis points.
    pub fn mul_div_round(self, numerator: i64, denominator: i64) -> Option<Tiyn> {
        if denominator == 0 {
            return None;
        }
        let product = i128::from(self.0) * i128::from(numerator);
        let d = i128::from(denominator);
        let q = product / d;
        let r = product % d;
        let rounded = if 2 * r.abs() >= d.abs() { q + if (product < 0) != (d < 0) { -1 } else { 1 } } else { q };
        i64::try_from(rounded).ok().map(Tiyn)
    }
}

/// "4 325,00 ₸": the Kazakh way, with a space between thousands and a decimal comma.
impl fmt::Display for Tiyn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let tenge = abs / 100;
        let tiyn = abs % 100;
        let digits = tenge.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(' ');
            }
            grouped.push(ch);
        }
        write!(f, "{sign}{grouped},{tiyn:02} ₸")
    }
}

/// `+` and `-` on money panic on overflow (never wrap): for sums of amounts already bounded by
/// balances and the database's figures. Amounts from a request are combined with the `checked_*`
/// functions instead, and refused when they overflow.
impl std::ops::Add for Tiyn {
    type Output = Tiyn;
    // An overflow of sums of stored amounts is a bug to stop at, never a value to go on with.
    #[allow(clippy::panic)]
    fn add(self, other: Tiyn) -> Tiyn {
        match self.checked_add(other) {
            Some(t) => t,
            None => panic!("tiyn overflow: {} + {}", self.0, other.0),
        }
    }
}

impl std::ops::Sub for Tiyn {
    type Output = Tiyn;
    // As for `+`.
    #[allow(clippy::panic)]
    fn sub(self, other: Tiyn) -> Tiyn {
        match self.checked_sub(other) {
            Some(t) => t,
            None => panic!("tiyn overflow: {} - {}", self.0, other.0),
        }
    }
}

impl std::ops::AddAssign for Tiyn {
    fn add_assign(&mut self, other: Tiyn) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Tiyn {
    fn sub_assign(&mut self, other: Tiyn) {
        *self = *self - other;
    }
}

impl std::ops::Neg for Tiyn {
    type Output = Tiyn;
    fn neg(self) -> Tiyn {
        Tiyn::ZERO - self
    }
}

impl Tiyn {
    /// The sum, or `None` on overflow (for amounts that come from a request).
    pub fn checked_sum(items: impl IntoIterator<Item = Tiyn>) -> Option<Tiyn> {
        items.into_iter().try_fold(Tiyn::ZERO, Tiyn::checked_add)
    }
}

impl<'a> std::iter::Sum<&'a Tiyn> for Tiyn {
    fn sum<I: Iterator<Item = &'a Tiyn>>(iter: I) -> Tiyn {
        iter.copied().sum()
    }
}

impl std::iter::Sum for Tiyn {
    /// Sum that panics on overflow; use only on amounts already bounded by a balance.
    fn sum<I: Iterator<Item = Tiyn>>(iter: I) -> Tiyn {
        iter.fold(Tiyn::ZERO, |acc, x| acc + x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_the_kazakh_way() {
        assert_eq!(Tiyn::new(432_500).to_string(), "4 325,00 ₸");
        assert_eq!(Tiyn::new(5).to_string(), "0,05 ₸");
        assert_eq!(Tiyn::new(-123_456_789).to_string(), "-1 234 567,89 ₸");
        assert_eq!(Tiyn::from_tenge(3_932).get(), 393_200);
    }

    #[test]
    fn checked_arithmetic_refuses_overflow() {
        assert_eq!(Tiyn::new(i64::MAX).checked_add(Tiyn::new(1)), None);
        assert_eq!(Tiyn::new(i64::MIN).checked_sub(Tiyn::new(1)), None);
    }

    #[test]
    fn mul_div_rounds_half_up() {
        // 1 kg at 499 tiyn, 1 500 g -> 748.5 -> 749
        assert_eq!(Tiyn::new(499).mul_div_round(1500, 1000), Some(Tiyn::new(749)));
        assert_eq!(Tiyn::new(499).mul_div_round(1499, 1000), Some(Tiyn::new(748)));
        assert_eq!(Tiyn::new(10_000).mul_div_round(1500, 10_000), Some(Tiyn::new(1500)));
        assert_eq!(Tiyn::new(1).mul_div_round(1, 0), None);
    }

    proptest! {
        #[test]
        fn add_then_sub_is_identity(a in -1_000_000_000_000i64..1_000_000_000_000, b in -1_000_000_000_000i64..1_000_000_000_000) {
            let x = Tiyn::new(a).checked_add(Tiyn::new(b)).unwrap();
            prop_assert_eq!(x.checked_sub(Tiyn::new(b)), Some(Tiyn::new(a)));
        }

        #[test]
        fn mul_div_is_within_half_a_tiyn(a in 0i64..10_000_000_000, n in 0i64..1_000_000, d in 1i64..1_000_000) {
            let r = Tiyn::new(a).mul_div_round(n, d).unwrap().get() as i128;
            let exact2 = 2 * (a as i128) * (n as i128); // 2 * exact * d
            let diff = (2 * r * d as i128 - exact2).abs();
            prop_assert!(diff <= d as i128);
        }
    }
}
