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
    server_pid: Option<u32>,
    own: Option<f64>,
    server: Option<f64>,
}

impl Meter {
    /// Reads both counters now.
    pub fn start(server_pid: Option<u32>) -> Meter {
        Meter { server_pid, own: seconds(None), server: server_pid.and_then(|p| seconds(Some(p))) }
    }

    /// Prints each process's CPU use since [`Meter::start`] as cores busy over `wall`.
    pub fn print(&self, wall: Duration) {
        let wall = wall.as_secs_f64().max(1e-9);
        let used = |before: Option<f64>, pid: Option<u32>| Some((seconds(pid)? - before?) / wall * 100.0);
        let mut line = String::from("cpu (% of one core over the run):");
        if let Some(p) = used(self.own, None) {
            line.push_str(&format!(" load generator {p:.0}%"));
        }
        if let Some(pid) = self.server_pid {
            match used(self.server, Some(pid)) {
                Some(p) => line.push_str(&format!(", server {p:.0}%")),
                None => line.push_str(&format!(", server pid {pid} unreadable")),
            }
        }
        println!("{line}; cores on this machine: {}", std::thread::available_parallelism().map_or(0, |n| n.get()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_cpu_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::seconds(None).is_some_and(|s| s >= 0.0));
        }
    }
}
