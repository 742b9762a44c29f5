//! What each SMS says. The start SMS and the confirmation are the annex's Russian texts word for
//! word (docs/regulations/annex-sms.txt; the information line filled in from a setting), with the
//! Kazakh beside them; the others say exactly what happened and what the family can still do.
//! Every text is Kazakh first, then Russian, in one message, kept as short as the annex allows:
//! the README's SMS table gives each one's length in UCS-2 segments.

use azyq_shared::Month;

/// What an SMS is for; the kind is stored and written to the sender's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The consent request of the 5th (annex p.1).
    Start,
    /// The repeat after 5 calendar days without an answer (Alg. p.20): the start SMS again.
    Reminder,
    /// The answer to `21*1` with the wallet link (annex p.2).
    Confirmation,
    /// To a family whose consent carried over: this month's vouchers are issued (SW p.4, p.7).
    VouchersIssued,
    /// The answer to `21*2` before any yes this month.
    Refusal,
    /// The answer to `21*2` after a yes: consent withdrawn.
    Withdrawal,
    /// The answer to anything else.
    Help,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Start,
        Kind::Reminder,
        Kind::Confirmation,
        Kind::VouchersIssued,
        Kind::Refusal,
        Kind::Withdrawal,
        Kind::Help,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Reminder => "reminder",
            Kind::Confirmation => "confirmation",
            Kind::VouchersIssued => "vouchers_issued",
            Kind::Refusal => "refusal",
            Kind::Withdrawal => "withdrawal",
            Kind::Help => "help",
        }
    }

    /// Whether the SMS goes only inside the daytime hours (`AZYQ_SMS_HOURS`). Answers to the
    /// family's own SMS go at once, at any hour.
    pub fn daytime_only(self) -> bool {
        matches!(self, Kind::Start | Kind::Reminder | Kind::VouchersIssued)
    }
}

/// One SMS with what its text needs to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Start,
    Reminder,
    Confirmation,
    VouchersIssued {
        month: Month,
    },
    Refusal {
        month: Month,
    },
    /// `spendable`: some of the month's vouchers were activated and can still be spent.
    Withdrawal {
        month: Month,
        spendable: bool,
    },
    Help,
}

impl Message {
    pub fn kind(self) -> Kind {
        match self {
            Message::Start => Kind::Start,
            Message::Reminder => Kind::Reminder,
            Message::Confirmation => Kind::Confirmation,
            Message::VouchersIssued { .. } => Kind::VouchersIssued,
            Message::Refusal { .. } => Kind::Refusal,
            Message::Withdrawal { .. } => Kind::Withdrawal,
            Message::Help => Kind::Help,
        }
    }
}

const MONTHS_RU: [&str; 12] = [
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
];
const MONTHS_KK: [&str; 12] = [
    "қаңтар",
    "ақпан",
    "наурыз",
    "сәуір",
    "мамыр",
    "маусым",
    "шілде",
    "тамыз",
    "қыркүйек",
    "қазан",
    "қараша",
    "желтоқсан",
];

/// "декабрь 2026".
pub fn month_ru(month: Month) -> String {
    format!("{} {}", MONTHS_RU[(month.month() as usize - 1) % 12], month.year())
}

/// "2026 жылғы желтоқсан".
pub fn month_kk(month: Month) -> String {
    format!("{} жылғы {}", month.year(), MONTHS_KK[(month.month() as usize - 1) % 12])
}

/// The month's last day as a family reads it: "31.12.2026".
pub fn last_day(month: Month) -> String {
    month.last_day().format("%d.%m.%Y").to_string()
}

/// The texts, with the settings they mention.
#[derive(Debug, Clone)]
pub struct Texts {
    /// The information line (the state contact centre, 1414, by default).
    pub info_phone: String,
    pub wallet_link: String,
}

impl Texts {
    /// The text of one SMS: Kazakh, then Russian.
    pub fn text(&self, message: Message) -> String {
        let (kk, ru) = self.parts(message);
        format!("{kk}\n{ru}")
    }

