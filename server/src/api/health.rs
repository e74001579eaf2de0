//! For load balancers and monitoring: `GET /healthz` (alive: the metadata
//! store answers), `GET /readyz` (ready for traffic: the metadata store
//! answers and the blob store takes a write), `GET /metrics` (Prometheus,
//! with the token of `[metrics]`; see `metrics.rs`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get};
use kluis_protocol::api::Health;

use super::error::{ApiError, ApiResult};
use crate::State;
use crate::metrics::Gauges;
use crate::secrets::{digests_equal, sha256_hex};

#[get("/healthz")]
pub(crate) async fn healthz(state: State) -> ApiResult<HttpResponse> {
    state.domain.meta.ping().await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(Health { status: "ok".into() }))
}

/// 503 `not_ready` names which store failed (the cause only in the log).
#[get("/readyz")]
pub(crate) async fn readyz(state: State) -> ApiResult<HttpResponse> {
    let not_ready = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "not ready: the {what} fails");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", format!("The {what} does not answer."))
    };
    state.domain.meta.ping().await.map_err(|e| not_ready("metadata store", &e))?;
    state.domain.blobs.ready().await.map_err(|e| not_ready("blob store", &e))?;
    Ok(HttpResponse::Ok().json(Health { status: "ok".into() }))
}

/// Only with `Authorization: Bearer <metrics.token>`; "not found" otherwise,
/// and always when no token is configured.
#[get("/metrics")]
pub(crate) async fn metrics(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    let configured = state.config.metrics.token.as_deref().ok_or_else(|| ApiError::not_found("endpoint"))?;
    let given = super::guard::bearer(&req).unwrap_or_default();
    // Digests of equal length, compared in constant time: nothing about the token leaks.
    if !digests_equal(&sha256_hex(given.as_bytes()), &sha256_hex(configured.as_bytes())) {
        return Err(ApiError::not_found("endpoint"));
    }
    let mail_queue = state.domain.meta.mail_queue_length().await.map_err(ApiError::internal)?;
    let gauges = Gauges { mail_queue, in_flight: state.in_flight.total() };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render(&gauges)))
}
