//! The signed-in user's own API tokens: list them, revoke one.

use actix_web::{HttpResponse, web};
use kluis_protocol::api::{TokenInfo, TokenList};

use super::error::ApiResult;
use super::guard::SignedIn;
use super::rfc3339;
use crate::State;
use crate::domain::accounts;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tokens", web::get().to(list)).route("/tokens/{id}", web::delete().to(revoke));
}

async fn list(state: State, auth: SignedIn) -> ApiResult<HttpResponse> {
    let tokens = accounts::tokens(&state.domain, &auth.0).await?;
    let tokens = tokens
        .into_iter()
        .map(|(t, expires_at)| TokenInfo {
            id: t.id,
            label: t.label,
            created_at: rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(rfc3339),
            expires_at: rfc3339(expires_at),
            current: t.id == auth.0.token_id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(TokenList { tokens }))
}

async fn revoke(state: State, auth: SignedIn, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    accounts::revoke_token(&state.domain, &auth.0, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
