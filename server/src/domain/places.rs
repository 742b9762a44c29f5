//! Pilot localities and the shops in them.

use azyq_shared::api::{ErrorCode, Locality, Shop, ShopBody};
use azyq_shared::Kato;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::text;
use crate::db::audit::{self, Entry};
use crate::db::schema::{localities, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Replaces the set of pilot localities. Localities dropped from the pilot stay known (shops and
/// old lists may name them) but no longer accept new recipients.
pub fn put_localities(conn: &mut Conn, list: &[Locality], actor: &str, now: DateTime<Utc>) -> AppResult<Vec<Locality>> {
    let mut parsed = Vec::with_capacity(list.len());
    for (i, l) in list.iter().enumerate() {
        let kato = Kato::parse(&l.kato).map_err(|e| AppError::validation(&format!("[{i}].kato"), e.to_string()))?;
        let name = text::label(&format!("[{i}].name"), &l.name, text::NAME_MAX)?;
        parsed.push((kato, name));
    }
    with_conn!(conn, c => diesel::update(localities::table).set(localities::pilot.eq(false)).execute(c))?;
    for (kato, name) in &parsed {
        let row = (
            localities::kato.eq(kato.as_ref()),
            localities::name.eq(name),
            localities::region.eq(kato.region().as_ref().to_owned()),
            localities::pilot.eq(true),
        );
        with_conn!(conn, c => diesel::insert_into(localities::table)
            .values(row)
            .on_conflict(localities::kato)
            .do_update()
            .set((localities::name.eq(name), localities::pilot.eq(true)))
            .execute(c))?;
    }
    audit::record(
        conn,
        &[Entry::new(now, actor, "localities", "pilot", None, "replaced")
            .detail(format!("{} localities", parsed.len()))],
    )?;
    pilot_localities(conn)
}

pub fn pilot_localities(conn: &mut Conn) -> AppResult<Vec<Locality>> {
    let rows: Vec<(String, String)> = with_conn!(conn, c => localities::table
        .filter(localities::pilot.eq(true))
        .order(localities::kato)
        .select((localities::kato, localities::name))
        .load(c))?;
    Ok(rows.into_iter().map(|(kato, name)| Locality { kato, name }).collect())
}

/// Creates or updates a shop; it must stand in a pilot locality.
pub fn put_shop(conn: &mut Conn, shop_id: &str, body: &ShopBody, actor: &str, now: DateTime<Utc>) -> AppResult<Shop> {
    let shop_id = text::ident("shop_id", shop_id.trim())?;
    text::label("name", &body.name, text::NAME_MAX)?;
    text::label("address", &body.address, text::ADDRESS_MAX)?;
    let kato = Kato::parse(&body.kato).map_err(|e| AppError::validation("kato", e.to_string()))?;
    let pilot: Option<bool> = with_conn!(conn, c => localities::table
        .find(kato.as_ref())
        .select(localities::pilot)
        .first(c)
        .optional())?;
    if pilot != Some(true) {
        return Err(AppError::validation("kato", "магазин должен находиться в населённом пункте пилота"));
    }
    let existed: bool =
        with_conn!(conn, c => diesel::select(diesel::dsl::exists(shops::table.find(shop_id))).get_result(c))?;
    let row = (
        shops::shop_id.eq(shop_id),
        shops::name.eq(body.name.trim()),
        shops::kato.eq(kato.as_ref()),
        shops::region.eq(kato.region().as_ref().to_owned()),
        shops::address.eq(body.address.trim()),
        shops::updated_at.eq(now.naive_utc()),
    );
    with_conn!(conn, c => diesel::insert_into(shops::table)
        .values(row)
        .on_conflict(shops::shop_id)
        .do_update()
        .set((
            shops::name.eq(body.name.trim()),
            shops::kato.eq(kato.as_ref()),
            shops::region.eq(kato.region().as_ref().to_owned()),
            shops::address.eq(body.address.trim()),
            shops::updated_at.eq(now.naive_utc()),
        ))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, actor, "shop", shop_id, existed.then_some("active"), "active")])?;
    get_shop(conn, shop_id)
}

pub fn get_shop(conn: &mut Conn, shop_id: &str) -> AppResult<Shop> {
    let row: Option<(String, String, String, String)> = with_conn!(conn, c => shops::table
        .find(shop_id)
        .select((shops::shop_id, shops::name, shops::kato, shops::address))
        .first(c)
        .optional())?;
    let (shop_id, name, kato, address) =
        row.ok_or_else(|| AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"))?;
    Ok(Shop { shop_id, name, kato, address })
}
