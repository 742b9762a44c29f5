//! The till's sentences with figures or names in them, one function each, in both languages.

use azyq_shared::api::{BasketStatus, PaymentMethod, Unit};
use azyq_shared::gs1::Gs1Error;
use azyq_shared::Tiyn;

use super::{group_thousands, lower_first, money, per_unit, percent, Lang, T};
use crate::app::basket::Field;
use crate::client::{CaFileError, CertificateProblem};
use crate::qr::QrError;

/// A field of the line editor, as a message names it.
pub fn field_name(lang: Lang, field: Field) -> &'static str {
    match field {
        Field::Quantity => lang.pick("количество", "саны"),
        Field::Shelf => lang.pick("цена на полке", "сөредегі баға"),
        Field::Reduced => lang.pick("цена со скидкой", "жеңілдікпен баға"),
    }
}

pub fn method_name(lang: Lang, m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => T::Cash.get(lang),
        PaymentMethod::Card => T::Card.get(lang),
    }
}

/// A basket's state as the end of "Покупка …" / "Сатып алу …".
pub fn basket_status(lang: Lang, status: BasketStatus) -> &'static str {
    match status {
        BasketStatus::Authorized => lang.pick("ещё не оплачена", "әлі төленбеген"),
        BasketStatus::Captured => lang.pick("уже оплачена", "төленіп қойған"),
        BasketStatus::Cancelled => lang.pick("отменена", "бас тартылған"),
        BasketStatus::HoldExpired => lang.pick("отменена: время резерва истекло", "бас тартылған: резерв уақыты өтті"),
        BasketStatus::PartlyRefunded => lang.pick("частично возвращена", "ішінара қайтарылған"),
        BasketStatus::Refunded => lang.pick("полностью возвращена", "толық қайтарылған"),
    }
}

/// "Строка 2: скидка …" / "2-жол: жеңілдік …" (`n` from 1, as on the screen and the receipt).
pub fn line_says(lang: Lang, n: usize, text: &str) -> String {
    match lang {
        Lang::Ru => format!("Строка {n}: {}", lower_first(text)),
        Lang::Kk => format!("{n}-жол: {}", lower_first(text)),
    }
}

/// "Строка 3: Яйца С1" / "3-жол: Яйца С1": a line and its product.
pub fn line_named(lang: Lang, n: usize, name: &str) -> String {
    lang.pick(format!("Строка {n}: {name}"), format!("{n}-жол: {name}"))
}

/// A failed request's message behind what the till was doing: "Отчёт не получен: нет связи …".
pub fn failed_because(what: &str, cause: &str) -> String {
    format!("{what}: {}", lower_first(cause))
}

pub fn basket_no(lang: Lang, id: i64) -> String {
    format!("{} № {id}", lang.pick("Покупка", "Сатып алу"))
}

pub fn shop_named(lang: Lang, shop: &str) -> String {
    lang.pick(format!("магазин {shop}"), format!("{shop} дүкені"))
}

pub fn catalog_updated(lang: Lang, products: usize) -> String {
    lang.pick(format!("Каталог обновлён: {products} товаров"), format!("Каталог жаңартылды: {products} тауар"))
}

pub fn voucher_found(lang: Lang, holder: &str, month: &str, balance: Tiyn) -> String {
    let available = T::Available.get(lang);
    format!("{} {holder}, {month}: {available} {}", T::Voucher.get(lang), money(balance))
}

/// "Ваучер А*** Б***: срок …", a voucher's own refusal.
pub fn voucher_says(lang: Lang, holder: &str, text: &str) -> String {
    format!("{} {holder}: {}", T::Voucher.get(lang), lower_first(text))
}

pub fn code_not_read(lang: Lang, err: &Gs1Error) -> String {
    format!("{}: {}", T::CodeNotRead.get(lang), gs1_error(lang, err))
}

