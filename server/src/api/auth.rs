//! Sign-in with an e-mail code, API tokens, and who am I.
//!
//! `POST /auth/code` mails a 6-digit code to a known user (and answers the
//! same for unknown addresses, so it cannot be used to find users);
//! `POST /auth/token` trades the code for an API token.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::State;
use crate::auth::AuthUser;
use crate::db;
use crate::db::models::audit::{self, Event};
use crate::db::models::code::{self, Check, Purpose};
use crate::db::models::{token, user};
use crate::error::{ApiError, ApiResult};
use crate::mail;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/code", web::post().to(request_code))
        .route("/auth/token", web::post().to(create_token))
        .route("/auth/logout", web::post().to(logout))
        .route("/me", web::get().to(me));
}

#[derive(Deserialize)]
struct CodeRequest {
    email: String,
}

fn email_of(raw: &str) -> ApiResult<String> {
    user::normalize_email(raw)
        .ok_or_else(|| ApiError::bad_request("invalid_email", "That is not a valid e-mail address."))
}

async fn request_code(state: State, body: web::Json<CodeRequest>) -> ApiResult<HttpResponse> {
    let email = email_of(&body.email)?;
    let key = state.key.clone();
    let issued = state
        .db
        .run(move |c| {
            if let Some(wait) = code::send_wait(c, Purpose::SignIn, "", &email)? {
                return Err(ApiError::rate_limited(wait as u64));
            }
            if user::find_by_email(c, &email)?.is_none() {
                return Ok(None);
            }
            Ok(Some((email.clone(), code::issue(c, &key, Purpose::SignIn, "", &email)?)))
        })
        .await?;
    if let Some((email, code)) = issued {
        state
            .mailer
            .send(mail::signin_code(&email, &code, &state.config.organisation.name))
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(HttpResponse::Accepted().json(json!({ "sent": true })))
}

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    code: String,
    #[serde(default)]
    label: Option<String>,
}

async fn create_token(state: State, body: web::Json<TokenRequest>) -> ApiResult<HttpResponse> {
    let email = email_of(&body.email)?;
    let key = state.key.clone();
    let body = body.into_inner();
    state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            let result = code::check(&tx, &key, Purpose::SignIn, "", &email, &body.code)?;
            let answer = match result {
                Check::Valid => {
                    let user = user::find_by_email(&tx, &email)?.ok_or_else(ApiError::unauthorized)?;
                    let label = body.label.as_deref().unwrap_or("signed in with an e-mail code");
                    let token = token::create(&tx, user.id, &label.chars().take(100).collect::<String>())?;
                    audit::record(&tx, Event::SignedIn, &format!("user:{email}"), None, None)?;
                    Ok(json!({ "token": token, "email": email }))
                }
                other => {
                    audit::record(&tx, Event::SignInFailed, &format!("user:{email}"), None, None)?;
                    Err(code_error(other))
                }
            };
            tx.commit()?;
            answer
        })
        .await
        .map(|body| HttpResponse::Ok().json(body))
}

/// The API error for a code that did not pass.
pub fn code_error(check: Check) -> ApiError {
    use actix_web::http::StatusCode;
    match check {
        Check::Valid => unreachable!("a valid code is not an error"),
        Check::Wrong { tries_left } => ApiError::new(StatusCode::UNAUTHORIZED, "wrong_code", "That code is not right.")
            .with("tries_left", tries_left),
        Check::Locked => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "locked", "Too many wrong codes. Ask for a new code.")
        }
        Check::Expired => {
            ApiError::new(StatusCode::UNAUTHORIZED, "code_expired", "That code has expired. Ask for a new code.")
        }
        Check::Missing => ApiError::new(StatusCode::UNAUTHORIZED, "no_code", "Ask for a code first."),
    }
}

async fn logout(state: State, auth: AuthUser) -> ApiResult<HttpResponse> {
    state.db.run(move |c| Ok(token::revoke(c, &auth.token)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(state: State, auth: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({ "email": auth.user.email, "organisation": state.config.organisation.name })))
}
