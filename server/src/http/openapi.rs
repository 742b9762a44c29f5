//! The OpenAPI 3 document served at `/api/openapi.json`, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{operator, pos, public, reports, sms, wallet};

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
        sms::inbound,
        wallet::list_vouchers,
        wallet::activate,
        wallet::qr,
        wallet::qr_png,
        wallet::basket_history,
        wallet::feedback,
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
    ),
    components(schemas(azyq_shared::api::ErrorBody, azyq_shared::api::ErrorCode, azyq_shared::api::RejectCode)),
    modifiers(&Security)
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::shop_rules::ShopRulesDoc::openapi());
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
    doc
}
