//! Text the service stores and shows again (names people read, identifiers in URLs), checked at
//! the edge: bounded in length, free of control characters (which break logs, reports and
//! PostgreSQL, whose text cannot hold NUL).

use crate::error::{AppError, AppResult};

/// The longest name of a shop, product, group or locality.
pub const NAME_MAX: usize = 200;
/// The longest address.
pub const ADDRESS_MAX: usize = 300;
/// The longest identifier (shop id, login).
pub const IDENT_MAX: usize = 64;

/// A name people read: trimmed, 1 to `max` characters, no control characters.
pub fn label(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(AppError::validation(field, format!("{field}: от 1 до {max} символов")));
    }
    if v.chars().any(char::is_control) {
        return Err(AppError::validation(field, format!("{field}: управляющие символы недопустимы")));
    }
    Ok(v.to_owned())
}

/// Free text a person wrote (a complaint): trimmed, 1 to `max` characters, line breaks and tabs
/// kept, no other control characters; `\r\n` becomes `\n`.
pub fn free_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim().replace("\r\n", "\n");
    if v.is_empty() || v.chars().count() > max {
        return Err(AppError::validation(field, format!("{field}: от 1 до {max} символов")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(AppError::validation(field, format!("{field}: управляющие символы недопустимы")));
    }
    Ok(v)
}

/// An identifier: 1 to [`IDENT_MAX`] characters, no spaces, no control characters.
pub fn ident<'a>(field: &str, value: &'a str) -> AppResult<&'a str> {
    if value.is_empty()
        || value.chars().count() > IDENT_MAX
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AppError::validation(field, format!("{field}: от 1 до {IDENT_MAX} символов без пробелов")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(label("name", "  Магазин №1 ", NAME_MAX).unwrap(), "Магазин №1");
        for bad in ["", "   ", "a\u{0}b", "a\nb", "a\u{7f}"] {
            assert!(label("name", bad, NAME_MAX).is_err(), "{bad:?}");
        }
        assert!(label("name", &"я".repeat(NAME_MAX), NAME_MAX).is_ok());
        assert!(label("name", &"я".repeat(NAME_MAX + 1), NAME_MAX).is_err());
        assert!(ident("shop_id", "SHOP-A").is_ok());
        for bad in ["", "a b", "a\tb", &"x".repeat(IDENT_MAX + 1)] {
            assert!(ident("shop_id", bad).is_err(), "{bad:?}");
        }
        assert_eq!(free_text("text", " Кассир\r\nне принял\tваучер ", 50).unwrap(), "Кассир\nне принял\tваучер");
        for bad in ["", " \n ", "a\u{0}b", "a\u{1b}[31m", "a\rb", &"я".repeat(51)] {
            assert!(free_text("text", bad, 50).is_err(), "{bad:?}");
        }
    }
}
