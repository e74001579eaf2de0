//! Sign-in with an e-mail code, and who am I.
//!
//! `POST /auth/code` mails a 6-digit code to a known user and answers the
//! same, with the same limits, for unknown addresses; `POST /auth/token`
//! trades the code for an API token. Both are rate-limited per client.

use actix_web::{HttpRequest, HttpResponse, web};
use kluis_protocol::api::{CodeAccepted, LicenceNotice, Me, SignInCodeRequest, TokenCreated, TokenRequest};

use super::client;
use super::error::ApiResult;
use super::guard::SignedIn;
use crate::State;
use crate::domain::{accounts, licences, organisations};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/auth")
            .wrap(actix_web::middleware::from_fn(super::limit::unauthenticated))
            .route("/code", web::post().to(request_code))
            .route("/token", web::post().to(create_token))
            .route("/logout", web::post().to(logout))
            .route("/sso", web::get().to(super::sso::start))
            .route("/sso/token", web::post().to(super::sso::token)),
    )
    .route("/me", web::get().to(me));
}

async fn request_code(state: State, req: HttpRequest, body: web::Json<SignInCodeRequest>) -> ApiResult<HttpResponse> {
    accounts::request_code(&state.domain, &body.email, &client(&req)).await?;
    state.mail_wake.notify_one();
    Ok(HttpResponse::Accepted().json(CodeAccepted { sent: true }))
}

async fn create_token(state: State, req: HttpRequest, body: web::Json<TokenRequest>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let signed_in =
        accounts::sign_in(&state.domain, &body.email, &body.code, body.label.as_deref(), &client(&req)).await;
    // A refusal may have queued mail too (the lock notice).
    state.mail_wake.notify_one();
    let (token, email) = signed_in?;
    Ok(HttpResponse::Ok().json(TokenCreated { token, email }))
}

async fn logout(state: State, auth: SignedIn) -> ApiResult<HttpResponse> {
    accounts::revoke_token(&state.domain, &auth.0, auth.0.token_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(state: State, auth: SignedIn) -> ApiResult<HttpResponse> {
    let organisation = organisations::get(&state.domain, auth.0.user.org_id).await?.name;
    let (now, refusal) = licences::sending(&state.domain, &auth.0).await?;
    let (kind, days_left) = now.summary();
    let licence = LicenceNotice { state: kind.into(), days_left, seats_total: now.seats_total };
    let cannot_send = refusal.map(|e| super::error::ApiError::from(e).detail());
    Ok(HttpResponse::Ok().json(Me { email: auth.0.user.email, organisation, licence, cannot_send }))
}
