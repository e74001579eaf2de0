//! The organisation's policy, and verdicts of the send-time check.
//!
//! `GET /policy` needs no sign-in: Outlook runs the send check before anyone
//! may have signed in to the add-in, in classic Outlook from a runtime whose
//! origin is not this server's, hence the CORS headers (no cookies are ever
//! involved: bearer tokens only). `POST /policy/verdicts` records a verdict
//! for the signed-in user.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use kluis_protocol::api::VerdictReport;

use super::error::ApiResult;
use super::guard::SignedIn;
use crate::State;
use crate::domain::{accounts, policy};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    // Only the reading needs the per-client limit of unauthenticated calls; verdicts come
    // with a token, and an office behind one address must not spend its sign-ins on them.
    cfg.service(
        web::resource("/policy")
            .wrap(actix_web::middleware::from_fn(super::limit::unauthenticated))
            .route(web::get().to(view)),
    )
    .service(
        web::resource("/policy/verdicts")
            .route(web::post().to(record))
            .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
    );
}

async fn view(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    // A token is optional here: with one, the caller's organisation's settings apply.
    let caller = match super::guard::bearer(&req) {
        Some(token) => accounts::authenticate(&state.domain, &token).await.ok(),
        None => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(policy::view(&state.domain, caller.as_ref()).await?))
}

async fn record(state: State, auth: SignedIn, body: web::Json<VerdictReport>) -> ApiResult<HttpResponse> {
    policy::record_verdict(&state.domain, &auth.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")).finish())
}

async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}
