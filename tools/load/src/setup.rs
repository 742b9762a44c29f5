//! Setting up a month for the load through the real API, and the state file that lets a later
//! run (`--skip-setup`) reuse it.

use std::path::Path;
use std::time::{Duration, Instant};

use azyq_shared::api::{FamilyIn, RecipientList};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::basket;
use crate::client::Api;
use crate::people;

/// What a run needs to know about the setup; written as JSON to the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The month of the vouchers (Asia/Almaty), `YYYY-MM`.
    pub month: String,
    /// Shop ids, each with one cashier login.
    pub shops: Vec<String>,
    /// Tills per shop: the default concurrency is shops × tills.
    pub tills_per_shop: usize,
    pub cashier_login: String,
    pub cashier_password: String,
    /// Activated vouchers and their holders' (synthetic) IINs, for minting QR tokens.
    pub vouchers: Vec<StateVoucher>,
}

/// One activated voucher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateVoucher {
    pub id: i64,
    pub iin: String,
}

impl State {
    /// Writes the state file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Reads a state file written by an earlier setup.
    pub fn load(path: &Path) -> Result<State, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    }
}

/// What to set up.
pub struct SetupArgs {
    pub operator_login: String,
    pub operator_password: String,
    pub wallet_secret: String,
    pub gateway_secret: String,
    pub shops: usize,
    pub tills_per_shop: usize,
    pub vouchers: u32,
    pub kato: String,
    pub month: String,
    pub threads: usize,
    pub seed: u64,
}

/// A wallet JWT of the identity provider (HS256, claims `iin`, `aud`, `exp`), valid a day.
pub fn wallet_jwt(secret: &str, iin: &str) -> Result<String, String> {
    let exp = chrono::Utc::now().timestamp() + 86_400;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iin": iin, "aud": "azyq-wallet", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("signing a wallet JWT: {e}"))
}

fn expect_ok(what: &str, reply: &crate::client::Reply) -> Result<(), String> {
    if reply.ok() {
        Ok(())
    } else {
        Err(format!("{what}: {}", reply.describe()))
    }
}

fn step(started: Instant, what: &str) {
    println!("setup: {what} ({:.1} s)", started.elapsed().as_secs_f64());
}

/// Sets up shops, cashiers, the catalogue and `vouchers` activated vouchers; answers the state.
pub fn run(api: &Api, args: &SetupArgs) -> Result<State, String> {
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let tag = u32::try_from(args.seed % 200).unwrap_or_default();
    let login = json!({"login": args.operator_login, "password": args.operator_password});
    let reply = api.post("/api/v1/sessions", None, &login);
    expect_ok("operator log-in", &reply)?;
    let op = reply.str("token").ok_or("operator log-in: no token")?.to_owned();

    let mut localities = vec![
        json!({"kato": "111010000", "name": "Кокшетау"}),
        json!({"kato": "113220100", "name": "Акколь"}),
        json!({"kato": "551010000", "name": "Павлодар"}),
    ];
    if !localities.iter().any(|l| l["kato"] == args.kato.as_str()) {
        localities.push(json!({"kato": args.kato, "name": "Нагрузка"}));
    }
    expect_ok("localities", &api.put("/api/v1/localities", &op, &Value::Array(localities)))?;
    cover_month(api, &op, &args.month)?;

    let cashier_login = "load-kassa".to_owned();
    let cashier_password: String = (0..20).map(|_| char::from(rng.sample(rand::distributions::Alphanumeric))).collect();
    let shops: Vec<String> = (1..=args.shops).map(|s| format!("LOAD-{s:02}")).collect();
    for (i, shop) in shops.iter().enumerate() {
        let body = json!({"name": format!("Нагрузочный магазин {}", i + 1), "kato": args.kato,
                          "address": format!("ул. Нагрузочная, {}", i + 1)});
        expect_ok(shop, &api.put(&format!("/api/v1/shops/{shop}"), &op, &body))?;
        let body = json!({"login": cashier_login, "password": cashier_password});
        expect_ok(shop, &api.post(&format!("/api/v1/shops/{shop}/cashiers"), Some(&op), &body))?;
    }
    expect_ok("catalogue", &api.put("/api/v1/catalog", &op, &basket::catalog_body()))?;
    step(started, &format!("{} shops, a cashier each, {} products", shops.len(), basket::PRODUCTS.len()));

    let prefix = format!("LOAD-{}", args.seed % 1_000_000);
    let families = people::families(tag, args.vouchers, &args.kato, &prefix, &mut rng);
    upload(api, &op, &args.month, &families)?;
    let reply = api.post(&format!("/api/v1/months/{}/consent-requests", args.month), Some(&op), &json!({}));
    expect_ok("consent requests", &reply)?;
    step(started, &format!("{} families, {} members listed, consent SMS queued", families.len(), args.vouchers));

    let chunk = families.len().div_ceil(args.threads.max(1)).max(1);
    let mut vouchers = Vec::new();
    let mut failures = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> =
            families.chunks(chunk).map(|part| s.spawn(move || consent_and_activate(api, args, part))).collect();
        for h in handles {
            match h.join() {
                Ok(done) => {
                    vouchers.extend(done.vouchers);
                    failures.extend(done.failures);
                }
                Err(_) => failures.push("a setup thread panicked".to_owned()),
            }
        }
    });
    if !failures.is_empty() {
        println!("setup: {} families failed; the first: {}", failures.len(), failures[0]);
    }
    if vouchers.is_empty() {
        return Err("no voucher was activated".into());
    }
    step(
        started,
        &format!("{} families said yes, {} vouchers activated", families.len() - failures.len(), vouchers.len()),
    );
    Ok(State {
        month: args.month.clone(),
        shops,
        tills_per_shop: args.tills_per_shop,
        cashier_login,
        cashier_password,
        vouchers,
    })
}

