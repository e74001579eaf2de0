//! The HTTP API under `/api/v1`, one module per area. Handlers parse the
//! request, call `domain`, and map the result to HTTP; they hold no rules
//! and no SQL. The OpenAPI description is `server/openapi.json`, served at
//! `/api/v1/openapi.json`; wire types are `kluis_protocol::api`.

mod admin;
mod auth;
pub(crate) mod error;
mod guard;
mod health;
mod inbox;
pub(crate) mod keys;
pub(crate) mod limit;
pub(crate) mod packages;
mod policy;
mod recipients;
mod requests;
mod sso;
mod tokens;
mod uploads;

use actix_web::{HttpRequest, HttpResponse, web};
use kluis_crypto::package::PackageId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use self::error::ApiError;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config(256 * 1024))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            ApiError::bad_request("invalid_query", format!("The query string is not valid for this call: {e}")).into()
        }))
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .configure(sso::configure)
        .service(
            web::scope("/api/v1")
                .configure(auth::configure)
                .configure(admin::configure)
                .configure(tokens::configure)
                .configure(packages::configure)
                .configure(policy::configure)
                .configure(uploads::configure)
                .configure(recipients::configure)
                .configure(keys::configure)
                .configure(requests::configure)
                .configure(inbox::configure)
                .route("/openapi.json", web::get().to(openapi))
                .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::not_found("API endpoint")) })),
        );
}

/// JSON bodies up to `limit` bytes; anything else is a 400 `invalid_json`.
pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(|e, _| {
        ApiError::bad_request("invalid_json", format!("The request body is not valid JSON for this call: {e}")).into()
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("../../openapi.json"))
}

/// RFC 3339 time for API answers.
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// A package id from a path: anything that is not one is "not found"
/// without touching the store (one grammar: `kluis_crypto::package::PackageId`).
pub(crate) fn package_id(raw: &str) -> Result<PackageId, ApiError> {
    PackageId::parse(raw).map_err(|_| ApiError::not_found("package"))
}

/// The client's network address, for rate limits and the audit log.
pub(crate) fn client(req: &HttpRequest) -> String {
    limit::client_ip(req).map(|ip| ip.to_string()).unwrap_or_default()
}
