//! Complaints (Alg. p.29, SPEC §3.8): filed with a basket's rating or without a basket (a family
//! refused at the till has none), each routed to the akimat of the shop's region and queued, in the
//! transaction that files it, as a delivery to e-Otinish carrying what e-Otinish needs to answer
//! the citizen: the complainant's IIN, name and the family's phone, the shop, the akimat, the day,
//! the text and the basket. That personal data lives only in the delivery's payload: never in the
//! journal, the logs, the reports or the operator's list (which shows a masked name).

use azyq_shared::api::{Akimat, ComplaintFiled, ComplaintRequest, DeliveryKind, ErrorCode};
use azyq_shared::{mask_name, BusinessDay, Iin, Month};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{deliveries, secrets, text};
use crate::db::audit::{self, Entry};
use crate::db::schema::{complaints, family_months, feedback, localities, members, months, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Longest complaint kept, in characters.
pub const MAX_TEXT: usize = 2_000;

/// The akimat that answers complaints about shops of a region (Alg. p.3, p.29: the akimats of the
/// Akmola and Pavlodar regions run the pilot). The region is the KATO's first two digits; a region
/// the order does not name is still routed, by its code, to its own akimat.
pub fn akimat(region: &str) -> Akimat {
    let name = match region {
        "11" => "Акимат Акмолинской области".to_owned(),
        "55" => "Акимат Павлодарской области".to_owned(),
        other => format!("Акимат региона {other} (КАТО)"),
    };
    Akimat { region: region.to_owned(), name }
}

/// A shop and where it stands, as the pilot's data in the database say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopPlace {
    pub shop_id: String,
    pub name: String,
    pub address: String,
    pub kato: String,
    /// The pilot locality's name (Кокшетау, Акколь, Павлодар).
    pub locality: Option<String>,
}

/// A shop, its locality and the akimat its complaints go to: the locality's region, or the shop's
/// own KATO region where the locality is not on record. 404 `shop_not_found` for an unknown shop.
pub fn route(conn: &mut Conn, shop_id: &str) -> AppResult<(ShopPlace, Akimat)> {
    type Row = (String, String, String, String, String, Option<String>, Option<String>);
    let row: Option<Row> = with_conn!(conn, c => shops::table
        .left_join(localities::table.on(localities::kato.eq(shops::kato)))
        .filter(shops::shop_id.eq(shop_id))
        .select((shops::shop_id, shops::name, shops::address, shops::kato, shops::region, localities::name.nullable(), localities::region.nullable()))
        .first(c)
        .optional())?;
    let (shop_id, name, address, kato, shop_region, locality, locality_region) =
        row.ok_or_else(|| AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"))?;
    let akimat = akimat(locality_region.as_deref().unwrap_or(&shop_region));
    Ok((ShopPlace { shop_id, name, address, kato, locality }, akimat))
}

/// Who complains, as e-Otinish needs it to answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Complainant {
    pub iin: Option<String>,
    pub name: Option<String>,
    /// The family's phone (the applicant's, from the month's list), if any.
    pub phone: Option<String>,
}

/// What goes to e-Otinish for one complaint (the `payload` of its delivery).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComplaintPayload {
    pub complaint_id: i64,
    pub filed_at: DateTime<Utc>,
    /// `YYYY-MM-DD`, Asia/Almaty.
    pub occurred_on: String,
    pub text: String,
    pub basket_id: Option<i64>,
    pub rating: Option<i32>,
    pub complainant: Complainant,
    pub shop: ShopPlace,
    pub akimat: Akimat,
}

/// The recipient's name and family's phone: from the family-month given (a basket's), or from the
/// latest month the recipient is listed in.
fn complainant(conn: &mut Conn, iin: &Iin, family: Option<(&str, &str)>) -> AppResult<(Complainant, Option<String>)> {
    let member: Option<(String, String, String)> = with_conn!(conn, c => {
        let q = members::table
            .filter(members::iin.eq(iin.as_ref()))
            .order(members::month.desc())
            .select((members::name, members::month, members::family_id))
            .into_boxed();
        let q = match family {
            Some((month, family_id)) => q.filter(members::month.eq(month)).filter(members::family_id.eq(family_id)),
            None => q,
        };
        q.first(c).optional()
    })?;
    let Some((name, month, family_id)) = member else {
        return Ok((Complainant { iin: Some(iin.as_ref().to_owned()), name: None, phone: None }, None));
    };
    let phone = family_phone(conn, &month, &family_id)?;
    Ok((Complainant { iin: Some(iin.as_ref().to_owned()), name: Some(name), phone }, Some(family_id)))
}

