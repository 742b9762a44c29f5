//! The daytime hours in which start SMS, reminders and issue notices may reach a phone
//! (`AZYQ_SMS_HOURS`, Almaty time, 10-20 by default): never at midnight (SPEC §2.3).

use azyq_shared::BusinessDay;
use chrono::{DateTime, Duration, Timelike, Utc};

use azyq_shared::ALMATY;

/// `from..to` hours of the Almaty day: an SMS may go from `from`:00 up to (not at) `to`:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsHours {
    from: u32,
    to: u32,
}

impl Default for SmsHours {
    fn default() -> Self {
        SmsHours { from: 10, to: 20 }
    }
}

impl SmsHours {
    /// `"10-20"`: whole hours, `from` before `to`, `to` at most 24.
    pub fn parse(s: &str) -> Result<SmsHours, String> {
        let bad = || format!("AZYQ_SMS_HOURS must be FROM-TO in whole Almaty hours, like 10-20 (got {s:?})");
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let from: u32 = a.trim().parse().map_err(|_| bad())?;
        let to: u32 = b.trim().parse().map_err(|_| bad())?;
        if from >= to || to > 24 {
            return Err(bad());
        }
        Ok(SmsHours { from, to })
    }

    /// Whether `t` lies inside the hours.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let hour = t.with_timezone(&ALMATY).hour();
        (self.from..self.to).contains(&hour)
    }

    /// `t` itself inside the hours, else the next opening: today's if it is still ahead, else
    /// tomorrow's.
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(t) {
            return t;
        }
        let day = BusinessDay::of(t);
        let today = day.start_instant() + Duration::hours(i64::from(self.from));
        if t < today {
            return today;
        }
        match day.date().succ_opt() {
            Some(next) => BusinessDay(next).start_instant() + Duration::hours(i64::from(self.from)),
            None => t,
        }
    }
}

impl std::fmt::Display for SmsHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.from, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses() {
        assert_eq!(SmsHours::parse("10-20").unwrap(), SmsHours::default());
        assert_eq!(SmsHours::parse(" 0-24 ").unwrap().to_string(), "0-24");
        for bad in ["", "10", "20-10", "10-10", "10-25", "a-b", "-1-5"] {
            assert!(SmsHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_daytime_in_almaty() {
        let h = SmsHours::default();
        // Almaty is UTC+5: 00:30 there is 19:30 UTC the day before.
        assert!(!h.contains(at("2026-12-04T19:30:00Z")));
        assert!(h.contains(at("2026-12-05T05:30:00Z"))); // 10:30
        assert!(h.contains(at("2026-12-05T14:59:59Z"))); // 19:59:59
        assert!(!h.contains(at("2026-12-05T15:00:00Z"))); // 20:00
    }

    #[test]
    fn next_opening() {
        let h = SmsHours::default();
        // 00:30 on the 5th → 10:00 the same day.
        assert_eq!(h.next_open(at("2026-12-04T19:30:00Z")), at("2026-12-05T05:00:00Z"));
        // 21:00 on the 5th → 10:00 on the 6th.
        assert_eq!(h.next_open(at("2026-12-05T16:00:00Z")), at("2026-12-06T05:00:00Z"));
        let inside = at("2026-12-05T06:00:00Z");
        assert_eq!(h.next_open(inside), inside);
    }
}