    /// The Kazakh and the Russian halves.
    pub fn parts(&self, message: Message) -> (String, String) {
        let phone = &self.info_phone;
        let link = &self.wallet_link;
        match message {
            Message::Start | Message::Reminder => (
                format!(
                    "Құрметті пайдаланушы! Отбасыңызға әлеуметтік маңызы бар азық-түлік тауарларына ваучер түрінде \
                     жеңілдік қолжетімді. Дербес деректерді өңдеуге келісім: 21*1 – «ИӘ», бас тарту: 21*2 – «ЖОҚ». \
                     Анықтама: {phone}."
                ),
                // Annex p.1, word for word.
                format!(
                    "Уважаемый пользователь!\n\
                     Вашей семье доступна скидка на социально значимые продовольственные товары в виде ваучера.\n\
                     Согласие или отказ на обработку персональных данных осуществляется следующей комбинацией: \
                     21*1 означает – \"ДА\", 21*2 означает – \"НЕТ\".\n\
                     Для получения детальной информации необходимо обратиться по номеру телефона {phone}"
                ),
            ),
            Message::Confirmation => (
                format!("Ваучерге келісіміңіз оң өңделді. Алу үшін eGov mobile-да тіркеліңіз: {link}"),
                // Annex p.2, word for word.
                format!(
                    "Ваше согласие на получение ваучера в \"социальном кошельке\" на социально значимые \
                     продовольственные товары обработано положительно. Для получения ваучера Вам необходимо \
                     зарегистрироваться в мобильном приложении eGov mobile перейдя по ссылке {link}"
                ),
            ),
            Message::VouchersIssued { month } => (
                format!(
                    "{} айына ваучерлер «Әлеуметтік әмиянда» шығарылды. Оларды {} қоса алғанда белсендіріңіз, \
                     әйтпесе күшін жояды. Бас тарту: 21*2. Анықтама: {phone}.",
                    month_kk(month),
                    last_day(month)
                ),
                format!(
                    "Ваучеры на {} выпущены в «Социальном кошельке». Активируйте их до {} включительно, иначе они \
                     сгорят. Отказ: 21*2. Справки: {phone}.",
                    month_ru(month),
                    last_day(month)
                ),
            ),
            Message::Refusal { month } => (
                format!(
                    "Бас тартуыңыз қабылданды: {} айына ваучер берілмейді. Ойыңыз өзгерсе, {} қоса алғанда 21*1 \
                     жіберіңіз. Анықтама: {phone}.",
                    month_kk(month),
                    last_day(month)
                ),
                format!(
                    "Ваш отказ принят: ваучеры на {} не выдаются. Передумаете — отправьте 21*1 до {} включительно. \
                     Справки: {phone}.",
                    month_ru(month),
                    last_day(month)
                ),
            ),
            Message::Withdrawal { month, spendable: true } => (
                format!(
                    "Бас тарту қабылданды. {} айының белсендірілмеген ваучерлері енді белсендірілмейді, \
                     белсендірілгендерімен {} дейін төлеуге болады. Келесі айларға келісім қайтарылды. \
                     Ойыңыз өзгерсе — 21*1. Анықтама: {phone}.",
                    month_kk(month),
                    last_day(month)
                ),
                format!(
                    "Отказ принят. Неактивированные ваучеры на {} больше не активировать, активированными можно \
                     платить до {} включительно. Согласие на следующие месяцы отозвано. Передумаете — 21*1. \
                     Справки: {phone}.",
                    month_ru(month),
                    last_day(month)
                ),
            ),
            Message::Withdrawal { month, spendable: false } => (
                format!(
                    "Бас тарту қабылданды: {} айының ваучерлері енді белсендірілмейді, келесі айларға келісім қайтарылды. \
                     Ойыңыз өзгерсе, {} дейін 21*1 жіберіңіз. Анықтама: {phone}.",
                    month_kk(month),
                    last_day(month)
                ),
                format!(
                    "Отказ принят: ваучеры на {} больше не активировать, согласие на следующие месяцы отозвано. \
                     Передумаете — отправьте 21*1 до {} включительно. Справки: {phone}.",
                    month_ru(month),
                    last_day(month)
                ),
            ),
            Message::Help => (
                format!("Жауап танылмады. Келісім: 21*1, бас тарту: 21*2. Анықтама: {phone}."),
                format!("Ответ не распознан. Согласие: 21*1, отказ: 21*2. Справки: {phone}."),
            ),
        }
    }
}

