//! `GET /healthz`: the metadata store answers.

use actix_web::{HttpResponse, get};
use kluis_protocol::api::Health;

use super::error::{ApiError, ApiResult};
use crate::State;

#[get("/healthz")]
pub(crate) async fn healthz(state: State) -> ApiResult<HttpResponse> {
    state.domain.meta.ping().await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(Health { status: "ok".into() }))
}
