//! `azyq-server check`: proves the books on a database. It scans everything (it may take a while
//! at national scale, so it reports progress) and lists every mismatch.

use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

#[derive(QueryableByName)]
struct Detail {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// One rule of the books, as SQL listing the rows that break it.
struct Rule {
    name: &'static str,
    sql: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        name: "every voucher's money is in one place: amount = balance + held + charged - refunded + expired",
        sql: "SELECT 'voucher ' || id || ': amount ' || amount_tiyn || ' <> balance ' || balance_tiyn || ' + held ' || held_tiyn \
              || ' + charged ' || charged_tiyn || ' - refunded ' || refunded_tiyn || ' + expired ' || expired_tiyn AS detail \
              FROM vouchers WHERE balance_tiyn < 0 OR amount_tiyn <> balance_tiyn + held_tiyn + charged_tiyn - refunded_tiyn + expired_tiyn",
    },
    Rule {
        name: "held = what open baskets carry; charged = what paid baskets carry; refunded = what refunds returned",
        sql: "SELECT 'voucher ' || v.id || ': held ' || v.held_tiyn || '/' || COALESCE(h.s, 0) || ', charged ' || v.charged_tiyn || '/' \
              || COALESCE(p.s, 0) || ', refunded ' || v.refunded_tiyn || '/' || COALESCE(p.r, 0) AS detail FROM vouchers v \
              LEFT JOIN (SELECT bv.voucher_id, SUM(bv.charged_tiyn) AS s FROM basket_vouchers bv JOIN baskets b ON b.id = bv.basket_id \
                         WHERE b.status = 'authorized' GROUP BY bv.voucher_id) h ON h.voucher_id = v.id \
              LEFT JOIN (SELECT bv.voucher_id, SUM(bv.charged_tiyn) AS s, SUM(bv.refunded_tiyn) AS r FROM basket_vouchers bv \
                         JOIN baskets b ON b.id = bv.basket_id WHERE b.status IN ('captured', 'partly_refunded', 'refunded') \
                         GROUP BY bv.voucher_id) p ON p.voucher_id = v.id \
              WHERE v.held_tiyn <> COALESCE(h.s, 0) OR v.charged_tiyn <> COALESCE(p.s, 0) OR v.refunded_tiyn <> COALESCE(p.r, 0)",
    },
    Rule {
        name: "a basket's discount is the sum of its vouchers' shares, and with an offline sale's shortfall the sum of its lines",
        sql: "SELECT 'basket ' || b.id || ': discount ' || b.discount_tiyn || ' + shortfall ' || COALESCE(o.shortfall_tiyn, 0) || ', lines ' \
              || COALESCE(l.s, 0) || ', vouchers ' || COALESCE(v.s, 0) AS detail \
              FROM baskets b LEFT JOIN (SELECT basket_id, SUM(discount_tiyn) AS s FROM basket_lines GROUP BY basket_id) l ON l.basket_id = b.id \
              LEFT JOIN (SELECT basket_id, SUM(charged_tiyn) AS s FROM basket_vouchers GROUP BY basket_id) v ON v.basket_id = b.id \
              LEFT JOIN offline_sales o ON o.basket_id = b.id \
              WHERE b.discount_tiyn + COALESCE(o.shortfall_tiyn, 0) <> COALESCE(l.s, 0) OR b.discount_tiyn <> COALESCE(v.s, 0)",
    },
    Rule {
        name: "an offline sale applied has its captured basket, charged what the sale says; one refused has none",
        sql: "SELECT 'offline sale ' || o.sale_id || ': ' || o.status || ', basket ' || COALESCE(CAST(o.basket_id AS TEXT), 'none') \
              || ', charged ' || o.charged_tiyn || '/' || COALESCE(CAST(b.discount_tiyn AS TEXT), 'none') AS detail \
              FROM offline_sales o LEFT JOIN baskets b ON b.id = o.basket_id \
              WHERE (o.status = 'refused' AND o.basket_id IS NOT NULL) \
              OR (o.status <> 'refused' AND (b.id IS NULL OR b.discount_tiyn <> o.charged_tiyn OR b.captured_at <> o.sold_at))",
    },
    Rule {
        name: "after a month closes every voucher is lapsed, expired or exhausted (issued = activated + lapsed)",
        sql: "SELECT 'voucher ' || v.id || ' of closed month ' || v.month || ' is ' || v.status AS detail FROM vouchers v \
              JOIN months m ON m.month = v.month WHERE m.status = 'closed' AND v.status NOT IN ('lapsed', 'expired', 'exhausted')",
    },
    Rule {
        name: "the month-close counts agree with the vouchers",
        sql: "SELECT 'month ' || m.month || ': lapsed ' || m.lapsed || '/' || COALESCE(x.l, 0) || ', expired ' || m.expired || '/' || COALESCE(x.e, 0) \
              || ', expired_tiyn ' || m.expired_tiyn || '/' || COALESCE(x.et, 0) AS detail FROM months m LEFT JOIN \
              (SELECT month, SUM(CASE WHEN status = 'lapsed' THEN 1 ELSE 0 END) AS l, SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END) AS e, \
               SUM(expired_tiyn) AS et FROM vouchers GROUP BY month) x ON x.month = m.month \
              WHERE m.status = 'closed' AND (m.lapsed <> COALESCE(x.l, 0) OR m.expired <> COALESCE(x.e, 0) OR m.expired_tiyn <> COALESCE(x.et, 0))",
    },
    Rule {
        name: "report figures per day and shop = the captured baskets of that day",
        sql: "SELECT 'day ' || x.day || ' shop ' || x.shop_id || ': captured ' || COALESCE(s.baskets_captured, 0) || '/' || x.n \
              || ', discount ' || COALESCE(s.discount_tiyn, 0) || '/' || x.d || ', paid ' || COALESCE(s.paid_tiyn, 0) || '/' || x.p AS detail \
              FROM (SELECT business_day AS day, shop_id, COUNT(*) AS n, SUM(discount_tiyn) AS d, SUM(paid_tiyn) AS p FROM baskets \
                    WHERE business_day IS NOT NULL GROUP BY business_day, shop_id) x \
              LEFT JOIN day_shop_stats s ON s.day = x.day AND s.shop_id = x.shop_id \
              WHERE s.day IS NULL OR s.baskets_captured <> x.n OR s.discount_tiyn <> x.d OR s.paid_tiyn <> x.p \
              UNION ALL SELECT 'day ' || s.day || ' shop ' || s.shop_id || ': ' || s.baskets_captured || ' captured in the report, none in the baskets' \
              FROM day_shop_stats s WHERE s.baskets_captured > 0 AND NOT EXISTS \
              (SELECT 1 FROM baskets b WHERE b.business_day = s.day AND b.shop_id = s.shop_id)",
    },
    Rule {
        name: "report refunds per day and shop = the refunds of that day",
        sql: "SELECT 'day ' || x.day || ' shop ' || x.shop_id || ': refunds ' || COALESCE(s.refunds, 0) || '/' || x.n || ', tiyn ' \
              || COALESCE(s.refunded_tiyn, 0) || '/' || x.t AS detail FROM (SELECT r.business_day AS day, b.shop_id, COUNT(*) AS n, \
              SUM(r.refunded_tiyn) AS t FROM refunds r JOIN baskets b ON b.id = r.basket_id GROUP BY r.business_day, b.shop_id) x \
              LEFT JOIN day_shop_stats s ON s.day = x.day AND s.shop_id = x.shop_id \
              WHERE s.day IS NULL OR s.refunds <> x.n OR s.refunded_tiyn <> x.t \
              UNION ALL SELECT 'day ' || s.day || ' shop ' || s.shop_id || ': refunds in the report, none recorded' FROM day_shop_stats s \
              WHERE s.refunds > 0 AND NOT EXISTS (SELECT 1 FROM refunds r JOIN baskets b ON b.id = r.basket_id \
              WHERE r.business_day = s.day AND b.shop_id = s.shop_id)",
    },
    Rule {
        name: "report refusals per day and shop, and per day and recall = the refusals the tills were answered",
        sql: "SELECT 'day ' || x.day || ' shop ' || x.shop_id || ': over limit ' || COALESCE(s.refused_over_limit, 0) || '/' || x.o \
              || ', recalled ' || COALESCE(s.refused_recalled, 0) || '/' || x.r AS detail FROM (SELECT day, shop_id, \
              SUM(CASE WHEN code = 'price_over_limit' THEN 1 ELSE 0 END) AS o, SUM(CASE WHEN code = 'product_recalled' THEN 1 ELSE 0 END) AS r \
              FROM refusals GROUP BY day, shop_id) x LEFT JOIN day_shop_stats s ON s.day = x.day AND s.shop_id = x.shop_id \
              WHERE COALESCE(s.refused_over_limit, 0) <> x.o OR COALESCE(s.refused_recalled, 0) <> x.r \
              UNION ALL SELECT 'day ' || s.day || ' shop ' || s.shop_id || ': refusals in the report, none recorded' FROM day_shop_stats s \
              WHERE (s.refused_over_limit > 0 OR s.refused_recalled > 0) AND NOT EXISTS \
              (SELECT 1 FROM refusals f WHERE f.day = s.day AND f.shop_id = s.shop_id) \
              UNION ALL SELECT 'day ' || COALESCE(x.day, s.day) || ' recall ' || COALESCE(x.recall_id, s.recall_id) || ': refusals ' \
              || COALESCE(s.refusals, 0) || '/' || COALESCE(x.n, 0) FROM (SELECT day, recall_id, COUNT(*) AS n FROM refusals \
              WHERE recall_id IS NOT NULL GROUP BY day, recall_id) x FULL OUTER JOIN day_recall_stats s ON s.day = x.day AND s.recall_id = x.recall_id \
              WHERE COALESCE(s.refusals, 0) <> COALESCE(x.n, 0)",
    },
    Rule {
        name: "report goods per day, shop and group = the lines of that day's captured baskets",
        sql: "SELECT 'day ' || x.day || ' shop ' || x.shop_id || ' group ' || x.g || ': pieces ' || COALESCE(s.pieces, 0) || '/' || x.p \
              || ', grams ' || COALESCE(s.grams, 0) || '/' || x.gr || ', discount ' || COALESCE(s.discount_tiyn, 0) || '/' || x.d AS detail \
              FROM (SELECT b.business_day AS day, b.shop_id, l.group_code AS g, \
                    SUM(CASE WHEN l.unit = 'piece' THEN l.quantity ELSE 0 END) AS p, SUM(CASE WHEN l.unit = 'kg' THEN l.quantity ELSE 0 END) AS gr, \
                    SUM(l.discount_tiyn) AS d FROM basket_lines l JOIN baskets b ON b.id = l.basket_id WHERE b.business_day IS NOT NULL \
                    GROUP BY b.business_day, b.shop_id, l.group_code) x \
              LEFT JOIN day_goods_stats s ON s.day = x.day AND s.shop_id = x.shop_id AND s.group_code = x.g \
              WHERE s.day IS NULL OR s.pieces <> x.p OR s.grams <> x.gr OR s.discount_tiyn <> x.d",
    },
    Rule {
        name: "report voucher figures per region = the vouchers (issued, activated, lapsed, expired)",
        sql: "SELECT 'region ' || x.region || ': issued ' || COALESCE(s.i, 0) || '/' || x.i || ', activated ' || COALESCE(s.a, 0) || '/' || x.a \
              || ', lapsed ' || COALESCE(s.l, 0) || '/' || x.l || ', expired ' || COALESCE(s.e, 0) || '/' || x.e || ', expired_tiyn ' \
              || COALESCE(s.et, 0) || '/' || x.et AS detail FROM \
              (SELECT region, COUNT(*) AS i, SUM(CASE WHEN activated_at IS NOT NULL THEN 1 ELSE 0 END) AS a, \
               SUM(CASE WHEN status = 'lapsed' THEN 1 ELSE 0 END) AS l, SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END) AS e, \
               SUM(expired_tiyn) AS et FROM vouchers GROUP BY region) x LEFT JOIN \
              (SELECT region, SUM(vouchers_issued) AS i, SUM(vouchers_activated) AS a, SUM(vouchers_lapsed) AS l, SUM(vouchers_expired) AS e, \
               SUM(vouchers_expired_tiyn) AS et FROM day_region_stats GROUP BY region) s ON s.region = x.region \
              WHERE COALESCE(s.i, 0) <> x.i OR COALESCE(s.a, 0) <> x.a OR COALESCE(s.l, 0) <> x.l OR COALESCE(s.e, 0) <> x.e OR COALESCE(s.et, 0) <> x.et",
    },
    Rule {
        name: "a basket's refunded discount = its refunded lines' = its vouchers' refunded shares = its refunds'",
        sql: "SELECT 'basket ' || b.id || ': refunded lines ' || COALESCE(l.s, 0) || ', vouchers ' || COALESCE(v.s, 0) \
              || ', refunds ' || COALESCE(r.s, 0) AS detail FROM baskets b \
              LEFT JOIN (SELECT basket_id, SUM(discount_tiyn) AS s FROM basket_lines WHERE refunded GROUP BY basket_id) l ON l.basket_id = b.id \
              LEFT JOIN (SELECT basket_id, SUM(refunded_tiyn) AS s FROM basket_vouchers GROUP BY basket_id) v ON v.basket_id = b.id \
              LEFT JOIN (SELECT basket_id, SUM(refunded_tiyn) AS s FROM refunds GROUP BY basket_id) r ON r.basket_id = b.id \
              WHERE COALESCE(l.s, 0) <> COALESCE(v.s, 0) OR COALESCE(l.s, 0) <> COALESCE(r.s, 0) \
              OR (COALESCE(l.s, 0) > 0 AND b.status NOT IN ('partly_refunded', 'refunded'))",
    },
    Rule {
        name: "a basket's journal is one path of its state machine, ending in its status",
        sql: "SELECT 'basket ' || b.id || ' (' || b.status || '): left `authorized` ' || COALESCE(a.n, 0) || ' times, to ' \
              || COALESCE(a.to_states, '-') AS detail FROM baskets b LEFT JOIN \
              (SELECT entity_id, COUNT(*) AS n, MIN(to_state) AS to_states FROM audit_log \
               WHERE entity = 'basket' AND from_state = 'authorized' GROUP BY entity_id) a ON a.entity_id = CAST(b.id AS TEXT) \
              WHERE (b.status = 'authorized' AND COALESCE(a.n, 0) <> 0) OR (b.status <> 'authorized' AND COALESCE(a.n, 0) <> 1) \
              OR (b.status IN ('captured', 'partly_refunded', 'refunded') AND a.to_states <> 'captured') \
              OR (b.status IN ('cancelled', 'hold_expired') AND a.to_states <> b.status) \
              UNION ALL SELECT 'basket ' || b.id || ': ' || COALESCE(j.n, 0) || ' refunds journaled, ' || COALESCE(r.n, 0) || ' recorded' \
              FROM baskets b LEFT JOIN (SELECT entity_id, COUNT(*) AS n FROM audit_log WHERE entity = 'basket' \
              AND to_state IN ('partly_refunded', 'refunded') GROUP BY entity_id) j ON j.entity_id = CAST(b.id AS TEXT) \
              LEFT JOIN (SELECT basket_id, COUNT(*) AS n FROM refunds GROUP BY basket_id) r ON r.basket_id = b.id \
              WHERE COALESCE(j.n, 0) <> COALESCE(r.n, 0)",
    },
    Rule {
        name: "what a till was answered agrees with the basket: a capture only for a paid basket, a refund only for a refund recorded",
        sql: "SELECT 'basket ' || b.id || ' is ' || b.status || ' but a till was told it was captured' AS detail \
              FROM idempotency_keys k JOIN baskets b ON k.scope = b.shop_id || ':capture:' || CAST(b.id AS TEXT) \
              WHERE k.response <> '' AND b.status NOT IN ('captured', 'partly_refunded', 'refunded') \
              UNION ALL SELECT 'basket ' || b.id || ': ' || k.n || ' refunds answered, ' || COALESCE(r.n, 0) || ' recorded' \
              FROM (SELECT scope, COUNT(*) AS n FROM idempotency_keys WHERE scope LIKE '%:refund:%' AND response <> '' GROUP BY scope) k \
              JOIN baskets b ON k.scope = b.shop_id || ':refund:' || CAST(b.id AS TEXT) \
              LEFT JOIN (SELECT basket_id, COUNT(*) AS n FROM refunds GROUP BY basket_id) r ON r.basket_id = b.id \
              WHERE k.n > COALESCE(r.n, 0)",
    },
];