/// How many SMS segments a text takes in UCS-2 (Cyrillic and Kazakh letters need it): one SMS holds
/// 70 UTF-16 units, a concatenated one 67 per segment.
pub fn ucs2_segments(text: &str) -> usize {
    let units = text.encode_utf16().count();
    if units <= 70 {
        1
    } else {
        units.div_ceil(67)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Texts {
        let s = crate::config::Settings::default();
        Texts { info_phone: s.info_phone, wallet_link: s.wallet_link }
    }

    /// The most segments a kind of SMS takes over every month's wording, with the default settings.
    pub fn max_segments(texts: &Texts, kind: Kind) -> usize {
        (1..=12)
            .filter_map(|m| Month::new(2026, m).ok())
            .flat_map(|month| match kind {
                Kind::Start => vec![Message::Start],
                Kind::Reminder => vec![Message::Reminder],
                Kind::Confirmation => vec![Message::Confirmation],
                Kind::VouchersIssued => vec![Message::VouchersIssued { month }],
                Kind::Refusal => vec![Message::Refusal { month }],
                Kind::Withdrawal => {
                    vec![
                        Message::Withdrawal { month, spendable: true },
                        Message::Withdrawal { month, spendable: false },
                    ]
                }
                Kind::Help => vec![Message::Help],
            })
            .map(|m| ucs2_segments(&texts.text(m)))
            .max()
            .unwrap_or(0)
    }

    const ANNEX: &str = include_str!("../../../../docs/regulations/annex-sms.txt");

    fn squash(s: &str) -> String {
        s.split(|c: char| c.is_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
    }

    /// The quoted SMS text of the annex's item `n` ("1. SMS-сообщение…").
    fn annex_text(n: u32) -> String {
        let body: String = ANNEX.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        let start = body.find(&format!("{n}. SMS-сообщение")).expect("item in the annex");
        let rest = &body[start..];
        let end = rest.find(&format!("{}. SMS-сообщение", n + 1)).unwrap_or(rest.len());
        let item = &rest[..end];
        let open = item.find('"').expect("quoted text");
        let close = item.rfind("\".").expect("end of quoted text");
        squash(&item[open + 1..close])
    }

    #[test]
    fn start_and_reminder_are_the_annex_word_for_word() {
        let t = defaults();
        let expected = annex_text(1).replace("_________", &t.info_phone);
        for m in [Message::Start, Message::Reminder] {
            assert_eq!(squash(&t.parts(m).1), expected);
            assert!(t.parts(m).0.contains("21*1") && t.parts(m).0.contains("21*2") && t.parts(m).0.contains("1414"));
        }
        assert!(expected.contains("1414"), "the information line is filled in");
    }

    #[test]
    fn confirmation_is_the_annex_word_for_word() {
        let t = defaults();
        assert_eq!(squash(&t.parts(Message::Confirmation).1), annex_text(2));
        assert!(t.parts(Message::Confirmation).0.contains(&t.wallet_link));
    }

    #[test]
    fn the_copy_of_the_annex_matches_the_seed() {
        let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds/003_4960d662eea1fc2c.txt");
        let Ok(seed) = std::fs::read_to_string(&seed) else {
            // CI clones the project alone; the seed lies beside the checkout on the team's machines.
            return;
        };
        let copy: String = ANNEX.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
        assert!(seed.contains(&copy), "docs/regulations/annex-sms.txt differs from the seed");
    }

    #[test]
    fn every_reply_says_what_happened_and_what_is_left() {
        let t = defaults();
        let dec = Month::parse("2026-12").unwrap();
        let issued = t.text(Message::VouchersIssued { month: dec });
        assert!(issued.contains("декабрь 2026") && issued.contains("31.12.2026") && issued.contains("желтоқсан"));
        let refusal = t.text(Message::Refusal { month: dec });
        assert!(refusal.contains("21*1") && refusal.contains("31.12.2026"));
        let spend = t.text(Message::Withdrawal { month: dec, spendable: true });
        assert!(spend.contains("активированными можно платить до 31.12.2026"));
        let none = t.text(Message::Withdrawal { month: dec, spendable: false });
        assert!(!none.contains("платить") && none.contains("отозвано"));
    }

    #[test]
    fn segments_count_utf16_units() {
        assert_eq!(ucs2_segments(&"ы".repeat(70)), 1);
        assert_eq!(ucs2_segments(&"ы".repeat(71)), 2);
        assert_eq!(ucs2_segments(&"ы".repeat(134)), 2);
        assert_eq!(ucs2_segments(&"ы".repeat(135)), 3);
    }

    /// The README's SMS table gives each kind's length; it must say what the code sends.
    #[test]
    fn readme_lists_every_sms_with_its_segments() {
        let readme = include_str!("../../../../README.md");
        let t = defaults();
        let wrong: Vec<String> = Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let expected = max_segments(&t, kind);
                let row = readme.lines().find(|l| l.starts_with(&format!("| `{}` |", kind.as_str())));
                let given = row.and_then(|r| r.rsplit('|').nth(1)?.trim().parse::<usize>().ok());
                (given != Some(expected))
                    .then(|| format!("`{}`: README says {given:?}, the code sends {expected}", kind.as_str()))
            })
            .collect();
        assert!(wrong.is_empty(), "README's SMS table: {wrong:#?}");
    }
}
