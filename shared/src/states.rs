//! The states and kinds the service stores as text, each an enum whose names are spelled in one
//! place ([`text_enum!`]); with the `server` feature each is also a diesel type (TEXT on both
//! databases), so a status column is read and written only through its enum and no string spells
//! a state outside it. [`Tiyn`](crate::Tiyn) is a diesel BIGINT the same way.

use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use utoipa::ToSchema;

/// Declares an enum stored as text: serde's snake_case names, `as_str`, `parse`, `ALL`, and (server
/// feature) its diesel mapping.
macro_rules! text_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "server", derive(ToSchema, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "server", diesel(sql_type = diesel::sql_types::Text))]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialised name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "server")]
        mod_sql::text_sql!($name);
    };
}

#[cfg(feature = "server")]
mod mod_sql {
    /// ToSql and FromSql of a text enum, for SQLite and PostgreSQL.
    macro_rules! text_sql {
        ($name:ident) => {
            impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
            where
                DB: diesel::backend::Backend,
                str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
            {
                fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
                    <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
                }
            }

            impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
            where
                DB: diesel::backend::Backend,
                String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
            {
                fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                    let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                    $name::parse(&text).ok_or_else(|| format!("{} is not a {}", text, stringify!($name)).into())
                }
            }
        };
    }
    pub(crate) use text_sql;

    use crate::Tiyn;

    impl<DB> diesel::serialize::ToSql<diesel::sql_types::BigInt, DB> for Tiyn
    where
        DB: diesel::backend::Backend,
        i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    {
        fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
            <i64 as diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>>::to_sql(self.as_i64_ref(), out)
        }
    }

    impl<DB> diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB> for Tiyn
    where
        DB: diesel::backend::Backend,
        i64: diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB>,
    {
        fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
            Ok(Tiyn::new(<i64 as diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB>>::from_sql(bytes)?))
        }
    }
}

text_enum! {
    /// Who a staff session is.
    pub enum Role {
        Operator = "operator",
        Viewer = "viewer",
        Cashier = "cashier",
    }
}

text_enum! {
    /// How a product is sold: by the piece, or by weight (quantities in grams, prices per kg).
    pub enum Unit {
        Piece = "piece",
        Kg = "kg",
    }
}

text_enum! {
    /// `issued → activated → exhausted`; `issued → lapsed`; `activated → expired` (SPEC §2).
    pub enum VoucherStatus {
        Issued = "issued",
        Activated = "activated",
        Exhausted = "exhausted",
        Lapsed = "lapsed",
        Expired = "expired",
    }
}

text_enum! {
    /// `authorized → captured → (partly) refunded`; `authorized → cancelled | hold_expired`.
    pub enum BasketStatus {
        Authorized = "authorized",
        Captured = "captured",
        Cancelled = "cancelled",
        HoldExpired = "hold_expired",
        PartlyRefunded = "partly_refunded",
        Refunded = "refunded",
    }
}

text_enum! {
    /// How the customer paid the reduced total.
    pub enum PaymentMethod {
        Cash = "cash",
        Card = "card",
    }
}

text_enum! {
    /// The family-month state machine: `listed → no_phone | sms_sent → reminded → consented |
    /// refused | no_answer`.
    pub enum FamilyStatus {
        Listed = "listed",
        NoPhone = "no_phone",
        SmsSent = "sms_sent",
        Reminded = "reminded",
        Consented = "consented",
        Refused = "refused",
        NoAnswer = "no_answer",
    }
}

impl FamilyStatus {
    /// Still waiting for the applicant's answer.
    pub const AWAITING: [FamilyStatus; 3] = [FamilyStatus::Listed, FamilyStatus::SmsSent, FamilyStatus::Reminded];
}

text_enum! {
    /// A family's standing consent (annex: it holds for the period of the service): given by `21*1`,
    /// withdrawn by `21*2`, ended with the programme (SPEC §2.8).
    pub enum ConsentStatus {
        Given = "given",
        Withdrawn = "withdrawn",
        Ended = "ended",
    }
}

text_enum! {
    /// What a wallet notice tells the family (SW p.4, p.7; SPEC §2.5).
    pub enum NoticeKind {
        VouchersIssued = "vouchers_issued",
        ConsentRecorded = "consent_recorded",
        ConsentWithdrawn = "consent_withdrawn",
        MonthEndsSoon = "month_ends_soon",
    }
}

text_enum! {
    /// A month is open until its close (SPEC §2.7).
    pub enum MonthStatus {
        Open = "open",
        Closed = "closed",
    }
}

text_enum! {
    /// What the service owes another party (SPEC §6, deliveries): a complaint for e-Otinish, a
    /// day's report for the ministry, a month's SDU return.
    pub enum DeliveryKind {
        Complaint = "complaint",
        DailyReport = "daily_report",
        SduReturn = "sdu_return",
    }
}

text_enum! {
    /// An SMS in the outbox: `pending` (to send, or to try again after a failure or an outcome
    /// that was not known), `sending` (claimed by a sender, under a lease), `sent` (final).
    pub enum SmsStatus {
        Pending = "pending",
        Sending = "sending",
        Sent = "sent",
    }
}

text_enum! {
    /// A delivery's state: `pending` (not tried yet, or its last try's outcome was unknown and is
    /// being resolved), `failed` (the last try failed; retried with back-off, never dropped),
    /// `delivered` (final).
    pub enum DeliveryStatus {
        Pending = "pending",
        Failed = "failed",
        Delivered = "delivered",
    }
}

text_enum! {
    /// What the signals report counts per shop (SPEC §6, what SNAP's retailer screening looks for).
    pub enum SignalCode {
        /// A shelf price refused `price_over_limit`.
        PriceOverLimit = "price_over_limit",
        /// A basket whose every line's discount is exactly the most its cap allows.
        AtCap = "at_cap",
        /// A voucher of the basket was in a basket at another shop minutes before.
        TwoShops = "two_shops",
        /// The third small basket of one voucher at one shop in one business day.
        SmallBaskets = "small_baskets",
        /// A basket of a voucher whose hold at this or another till ran out minutes before.
        AfterHoldExpired = "after_hold_expired",
        /// A basket whose discount is a round sum.
        RoundSum = "round_sum",
        /// A basket authorised outside the usual shop hours (Almaty time).
        OutsideHours = "outside_hours",
        /// An offline sale whose discount the voucher could not cover in full (SPEC §3.9).
        OfflineShortfall = "offline_shortfall",
        /// A token used in an offline sale and in another sale (online or offline).
        TokenTwice = "token_twice",
    }
}

text_enum! {
    /// What became of one uploaded offline sale (SPEC §3.9).
    pub enum OfflineSaleStatus {
        /// Charged in full.
        Applied = "applied",
        /// Charged what the vouchers had left; the rest is the shop's shortfall.
        AppliedShort = "applied_short",
        /// A token of the sale was already used; charged within the balance all the same.
        DuplicateToken = "duplicate_token",
        /// A rule was broken (or the sale could not be read): nothing charged.
        Refused = "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in BasketStatus::ALL {
            assert_eq!(BasketStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for s in FamilyStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for s in VoucherStatus::ALL.iter().chain([].iter()) {
            assert_eq!(VoucherStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Unit::parse("kg"), Some(Unit::Kg));
        assert_eq!(Unit::parse("litre"), None);
        assert_eq!(Role::parse("viewer"), Some(Role::Viewer));
        assert_eq!(MonthStatus::Closed.to_string(), "closed");
        assert_eq!(DeliveryKind::parse("daily_report"), Some(DeliveryKind::DailyReport));
        for s in DeliveryStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
    }
}
