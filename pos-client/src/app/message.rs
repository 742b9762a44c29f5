//! What the cashier reads when something goes wrong, or goes right: what happened, what to do
//! next, for every API error code (with its details), every client failure and local refusal.

use azyq_shared::api::{BasketStatus, ErrorCode, Unit};
use azyq_shared::token::TokenError;
use azyq_shared::Tiyn;

use super::explain::explain;
use crate::client::ClientError;
use crate::i18n::{self, Lang, Phrase, T};

/// How a message is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Error,
    Info,
    Done,
}

/// A message for the cashier: what happened, what to do, the key that does it, and the stable
/// code where there is one. Its words are in both languages (see [`Phrase`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tone: Tone,
    pub what: Phrase,
    pub todo: Phrase,
    /// The till's key that does `todo`, shown after it on the screen only.
    pub key: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl Message {
    fn new(tone: Tone, what: impl Into<Phrase>, todo: impl Into<Phrase>) -> Message {
        Message { tone, what: what.into(), todo: todo.into(), key: None, code: None }
    }

    pub fn error(what: impl Into<Phrase>, todo: impl Into<Phrase>) -> Message {
        Message::new(Tone::Error, what, todo)
    }

    pub fn info(what: impl Into<Phrase>, todo: impl Into<Phrase>) -> Message {
        Message::new(Tone::Info, what, todo)
    }

    pub fn done(what: impl Into<Phrase>, todo: impl Into<Phrase>) -> Message {
        Message::new(Tone::Done, what, todo)
    }

    /// The message for an API error code, without details.
    pub fn for_code(code: ErrorCode) -> Message {
        let key = explain(code, Lang::Ru).key;
        Message {
            key,
            code: Some(code.as_str()),
            ..Message::error(
                Phrase::new(|lang| explain(code, lang).what.to_owned()),
                Phrase::new(|lang| explain(code, lang).todo.to_owned()),
            )
        }
    }

    /// The message for a failed request, with the details the server gave (line, balance, cap);
    /// `unit` is the unit of the line the error names, where the till knows it.
    pub fn for_client_error(err: &ClientError, unit: Option<Unit>) -> Message {
        match err {
            ClientError::Api { .. } => {
                let Some(code) = err.code() else {
                    return Message::error(T::ServerError, T::Retry);
                };
                let mut m = Message::for_code(code);
                let line = err.detail_i64("line").map(|l| usize::try_from(l.saturating_add(1)).unwrap_or(0));
                if let (ErrorCode::BasketState, Some(n)) = (code, line) {
                    // The only basket_state that names a line: a refund of a line refunded before.
                    m.what = Phrase::new(|lang| i18n::line_refunded(lang, n));
                    m.todo = T::LineRefundedTodo.into();
                    return m;
                }
                if let Some(status) = err.detail_str("status").and_then(BasketStatus::parse) {
                    m.what = Phrase::new(|lang| i18n::basket_is(lang, status));
                }
                if let Some(n) = line {
                    m.what = m.what.map(|lang, what| i18n::line_says(lang, n, what));
                }
                if let Some(field) = err.detail_str("field").and_then(super::basket::Field::of_api) {
                    m.what = m.what.map(|lang, what| format!("{what} ({})", field.name(lang)));
                }
                if let Some(balance) = err.detail_i64("balance_tiyn") {
                    m.what = m.what.map(|lang, what| i18n::with_available(lang, what, Tiyn::new(balance)));
                }
                if let Some(max) = err.detail_i64("max_shelf_price_tiyn") {
                    m.what = m.what.map(|lang, what| i18n::with_max_shelf(lang, what, Tiyn::new(max), unit));
                }
                if let (ErrorCode::ProductRecalled, Some(reason)) = (code, err.detail_str("reason")) {
                    let reason = reason.to_owned();
                    m.what = m.what.map(|lang, what| i18n::with_reason(lang, what, &reason));
                }
                if let Some(max) = err.detail_i64("max_discount_tiyn") {
                    m.what = m.what.map(|lang, what| i18n::with_max_discount(lang, what, Tiyn::new(max), unit));
                } else if let Some(cap) = err.detail_i64("cap_bp") {
                    m.what = m.what.map(|lang, what| i18n::with_max_percent(lang, what, cap));
                }
                m
            }
            ClientError::Http { status } => {
                Message::error(Phrase::new(|lang| i18n::server_status(lang, *status)), T::WaitMinuteRetry)
            }
            ClientError::Timeout => Message::error(T::NoAnswerInTime, T::CheckLinkRetry),
            ClientError::Network(_) | ClientError::Unreachable(_) => Message::error(T::NoLink, T::CheckNetworkRetry),
            ClientError::Protocol(_) => Message::error(T::BadAnswer, T::RetryThenSupport),
            ClientError::Offline(cannot) => {
                let mut m = Message::error(Phrase::new(|lang| cannot.sentence(lang)), Phrase::default());
                m.code = Some(cannot.code());
                m
            }
            ClientError::Certificate(problem) => {
                Message::error(Phrase::new(|lang| i18n::certificate_refused(lang, *problem)), T::CertificateTodo)
            }
        }
    }

    /// A refund or a cancel that found no server: they need the link.
    pub fn needs_link() -> Message {
        Message::error(Phrase::new(i18n::needs_link), Phrase::default())
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
    pub fn unknown_outcome(what: T, err: &ClientError, retry_key: &'static str) -> Message {
        let cause = match err {
            ClientError::Timeout => T::CauseTimeout,
            ClientError::Network(_) | ClientError::Unreachable(_) => T::CauseNetwork,
            _ => T::CauseError,
        };
        Message::error(
            Phrase::new(|lang| i18n::outcome_unknown(lang, what.get(lang), cause.get(lang))),
            Phrase::new(|lang| i18n::press_to_retry(lang, retry_key)),
        )
    }

    /// The message as a script prints it: what and what to do, in one language, without keys.
    pub fn plain(&self, lang: Lang) -> String {
        match self.todo.plain(lang) {
            todo if todo.is_empty() => self.what.plain(lang),
            todo => format!("{}. {todo}", self.what.plain(lang)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::explain::tests::{names_a_key, ALL};
    use crate::client::CertificateProblem;
    use azyq_shared::api::{ErrorBody, ErrorDetail};

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
        let cap = api("discount_over_cap", serde_json::json!({"line": 1, "cap_bp": 1500}));
        let m = Message::for_client_error(&cap, None);
        assert_eq!(m.what.ru, "Строка 2: скидка на товар больше допустимой (не больше 15% цены на полке)");
        assert_eq!(m.what.kk, "2-жол: тауарға жеңілдік рұқсат етілгеннен көп (ең көбі сөредегі бағаның 15%)");
        assert_eq!((m.code, m.key), (Some("discount_over_cap"), Some("F4")));
        let per_kg = api("discount_over_cap", serde_json::json!({"line": 0, "max_discount_tiyn": 4500}));
        let m = Message::for_client_error(&per_kg, Some(Unit::Kg));
        assert!(m.what.ru.ends_with("(не больше 45,00\u{a0}₸ за кг)"), "{}", m.what.ru);
        assert!(m.what.kk.ends_with("(ең көбі кг үшін 45,00\u{a0}₸)"), "{}", m.what.kk);
        let m =
            Message::for_client_error(&api("insufficient_balance", serde_json::json!({"balance_tiyn": 150_000})), None);
        assert_eq!(m.plain(Lang::Ru), "На ваучерах не хватает денег на всю скидку (доступно 1 500,00 ₸). Уберите часть товаров или отсканируйте ваучер другого члена семьи");
        let m = Message::for_client_error(
            &api("validation", serde_json::json!({"line": 0, "field": "lines[0].quantity"})),
            None,
        );
        assert_eq!(m.what.ru, "Строка 1: сервер не принял данные (количество)");
    }

    #[test]
    fn a_refunded_line_and_a_basket_state_are_plain_sentences() {
        let m = Message::for_client_error(&api("basket_state", serde_json::json!({"line": 2})), None);
        assert_eq!(m.what.ru, "Строка 3 этой покупки уже возвращена");
        assert_eq!(m.what.kk, "Бұл сатып алудың 3-жолы қайтарылып қойған");
        assert_eq!(m.code, Some("basket_state"));
        let m = Message::for_client_error(&api("basket_state", serde_json::json!({"status": "refunded"})), None);
        assert_eq!(m.what.ru, "Покупка полностью возвращена");
    }

    #[test]
    fn a_refused_certificate_says_why_in_both_languages_and_is_no_unknown_outcome() {
        use CertificateProblem::*;
        let mut seen = Vec::new();
        for problem in [UnknownIssuer, Expired, WrongName, Other] {
            let err = ClientError::Certificate(problem);
            assert!(!err.outcome_unknown(), "nothing was sent: {problem:?}");
            let m = Message::for_client_error(&err, None);
            assert!(m.what.ru.starts_with("Касса не доверяет сертификату сервера ("), "{}", m.what.ru);
            assert!(m.what.kk.starts_with("Касса сервер сертификатына сенбейді ("), "{}", m.what.kk);
            assert!(m.todo.ru.contains("--ca-cert") && m.todo.kk.contains("--ca-cert"), "{m:?}");
            seen.push(m.what);
        }
        seen.dedup();
        assert_eq!(seen.len(), 4, "each problem has its own words: {seen:?}");
    }

    #[test]
    fn a_script_reads_no_key_in_any_error() {
        let mut errors: Vec<ClientError> = ALL.iter().map(|w| api(w, serde_json::json!({"line": 0}))).collect();
        errors.extend([
            ClientError::Http { status: 502 },
            ClientError::Timeout,
            ClientError::Network("reset".into()),
            ClientError::Protocol("eof".into()),
            ClientError::Certificate(CertificateProblem::UnknownIssuer),
        ]);
        for err in &errors {
            for lang in Lang::ALL {
                let text = Message::for_client_error(err, None).plain(lang);
                assert!(!names_a_key(&text), "{text}");
            }
        }
    }

    #[test]
    fn local_token_refusals_use_the_server_words() {
        let m = Message::for_token_error(&TokenError::Invalid("signature"));
        assert_eq!(m.code, Some("token_invalid"));
        assert_eq!(Message::for_token_error(&TokenError::UnknownKey(3)).code, Some("unknown_key"));
    }
}
