//! `serve` and `demo`: the server, and the server with a seeded demo month and a till kit.

use crate::config::Settings;
use crate::domain::keys;
use crate::{demo, startup};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub fn serve(settings: Settings) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let db = startup::open_db(&settings).await?;
        let listener = startup::bind(&settings.listen)?;
        startup::serve(settings, db, listener).await
    })
}

fn hex_random() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

pub fn demo(mut settings: Settings) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let db = startup::open_db(&settings).await?;
        let clock = startup::clock_from(&settings);
        let now = clock.now();
        let seeded = {
            let (db, sms) = (db.clone(), settings.sms_policy()?);
            tokio::task::spawn_blocking(move || demo::seed(&db, &sms, now)).await??
        };
        let secret = match &settings.wallet_jwt_secret {
            Some(s) => s.clone(),
            None => {
                let s = format!("demo-{}", hex_random());
                settings.wallet_jwt_secret = Some(s.clone());
                s
            }
        };
        if settings.sms_gateway_secret.is_none() {
            settings.sms_gateway_secret = Some(format!("demo-{}", hex_random()));
        }
        // Bound before the banner, so that it names the port `:0` picked.
        let listener = startup::bind(&settings.listen)?;
        let base = format!("{}://{}", settings.scheme(), listener.local_addr()?);
        println!("{}", demo::banner(&seeded, &base, &secret, now)?);
        let rules = crate::domain::redeem::SaleRules { hold: settings.hold(), hours: settings.shop_hours()? };
        let (kit, sold) = {
            let db = db.clone();
            tokio::task::spawn_blocking(move || {
                db.write(|c| keys::ensure_key(c, now))?;
                let kit = demo::write_till_kit(&db, std::path::Path::new("demo"), now)?;
                anyhow::Ok((kit, demo::sell_today(&db, rules, now)?))
            })
            .await??
        };
        if sold > 0 {
            println!("Sold {sold} demo baskets at {} today: see them in the console's reports.", demo::SECOND_SHOP_ID);
        }
        println!("{}", demo::kit_banner(&kit, &base)?);
        startup::serve(settings, db, listener).await
    })
}
