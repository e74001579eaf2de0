//! `GET /healthz`: the database answers.

use actix_web::{HttpResponse, get};
use serde_json::json;

use crate::State;
use crate::error::ApiResult;

#[get("/healthz")]
pub async fn healthz(state: State) -> ApiResult<HttpResponse> {
    state.db.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}
