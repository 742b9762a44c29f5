//! What the cashier reads when something goes wrong: what happened and what to do next, in
//! Russian, for every API error code, every client failure and every local refusal.

use azyq_shared::api::ErrorCode;
use azyq_shared::token::TokenError;
use azyq_shared::Tiyn;

use crate::client::ClientError;

/// What happened, and what the cashier should do next, for an API error code.
pub fn explain(code: ErrorCode) -> (&'static str, &'static str) {
    use ErrorCode::*;
    // Exhaustive on purpose: a new code does not compile until it has its sentence.
    match code {
        Validation => ("Сервер не принял данные", "Проверьте количество и цены в строках и повторите"),
        Unauthorized => ("Сеанс кассира закончился", "Войдите снова с логином и паролем кассира"),
        InvalidCredentials => (
            "Неверный логин или пароль, или касса не относится к этому магазину",
            "Проверьте магазин, кассу, логин и пароль и войдите снова",
        ),
        TooManyAttempts => ("Слишком много попыток подряд", "Подождите несколько минут и попробуйте снова"),
        Forbidden => (
            "Это действие недоступно кассе: покупка другого магазина или нет прав",
            "Проверьте номер покупки; при сомнении позовите старшего кассира",
        ),
        NotFound => {
            ("Сервер не нашёл запрошенное", "Проверьте введённые данные; если повторяется — сообщите в поддержку")
        }
        VoucherNotFound => (
            "Ваучер по этому QR-коду не найден",
            "Попросите покупателя открыть ваучер в приложении и показать QR-код заново",
        ),
        BasketNotFound => ("Покупка с таким номером не найдена", "Проверьте номер покупки по чеку"),
        ShopNotFound => ("Магазин не найден", "Проверьте код магазина и войдите снова"),
        TokenUsed => (
            "Этот QR-код уже использован для другой покупки",
            "Попросите покупателя обновить QR-код в приложении и отсканируйте новый",
        ),
        NotActivated => {
            ("Ваучер не активирован", "Покупатель должен активировать ваучер в приложении, затем показать QR-код")
        }
        MonthClosed => ("Месяц ваучера закончился — им больше нельзя платить", "Продайте товар без скидки по ваучеру"),
        MonthNotStarted => ("Месяц ваучера ещё не начался", "Продайте товар без скидки по ваучеру"),
        MonthNotEnded => ("Месяц ещё не закончился", "Это действие доступно только после конца месяца"),
        NoConsent => ("Семья не дала согласия на участие в программе", "Продайте товар без скидки по ваучеру"),
        VoucherExhausted => {
            ("На ваучере не осталось денег", "Отсканируйте ваучер другого члена семьи или продайте без скидки")
        }
        BasketState => (
            "Покупка уже в другом состоянии: оплачена, отменена или возвращена",
            "Проверьте покупку по номеру в чеке; при необходимости начните новую",
        ),
        HoldExpired => (
            "Время резерва истекло, скидка вернулась на ваучер",
            "Попросите покупателя обновить QR-код, отсканируйте его и проведите покупку заново",
        ),
        IdempotencyConflict => (
            "Повтор запроса не совпал с первой попыткой",
            "Начните покупку заново; если повторяется — сообщите в поддержку",
        ),
        RateNotSet => ("Для этого месяца не задан размер ваучера", "Сообщите оператору программы"),
        TokenInvalid => (
            "QR-код не прошёл проверку: он повреждён или поддельный",
            "Попросите показать QR-код из приложения ещё раз; если повторяется — не принимайте его",
        ),
        TokenExpired => {
            ("Срок действия QR-кода истёк", "Попросите покупателя обновить QR-код в приложении и отсканируйте новый")
        }
        UnknownKey => (
            "QR-код подписан ключом, которого касса не знает",
            "Попросите покупателя обновить QR-код; если повторяется — сообщите в поддержку",
        ),
        WrongRegion => {
            ("Ваучер выдан в другом регионе — здесь им платить нельзя", "Продайте товар без скидки по ваучеру")
        }
        InsufficientBalance => (
            "На ваучерах не хватает денег на всю скидку",
            "Уберите часть товаров или отсканируйте ваучер другого члена семьи",
        ),
        NotSzptProduct => (
            "Товар не входит в список социально значимых (СЗПТ)",
            "Уберите строку: этот товар продаётся без скидки по ваучеру",
        ),
        DiscountOverCap => ("Скидка на товар больше допустимой", "Исправьте цены в отмеченной строке (F4)"),
        CodeInvalid => ("Код маркировки товара не распознан", "Отсканируйте код с упаковки ещё раз или уберите строку"),
        CodeAlreadySold => {
            ("Этот экземпляр товара уже продан или в другой покупке", "Уберите строку и возьмите другую упаковку")
        }
        ProductExpired => ("Срок годности товара истёк", "Уберите строку: просроченный товар продавать нельзя"),
        PayloadTooLarge => ("Покупка слишком большая для одного запроса", "Разделите покупку на две"),
        UnsupportedMediaType => ("Сервер не понял формат запроса", "Обновите программу кассы и сообщите в поддержку"),
        Unavailable => ("Сервер временно недоступен", "Подождите минуту и повторите"),
        Internal => ("Ошибка на сервере", "Повторите; если повторяется — сообщите в поддержку"),
    }
}

