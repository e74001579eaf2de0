//! Single sign-on with OpenID Connect (`domain/sso.rs`).
//!
//! - `GET /api/v1/auth/sso?email=&to=` answers `{"sso": false}` (sign in with a
//!   mailed code) or `{"sso": true, "url": …}` (go to the provider) with a
//!   browser cookie that the callback requires; it tells only whether the
//!   address's mail domain belongs to an organisation with single sign-on.
//! - `GET /auth/sso/callback` is where the provider sends the browser back:
//!   it ends on the page the sign-in started from (`to`: the send page, the
//!   admin console or the add-in's sign-in dialog) with `#sso=<handoff>` or
//!   `#sso_error=<code>`.
//! - `POST /api/v1/auth/sso/token` trades the handoff (single use, 60 s) for a session token.
//!
//! All three are rate-limited like the other sign-in calls.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use kluis_protocol::api::TokenCreated;
use serde::Deserialize;
use serde_json::json;

use super::client;
use super::error::{ApiError, ApiResult};
use crate::State;
use crate::domain::DomainError;
use crate::domain::sso::{self, CALLBACK_PATH, Callback, Start};

/// The cookie that ties a sign-in at the provider to the browser that started it.
const COOKIE: &str = "kluis_sso";

#[derive(Deserialize)]
pub(super) struct StartQuery {
    email: String,
    #[serde(default)]
    to: Landing,
}

/// The page a sign-in at the provider ends on: one of these, never a URL the
/// caller names (no open redirect). It travels in the cookie, before the
/// cookie's random part, so even a sign-in that expired lands where it began.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Landing {
    /// The send page.
    #[default]
    Send,
    /// The admin console.
    Admin,
    /// The Outlook add-in's sign-in dialog, which hands the result to the task pane.
    Addin,
}

impl Landing {
    fn name(self) -> &'static str {
        match self {
            Landing::Send => "send",
            Landing::Admin => "admin",
            Landing::Addin => "addin",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Landing::Send => "/",
            Landing::Admin => "/admin/",
            Landing::Addin => "/addin/sso.html",
        }
    }

    /// The landing and the browser's random part of a cookie value `<landing>.<random>`.
    fn split(cookie: Option<&str>) -> (Landing, Option<&str>) {
        let Some((name, random)) = cookie.and_then(|c| c.split_once('.')) else { return (Landing::Send, cookie) };
        let landing = [Landing::Send, Landing::Admin, Landing::Addin].into_iter().find(|l| l.name() == name);
        (landing.unwrap_or(Landing::Send), Some(random))
    }
}

/// The `Set-Cookie` value: only for the callback, not for scripts, sent on the provider's top-level redirect.
fn cookie(state: &State, value: &str, max_age: i64) -> (header::HeaderName, String) {
    let secure = if state.domain.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path={CALLBACK_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    (header::SET_COOKIE, cookie)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get_all(header::COOKIE).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

pub(super) async fn start(state: State, query: web::Query<StartQuery>) -> ApiResult<HttpResponse> {
    let started = sso::start(&state.domain, &query.email).await.map_err(|e| match e {
        // The provider's trouble, not the caller's: 503, and the page says so.
        DomainError::Invalid { code: "sso_unavailable", message } => {
            ApiError::new(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "sso_unavailable", message)
        }
        other => other.into(),
    })?;
    let answer = match started {
        Start::Code => HttpResponse::Ok().json(json!({ "sso": false })),
        Start::Provider { url, browser } => HttpResponse::Ok()
            .insert_header(cookie(&state, &format!("{}.{browser}", query.to.name()), 600))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({ "sso": true, "url": url })),
    };
    Ok(answer)
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// Always a redirect to the page the sign-in began on: signed in (a handoff
/// in the fragment, which never reaches a server or its logs) or with an error code.
pub(super) async fn callback(state: State, req: HttpRequest, query: web::Query<CallbackQuery>) -> HttpResponse {
    let query = query.into_inner();
    let sent = cookie_value(&req, COOKIE);
    let (landing, browser) = Landing::split(sent.as_deref());
    let callback = Callback { code: query.code, state: query.state, error: query.error, iss: query.iss };
    let outcome = sso::finish(&state.domain, callback, browser, &client(&req)).await;
    let fragment = match &outcome {
        Ok(handoff) => format!("sso={handoff}"),
        Err(failure) => format!("sso_error={}", failure.code()),
    };
    let mut answer = HttpResponse::SeeOther();
    answer
        .insert_header((header::LOCATION, format!("{}#{fragment}", landing.path())))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"));
    // The add-in's dialog hands the result to the task pane through its opener
    // (Office's messageParent): a same-origin opener policy here would cut it off.
    if landing == Landing::Addin {
        answer.insert_header(("Cross-Origin-Opener-Policy", "unsafe-none"));
    }
    // The cookie is done with once its sign-in is (a callback with a state never given leaves it alone).
    if outcome.as_ref().err() != Some(&sso::Failure::Expired) {
        answer.insert_header(cookie(&state, "", 0));
    }
    answer.finish()
}

/// Lets `/auth/sso/callback` take a query string that does not fit (e.g. no `code`) to the send page.
pub(super) fn callback_query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _| {
        actix_web::error::InternalError::from_response(
            e,
            HttpResponse::SeeOther().insert_header((header::LOCATION, "/#sso_error=expired")).finish(),
        )
        .into()
    })
}

#[derive(Deserialize)]
pub(super) struct TradeRequest {
    handoff: String,
    #[serde(default)]
    label: Option<String>,
}

pub(super) async fn token(state: State, body: web::Json<TradeRequest>) -> ApiResult<HttpResponse> {
    let (token, email) = sso::trade(&state.domain, &body.handoff, body.label.as_deref()).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(TokenCreated { token, email }))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(CALLBACK_PATH)
            .app_data(callback_query_config())
            .wrap(actix_web::middleware::from_fn(super::limit::unauthenticated))
            .route(web::get().to(callback)),
    );
}

#[cfg(test)]
mod tests {
    use super::Landing;

    #[test]
    fn the_cookie_names_where_the_sign_in_lands() {
        assert_eq!(Landing::split(Some("admin.abc")), (Landing::Admin, Some("abc")));
        assert_eq!(Landing::split(Some("addin.abc")), (Landing::Addin, Some("abc")));
        assert_eq!(Landing::split(Some("send.abc")), (Landing::Send, Some("abc")));
        // Anything else lands on the send page, and its random part is still checked.
        assert_eq!(Landing::split(Some("https://evil.example.abc")), (Landing::Send, Some("example.abc")));
        assert_eq!(Landing::split(Some("abc")), (Landing::Send, Some("abc")));
        assert_eq!(Landing::split(None), (Landing::Send, None));
    }
}