/// Why a scanned product code was refused. The Russian words are the shared crate's own.
pub fn gs1_error(lang: Lang, err: &Gs1Error) -> String {
    if lang == Lang::Ru {
        return err.to_string();
    }
    match err {
        Gs1Error::Empty => "код бос — қайта сканерлеңіз".to_owned(),
        Gs1Error::TooLong => "код тым ұзын".to_owned(),
        Gs1Error::NotGs1 => "бұл таңбалау коды да, тауардың штрихкоды да емес".to_owned(),
        Gs1Error::BadCharacter { ch } if ('\u{0400}'..='\u{04FF}').contains(ch) => {
            "сканер орыс әріптерін енгізді — пернетақта тілін ағылшыншаға ауыстырыңыз".to_owned()
        }
        Gs1Error::BadCharacter { .. } => "кодта рұқсат етілмеген таңба бар".to_owned(),
        Gs1Error::UnknownAi { ai } => format!("кодта белгісіз идентификатор бар ({ai})"),
        Gs1Error::DuplicateAi { ai } => format!("({ai}) идентификаторы кодта қайталанады"),
        Gs1Error::BadLength { ai: Some(ai) } => format!("кодтағы ({ai}) өрісінің ұзындығы қате"),
        Gs1Error::BadLength { ai: None } => "штрихкодтың ұзындығы қате".to_owned(),
        Gs1Error::MissingGtin => "кодта тауардың GTIN-і (01) жоқ".to_owned(),
        Gs1Error::GtinCheckDigit => "GTIN-нің бақылау цифры қате".to_owned(),
        Gs1Error::BadDate => "кодтағы жарамдылық мерзімінің күні қате".to_owned(),
        Gs1Error::LabelCheckDigit => "салмақ жапсырмасының бақылау цифры қате".to_owned(),
        Gs1Error::LabelZeroWeight => "салмақ жапсырмасында салмақ нөлге тең".to_owned(),
    }
}

/// A refund asked again for a line refunded before (409 `basket_state` with `line`).
pub fn line_refunded(lang: Lang, n: usize) -> String {
    lang.pick(format!("Строка {n} этой покупки уже возвращена"), format!("Бұл сатып алудың {n}-жолы қайтарылып қойған"))
}

/// "Покупка полностью возвращена": the state that refused the action.
pub fn basket_is(lang: Lang, status: BasketStatus) -> String {
    format!("{} {}", T::Basket.get(lang), basket_status(lang, status))
}

pub fn with_available(lang: Lang, what: &str, balance: Tiyn) -> String {
    format!("{what} ({} {})", T::Available.get(lang), money(balance))
}

pub fn with_max_discount(lang: Lang, what: &str, max: Tiyn, unit: Option<Unit>) -> String {
    match lang {
        Lang::Ru => format!("{what} (не больше {} {})", money(max), per_unit(lang, unit)),
        Lang::Kk => format!("{what} (ең көбі {} {})", per_unit(lang, unit), money(max)),
    }
}

pub fn with_max_percent(lang: Lang, what: &str, cap_bp: i64) -> String {
    match lang {
        Lang::Ru => format!("{what} (не больше {}% цены на полке)", percent(cap_bp)),
        Lang::Kk => format!("{what} (ең көбі сөредегі бағаның {}%)", percent(cap_bp)),
    }
}

/// A line's shelf price is over the region's limit: said before the basket is sent, which it is not.
pub fn over_limit(lang: Lang, max: Tiyn, unit: Option<Unit>) -> String {
    match lang {
        Lang::Ru => format!("цена на полке выше предельной (не больше {} {})", money(max), per_unit(lang, unit)),
        Lang::Kk => format!("сөредегі баға шекті бағадан жоғары (ең көбі {} {})", per_unit(lang, unit), money(max)),
    }
}

/// The price limit as the line editor states it: "Предельная цена: 520,00 ₸ за шт".
pub fn limit_rule(lang: Lang, max: Tiyn, unit: Unit) -> String {
    match lang {
        Lang::Ru => format!("Предельная цена на полке: {} {}", money(max), per_unit(lang, Some(unit))),
        Lang::Kk => format!("Сөредегі шекті баға: {} {}", per_unit(lang, Some(unit)), money(max)),
    }
}

