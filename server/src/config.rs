//! One `Settings` struct from an optional TOML file and the environment, read once at start.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Blocking threads by default. Each keeps its stack and its allocator's thread cache for as long as
/// it lives, so under till load every thread costs memory whether it works or waits: with 64 of
/// them the server's peak on a month of 1 000 000 vouchers was 63-68 MB, with 24 of them 50-52 MB
/// (issue 19, `tools/load/memory-bench.sh`, 64 tills; the 64 MB target met only with 24). On SQLite
/// the tills' transitions no longer take one (they await the writer thread as tasks), so 24 cost
/// the yardstick nothing: 871 / 928 sales/s against 885 / 806 with 64 (README, Performance); before,
/// fewer threads than busy tills meant smaller group commits (0.87×). `AZYQ_BLOCKING_THREADS`
/// raises it where memory is not short. A pool bigger than 12 (PostgreSQL) gets twice its size.
pub const DEFAULT_BLOCKING_THREADS: usize = 24;

/// Everything the server can be told. Secrets come from the environment or a file kept out of the repo.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://azyq.db` (default) or `postgres://…`.
    pub database_url: String,
    /// Address to listen on.
    pub listen: String,
    /// `AZYQ_TLS_CERT`: the PEM certificate chain `serve` presents; with `tls_key`, it speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// `AZYQ_TLS_KEY`: the PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `AZYQ_OUTBOUND_CA_CERT`: a PEM CA that outbound senders trust besides the web PKI's, for
    /// gateways with certificates of a private CA.
    pub outbound_ca_cert: Option<PathBuf>,
    /// HS256 secret of the identity provider whose JWTs the wallet endpoints accept.
    pub wallet_jwt_secret: Option<String>,
    /// Or its Ed25519 public key (PEM) for EdDSA JWTs.
    pub wallet_jwt_public_key: Option<String>,
    /// Shared secret the SMS gateway sends in `X-Gateway-Secret`.
    pub sms_gateway_secret: Option<String>,
    /// `file:PATH` or `http:URL` (URL is `http://…` or `https://…`; a bare URL is taken too).
    pub sms_sender: String,
    /// `AZYQ_OTINISH_SENDER`: where complaints go to e-Otinish, `file:PATH` or `http:URL`; by
    /// default `otinish-outbox.jsonl` beside the SMS outbox file.
    pub otinish_sender: Option<String>,
    /// `AZYQ_REPORT_DELIVERY`: where the daily reports and SDU returns go, `file:PATH` or
    /// `http:URL`; by default `report-deliveries.jsonl` beside the SMS outbox file.
    pub report_delivery: Option<String>,
    /// Link to the wallet sent in the confirmation SMS.
    pub wallet_link: String,
    /// `AZYQ_INFO_PHONE`: the information line named in the SMS (the state contact centre, 1414).
    pub info_phone: String,
    /// `AZYQ_SMS_HOURS`: the Almaty hours in which start SMS, reminders and issue SMS go out,
    /// `FROM-TO` (default 10-20: from 10:00 up to 20:00).
    pub sms_hours: String,
    /// Seconds between scheduler runs.
    pub tick_seconds: u64,
    /// `AZYQ_TICK_MILLIS`: milliseconds between scheduler runs, instead of `tick_seconds` (50 at
    /// least; the race tests run the scheduler often to meet the tills' requests).
    pub tick_millis: Option<u64>,
    /// Database connections kept open.
    pub pool_size: u32,
    /// `AZYQ_BLOCKING_THREADS`: threads that run database work for HTTP requests, over all HTTP
    /// workers; by default [`DEFAULT_BLOCKING_THREADS`] or twice the pool if that is more. A
    /// request's database work holds a thread while it runs or waits (not a till's transition on
    /// SQLite's writer thread, awaited as a task); actix's own default is 512,
    /// and under till load the server grew to ~100 threads, each with a stack and allocator caches.
    pub blocking_threads: Option<usize>,
    /// `AZYQ_SQLITE_CACHE_KIB`: SQLite's page cache per connection, in KiB. Every pooled connection and the group-commit writer has one, so the pool's share of
    /// the server's memory is about (pool_size + 1) × this.
    pub sqlite_cache_kib: u32,
    /// Minutes an authorised basket's hold lasts before it returns to the vouchers.
    pub hold_minutes: i64,
    /// `AZYQ_HOLD_SECONDS`: the hold in seconds instead (1 to 86 400).
    pub hold_seconds: Option<i64>,
    /// Minutes a wallet QR token is valid.
    pub qr_minutes: i64,
    /// `AZYQ_OFFLINE_PACK_HOURS`: how long an offline pack lets a till sell without a link (1 to
    /// 168, default 24; SPEC §3.9).
    pub offline_pack_hours: i64,
    /// `AZYQ_OFFLINE_VOUCHER_DAY_BP`: offline discount per voucher per Almaty day on one till, in
    /// basis points of the voucher's amount (0 to 10 000, default 2 500: a quarter).
    pub offline_voucher_day_bp: i32,
    /// `AZYQ_SHOP_HOURS`: the usual shop hours, Almaty time, `HH-HH` (`07-23`: 07:00 to 22:59); a
    /// sale outside them counts as the `outside_hours` signal.
    pub shop_hours: String,
    /// Where the daily reports are exported after each business day.
    pub export_dir: PathBuf,
    /// SQLite: concurrent writes share one durable commit (see `db::group`).
    pub group_commit: bool,
    /// `AZYQ_KEY_DIR`: keep the secrets (session secret, report key, voucher keys' private halves)
    /// in files of this folder (0600) instead of the database, so a database backup does not hold
    /// them. Replicas then share the folder.
    pub key_dir: Option<PathBuf>,
    /// `AZYQ_SCHEDULER`: run the jobs (consent SMS, reminders, hold expiry, month close, report
    /// export, SMS delivery) in this process. Every job is safe to run on every replica; `false`
    /// leaves a replica to answer requests only.
    pub scheduler: bool,
    /// `AZYQ_METRICS_TOKEN`: the bearer token `GET /metrics` asks for; without it only loopback
    /// clients may scrape.
    pub metrics_token: Option<String>,
    /// `AZYQ_FAKE_NOW`: start the clock here (only with `AZYQ_ALLOW_FAKE_CLOCK=1`).
    pub fake_now: Option<DateTime<Utc>>,
    pub allow_fake_clock: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://azyq.db".into(),
            listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            outbound_ca_cert: None,
            wallet_jwt_secret: None,
            wallet_jwt_public_key: None,
            sms_gateway_secret: None,
            sms_sender: "file:sms-outbox.jsonl".into(),
            otinish_sender: None,
            report_delivery: None,
            wallet_link: "https://egovmobile.page.link/socwallet".into(),
            info_phone: "1414".into(),
            sms_hours: "10-20".into(),
            tick_seconds: 30,
            tick_millis: None,
            pool_size: 8,
            blocking_threads: None,
            sqlite_cache_kib: crate::db::DEFAULT_SQLITE_CACHE_KIB,
            hold_minutes: 10,
            hold_seconds: None,
            qr_minutes: 5,
            offline_pack_hours: azyq_shared::offline::DEFAULT_PACK_HOURS,
            offline_voucher_day_bp: azyq_shared::offline::DEFAULT_VOUCHER_DAY_BP,
            shop_hours: "07-23".into(),
            export_dir: PathBuf::from("exports"),
            group_commit: true,
            key_dir: None,
            scheduler: true,
            metrics_token: None,
            fake_now: None,
            allow_fake_clock: false,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| anyhow::anyhow!("{name}: {e}")),
    }
}