/// The rule checked in code: the refunds' line lists (JSON) against the lines marked refunded.
const LINES_REFUNDED_ONCE: &str =
    "every refunded line is in exactly one refund, and every line of a refund is refunded";

#[derive(QueryableByName)]
struct RefundRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    basket_id: i64,
    #[diesel(sql_type = Text)]
    lines: String,
}

#[derive(QueryableByName)]
struct RefundedLine {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    basket_id: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    idx: i32,
}

fn lines_refunded_once(conn: &mut Conn) -> AppResult<Vec<String>> {
    use std::collections::BTreeMap;
    let refunds: Vec<RefundRow> =
        with_conn!(conn, c => diesel::sql_query("SELECT basket_id, lines FROM refunds ORDER BY basket_id").load(c))?;
    let marked: Vec<RefundedLine> = with_conn!(conn, c => diesel::sql_query(
        "SELECT basket_id, idx FROM basket_lines WHERE refunded ORDER BY basket_id, idx").load(c))?;
    let mut by_refunds: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut out = Vec::new();
    for r in refunds {
        match serde_json::from_str::<Vec<i64>>(&r.lines) {
            Ok(lines) => by_refunds.entry(r.basket_id).or_default().extend(lines),
            Err(_) => out.push(format!("basket {}: a refund's line list is unreadable: {}", r.basket_id, r.lines)),
        }
    }
    let mut by_lines: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for l in marked {
        by_lines.entry(l.basket_id).or_default().push(i64::from(l.idx));
    }
    for (basket, mut lines) in by_refunds {
        lines.sort_unstable();
        let marked = by_lines.remove(&basket).unwrap_or_default();
        if lines != marked {
            out.push(format!("basket {basket}: refunds name lines {lines:?}, refunded lines are {marked:?}"));
        }
    }
    for (basket, marked) in by_lines {
        out.push(format!("basket {basket}: lines {marked:?} refunded without a refund"));
    }
    Ok(out)
}

