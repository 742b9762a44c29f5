use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn kept(terminal: &str, expires_at: &str) -> KeptSession {
    KeptSession::new(LoggedIn {
        server: "http://s",
        shop: "SHOP",
        terminal,
        login: "kassir",
        password: "secret-1",
        token: "tok",
        expires_at: at(expires_at),
    })
    .unwrap()
}

fn sale(n: u32, voucher: i64, discount: i64, nonce: &str) -> NewSale {
    let sold_at = at("2026-12-05T10:30:00Z") + chrono::Duration::seconds(i64::from(n));
    NewSale {
        sale_id: new_sale_id(sold_at),
        sold_at,
        body: format!("{{\"n\":{n}}}"),
        discount: Tiyn::new(discount),
        vouchers: vec![(voucher, Tiyn::new(discount))],
        nonces: vec![nonce.to_owned()],
        day: "2026-12-05".into(),
    }
}

#[test]
fn a_new_journal_is_private_and_its_directory_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("till/journal.db");
    let mut j = Journal::open(&path).unwrap();
    j.save_session(&kept("T1", "2026-12-05T18:00:00Z")).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("till")), 0o700);
    // SQLite gives the WAL the database file's own permissions.
    assert_eq!(mode(&dir.path().join("till/journal.db-wal")), 0o600);
    let loose = dir.path().join("loose.db");
    fs::write(&loose, b"").unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).unwrap();
    Journal::open(&loose).unwrap();
    assert_eq!(mode(&loose), 0o600, "an existing journal others could read is narrowed");
}

#[test]
fn the_journal_runs_in_wal_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.db")).unwrap();
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut j.conn).unwrap();
    let sync: Sync = diesel::sql_query("PRAGMA synchronous").get_result(&mut j.conn).unwrap();
    assert_eq!((mode.journal_mode.as_str(), sync.synchronous), ("wal", 2), "2 is FULL");
}

#[test]
fn sales_keep_their_order_and_state_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let sales: Vec<NewSale> = (0..5).map(|n| sale(n, 7, 1_000, &format!("{n:018x}"))).collect();
    {
        let mut j = Journal::open(&path).unwrap();
        for s in &sales {
            j.record_sale(s).unwrap();
        }
        j.save_session(&kept("T1", "2026-12-05T18:00:00Z")).unwrap();
        j.save_pack(3, b"{\"pack\":1}", &[1; 64], &[2; 32], at("2026-12-05T10:00:00Z")).unwrap();
    }
    let mut j = Journal::open(&path).unwrap();
    let pending = j.pending(500).unwrap();
    let ids: Vec<&str> = pending.iter().map(|p| p.sale_id.as_str()).collect();
    let want: Vec<&str> = sales.iter().map(|s| s.sale_id.as_str()).collect();
    assert_eq!(ids, want);
    assert_eq!(pending[4].body, "{\"n\":4}");
    assert_eq!(j.pending(2).unwrap().len(), 2, "chunks");
    let kept = j.session().unwrap().unwrap();
    assert!(kept.serves("SHOP", "T1", "kassir", at("2026-12-05T17:59:59Z")));
    assert!(!kept.serves("SHOP", "T1", "kassir", at("2026-12-05T18:00:00Z")), "over at its expiry");
    assert!(!kept.serves("SHOP", "T2", "kassir", at("2026-12-05T12:00:00Z")), "another terminal");
    assert!(!kept.serves("SHOP", "T1", "other", at("2026-12-05T12:00:00Z")), "another cashier");
    assert!(kept.password_is("secret-1"));
    assert!(!kept.password_is("secret-2"));
    assert!(!kept.password_hash.contains("secret-1"), "only a hash is kept");
    let p = j.pack().unwrap().unwrap();
    assert_eq!((p.kid, p.bytes.as_slice(), p.public_key.len()), (3, &b"{\"pack\":1}"[..], 32));
    assert_eq!(p.fetched(), Some(at("2026-12-05T10:00:00Z")));
}

#[test]
fn a_used_nonce_refuses_the_whole_sale_and_keeps_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.db")).unwrap();
    j.record_sale(&sale(1, 7, 1_000, "aa")).unwrap();
    assert!(j.nonce_used("aa").unwrap());
    assert!(!j.nonce_used("bb").unwrap());
    let mut again = sale(2, 7, 500, "bb");
    again.nonces.push("aa".into());
    assert!(matches!(j.record_sale(&again), Err(JournalError::NonceUsed)));
    assert!(!j.nonce_used("bb").unwrap(), "rolled back");
    assert_eq!(j.pending_count().unwrap(), 1);
    assert_eq!(j.day_discount(7, "2026-12-05").unwrap(), Tiyn::new(1_000));
}

#[test]
fn totals_per_voucher_pending_and_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.db")).unwrap();
    let first = sale(1, 7, 1_000, "01");
    j.record_sale(&first).unwrap();
    j.record_sale(&sale(2, 7, 250, "02")).unwrap();
    j.record_sale(&sale(3, 8, 99, "03")).unwrap();
    let mut next_day = sale(4, 7, 40, "04");
    next_day.day = "2026-12-06".into();
    j.record_sale(&next_day).unwrap();
    assert_eq!(j.day_discount(7, "2026-12-05").unwrap(), Tiyn::new(1_250));
    assert_eq!(j.day_discount(7, "2026-12-06").unwrap(), Tiyn::new(40));
    assert_eq!(j.day_discount(9, "2026-12-05").unwrap(), Tiyn::ZERO);
    assert_eq!(j.pending_discount(7).unwrap(), Tiyn::new(1_290));
    // Uploaded, the server knows it: no longer pending, still counted for the day.
    assert_eq!(j.mark_uploaded(&[(first.sale_id.clone(), "{}".into())]).unwrap(), 1);
    assert_eq!(j.mark_uploaded(&[(first.sale_id.clone(), "{\"other\":1}".into())]).unwrap(), 0, "marked once");
    assert_eq!(j.pending_discount(7).unwrap(), Tiyn::new(290));
    assert_eq!(j.day_discount(7, "2026-12-05").unwrap(), Tiyn::new(1_250));
    assert_eq!(j.pending_count().unwrap(), 3);
    let all = j.sales().unwrap();
    assert_eq!(all[0], (first.sale_id, "uploaded".into(), Some("{}".into())));
}

#[test]
fn sale_ids_are_uuid_v7_in_time_order() {
    let a = new_sale_id(at("2026-12-05T10:30:00Z"));
    let b = new_sale_id(at("2026-12-05T10:30:01Z"));
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "7", "version 7");
    assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "RFC 9562 variant");
    assert!(a < b);
    assert_eq!(&a[..13], "01a245c0-e840", "48-bit milliseconds of 2026-12-05T10:30:00Z");
}

#[test]
fn the_default_path_is_under_the_data_directory() {
    // Read only: the variables are the process's, shared with other tests.
    if let Some(p) = default_path() {
        assert!(p.ends_with("azyq/journal.db"), "{}", p.display());
    }
}
