//! Who is calling: the `AuthUser` extractor checks `Authorization: Bearer
//! <API token>` against the stored hashes.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::State;
use crate::db::models::{token, user::User};
use crate::error::ApiError;

/// A signed-in user (the sender side of the API).
pub struct AuthUser {
    pub user: User,
    pub token: String,
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<State>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no application state"))?;
            let token = token.ok_or_else(ApiError::unauthorized)?;
            let lookup = token.clone();
            let user = state.db.run(move |c| Ok(token::authenticate(c, &lookup)?)).await?;
            let user = user.ok_or_else(ApiError::unauthorized)?;
            Ok(AuthUser { user, token })
        })
    }
}
