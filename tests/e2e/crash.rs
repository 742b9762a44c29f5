//! A crash in the middle of an import leaves the database as before or as after, never half; the
//! rerun completes it.

use std::time::Duration;

use crate::helpers::*;
use crate::on_both;

on_both!(killed_import_is_all_or_nothing => killed_import_sqlite, killed_import_postgres);

const MEMBERS: u32 = 60_000;

fn count(db: &TestDb, table: &str) -> i64 {
    db.scalar(&format!("SELECT COUNT(*) AS n FROM {table}"))
}

fn killed_import_is_all_or_nothing(db: &TestDb) {
    create_operator(db, "op", "operator");
    let now = "2026-12-01T04:00:00Z";
    {
        let server = Server::start(db, now);
        setup_pilot(&server, &server.operator_token());
    }
    let mut csv = String::from("family_id,kato,phone,iin,name,birth_date\n");
    for n in 0..MEMBERS {
        csv.push_str(&format!("F{},551010000,+7701{:07},{},Тест Тестов,1990-01-01\n", n / 3, n / 3, iin(7, n)));
    }
    let file = db.dir.path().join("list.csv");
    std::fs::write(&file, csv).unwrap();

    // Kill the import at a few moments; every time the list is wholly in or wholly out.
    for delay_ms in [50, 150, 400] {
        let mut child = cli(db, now)
            .args(["import", "--month", "2026-12"])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn import");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        let members = count(db, "members");
        assert!(members == 0 || members == i64::from(MEMBERS), "a killed import left {members} of {MEMBERS} members");
        let families = count(db, "family_months");
        assert!(families == 0 || families == i64::from(MEMBERS.div_ceil(3)), "{families} families");
    }
    // The rerun completes it, and a second rerun changes nothing.
    for _ in 0..2 {
        let out = cli(db, now).args(["import", "--month", "2026-12"]).arg(&file).output().expect("run import");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
        assert_eq!(report["accepted"], MEMBERS);
    }
    assert_eq!(count(db, "members"), i64::from(MEMBERS));
}
