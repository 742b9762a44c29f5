//! Statements and round trips per sale, from the servers' own counts (`GET /metrics`:
//! `azyq_db_statements_total`, `azyq_db_round_trips_total`, `azyq_db_prepared_total`,
//! `azyq_sales_total`), read before and after the run and summed over the servers.

use std::time::Duration;

/// The counters of interest, summed over the servers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub statements: f64,
    pub round_trips: f64,
    pub prepared: f64,
    pub sales: f64,
    pub holds: f64,
}

/// The value of an unlabelled counter in Prometheus text.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn parse(text: &str) -> Option<Counts> {
    Some(Counts {
        statements: value(text, "azyq_db_statements_total")?,
        round_trips: value(text, "azyq_db_round_trips_total").unwrap_or(0.0),
        prepared: value(text, "azyq_db_prepared_total").unwrap_or(0.0),
        sales: value(text, "azyq_sales_total").unwrap_or(0.0),
        holds: value(text, "azyq_holds_total").unwrap_or(0.0),
    })
}

/// Reads every server's counts now; `None` if one does not answer them (an older server).
pub fn read(servers: &[String], timeout: Duration) -> Option<Counts> {
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let mut sum = Counts::default();
    for base in servers {
        let text = agent.get(&format!("{}/metrics", base.trim_end_matches('/'))).call().ok()?.into_string().ok()?;
        let c = parse(&text)?;
        sum.statements += c.statements;
        sum.round_trips += c.round_trips;
        sum.prepared += c.prepared;
        sum.sales += c.sales;
        sum.holds += c.holds;
    }
    Some(sum)
}

/// The line the report prints: per captured sale, over everything the servers ran meanwhile
/// (look-ups, mints, cancels and refunds of the mix included).
pub fn line(before: Option<Counts>, after: Option<Counts>) -> String {
    let (Some(b), Some(a)) = (before, after) else {
        return "database: the servers' /metrics gave no statement counts".into();
    };
    let sales = a.sales - b.sales;
    if sales <= 0.0 {
        return "database: no sale captured, no statements per sale".into();
    }
    let per = |x: f64| x / sales;
    format!(
        "database: {:.1} statements per sale, {:.1} round trips per sale (PostgreSQL; 0 on SQLite), {:.2} prepares per sale; {} statements over {} sales and {} holds",
        per(a.statements - b.statements),
        per(a.round_trips - b.round_trips),
        per(a.prepared - b.prepared),
        a.statements - b.statements,
        sales,
        a.holds - b.holds
    )
}

/// The look-up-only run's line: statements per look-up answered 2xx (the session check included).
pub fn lookup_line(before: Option<Counts>, after: Option<Counts>, lookups: u64) -> String {
    match (before, after) {
        (Some(b), Some(a)) if lookups > 0 => format!(
            "database: {:.2} statements per look-up, {:.2} round trips per look-up (PostgreSQL; 0 on SQLite)",
            (a.statements - b.statements) / lookups as f64,
            (a.round_trips - b.round_trips) / lookups as f64
        ),
        (Some(_), Some(_)) => "database: no look-up answered, no statements per look-up".into(),
        _ => "database: the servers' /metrics gave no statement counts".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_prometheus_text() {
        let text = "# TYPE azyq_db_statements_total counter\nazyq_db_statements_total 1200\nazyq_db_round_trips_total 0\nazyq_sales_total 100\nazyq_sales_discount_tiyn_total 5\n";
        let c = parse(text).unwrap();
        assert_eq!((c.statements, c.sales, c.holds), (1200.0, 100.0, 0.0));
        let before = Counts { statements: 200.0, sales: 50.0, ..c };
        assert!(line(Some(before), Some(c)).starts_with("database: 20.0 statements per sale"));
        assert!(parse("azyq_sales_total 1\n").is_none(), "a server without the counts says so");
        assert!(lookup_line(Some(before), Some(c), 500).starts_with("database: 2.00 statements per look-up"));
        assert!(lookup_line(Some(before), Some(c), 0).contains("no look-up"));
        assert!(lookup_line(None, Some(c), 5).contains("no statement counts"));
    }
}
