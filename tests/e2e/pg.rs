//! The PostgreSQL the tests run against: `DATABASE_URL_PG` if set, else a throwaway server this test
//! process starts itself from the installed PostgreSQL (as the `postgres` user when run as root),
//! on a loopback port and a temporary data directory, stopped when the test process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};

static SERVER: OnceLock<Option<String>> = OnceLock::new();

/// `postgres://user@host:port` (no database), or `None` when no PostgreSQL can be had.
pub fn server_url() -> Option<String> {
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("DATABASE_URL_PG") {
                return Some(strip_database(&url));
            }
            match start_own() {
                Ok(url) => Some(url),
                Err(e) => {
                    eprintln!("could not start a test PostgreSQL: {e}");
                    None
                }
            }
        })
        .clone()
}

fn strip_database(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i].to_owned(),
        None => url.to_owned(),
    }
}

/// Creates a database and answers its URL.
pub fn create_database(server: &str, name: &str) -> String {
    let mut conn = diesel::PgConnection::establish(&format!("{server}/postgres")).expect("connect to test PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
    format!("{server}/{name}")
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| Some(e.ok()?.path())).collect();
    versions.sort();
    versions.into_iter().rev().map(|v| v.join("bin")).find(|b| b.join("initdb").exists())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg_command(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_own() -> Result<String, String> {
    let bin = bin_dir().ok_or("no PostgreSQL under /usr/lib/postgresql")?;
    let root = is_root();
    let dir = std::env::temp_dir().join(format!("azyq-test-pg-{}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if root {
        let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().is_ok_and(|s| s.success());
        if !ok {
            return Err("chown to postgres failed".into());
        }
    }
    let out = pg_command(&bin.join("initdb"), root)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let port = free_port().map_err(|e| e.to_string())?;
    // Test data is thrown away: skip fsync for speed (the server's own durability settings are
    // what the SQLite tests and production exercise).
    let postgres = bin.join("postgres");
    let pg_cmd = format!(
        "{} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        postgres.display(),
        data.display(),
        dir.display()
    );
    // A watchdog stops the server when this test process is gone.
    let me = std::process::id();
    let script = format!(
        "{pg_cmd} >{log} 2>&1 & pg=$!; while [ -d /proc/{me} ] && kill -0 $pg 2>/dev/null; do sleep 1; done; kill -INT $pg 2>/dev/null; wait $pg; rm -rf {dir}",
        log = dir.join("pg.log").display(),
        dir = dir.display(),
    );
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().map_err(|e| e.to_string())?;
    let url = format!("postgres://postgres@127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if diesel::PgConnection::establish(&format!("{url}/postgres")).is_ok() {
            return Ok(url);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("pg.log")).unwrap_or_default();
            return Err(format!("PostgreSQL did not come up: {log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