/// How a message is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Error,
    Info,
    Done,
}

/// A message for the cashier: what happened, what to do, and the stable code where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tone: Tone,
    pub what: String,
    pub todo: String,
    pub code: Option<&'static str>,
}

impl Message {
    pub fn error(what: impl Into<String>, todo: impl Into<String>) -> Message {
        Message { tone: Tone::Error, what: what.into(), todo: todo.into(), code: None }
    }

    pub fn info(what: impl Into<String>, todo: impl Into<String>) -> Message {
        Message { tone: Tone::Info, what: what.into(), todo: todo.into(), code: None }
    }

    pub fn done(what: impl Into<String>, todo: impl Into<String>) -> Message {
        Message { tone: Tone::Done, what: what.into(), todo: todo.into(), code: None }
    }

    /// The message for an API error code, without details.
    pub fn for_code(code: ErrorCode) -> Message {
        let (what, todo) = explain(code);
        Message { tone: Tone::Error, what: what.to_owned(), todo: todo.to_owned(), code: Some(code.as_str()) }
    }

    /// The message for a failed request, with the details the server gave (line, balance, cap).
    pub fn for_client_error(err: &ClientError) -> Message {
        match err {
            ClientError::Api { .. } => {
                let Some(code) = err.code() else {
                    return Message::error("Ошибка сервера", "Повторите");
                };
                let mut m = Message::for_code(code);
                if let Some(line) = err.detail_i64("line") {
                    m.what = format!("Строка {}: {}", line.saturating_add(1), lower_first(&m.what));
                }
                if let Some(balance) = err.detail_i64("balance_tiyn") {
                    m.what = format!("{} (доступно {})", m.what, Tiyn::new(balance));
                }
                if let Some(max) = err.detail_i64("max_discount_tiyn") {
                    m.what = format!("{} (не больше {} за единицу)", m.what, Tiyn::new(max));
                } else if let Some(cap) = err.detail_i64("cap_bp") {
                    m.what = format!("{} (не больше {}% цены на полке)", m.what, percent(cap));
                }
                m
            }
            ClientError::Http { status } => Message::error(
                format!("Сервер ответил ошибкой {status}"),
                "Подождите минуту и повторите; если повторяется — сообщите в поддержку",
            ),
            ClientError::Timeout => Message::error("Сервер не ответил вовремя", "Проверьте связь и повторите"),
            ClientError::Network(_) => {
                Message::error("Нет связи с сервером", "Проверьте сеть и адрес сервера, затем повторите")
            }
            ClientError::Protocol(_) => {
                Message::error("Сервер прислал непонятный ответ", "Повторите; если повторяется — сообщите в поддержку")
            }
        }
    }

