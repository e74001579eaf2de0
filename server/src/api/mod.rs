//! The HTTP API under `/api/v1`, one module per area. The OpenAPI
//! description is `server/openapi.json`, served at `/api/v1/openapi.json`.

pub mod auth;
pub mod health;
pub mod packages;
pub mod recipients;
pub mod uploads;

use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(256 * 1024).error_handler(|e, _| {
        ApiError::bad_request("invalid_json", format!("The request body is not valid JSON for this call: {e}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()))
    .service(health::healthz)
    .service(
        web::scope("/api/v1")
            .configure(auth::configure)
            .configure(packages::configure)
            .configure(uploads::configure)
            .configure(recipients::configure)
            .route("/openapi.json", web::get().to(openapi))
            .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::not_found("API endpoint")) })),
    );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("../../openapi.json"))
}

/// RFC 3339 time for API answers.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// Package ids are 22 characters of base64url; anything else is not found
/// without touching the database.
pub fn check_package_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(ApiError::not_found("package"))
    }
}

/// The client's address, for logs and rate limits.
pub fn peer(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
}
