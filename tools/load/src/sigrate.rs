//! This machine's single-core rate of the signature check every look-up makes: Ed25519
//! `verify_strict` over a voucher token's signed message, through the same code as the server
//! (`azyq_shared::token`). It is the yardstick for the look-up rate per server core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use azyq_shared::token::{self, TokenFields};
use azyq_shared::Month;
use chrono::{TimeZone, Utc};
use ed25519_dalek::SigningKey;

/// A measured rate of signature checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Checks per second of the measuring thread's own CPU time (Linux), else of wall time.
    pub per_second: f64,
    /// Whether `per_second` is per CPU second: on a busy machine a thread does not get a whole core,
    /// and the wall-time rate would understate what one core does.
    pub cpu_time: bool,
    /// The share of the wall time the thread was on a CPU (1.0 when unknown).
    pub on_cpu: f64,
}

/// CPU time this thread has run, from Linux `/proc/thread-self/schedstat` (nanoseconds).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(text.split_whitespace().next()?.parse().ok()?))
}

/// Verifies one token's signature over and over on this thread for `span` of its CPU time (or of
/// wall time where that cannot be read; at most five spans of wall time either way); answers the
/// rate.
pub fn verify_strict_rate(span: Duration) -> Result<Rate, String> {
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let issued_at = Utc.with_ymd_and_hms(2026, 5, 9, 8, 0, 0).single().ok_or("a fixed instant")?;
    let fields = TokenFields {
        kid: 1,
        voucher_id: 123_456,
        month: Month::new(2026, 5).map_err(|e| e.to_string())?,
        issued_at,
        expires_at: issued_at + chrono::Duration::minutes(5),
        nonce: token::Nonce::V1([0x42; 16]),
        offline: None,
    };
    let text = token::sign(&fields, &key).map_err(|e| format!("signing a sample token: {e}"))?;
    let decoded = token::decode(&text).map_err(|e| format!("decoding the sample token: {e}"))?;
    let public = key.verifying_key();
    decoded.verify_signature(&public).map_err(|e| format!("the sample token does not verify: {e}"))?;

    let started = Instant::now();
    let cpu_start = thread_cpu();
    let mut checks: u64 = 0;
    loop {
        for _ in 0..64 {
            if black_box(&decoded).verify_signature(black_box(&public)).is_err() {
                return Err("the sample token stopped verifying".into());
            }
        }
        checks += 64;
        let wall = started.elapsed();
        let cpu = cpu_start.and_then(|c0| Some(thread_cpu()?.saturating_sub(c0)));
        let spent = cpu.unwrap_or(wall);
        if spent >= span || wall >= span * 5 {
            let secs = spent.as_secs_f64().max(1e-9);
            let on_cpu = cpu.map_or(1.0, |c| c.as_secs_f64() / wall.as_secs_f64().max(1e-9));
            return Ok(Rate { per_second: checks as f64 / secs, cpu_time: cpu.is_some(), on_cpu });
        }
    }
}

/// The look-up rate per busy server core, and its share (percent) of `verify_per_second`:
/// `lookups_per_second` ÷ (`server_cpu_percent` / 100). `None` without a positive CPU figure.
pub fn per_core(
    lookups_per_second: f64,
    server_cpu_percent: Option<f64>,
    verify_per_second: f64,
) -> Option<(f64, f64)> {
    let cores = server_cpu_percent.filter(|p| *p > 0.0)? / 100.0;
    let per_core = lookups_per_second / cores;
    Some((per_core, per_core / verify_per_second * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_at_some_positive_rate() {
        let rate = verify_strict_rate(Duration::from_millis(20)).expect("the sample verifies");
        assert!(rate.per_second > 0.0 && rate.on_cpu > 0.0);
        if cfg!(target_os = "linux") {
            assert!(rate.cpu_time, "Linux tells a thread's CPU time");
        }
    }

    #[test]
    fn lookups_per_core() {
        // 3 000 look-ups/s on 150% of a core: 2 000/s per core, a fifth of 10 000 checks/s.
        let (x, y) = per_core(3_000.0, Some(150.0), 10_000.0).expect("a figure");
        assert!((x - 2_000.0).abs() < 1e-9 && (y - 20.0).abs() < 1e-9);
        assert_eq!(per_core(3_000.0, None, 10_000.0), None);
        assert_eq!(per_core(3_000.0, Some(0.0), 10_000.0), None);
    }
}