/// The phone a family gave on the month's list, if any.
fn family_phone(conn: &mut Conn, month: &str, family_id: &str) -> AppResult<Option<String>> {
    Ok(with_conn!(conn, c => family_months::table
        .find((month, family_id))
        .select(family_months::phone)
        .first(c)
        .optional())?
    .flatten())
}

/// A complaint to file.
struct NewComplaint<'a> {
    basket_id: Option<i64>,
    rating: Option<i32>,
    occurred_on: BusinessDay,
    text: &'a str,
    dedup_key: Option<String>,
}

/// Files a complaint and queues its delivery, in the caller's transaction. `None` when a complaint
/// with the same `dedup_key` is filed already (then nothing is queued again).
fn file(
    conn: &mut Conn,
    iin: &Iin,
    shop_id: &str,
    family: Option<(&str, &str)>,
    new: NewComplaint<'_>,
    now: DateTime<Utc>,
) -> AppResult<(Option<i64>, Akimat)> {
    let (shop, akimat) = route(conn, shop_id)?;
    let (person, family_id) = complainant(conn, iin, family)?;
    let actor = secrets::recipient_actor(conn, iin)?;
    let month = new.occurred_on.month().map_err(|e| AppError::validation("occurred_on", e.to_string()))?.to_string();
    let id: Option<i64> = with_conn!(conn, c => diesel::insert_into(complaints::table)
        .values((
            complaints::basket_id.eq(new.basket_id),
            complaints::shop_id.eq(&shop.shop_id),
            complaints::region.eq(&akimat.region),
            complaints::family_id.eq(&family_id),
            complaints::month.eq(&month),
            complaints::occurred_on.eq(new.occurred_on.to_string()),
            complaints::text.eq(new.text),
            complaints::complainant.eq(&actor),
            complaints::complainant_masked.eq(person.name.as_deref().map(mask_name)),
            complaints::dedup_key.eq(&new.dedup_key),
            complaints::created_at.eq(now.naive_utc()),
        ))
        .on_conflict_do_nothing()
        .returning(complaints::id)
        .get_result(c)
        .optional())?;
    let Some(id) = id else { return Ok((None, akimat)) };
    let payload = ComplaintPayload {
        complaint_id: id,
        filed_at: now,
        occurred_on: new.occurred_on.to_string(),
        text: new.text.to_owned(),
        basket_id: new.basket_id,
        rating: new.rating,
        complainant: person,
        shop,
        akimat: akimat.clone(),
    };
    deliveries::enqueue(conn, DeliveryKind::Complaint, &id.to_string(), &payload, now)?;
    audit::record(
        conn,
        &[Entry::new(now, &actor, "complaint", id.to_string(), None, "queued") // an entity, not a state
            .detail(format!("shop={} akimat={}", shop_id, akimat.region))],
    )?;
    Ok((Some(id), akimat))
}

/// The earliest day a complaint may name: the first day of the first month the programme has on
/// record (nothing could happen at its tills before), or of this month when none is.
fn earliest_day(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<BusinessDay> {
    let first: Option<String> = with_conn!(conn, c => months::table.select(diesel::dsl::min(months::month)).first(c))?;
    let month = first.and_then(|m| Month::parse(&m).ok()).or_else(|| BusinessDay::of(now).month().ok());
    Ok(month.map_or(BusinessDay::of(now), |m| BusinessDay(m.first_day())))
}

/// Files a complaint about a shop without a basket (`POST /api/v1/wallet/complaints`). A second
/// identical one (same recipient, shop, day and text: a double tap) answers the first.
pub fn file_without_basket(
    conn: &mut Conn,
    iin: &Iin,
    req: &ComplaintRequest,
    now: DateTime<Utc>,
) -> AppResult<ComplaintFiled> {
    let shop_id = text::ident("shop_id", req.shop_id.trim())?;
    let complaint = text::free_text("text", &req.text, MAX_TEXT)?;
    let day =
        BusinessDay::parse(req.occurred_on.trim()).map_err(|e| AppError::validation("occurred_on", e.to_string()))?;
    if day > BusinessDay::of(now) {
        return Err(AppError::validation("occurred_on", "дата жалобы не может быть в будущем"));
    }
    let earliest = earliest_day(conn, now)?;
    if day < earliest {
        return Err(AppError::validation(
            "occurred_on",
            format!("дата жалобы не раньше начала программы ({earliest})"),
        ));
    }
    let actor = secrets::recipient_actor(conn, iin)?;
    let dedup = hex::encode(Sha256::digest(format!("{actor}\u{0}{shop_id}\u{0}{day}\u{0}{complaint}")));
    let new = NewComplaint {
        basket_id: None,
        rating: None,
        occurred_on: day,
        text: &complaint,
        dedup_key: Some(dedup.clone()),
    };
    let (id, akimat) = file(conn, iin, shop_id, None, new, now)?;
    let id = match id {
        Some(id) => id,
        None => with_conn!(conn, c => complaints::table
            .filter(complaints::dedup_key.eq(&dedup))
            .select(complaints::id)
            .first(c))?,
    };
    Ok(ComplaintFiled { complaint_id: id, shop_id: shop_id.to_owned(), occurred_on: day.to_string(), akimat })
}

/// A basket's complaint, filed with its rating (the feedback is given once per basket, so is this).
pub struct BasketComplaint<'a> {
    pub basket_id: i64,
    pub shop_id: &'a str,
    pub month: &'a str,
    pub family_id: &'a str,
    pub rating: i32,
    /// The day the basket was paid.
    pub paid_on: BusinessDay,
    pub text: &'a str,
}