impl Settings {
    /// Reads the file (if given), then lets the environment override it.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut s = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Settings::default(),
        };
        if let Some(v) = env("DATABASE_URL") {
            s.database_url = v;
        }
        if let Some(v) = env("AZYQ_LISTEN") {
            s.listen = v;
        }
        if let Some(v) = env("AZYQ_TLS_CERT") {
            s.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("AZYQ_TLS_KEY") {
            s.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = env("AZYQ_OUTBOUND_CA_CERT") {
            s.outbound_ca_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("AZYQ_WALLET_JWT_SECRET") {
            s.wallet_jwt_secret = Some(v);
        }
        if let Some(v) = env("AZYQ_WALLET_JWT_PUBLIC_KEY") {
            s.wallet_jwt_public_key = Some(v);
        }
        if let Some(v) = env("AZYQ_SMS_GATEWAY_SECRET") {
            s.sms_gateway_secret = Some(v);
        }
        if let Some(v) = env("AZYQ_SMS_SENDER") {
            s.sms_sender = v;
        }
        if let Some(v) = env("AZYQ_OTINISH_SENDER") {
            s.otinish_sender = Some(v);
        }
        if let Some(v) = env("AZYQ_REPORT_DELIVERY") {
            s.report_delivery = Some(v);
        }
        if let Some(v) = env("AZYQ_WALLET_LINK") {
            s.wallet_link = v;
        }
        if let Some(v) = env("AZYQ_INFO_PHONE") {
            s.info_phone = v;
        }
        if let Some(v) = env("AZYQ_SMS_HOURS") {
            s.sms_hours = v;
        }
        if let Some(v) = env_parse("AZYQ_TICK_SECONDS")? {
            s.tick_seconds = v;
        }
        if let Some(v) = env_parse("AZYQ_TICK_MILLIS")? {
            s.tick_millis = Some(v);
        }
        if let Some(v) = env_parse("AZYQ_POOL_SIZE")? {
            s.pool_size = v;
        }
        if let Some(v) = env_parse("AZYQ_BLOCKING_THREADS")? {
            s.blocking_threads = Some(v);
        }
        if let Some(v) = env_parse("AZYQ_SQLITE_CACHE_KIB")? {
            s.sqlite_cache_kib = v;
        }
        if let Some(v) = env("AZYQ_GROUP_COMMIT") {
            s.group_commit = !(v == "0" || v.eq_ignore_ascii_case("false"));
        }
        if let Some(v) = env("AZYQ_KEY_DIR") {
            s.key_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = env("AZYQ_SCHEDULER") {
            s.scheduler = !(v == "0" || v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("off"));
        }
        if let Some(v) = env("AZYQ_EXPORT_DIR") {
            s.export_dir = PathBuf::from(v);
        }
        if let Some(v) = env_parse("AZYQ_HOLD_MINUTES")? {
            s.hold_minutes = v;
        }
        if let Some(v) = env_parse("AZYQ_HOLD_SECONDS")? {
            s.hold_seconds = Some(v);
        }
        if let Some(v) = env_parse("AZYQ_QR_MINUTES")? {
            s.qr_minutes = v;
        }
        if let Some(v) = env_parse("AZYQ_OFFLINE_PACK_HOURS")? {
            s.offline_pack_hours = v;
        }
        if let Some(v) = env_parse("AZYQ_OFFLINE_VOUCHER_DAY_BP")? {
            s.offline_voucher_day_bp = v;
        }
        if let Some(v) = env("AZYQ_METRICS_TOKEN") {
            s.metrics_token = Some(v);
        }
        if let Some(v) = env("AZYQ_SHOP_HOURS") {
            s.shop_hours = v;
        }
        if let Some(v) = env_parse("AZYQ_FAKE_NOW")? {
            s.fake_now = Some(v);
        }
        if let Some(v) = env("AZYQ_ALLOW_FAKE_CLOCK") {
            s.allow_fake_clock = v == "1" || v.eq_ignore_ascii_case("true");
        }
        if s.tick_seconds == 0 || s.tick_millis.is_some_and(|t| t < 50) {
            anyhow::bail!("tick_seconds must be at least 1 and tick_millis at least 50");
        }
        if let Some(t) = s.fake_now {
            use chrono::Datelike;
            if !(azyq_shared::ids::FIRST_YEAR..=azyq_shared::ids::LAST_YEAR).contains(&t.year()) {
                anyhow::bail!(
                    "AZYQ_FAKE_NOW must lie in the years {}..={}",
                    azyq_shared::ids::FIRST_YEAR,
                    azyq_shared::ids::LAST_YEAR
                );
            }
        }
        if s.hold_seconds.is_some_and(|h| !(1..=86_400).contains(&h)) {
            anyhow::bail!("hold_seconds must be 1..86400");
        }
        if !(1..=24 * 60).contains(&s.hold_minutes) || !(1..=60).contains(&s.qr_minutes) {
            anyhow::bail!("hold_minutes must be 1..1440 and qr_minutes 1..60");
        }
        if !(1..=azyq_shared::offline::MAX_PACK_DAYS * 24).contains(&s.offline_pack_hours) {
            anyhow::bail!("AZYQ_OFFLINE_PACK_HOURS must be 1..168");
        }
        if !(0..=10_000).contains(&s.offline_voucher_day_bp) {
            anyhow::bail!("AZYQ_OFFLINE_VOUCHER_DAY_BP must be 0..10000");
        }
        s.sms_policy()?;
        s.check_resources()?;
        s.tls()?;
        s.shop_hours()?;
        Ok(s)
    }

    /// What SMS say and when they may go.
    pub fn sms_policy(&self) -> anyhow::Result<crate::domain::sms::Policy> {
        use crate::domain::sms::{Policy, SmsHours, Texts};
        let hours = SmsHours::parse(&self.sms_hours).map_err(anyhow::Error::msg)?;
        if self.info_phone.trim().is_empty() || self.info_phone.chars().any(char::is_control) {
            anyhow::bail!("AZYQ_INFO_PHONE must be a phone number people can call, like 1414");
        }
        Ok(Policy {
            texts: Texts { info_phone: self.info_phone.clone(), wallet_link: self.wallet_link.clone() },
            hours,
        })
    }

    /// The usual shop hours (`shop_hours`, `AZYQ_SHOP_HOURS`).
    pub fn shop_hours(&self) -> anyhow::Result<crate::domain::signals::ShopHours> {
        self.shop_hours.parse().map_err(|e: String| anyhow::anyhow!("AZYQ_SHOP_HOURS: {e}"))
    }

    /// How long a basket's hold lasts.
    pub fn hold(&self) -> chrono::Duration {
        self.hold_seconds.map_or(chrono::Duration::minutes(self.hold_minutes), chrono::Duration::seconds)
    }

    /// The time between scheduler runs.
    pub fn tick(&self) -> std::time::Duration {
        self.tick_millis.map_or(std::time::Duration::from_secs(self.tick_seconds), std::time::Duration::from_millis)
    }

    fn check_resources(&self) -> anyhow::Result<()> {
        if self.pool_size == 0 || self.blocking_threads == Some(0) {
            anyhow::bail!("pool_size and blocking_threads must be at least 1");
        }
        if !(64..=1024 * 1024).contains(&self.sqlite_cache_kib) {
            anyhow::bail!("sqlite_cache_kib must be 64..1048576 (KiB)");
        }
        Ok(())
    }

    /// The blocking threads each of `workers` HTTP workers may start: actix gives every worker a
    /// pool of its own, so the total is shared out, rounding up, and at least one each.
    pub fn blocking_threads_per_worker(&self, workers: usize) -> usize {
        let total = self.blocking_threads.unwrap_or_else(|| DEFAULT_BLOCKING_THREADS.max(2 * self.pool_size as usize));
        total.div_ceil(workers.max(1)).max(1)
    }

    /// The certificate and key files `serve` speaks HTTPS with, or `None` for plain HTTP. One
    /// without the other is an error: half a TLS set-up must not fall back to plain HTTP silently.
    pub fn tls(&self) -> anyhow::Result<Option<TlsFiles<'_>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
            (None, None) => Ok(None),
            _ => anyhow::bail!("AZYQ_TLS_CERT and AZYQ_TLS_KEY (tls_cert, tls_key) must be given together"),
        }
    }

    /// `https` when `serve` speaks TLS, else `http`: the scheme of the server's own URL.
    pub fn scheme(&self) -> &'static str {
        if matches!(self.tls(), Ok(Some(_))) {
            "https"
        } else {
            "http"
        }
    }

    /// The SMS sender named by `sms_sender`.
    pub fn sms_target(&self) -> anyhow::Result<SmsTarget> {
        Target::parse("AZYQ_SMS_SENDER", &self.sms_sender)
    }

    /// Where complaints go to e-Otinish (`otinish_sender`) and where the reports go
    /// (`report_delivery`); a setting left out is a file beside the SMS outbox file.
    pub fn delivery_targets(&self) -> anyhow::Result<DeliveryTargets> {
        let beside_sms = |name: &str| match self.sms_target() {
            Ok(Target::File(sms)) => Target::File(sms.with_file_name(name)),
            _ => Target::File(PathBuf::from(name)),
        };
        let pick = |setting: &str, value: &Option<String>, default: &str| match value {
            Some(v) => Target::parse(setting, v),
            None => Ok(beside_sms(default)),
        };
        Ok(DeliveryTargets {
            otinish: pick("AZYQ_OTINISH_SENDER", &self.otinish_sender, "otinish-outbox.jsonl")?,
            reports: pick("AZYQ_REPORT_DELIVERY", &self.report_delivery, "report-deliveries.jsonl")?,
        })
    }
}

