//! Delivering SMS from the outbox: to a JSON-lines file (default) or an HTTP(S) gateway.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::jsonl::JsonLines;
use crate::config::SmsTarget;
use crate::domain::sms::Claimed;
use crate::tls::{transport_cause, Outbound};

/// What leaves the server for one SMS. `id` is the outbox id: a gateway deduplicates on it, so a
/// resend after an unknown outcome never reaches the phone twice.
#[derive(Debug, Serialize)]
struct Wire<'a> {
    id: i64,
    to: &'a str,
    text: &'a str,
    kind: &'a str,
    sent_at: DateTime<Utc>,
}

/// A way to deliver SMS.
pub trait Sender: Send + Sync {
    fn send(&self, sms: &Claimed, now: DateTime<Utc>) -> Result<(), String>;
    /// Whether an SMS whose attempt ended in silence got through: `Some` when the sender can tell.
    fn was_delivered(&self, id: i64) -> Option<bool>;
}

/// The sender for `target`; an HTTP gateway is reached through the server's one [`Outbound`].
pub fn from_target(target: &SmsTarget, outbound: &Outbound) -> Box<dyn Sender> {
    match target {
        SmsTarget::File(path) => Box::new(FileSender { file: JsonLines::new(path.clone(), "the SMS file") }),
        SmsTarget::Http(url) => {
            Box::new(HttpSender { url: url.clone(), agent: outbound.agent(Duration::from_secs(10)) })
        }
    }
}

/// Appends one JSON line per SMS and syncs it to disk before the outbox marks it sent.
pub struct FileSender {
    file: JsonLines,
}

impl Sender for FileSender {
    fn send(&self, sms: &Claimed, now: DateTime<Utc>) -> Result<(), String> {
        let line = serde_json::to_string(&Wire {
            id: sms.id,
            to: &sms.to_phone,
            text: &sms.text,
            kind: &sms.kind,
            sent_at: now,
        })
        .map_err(|e| e.to_string())?;
        self.file.append(line.as_bytes())
    }

    fn was_delivered(&self, id: i64) -> Option<bool> {
        Some(self.file.holds_id(id))
    }
}

/// Posts each SMS as JSON to the gateway; any 2xx is delivered.
pub struct HttpSender {
    url: String,
    agent: ureq::Agent,
}

impl Sender for HttpSender {
    fn send(&self, sms: &Claimed, now: DateTime<Utc>) -> Result<(), String> {
        let body = Wire { id: sms.id, to: &sms.to_phone, text: &sms.text, kind: &sms.kind, sent_at: now };
        match self.agent.post(&self.url).send_json(&body) {
            Ok(_) => Ok(()),
            // The error text of ureq may hold the URL but never the body, so no phone leaks.
            Err(ureq::Error::Status(code, _)) => Err(format!("gateway answered {code}")),
            Err(ureq::Error::Transport(t)) => Err(format!("gateway unreachable: {}", transport_cause(&t))),
        }
    }

    fn was_delivered(&self, _id: i64) -> Option<bool> {
        None
    }
}
