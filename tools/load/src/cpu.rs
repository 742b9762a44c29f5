//! CPU time of this process and, optionally, of the server (Linux `/proc`), to tell whether a run
//! was bound by the server's CPU, by the load generator's own, or by neither (waiting on disk).

use std::time::Duration;

/// `/proc/PID/stat` counts in USER_HZ, which Linux fixes at 100 for user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of `pid` (`None`: this process), or `None` where `/proc` says nothing.
pub fn seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// A CPU reading taken before the run, to print the use over it.
pub struct Meter {
    own: Option<f64>,
    /// Each server process and its counter at the start.
    servers: Vec<(u32, Option<f64>)>,
}

impl Meter {
    /// Reads the counters of this process and of each server now.
    pub fn start(server_pids: &[u32]) -> Meter {
        Meter { own: seconds(None), servers: server_pids.iter().map(|&p| (p, seconds(Some(p)))).collect() }
    }

    /// Prints each process's CPU use since [`Meter::start`] as cores busy over `wall`; answers the
    /// servers' total in percent of one core, when there are servers and every one was readable.
    pub fn print(&self, wall: Duration) -> Option<f64> {
        let wall = wall.as_secs_f64().max(1e-9);
        let used = |before: Option<f64>, pid: Option<u32>| Some((seconds(pid)? - before?) / wall * 100.0);
        let mut line = String::from("cpu (% of one core over the run):");
        if let Some(p) = used(self.own, None) {
            line.push_str(&format!(" load generator {p:.0}%"));
        }
        let mut total = Some(0.0);
        for &(pid, before) in &self.servers {
            match used(before, Some(pid)) {
                Some(p) => {
                    line.push_str(&format!(", server {pid} {p:.0}%"));
                    total = total.map(|t| t + p);
                }
                None => {
                    line.push_str(&format!(", server pid {pid} unreadable"));
                    total = None;
                }
            }
        }
        if self.servers.len() > 1 {
            if let Some(t) = total {
                line.push_str(&format!(" (servers together {t:.0}%)"));
            }
        }
        println!("{line}; cores on this machine: {}", std::thread::available_parallelism().map_or(0, |n| n.get()));
        total.filter(|_| !self.servers.is_empty())
    }
}

/// The CPU of the database's processes over a run (`--database-pid`: PostgreSQL's postmaster's
/// children when the run starts — its background processes and the servers' pooled connections),
/// printed as cores busy and as milliseconds per sale. A process that ends during the run (a
/// connection closed) drops its share, so the figure is a floor.
pub struct Database {
    processes: Vec<(u32, f64)>,
}

impl Database {
    pub fn start(pids: &[u32]) -> Option<Database> {
        let processes: Vec<(u32, f64)> = pids.iter().filter_map(|&p| Some((p, seconds(Some(p))?))).collect();
        (!processes.is_empty()).then_some(Database { processes })
    }

    /// The database's CPU seconds since [`Database::start`], over the processes still there.
    pub fn used(&self) -> f64 {
        self.processes.iter().filter_map(|&(pid, before)| Some(seconds(Some(pid))? - before)).sum()
    }

    /// The report's line for `count` units of work (`what`: "sale", "look-up") over `wall`.
    pub fn line(&self, wall: Duration, count: u64, what: &str) -> String {
        let used = self.used();
        format!(
            "database cpu: {:.0}% of one core over the run ({} processes), {:.2} ms per {what}",
            used / wall.as_secs_f64().max(1e-9) * 100.0,
            self.processes.len(),
            used * 1000.0 / (count.max(1) as f64)
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_cpu_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::seconds(None).is_some_and(|s| s >= 0.0));
            let me = std::process::id();
            let meter = super::Meter::start(&[me, me]);
            assert!(meter.print(std::time::Duration::from_millis(1)).is_some_and(|t| t >= 0.0));
            assert_eq!(super::Meter::start(&[]).print(std::time::Duration::from_secs(1)), None);
            let db = super::Database::start(&[me]).expect("this process is readable");
            assert!(db.used() >= 0.0);
            assert!(db.line(std::time::Duration::from_secs(1), 10, "sale").starts_with("database cpu: "));
            assert!(super::Database::start(&[]).is_none());
        }
    }
}
