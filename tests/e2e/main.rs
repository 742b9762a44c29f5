//! End-to-end scenarios: the real `azyq-server` binary on a random port, a fresh database per test,
//! on SQLite always and on PostgreSQL too (DATABASE_URL_PG, or a throwaway server started here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

mod browser;
mod helpers;
mod hostile;
mod pg;
mod pos_cli;
mod races;
mod tls;

mod books;
mod bulk;
mod clock;
mod concurrency;
mod console;
mod console_browser;
mod crash;
mod crash_load;
mod cycle;
mod deliveries;
mod family;
mod keys;
mod limits;
mod newcomer;
mod offline;
mod offline_till;
mod recalls;
mod rejections;
mod reports;
mod roles;
mod scale;
mod security;
mod shop;
mod signals;
mod till;
mod world;

/// Declares one test per backend for a scenario `fn(&TestDb)`: named as given, or, with the scenario
/// alone, `<scenario>::sqlite` and `<scenario>::postgres` (a module beside the function).
#[macro_export]
macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            $crate::on_both!(super::$scenario => sqlite, postgres);
        }
    };
    ($scenario:path => $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $scenario(&$crate::helpers::TestDb::sqlite());
        }

        #[test]
        fn $postgres() {
            if let Some(db) = $crate::helpers::TestDb::postgres() {
                $scenario(&db);
            }
        }
    };
}
