//! Who sells where: the shops and their cashiers as the console lists them (reads only; the
//! changes are `places::put_shop` and `accounts::{upsert_cashier, remove_cashier}`).

use azyq_shared::api::Shop;
use diesel::prelude::*;

use crate::db::schema::{cashiers, shops};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// A shop and the logins of its cashiers (removed ones left out).
#[derive(Debug, Clone)]
pub struct ShopRoster {
    pub shop: Shop,
    pub cashiers: Vec<String>,
}

/// Every shop by id, with its cashiers by login.
pub fn shops(conn: &mut Conn) -> AppResult<Vec<ShopRoster>> {
    let rows: Vec<(String, String, String, String)> = with_conn!(conn, c => shops::table
        .order(shops::shop_id)
        .select((shops::shop_id, shops::name, shops::kato, shops::address))
        .load(c))?;
    let staff: Vec<(String, String)> = with_conn!(conn, c => cashiers::table
        .filter(cashiers::removed_at.is_null())
        .order((cashiers::shop_id, cashiers::login))
        .select((cashiers::shop_id, cashiers::login))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(shop_id, name, kato, address)| {
            let cashiers = staff.iter().filter(|(s, _)| *s == shop_id).map(|(_, l)| l.clone()).collect();
            ShopRoster { shop: Shop { shop_id, name, kato, address }, cashiers }
        })
        .collect())
}