/// Uploads the list in requests under the 1 MiB body limit; every row must be accepted.
/// Extends the programme's period over `month` where it does not reach it, as an operator records
/// an extension agreed by the parties (lists outside the period are refused).
fn cover_month(api: &Api, op: &str, month: &str) -> Result<(), String> {
    let reply = api.get("/api/v1/programme", Some(op));
    expect_ok("programme", &reply)?;
    let (from, to) = (reply.str("from_month").unwrap_or(month), reply.str("to_month").unwrap_or(month));
    // `YYYY-MM` strings order as the months do.
    let body = json!({"from_month": from.min(month), "to_month": to.max(month)});
    if body["from_month"] != from || body["to_month"] != to {
        expect_ok("programme", &api.put("/api/v1/programme", op, &body))?;
    }
    Ok(())
}

fn upload(api: &Api, op: &str, month: &str, families: &[FamilyIn]) -> Result<(), String> {
    const LIMIT: usize = 900 * 1024;
    let mut batch: Vec<FamilyIn> = Vec::new();
    let mut size = 0;
    let send = |batch: &mut Vec<FamilyIn>| -> Result<(), String> {
        let body =
            serde_json::to_value(RecipientList { families: std::mem::take(batch) }).map_err(|e| e.to_string())?;
        let reply = api.post(&format!("/api/v1/months/{month}/recipients"), Some(op), &body);
        expect_ok("recipients", &reply)?;
        match reply.body["rejected"].as_array() {
            Some(rejected) if rejected.is_empty() => Ok(()),
            _ => Err(format!("recipients refused (use a fresh database or another --seed): {}", reply.describe())),
        }
    };
    for f in families {
        let len = serde_json::to_string(f).map_err(|e| e.to_string())?.len() + 1;
        if size + len > LIMIT && !batch.is_empty() {
            send(&mut batch)?;
            size = 0;
        }
        size += len;
        batch.push(f.clone());
    }
    if !batch.is_empty() {
        send(&mut batch)?;
    }
    Ok(())
}

/// What one setup thread got done.
struct Activated {
    vouchers: Vec<StateVoucher>,
    /// One message per family that failed.
    failures: Vec<String>,
}

/// Each family answers yes by SMS; then each member activates their own voucher in the wallet.
fn consent_and_activate(api: &Api, args: &SetupArgs, families: &[FamilyIn]) -> Activated {
    // Its own connections: a shared agent keeps one idle connection per host.
    let api = Api::new(api.base(), Duration::from_secs(30));
    let mut vouchers = Vec::new();
    let mut failures = Vec::new();
    for family in families {
        match one_family(&api, args, family) {
            Ok(v) => vouchers.extend(v),
            Err(e) => failures.push(format!("{}: {e}", family.family_id)),
        }
    }
    Activated { vouchers, failures }
}

fn one_family(api: &Api, args: &SetupArgs, family: &FamilyIn) -> Result<Vec<StateVoucher>, String> {
    let phone = family.phone.as_deref().unwrap_or_default();
    let reply = api.send(
        "POST",
        "/api/v1/sms/inbound",
        None,
        &[("X-Gateway-Secret", &args.gateway_secret)],
        Some(&json!({"from": phone, "text": "21*1"})),
    );
    expect_ok("consent SMS", &reply)?;
    let applicant = family.members.first().ok_or("an empty family")?;
    let reply = api.get("/api/v1/wallet/vouchers", Some(&wallet_jwt(&args.wallet_secret, &applicant.iin)?));
    expect_ok("wallet vouchers", &reply)?;
    let listed = reply.body["vouchers"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for member in &family.members {
        let mine =
            listed.iter().find(|v| v["member_name"] == member.name.as_str() && v["month"] == args.month.as_str());
        let Some(id) = mine.and_then(|v| v["id"].as_i64()) else {
            return Err(format!("no voucher of {} for {} in {}", args.month, member.name, reply.describe()));
        };
        let jwt = wallet_jwt(&args.wallet_secret, &member.iin)?;
        let reply = api.post(&format!("/api/v1/wallet/vouchers/{id}/activate"), Some(&jwt), &json!({}));
        expect_ok("activation", &reply)?;
        out.push(StateVoucher { id, iin: member.iin.clone() });
    }
    Ok(out)
}