/// A server's `price_over_limit` with the limit it named.
pub fn with_max_shelf(lang: Lang, what: &str, max: Tiyn, unit: Option<Unit>) -> String {
    match lang {
        Lang::Ru => format!("{what} (не больше {} {})", money(max), per_unit(lang, unit)),
        Lang::Kk => format!("{what} (ең көбі {} {})", per_unit(lang, unit), money(max)),
    }
}

/// A line from a scale label whose quantity was changed: the label's weight stands.
pub fn label_weight(lang: Lang, grams: i64) -> String {
    let g = group_thousands(grams);
    lang.pick(format!("вес — с этикетки весов: {g} г"), format!("салмағы — таразы жапсырмасынан: {g} г"))
}

/// Recalled goods, with the recall's reason (the operator's words, as given).
pub fn recalled(lang: Lang, reason: &str) -> String {
    lang.pick(format!("Товар отозван: {reason}"), format!("Тауар кері қайтарылған: {reason}"))
}

/// One batch of the goods is recalled, and the scanned code names no batch to tell.
pub fn batch_recalled(lang: Lang, batch: &str, reason: &str) -> String {
    lang.pick(
        format!("Партия {batch} этого товара отозвана: {reason}"),
        format!("Бұл тауардың {batch} партиясы кері қайтарылған: {reason}"),
    )
}

/// A server refusal with the reason it gave (`product_recalled`).
pub fn with_reason(lang: Lang, what: &str, reason: &str) -> String {
    lang.pick(format!("{what}: {reason}"), format!("{what}: {reason}"))
}

/// The discount a line's prices ask is over the cap: said before the basket is sent.
pub fn over_cap(lang: Lang, max: Tiyn, unit: Unit) -> String {
    with_max_discount(lang, lang.pick("Скидка больше допустимой", "Жеңілдік рұқсат етілгеннен көп"), max, Some(unit))
}

/// A price field's label: "Цена на полке за кг, ₸" for goods by weight, "Цена на полке, ₸" else.
pub fn price_label(lang: Lang, label: T, unit: Unit) -> String {
    match (unit, lang) {
        (Unit::Piece, _) => format!("{}, ₸", label.get(lang)),
        (Unit::Kg, Lang::Ru) => format!("{} за кг, ₸", label.get(lang)),
        (Unit::Kg, Lang::Kk) => format!("{} (кг үшін), ₸", label.get(lang)),
    }
}

/// The cap as the line editor states it: "Макс. скидка: 15% цены на полке".
pub fn cap_rule(lang: Lang, cap_bp: i32) -> String {
    let p = percent(i64::from(cap_bp));
    lang.pick(format!("Макс. скидка: {p}% цены на полке"), format!("Ең көп жеңілдік: сөредегі бағаның {p}%"))
}

pub fn server_status(lang: Lang, status: u16) -> String {
    lang.pick(format!("Сервер ответил ошибкой {status}"), format!("Сервер {status} қатесімен жауап берді"))
}

pub fn outcome_unknown(lang: Lang, what: &str, cause: &str) -> String {
    lang.pick(
        format!("{what}: {cause}, неизвестно, прошла ли операция"),
        format!("{what}: {cause}, операцияның өткені белгісіз"),
    )
}

pub fn press_to_retry(lang: Lang, key: &str) -> String {
    lang.pick(
        format!("Нажмите {key}, чтобы повторить: повтор не спишет деньги дважды"),
        format!("Қайталау үшін {key} басыңыз: қайталау ақшаны екі рет есептен шығармайды"),
    )
}

pub fn line_not_filled(lang: Lang, n: usize, name: &str) -> String {
    lang.pick(format!("Строка {n} ({name}) не заполнена"), format!("{n}-жол ({name}) толтырылмаған"))
}

pub fn field_empty(lang: Lang, label: &str) -> String {
    lang.pick(format!("Не заполнено поле «{label}»"), format!("«{label}» өрісі толтырылмаған"))
}

