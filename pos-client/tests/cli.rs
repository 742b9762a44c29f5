//! The headless sub-commands as a script runs them: stdout, stderr and the exit status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use std::net::TcpListener;
use std::process::Command;

use qrcode::{EcLevel, QrCode};

const TOKEN: &str = "AZ1:V50V50000000000W50ON8%727Q2+72ITDX507H0QS00+0J61%H1CT1-02I7N 98X0A469AIRG.MYQLU59H.5VRP9FRY8HJR7LFG66O14MT$Q%RVQ$NOQPID5GHC2B0HGA.0SJ/HG+OG.0ALU*GB3U260";

fn pos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_azyq-pos"))
}

#[test]
fn decode_prints_the_token_and_a_newline_only() {
    let code = QrCode::with_error_correction_level(TOKEN, EcLevel::Q).unwrap();
    let image = code.render::<image::Luma<u8>>().module_dimensions(4, 4).build();
    let dir = std::env::temp_dir().join(format!("azyq-pos-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qr.png");
    image.save(&path).unwrap();
    let out = pos().arg("decode").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{TOKEN}\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decode_of_a_file_that_is_no_image_fails_on_stderr() {
    let out = pos().arg("decode").arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8(out.stderr).unwrap().contains("не удалось прочитать изображение PNG"));
}

#[test]
fn an_unreachable_server_fails_with_a_sentence() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = pos()
        .args(["report", "--server", &format!("http://127.0.0.1:{port}"), "--shop", "S1", "--terminal", "T1"])
        .args(["--login", "k", "--password-env", "AZYQ_TEST_PW"])
        .env("AZYQ_TEST_PW", "pw")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("Нет связи с сервером"));
}

#[test]
fn errors_speak_kazakh_with_lang_kk_or_azyq_pos_lang() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = format!("http://127.0.0.1:{port}");
    let report = |extra: &[&str], env: &str| {
        let out = pos()
            .args(["report", "--server", &server, "--shop", "S1", "--terminal", "T1", "--login", "k"])
            .args(["--password-env", "AZYQ_TEST_PW"])
            .args(extra)
            .env("AZYQ_TEST_PW", "pw")
            .env("AZYQ_POS_LANG", env)
            .output()
            .unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(report(&["--lang", "kk"], "ru").contains("Сервермен байланыс жоқ"));
    assert!(report(&[], "kk").contains("Сервермен байланыс жоқ"));
    assert!(report(&[], "ru").contains("Нет связи с сервером"));
}

#[test]
fn a_missing_password_is_named() {
    let out = pos()
        .args(["login", "--shop", "S1", "--terminal", "T1", "--login", "k", "--password-env", "AZYQ_SURELY_UNSET"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("AZYQ_SURELY_UNSET"));
}

#[test]
fn a_malformed_line_is_a_usage_error() {
    let out = pos()
        .args([
            "sale",
            "--shop",
            "S1",
            "--terminal",
            "T1",
            "--login",
            "k",
            "--token",
            TOKEN,
            "--line",
            "4600000000015:2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("КОД:КОЛИЧЕСТВО:ЦЕНА:ЦЕНА_СО_СКИДКОЙ"));
}

#[test]
fn a_ca_cert_that_holds_no_certificate_stops_the_till_before_any_request() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = |ca: &str, lang: &str| {
        let out = pos()
            .args(["report", "--server", &format!("https://127.0.0.1:{port}"), "--shop", "S1", "--terminal", "T1"])
            .args(["--login", "k", "--password-env", "AZYQ_TEST_PW", "--lang", lang])
            .env("AZYQ_TEST_PW", "pw")
            .env("AZYQ_CA_CERT", ca)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{ca}");
        String::from_utf8(out.stderr).unwrap()
    };
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let err = run(not_pem, "ru");
    assert!(err.contains(&format!("в {not_pem} нет сертификата PEM")), "{err}");
    assert!(!err.contains("Нет связи"), "no request was tried: {err}");
    assert!(run(not_pem, "kk").contains("ішінде PEM сертификаты жоқ"));
    let err = run("/surely/missing/ca.pem", "ru");
    assert!(err.contains("не удалось прочитать /surely/missing/ca.pem"), "{err}");
}
