//! The signed-in user's key (docs/inbound.md, "The user's key") and the
//! organisation's directory of recipients. Rules: `domain::keys`,
//! `domain::colleagues`.

use actix_web::{HttpResponse, web};
use kluis_protocol::inbound::{ColleagueKey, Colleagues, DirectoryEntry, DirectoryLookup, KeyState, KeyView, PutKey};
use serde::Deserialize;

use super::error::ApiResult;
use super::guard::SignedIn;
use super::rfc3339;
use crate::State;
use crate::domain::{colleagues, keys};
use crate::store::StoredKey;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/key", web::get().to(get))
        .route("/key", web::put().to(put))
        .route("/directory", web::get().to(directory))
        .route("/directory", web::post().to(lookup));
}

pub(super) fn view(k: StoredKey) -> KeyView {
    KeyView {
        recipient: k.recipient,
        wrapped: k.wrapped,
        recoverable: k.recovery.is_some(),
        recovery_recipient: k.recovery_recipient,
        created_at: rfc3339(k.created_at),
        updated_at: rfc3339(k.updated_at),
        must_change_passphrase: k.must_change,
    }
}

async fn get(state: State, auth: SignedIn) -> ApiResult<HttpResponse> {
    let (key, recovery_recipient) = keys::get(&state.domain, &auth.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(KeyState { key: key.map(view), recovery_recipient }))
}

async fn put(state: State, auth: SignedIn, body: web::Json<PutKey>) -> ApiResult<HttpResponse> {
    let key = keys::put(&state.domain, &auth.0, body.into_inner()).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(view(key)))
}

#[derive(Deserialize)]
struct DirectoryQuery {
    email: String,
}

async fn directory(state: State, auth: SignedIn, query: web::Query<DirectoryQuery>) -> ApiResult<HttpResponse> {
    let (user, recipient) = keys::colleague(&state.domain, &auth.0, &query.email).await?;
    Ok(HttpResponse::Ok().json(DirectoryEntry { email: user.email, recipient }))
}

/// Which of a package's recipients are colleagues with a key (the send page and `kluis send`).
async fn lookup(state: State, auth: SignedIn, body: web::Json<DirectoryLookup>) -> ApiResult<HttpResponse> {
    let found = colleagues::lookup(&state.domain, &auth.0, &body.emails).await?;
    let colleagues = found.into_iter().map(|(user, recipient)| ColleagueKey { email: user.email, recipient }).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(Colleagues { colleagues }))
}