pub fn refund_done(lang: Lang, basket_id: i64, refunded: Tiyn) -> String {
    lang.pick(
        format!("Возврат по покупке {basket_id} проведён: {} вернулось на ваучер", money(refunded)),
        format!("Сатып алу № {basket_id} бойынша қайтару жүргізілді: ваучерге {} қайтарылды", money(refunded)),
    )
}

/// "Возврат № 5 по покупке № 41: возвращена полностью".
pub fn refund_record(lang: Lang, refund_id: i64, basket_id: i64, status: &str) -> String {
    lang.pick(
        format!("Возврат № {refund_id} по покупке № {basket_id}: {status}"),
        format!("Сатып алу № {basket_id} бойынша қайтару № {refund_id}: {status}"),
    )
}

pub fn voucher_charged(lang: Lang, voucher_id: i64, charged: Tiyn, balance: Tiyn) -> String {
    lang.pick(
        format!("Ваучер {voucher_id}: списано {}, остаток {}", money(charged), money(balance)),
        format!("Ваучер {voucher_id}: есептен шығарылды {}, қалдық {}", money(charged), money(balance)),
    )
}

pub fn voucher_balance(lang: Lang, voucher_id: i64, balance: Tiyn) -> String {
    format!("{} {voucher_id}: {} {}", T::Voucher.get(lang), lang.pick("остаток", "қалдық"), money(balance))
}

/// The hold's time left on the payment screen.
pub fn hold_left(lang: Lang, minutes: i64, seconds: i64) -> String {
    lang.pick(
        format!("Резерв скидки действует ещё {minutes}:{seconds:02}"),
        format!("Жеңілдік резерві тағы {minutes}:{seconds:02} жарамды"),
    )
}

pub fn hold_until(lang: Lang, at: &str) -> String {
    lang.pick(format!("Резерв скидки действует до {at}"), format!("Жеңілдік резерві {at} дейін жарамды"))
}

pub fn qr_until(lang: Lang, time: &str) -> String {
    lang.pick(format!("QR до {time}"), format!("QR {time} дейін"))
}

/// The quit question, with what would be lost or left behind.
pub fn quit_unsent(lang: Lang, lines: usize, vouchers: usize) -> String {
    lang.pick(
        format!("Покупка не отправлена и пропадёт (строк:\u{a0}{lines}, ваучеров:\u{a0}{vouchers})."),
        format!("Сатып алу жіберілмеген және жоғалады (жолдар:\u{a0}{lines}, ваучерлер:\u{a0}{vouchers})."),
    )
}

pub fn quit_unpaid(lang: Lang, basket_id: i64) -> String {
    lang.pick(
        format!("Покупка № {basket_id} не оплачена: резерв скидки снимется сам через 10 минут."),
        format!("Сатып алу № {basket_id} төленбеген: жеңілдік резерві 10 минуттан кейін өзі алынады."),
    )
}

/// A headless step that failed: "QR-код 2".
pub fn qr_number(n: usize) -> String {
    format!("QR-код {n}")
}

pub fn authorized_not_paid(lang: Lang, basket_id: i64, failure: &str) -> String {
    lang.pick(
        format!("покупка {basket_id} авторизована, но не оплачена: {failure}"),
        format!("сатып алу {basket_id} авторизацияланды, бірақ төленбеді: {failure}"),
    )
}

pub fn retrying(lang: Lang, what: &str, cause: &str, attempt: u32, of: u32) -> String {
    lang.pick(
        format!("{what}: ответ не получен ({cause}), повтор {attempt} из {of} с тем же ключом"),
        format!("{what}: жауап алынбады ({cause}), сол кілтпен қайталау: {attempt}/{of}"),
    )
}