/// What a rule found.
pub struct Finding {
    pub rule: &'static str,
    pub mismatches: Vec<String>,
}

/// Runs every rule; `progress` hears each rule's name and time as it finishes.
/// [`run`] on a database, its progress shown rule by rule (see [`crate::progress`]).
pub fn run_shown(db: &crate::db::Db) -> anyhow::Result<Vec<Finding>> {
    let progress = crate::progress::Progress::new("check", steps() as u64);
    let findings = db.read(|c| {
        run(c, |i, _, rule, took| progress.step(i as u64, &format!("{rule} ({:.1} s)", took.as_secs_f64())))
    })?;
    progress.finish();
    Ok(findings)
}

/// How many steps [`run`] reports: its rules, and the refunded-once check.
pub fn steps() -> usize {
    RULES.len() + 1
}

pub fn run(
    conn: &mut Conn,
    mut progress: impl FnMut(usize, usize, &str, std::time::Duration),
) -> AppResult<Vec<Finding>> {
    let total = steps();
    let mut out = Vec::with_capacity(total);
    for (i, rule) in RULES.iter().enumerate() {
        let started = Instant::now();
        let rows: Vec<Detail> = with_conn!(conn, c => diesel::sql_query(rule.sql).load(c))?;
        progress(i + 1, total, rule.name, started.elapsed());
        out.push(Finding { rule: rule.name, mismatches: rows.into_iter().map(|d| d.detail).collect() });
    }
    let started = Instant::now();
    let mismatches = lines_refunded_once(conn)?;
    progress(total, total, LINES_REFUNDED_ONCE, started.elapsed());
    out.push(Finding { rule: LINES_REFUNDED_ONCE, mismatches });
    Ok(out)
}
