//! The app offline: the banner's state from the worker, and what needs the link.

use super::tests_flow::*;
use super::*;
use crate::app::keyring::tests::at;

#[test]
fn the_link_state_drives_the_banner_and_an_online_log_in_clears_it() {
    let mut app = logged_in();
    assert!(!app.offline);
    reply(&mut app, Reply::Link { reachable: false, waiting: 2 });
    assert!((app.offline, app.waiting) == (true, 2));
    reply(&mut app, Reply::Link { reachable: true, waiting: 1 });
    assert!((app.offline, app.waiting) == (false, 1), "back online, one still uploading");
}

#[test]
fn a_request_that_finds_no_server_shows_the_till_offline() {
    let mut app = App::new(LoginForm::new("http://127.0.0.1:9", "S1", "T1", "k"), at(9, 0));
    type_in(&mut app, "pw");
    key(&mut app, Key::Enter);
    reply(&mut app, Reply::Login(Err(ClientError::Unreachable("connection refused".into()))));
    assert!(app.offline);
    let mut app = logged_in();
    reply(&mut app, Reply::Catalog(Err(ClientError::Timeout)));
    assert!(app.offline);
}

#[test]
fn a_refund_without_the_server_says_it_needs_the_link() {
    let mut app = refund_of_41();
    let cmds = key(&mut app, Key::Enter);
    assert!(matches!(&cmds[..], [Command::Refund { .. }]), "{cmds:?}");
    reply(&mut app, Reply::Refund(Err(ClientError::Unreachable("connection refused".into()))));
    let m = app.message.clone().unwrap();
    assert!(m.what.ru.contains("только при связи"), "{}", m.what.ru);
    assert!(m.what.kk.contains("байланыс болғанда"), "{}", m.what.kk);
    assert!(app.offline);
    assert!(app.refund.pending.is_none(), "nothing was sent: nothing to resolve");
}

#[test]
fn an_offline_refusal_says_why_in_both_languages() {
    let mut app = logged_in();
    let t = crate::app::keyring::tests::token(7, 1, 7);
    let cmds = scan(&mut app, &t);
    assert!(matches!(&cmds[..], [Command::Lookup { .. }]), "{cmds:?}");
    let refused = Err(ClientError::Offline(crate::offline::Cannot::PackForged));
    reply(&mut app, Reply::Lookup { token: t, result: refused });
    let m = app.message.clone().unwrap();
    assert_eq!(m.code, Some("offline_pack_forged"));
    assert!(m.what.ru.contains("подпись") && m.what.kk.contains("қолтаңба"), "{m:?}");
}
