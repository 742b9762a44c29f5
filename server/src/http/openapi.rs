//! The OpenAPI 3 document served at `/api/openapi.json`, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{deliveries, metrics, operator, pos, public, reports, sms, wallet};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build());
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme("wallet", bearer());
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Azyq", description = "Digital food vouchers for recipients of targeted social assistance (shared/API.md)."),
    paths(
        public::health,
        public::voucher_keys,
        operator::create_session,
        operator::import_recipients,
        operator::consent_requests,
        operator::close_month,
        operator::put_localities,
        operator::get_localities,
        operator::put_shop,
        operator::get_shop,
        operator::create_cashier,
        operator::remove_cashier,
        operator::get_groups,
        operator::put_groups,
        operator::put_catalog,
        operator::get_catalog,
        operator::put_rates,
        operator::get_rates,
        operator::get_programme,
        operator::put_programme,
        sms::inbound,
        wallet::list_vouchers,
        wallet::activate,
        wallet::qr,
        wallet::qr_png,
        wallet::basket_history,
        wallet::feedback,
        wallet::notifications,
        wallet::complain,
        deliveries::list_deliveries,
        deliveries::list_complaints,
        pos::catalog,
        pos::lookup,
        pos::authorize,
        pos::get_basket,
        pos::capture,
        pos::cancel,
        pos::refund,
        pos::daily,
        reports::daily,
        reports::summary,
        reports::sdu_return,
        reports::reconciliation,
        reports::report_keys,
        metrics::metrics,
        crate::console::months::index,
    ),
    components(schemas(azyq_shared::api::ErrorBody, azyq_shared::api::ErrorCode, azyq_shared::api::RejectCode)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// Who may call a path: nobody needs to log in, a staff session (operator, viewer or cashier), or
/// a recipient's wallet token. The gateway's inbound SMS carries its own secret and says so itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Caller {
    Anyone,
    Staff,
    Wallet,
}

fn caller(path: &str, method: &utoipa::openapi::HttpMethod) -> Caller {
    use utoipa::openapi::HttpMethod;
    match path {
        "/health" | "/api/openapi.json" | "/api/v1/sms/inbound" => Caller::Anyone,
        "/api/v1/sessions" if *method == HttpMethod::Post => Caller::Anyone,
        p if p.starts_with("/.well-known/") => Caller::Anyone,
        p if p.starts_with("/api/v1/wallet/") => Caller::Wallet,
        _ => Caller::Staff,
    }
}

/// A unique operationId: the handler's name under its tag (`till_daily`, `reports_daily`).
fn operation_id(tag: Option<&str>, id: Option<&str>, method: &str, path: &str) -> String {
    let fallback = || {
        let words: Vec<&str> = path.split(['/', '.', '-', '{', '}']).filter(|w| !w.is_empty()).collect();
        format!("{method}_{}", words.join("_"))
    };
    match (tag, id) {
        (Some(tag), Some(id)) => format!("{tag}_{id}"),
        _ => fallback(),
    }
}

/// What the annotations leave to the router: each operation's security and the 401 (no or an
/// ended session) and 403 (a role or shop that may not) it can answer, and ids made unique.
fn secure(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{HttpMethod, Response};
    let methods = [
        (HttpMethod::Get, "get"),
        (HttpMethod::Put, "put"),
        (HttpMethod::Post, "post"),
        (HttpMethod::Delete, "delete"),
        (HttpMethod::Patch, "patch"),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, name) in &methods {
            let operation = match method {
                HttpMethod::Get => item.get.as_mut(),
                HttpMethod::Put => item.put.as_mut(),
                HttpMethod::Post => item.post.as_mut(),
                HttpMethod::Delete => item.delete.as_mut(),
                HttpMethod::Patch => item.patch.as_mut(),
                _ => None,
            };
            let Some(op) = operation else { continue };
            let tag = op.tags.as_ref().and_then(|t| t.first()).map(String::as_str);
            op.operation_id = Some(operation_id(tag, op.operation_id.as_deref(), name, path));
            let scheme = match caller(path, method) {
                Caller::Anyone => continue,
                Caller::Staff => "bearer",
                Caller::Wallet => "wallet",
            };
            op.security = Some(vec![SecurityRequirement::new::<_, _, &str>(scheme, [])]);
            let responses = &mut op.responses.responses;
            responses.entry("401".into()).or_insert_with(|| {
                Response::new("unauthorized: no token, or one that is invalid, expired or ended").into()
            });
            if scheme == "bearer" {
                responses
                    .entry("403".into())
                    .or_insert_with(|| Response::new("forbidden: the session's role or shop may not do this").into());
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::shop_rules::ShopRulesDoc::openapi());
    doc.merge(super::offline::OfflineDoc::openapi());
    // The document describes itself too.
    doc.paths.paths.entry("/api/openapi.json".into()).or_insert_with(|| {
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("The OpenAPI document"))
                .response("200", utoipa::openapi::Response::new("this document"))
                .build(),
        )
    });
    secure(&mut doc);
    doc
}