/// A `--line` that is not CODE:QTY:SHELF:REDUCED, in both languages: the command line is read
/// before `--lang` is.
pub fn line_usage() -> String {
    "строка покупки — КОД:КОЛИЧЕСТВО:ЦЕНА:ЦЕНА_СО_СКИДКОЙ (цены в тиынах) / \
     сатып алу жолы — КОД:САНЫ:БАҒА:ЖЕҢІЛДІКПЕН_БАҒА (бағалар тиынмен)"
        .to_owned()
}

/// A field of a `--line` that is not a whole number, in both languages (see [`line_usage`]).
pub fn not_a_whole_number(field: Field, text: &str) -> String {
    format!(
        "{} — целое число, а не «{text}» / {} — бүтін сан болуы керек, «{text}» емес",
        field_name(Lang::Ru, field),
        field_name(Lang::Kk, field)
    )
}

pub fn password_env(lang: Lang, var: &str) -> String {
    lang.pick(
        format!("задайте пароль кассира в переменной окружения {var}"),
        format!("кассирдің құпиясөзін {var} орта айнымалысында беріңіз"),
    )
}

/// The server's certificate was refused: why, and that nothing left the till.
pub fn certificate_refused(lang: Lang, problem: CertificateProblem) -> String {
    let why = match problem {
        CertificateProblem::UnknownIssuer => lang.pick(
            "он выдан удостоверяющим центром, которому касса не доверяет",
            "оны касса сенбейтін куәландырушы орталық берген",
        ),
        CertificateProblem::Expired => lang
            .pick("срок его действия истёк или ещё не начался", "оның жарамдылық мерзімі өткен немесе әлі басталмаған"),
        CertificateProblem::WrongName => lang.pick("он выдан для другого адреса", "ол басқа мекенжайға берілген"),
        CertificateProblem::Other => lang.pick("он не прошёл проверку", "ол тексеруден өтпеді"),
    };
    lang.pick(
        format!("Касса не доверяет сертификату сервера ({why}): соединение прервано, ничего не отправлено"),
        format!("Касса сервер сертификатына сенбейді ({why}): байланыс үзілді, ештеңе жіберілмеді"),
    )
}

/// A `--ca-cert` file the till cannot trust.
pub fn ca_cert_unusable(lang: Lang, path: &str, err: &CaFileError) -> String {
    match err {
        CaFileError::Unreadable(cause) => file_unreadable(lang, path, cause),
        CaFileError::NoCertificate => lang.pick(
            format!("в {path} нет сертификата PEM (-----BEGIN CERTIFICATE-----)"),
            format!("{path} ішінде PEM сертификаты жоқ (-----BEGIN CERTIFICATE-----)"),
        ),
        CaFileError::Unusable(cause) => lang.pick(
            format!("сертификат из {path} не годится как удостоверяющий центр: {cause}"),
            format!("{path} ішіндегі сертификат куәландырушы орталық ретінде жарамсыз: {cause}"),
        ),
    }
}

pub fn file_unreadable(lang: Lang, path: &str, cause: &str) -> String {
    lang.pick(format!("не удалось прочитать {path}: {cause}"), format!("{path} оқылмады: {cause}"))
}

pub fn not_a_time(lang: Lang, what: &str, cause: &str) -> String {
    lang.pick(format!("{what}: не время RFC 3339 ({cause})"), format!("{what}: RFC 3339 уақыты емес ({cause})"))
}

pub fn not_json(lang: Lang, cause: &str) -> String {
    lang.pick(format!("ответ не записан в JSON: {cause}"), format!("жауап JSON-ға жазылмады: {cause}"))
}

/// Why no token came out of a QR image. The Russian words are the reader's own.
pub fn qr_error(lang: Lang, err: &QrError) -> String {
    match (lang, err) {
        (Lang::Ru, _) => err.to_string(),
        (Lang::Kk, QrError::Image(cause)) => format!("PNG суреті оқылмады: {cause}"),
        (Lang::Kk, QrError::NotFound) => "суретте QR-код табылмады".to_owned(),
        (Lang::Kk, QrError::Unreadable(cause)) => format!("QR-код табылды, бірақ оқылмайды: {cause}"),
    }
}