    /// A token refused by the till's own check, with the same words as the server's refusal.
    pub fn for_token_error(err: &TokenError) -> Message {
        match err {
            TokenError::Invalid(_) => Message::for_code(ErrorCode::TokenInvalid),
            TokenError::Expired { .. } => Message::for_code(ErrorCode::TokenExpired),
            TokenError::UnknownKey(_) => Message::for_code(ErrorCode::UnknownKey),
        }
    }

    /// The outcome of a keyed write is not known: the only safe move is the same request again.
    pub fn unknown_outcome(what: &str, err: &ClientError, retry_key: &str) -> Message {
        let cause = match err {
            ClientError::Timeout => "сервер не ответил вовремя",
            ClientError::Network(_) => "связь с сервером прервалась",
            _ => "сервер ответил ошибкой",
        };
        Message::error(
            format!("{what}: {cause}, неизвестно, прошла ли операция"),
            format!("Нажмите {retry_key}, чтобы повторить: повтор не спишет деньги дважды"),
        )
    }
}

/// "Скидка …" → "скидка …", to follow a prefix.
pub(crate) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn percent(bp: i64) -> String {
    if bp % 100 == 0 {
        (bp / 100).to_string()
    } else {
        format!("{},{:02}", bp / 100, bp % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azyq_shared::api::{ErrorBody, ErrorDetail};

    /// Every code the API can send, from the wire names.
    const ALL: &[&str] = &[
        "validation",
        "unauthorized",
        "invalid_credentials",
        "too_many_attempts",
        "forbidden",
        "not_found",
        "voucher_not_found",
        "basket_not_found",
        "shop_not_found",
        "token_used",
        "not_activated",
        "month_closed",
        "month_not_started",
        "month_not_ended",
        "no_consent",
        "voucher_exhausted",
        "basket_state",
        "hold_expired",
        "idempotency_conflict",
        "rate_not_set",
        "token_invalid",
        "token_expired",
        "unknown_key",
        "wrong_region",
        "insufficient_balance",
        "not_szpt_product",
        "discount_over_cap",
        "code_invalid",
        "code_already_sold",
        "product_expired",
        "payload_too_large",
        "unsupported_media_type",
        "unavailable",
        "internal",
    ];

    #[test]
    fn every_code_has_two_russian_sentences() {
        for wire in ALL {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(wire)).unwrap();
            let (what, todo) = explain(code);
            for text in [what, todo] {
                assert!(text.chars().any(|c| ('а'..='я').contains(&c)), "{wire}: {text}");
                assert!(!text.ends_with('.'), "{wire}: {text}");
            }
        }
    }

    fn api(code: &str, details: serde_json::Value) -> ClientError {
        let mut detail = serde_json::json!({"code": code, "message": "x"});
        if let (Some(d), Some(extra)) = (detail.as_object_mut(), details.as_object()) {
            d.extend(extra.clone());
        }
        let error: ErrorDetail = serde_json::from_value(detail).unwrap();
        ClientError::Api { status: 422, body: ErrorBody { error } }
    }

    #[test]
    fn details_are_spelt_out() {
        let m = Message::for_client_error(&api("discount_over_cap", serde_json::json!({"line": 1, "cap_bp": 1500})));
        assert_eq!(m.what, "Строка 2: скидка на товар больше допустимой (не больше 15% цены на полке)");
        assert_eq!(m.code, Some("discount_over_cap"));
        let m = Message::for_client_error(&api("insufficient_balance", serde_json::json!({"balance_tiyn": 150_000})));
        assert_eq!(m.what, "На ваучерах не хватает денег на всю скидку (доступно 1 500,00 ₸)");
    }

    #[test]
    fn local_token_refusals_use_the_server_words() {
        let m = Message::for_token_error(&TokenError::Invalid("signature"));
        assert_eq!(m.code, Some("token_invalid"));
        assert_eq!(Message::for_token_error(&TokenError::UnknownKey(3)).code, Some("unknown_key"));
    }
}
