//! The PostgreSQL yardstick of a run (`--pgbench URL`): `pgbench`'s TPC-B-like transactions per
//! second on the same PostgreSQL, measured in the same invocation just before the sales, so that
//! the report can give sales/s as a share of what this PostgreSQL does on this machine now.

use std::process::Command;

/// How to run pgbench: its database (a URL pgbench accepts), clients, seconds, scale.
pub struct Pgbench {
    pub url: String,
    pub clients: u32,
    pub seconds: u64,
    pub scale: u32,
}

/// The `tps = …` of pgbench's report.
fn tps(report: &str) -> Option<f64> {
    report.lines().find_map(|l| l.trim().strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
}

impl Pgbench {
    /// Initialises pgbench's tables (scale `scale`) and runs TPC-B-like for `seconds`; answers tps.
    pub fn measure(&self) -> Result<f64, String> {
        let run = |args: &[String]| -> Result<String, String> {
            let out = Command::new("pgbench")
                .args(args)
                .output()
                .map_err(|e| format!("pgbench could not be started (is it on PATH?): {e}"))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(format!("pgbench failed: {}", err.lines().last().unwrap_or("no message")));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        run(&["-i".into(), "-q".into(), "-s".into(), self.scale.to_string(), self.url.clone()])?;
        let report = run(&[
            "-c".into(),
            self.clients.to_string(),
            "-j".into(),
            "2".into(),
            "-T".into(),
            self.seconds.to_string(),
            self.url.clone(),
        ])?;
        tps(&report).ok_or_else(|| "pgbench's report had no tps".to_owned())
    }
}

/// The report's line: sales/s against pgbench's transactions/s.
pub fn line(tps: f64, sales_per_s: f64, clients: u32) -> String {
    format!(
        "pgbench: {tps:.0} TPC-B-like transactions/s ({clients} clients, same PostgreSQL, just before the sales); sales/s ÷ pgbench tps = {:.2}",
        sales_per_s / tps.max(1e-9)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_the_report() {
        let report = "latency average = 17.9 ms\ninitial connection time = 21.3 ms\ntps = 1789.123456 (without initial connection time)\n";
        assert_eq!(tps(report), Some(1789.123456));
        assert_eq!(tps("nothing"), None);
        assert!(line(1800.0, 900.0, 32).ends_with("= 0.50"));
    }
}