/// Where the deliveries go (SPEC §6): complaints to e-Otinish, reports to the ministry and the SDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTargets {
    pub otinish: Target,
    pub reports: Target,
}

/// The PEM files of the server's own certificate chain and its private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFiles<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
}

/// Where something the server sends goes: a JSON-lines file, or an HTTP(S) receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Http(String),
}

/// Where outgoing SMS go.
pub type SmsTarget = Target;

impl Target {
    /// `file:PATH`, or `http:URL` where URL starts with http:// or https:// (the URL alone is taken
    /// too); anything else is an error naming the setting.
    pub fn parse(setting: &str, value: &str) -> anyhow::Result<Target> {
        if let Some(path) = value.strip_prefix("file:") {
            if path.is_empty() {
                anyhow::bail!("{setting}: file: needs a path (file:PATH)");
            }
            return Ok(Target::File(PathBuf::from(path)));
        }
        let url = match value.strip_prefix("http:") {
            Some(rest) if rest.starts_with("//") => value,
            Some(rest) => rest,
            None => value,
        };
        let host = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        match host {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.chars().any(char::is_whitespace) => {
                Ok(Target::Http(url.to_owned()))
            }
            _ => anyhow::bail!(
                "{setting} must be file:PATH or http:URL (URL being http://… or https://…), not {value:?}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_targets() {
        let mut s = Settings::default();
        assert_eq!(s.sms_target().unwrap(), SmsTarget::File("sms-outbox.jsonl".into()));
        s.sms_sender = "http:https://gw.example/send".into();
        assert_eq!(s.sms_target().unwrap(), SmsTarget::Http("https://gw.example/send".into()));
        s.sms_sender = "http://gw/send".into();
        assert_eq!(s.sms_target().unwrap(), SmsTarget::Http("http://gw/send".into()));
        s.sms_sender = "https://gw/send".into();
        assert_eq!(s.sms_target().unwrap(), SmsTarget::Http("https://gw/send".into()));
        for bad in ["smtp:x", "http:gw/send", "http:ftp://gw", "gw.example"] {
            s.sms_sender = bad.into();
            assert!(s.sms_target().is_err(), "{bad}");
        }
    }

    #[test]
    fn delivery_targets_default_beside_the_sms_file_and_refuse_nonsense() {
        let mut s = Settings { sms_sender: "file:/var/azyq/sms.jsonl".into(), ..Settings::default() };
        let t = s.delivery_targets().unwrap();
        assert_eq!(t.otinish, Target::File("/var/azyq/otinish-outbox.jsonl".into()));
        assert_eq!(t.reports, Target::File("/var/azyq/report-deliveries.jsonl".into()));
        assert_eq!(
            Settings::default().delivery_targets().unwrap().otinish,
            Target::File("otinish-outbox.jsonl".into())
        );
        s.sms_sender = "https://gw/send".into();
        assert_eq!(s.delivery_targets().unwrap().reports, Target::File("report-deliveries.jsonl".into()));
        s.otinish_sender = Some("http:https://otinish.example/api/complaints".into());
        s.report_delivery = Some("file:/srv/out.jsonl".into());
        let t = s.delivery_targets().unwrap();
        assert_eq!(t.otinish, Target::Http("https://otinish.example/api/complaints".into()));
        assert_eq!(t.reports, Target::File("/srv/out.jsonl".into()));
        for bad in ["ftp://x", "file:", "http:", "https://", "http:///path", "otinish.example", "http://a b"] {
            s.otinish_sender = Some(bad.into());
            let err = s.delivery_targets().unwrap_err().to_string();
            assert!(err.contains("AZYQ_OTINISH_SENDER"), "{bad}: {err}");
        }
    }

    #[test]
    fn tls_needs_both_files() {
        let s = Settings::default();
        assert_eq!((s.tls().unwrap(), s.scheme()), (None, "http"));
        let s: Settings =
            toml::from_str("tls_cert = \"/etc/azyq/cert.pem\"\ntls_key = \"/etc/azyq/key.pem\"\n").unwrap();
        let files = s.tls().unwrap().unwrap();
        assert_eq!((files.cert, files.key), (Path::new("/etc/azyq/cert.pem"), Path::new("/etc/azyq/key.pem")));
        assert_eq!(s.scheme(), "https");
        let half = Settings { tls_key: None, ..s };
        assert!(half.tls().is_err());
        assert_eq!(half.scheme(), "http");
    }

    #[test]
    fn blocking_threads_are_shared_out_among_workers() {
        let mut s = Settings { pool_size: 8, ..Settings::default() };
        // By default 24 in all: 12 for each of 2 workers, rounded up for 5.
        assert_eq!(s.blocking_threads_per_worker(2), 12);
        assert_eq!(s.blocking_threads_per_worker(5), 5);
        assert_eq!(s.blocking_threads_per_worker(0), 24);
        // A bigger pool (PostgreSQL) gets twice its size.
        s.pool_size = 50;
        assert_eq!(s.blocking_threads_per_worker(2), 50);
        s.blocking_threads = Some(5);
        assert_eq!(s.blocking_threads_per_worker(2), 3);
        // More workers than threads: still one each.
        assert_eq!(s.blocking_threads_per_worker(32), 1);
    }

    #[test]
    fn resource_settings_are_checked() {
        let s: Settings = toml::from_str("blocking_threads = 24\nsqlite_cache_kib = 4096\n").unwrap();
        assert_eq!((s.blocking_threads, s.sqlite_cache_kib), (Some(24), 4096));
        assert!(s.check_resources().is_ok());
        assert!(Settings { blocking_threads: Some(0), ..Settings::default() }.check_resources().is_err());
        assert!(Settings { pool_size: 0, ..Settings::default() }.check_resources().is_err());
        assert!(Settings { sqlite_cache_kib: 10, ..Settings::default() }.check_resources().is_err());
        assert!(Settings::default().check_resources().is_ok());
    }

    #[test]
    fn file_settings_parse() {
        let s: Settings = toml::from_str("listen = \"127.0.0.1:9999\"\ntick_seconds = 5\n").unwrap();
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.tick_seconds, 5);
        assert_eq!(s.database_url, "sqlite://azyq.db");
    }
}