/// Files a rated basket's complaint and queues its delivery, in the caller's transaction.
pub fn file_with_basket(conn: &mut Conn, iin: &Iin, b: &BasketComplaint<'_>, now: DateTime<Utc>) -> AppResult<()> {
    let new = NewComplaint {
        basket_id: Some(b.basket_id),
        rating: Some(b.rating),
        occurred_on: b.paid_on,
        text: b.text,
        dedup_key: None,
    };
    file(conn, iin, b.shop_id, Some((b.month, b.family_id)), new, now)?;
    Ok(())
}

/// Queues the deliveries of complaints that have none: those filed before deliveries existed
/// (their complainant was not recorded, so e-Otinish gets the family's phone only). Every complaint
/// filed since is queued in its own transaction; this finds nothing then.
pub fn queue_unqueued(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<usize> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let sql = format!(
        "SELECT c.id FROM complaints c WHERE NOT EXISTS (SELECT 1 FROM deliveries d \
         WHERE d.kind = {} AND d.delivery_key = CAST(c.id AS TEXT)) ORDER BY c.id LIMIT 500",
        if matches!(conn, Conn::Sqlite(_)) { "?" } else { "$1" }
    );
    let kind = DeliveryKind::Complaint.as_str();
    let ids: Vec<Id> = with_conn!(conn, c => diesel::sql_query(&sql).bind::<diesel::sql_types::Text, _>(kind).load(c))?;
    let mut queued = 0;
    for Id { id } in ids {
        type Row = (Option<i64>, String, String, Option<String>, String, String, String, NaiveDateTime);
        let (basket_id, shop_id, region, family_id, month, occurred_on, text, created_at): Row = with_conn!(conn, c => complaints::table
            .find(id)
            .select((complaints::basket_id, complaints::shop_id, complaints::region, complaints::family_id, complaints::month, complaints::occurred_on, complaints::text, complaints::created_at))
            .first(c))?;
        let (shop, _) = route(conn, &shop_id)?;
        let phone = match &family_id {
            Some(f) => family_phone(conn, &month, f)?,
            None => None,
        };
        let rating: Option<i32> = match basket_id {
            Some(b) => with_conn!(conn, c => feedback::table.find(b).select(feedback::rating).first(c).optional())?,
            None => None,
        };
        let payload = ComplaintPayload {
            complaint_id: id,
            filed_at: created_at.and_utc(),
            occurred_on,
            text,
            basket_id,
            rating,
            complainant: Complainant { iin: None, name: None, phone },
            shop,
            akimat: akimat(&region),
        };
        if deliveries::enqueue(conn, DeliveryKind::Complaint, &id.to_string(), &payload, now)? {
            queued += 1;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complaints_go_to_the_akimat_of_the_shops_region() {
        // The pilot's localities (Alg. p.1): Kokshetau and Akkol in the Akmola region, Pavlodar.
        for kato in ["111010000", "113220100"] {
            let region = azyq_shared::Kato::parse(kato).unwrap().region();
            assert_eq!(
                akimat(region.as_ref()),
                Akimat { region: "11".into(), name: "Акимат Акмолинской области".into() }
            );
        }
        let pavlodar = azyq_shared::Kato::parse("551010000").unwrap().region();
        assert_eq!(akimat(pavlodar.as_ref()).name, "Акимат Павлодарской области");
        // A region the order does not name still reaches its own akimat, by code.
        assert_eq!(akimat("75"), Akimat { region: "75".into(), name: "Акимат региона 75 (КАТО)".into() });
    }
}
