//! The words of the offline till: the banner, why it will not sell without the link, and what
//! needs the link.

use super::Lang;

/// The banner while the till sells without the server: `ОФЛАЙН` in both languages (the word the
/// cashiers are taught), and the sales waiting for upload.
pub fn offline_banner(lang: Lang, waiting: i64) -> String {
    lang.pick(
        format!(" ОФЛАЙН · нет связи с сервером · ждут отправки: {waiting} "),
        format!(" ОФЛАЙН · сервермен байланыс жоқ · жіберуді күтуде: {waiting} "),
    )
}

/// Back online, sales still being uploaded.
pub fn uploading_banner(lang: Lang, waiting: i64) -> String {
    lang.pick(
        format!(" Связь есть · отправляются продажи без связи: {waiting} "),
        format!(" Байланыс бар · байланыссыз сатылымдар жіберілуде: {waiting} "),
    )
}

/// The start of every refusal to sell offline.
fn cannot_sell(lang: Lang, why: &str) -> String {
    lang.pick(
        format!("Нет связи с сервером, и продать без связи нельзя: {why}"),
        format!("Сервермен байланыс жоқ, байланыссыз сатуға болмайды: {why}"),
    )
}

pub fn offline_no_session(lang: Lang) -> String {
    cannot_sell(
        lang,
        lang.pick(
            "этот кассир не входил на этой кассе со связью, или срок его входа истёк. Войдите, когда связь вернётся",
            "бұл кассир осы кассаға байланыспен кірмеген немесе кіру мерзімі өткен. Байланыс қалпына келгенде кіріңіз",
        ),
    )
}

pub fn offline_pack_missing(lang: Lang) -> String {
    cannot_sell(
        lang,
        lang.pick(
            "на кассе нет офлайн-пакета (касса получает его, пока связь есть)",
            "кассада офлайн-пакет жоқ (касса оны байланыс бар кезде алады)",
        ),
    )
}

pub fn offline_pack_stale(lang: Lang, until: &str) -> String {
    cannot_sell(
        lang,
        &lang.pick(
            format!("офлайн-пакет устарел (действовал до {until}); он обновится, когда связь вернётся"),
            format!("офлайн-пакеттің мерзімі өтті ({until} дейін жарамды болды); байланыс қалпына келгенде жаңарады"),
        ),
    )
}

pub fn offline_pack_forged(lang: Lang) -> String {
    cannot_sell(
        lang,
        lang.pick(
            "офлайн-пакет на кассе повреждён: подпись сервера не сходится. Сообщите администратору",
            "кассадағы офлайн-пакет бүлінген: сервер қолтаңбасы сәйкес келмейді. Әкімшіге хабарлаңыз",
        ),
    )
}

pub fn offline_pack_not_yet(lang: Lang) -> String {
    cannot_sell(
        lang,
        lang.pick(
            "офлайн-пакет выдан позже, чем показывают часы кассы: проверьте время на кассе",
            "офлайн-пакет касса сағатынан кейін берілген: кассадағы уақытты тексеріңіз",
        ),
    )
}

/// A refund or a cancel while the server cannot be reached.
pub fn needs_link(lang: Lang) -> String {
    lang.pick(
        "Возврат и отмена покупки делаются только при связи с сервером: повторите, когда связь вернётся".to_owned(),
        "Қайтару мен сатып алудан бас тарту тек сервермен байланыс болғанда жасалады: байланыс қалпына келгенде қайталаңыз"
            .to_owned(),
    )
}

/// The journal file could not be opened or written.
pub fn journal_failed(lang: Lang, cause: &str) -> String {
    lang.pick(format!("Журнал кассы недоступен: {cause}"), format!("Касса журналы қолжетімсіз: {cause}"))
}

/// A token of the first format offline: it carries no balance.
pub fn offline_format_one(lang: Lang) -> String {
    lang.pick(
        "QR-код старого вида не годится без связи (в нём нет остатка): попросите показать свежий QR-код".to_owned(),
        "Ескі үлгідегі QR-код байланыссыз жарамайды (онда қалдық жоқ): жаңа QR-кодты көрсетуін сұраңыз".to_owned(),
    )
}

/// Sold without the link: kept on the till, sent later.
pub fn sold_offline(lang: Lang) -> String {
    lang.pick(
        "Продано без связи: продажа сохранена на кассе и уйдёт на сервер, когда связь вернётся".to_owned(),
        "Байланыссыз сатылды: сатылым кассада сақталды, байланыс қалпына келгенде серверге жіберіледі".to_owned(),
    )
}

/// The title of an offline sale on the payment screen and the receipt (no basket number yet).
pub fn offline_sale(lang: Lang) -> String {
    lang.pick("Продажа без связи", "Байланыссыз сатылым").to_owned()
}

/// The payment screen of an offline sale, where an online one shows its hold.
pub fn paid_offline_is_final(lang: Lang) -> String {
    lang.pick(
        "Без связи: ничего не удержано; оплата запишет продажу на кассе окончательно",
        "Байланыссыз: ештеңе ұсталмаған; төлем сатылымды кассада түпкілікті жазады",
    )
    .to_owned()
}
