//! Who is calling: the [`SignedIn`] extractor checks `Authorization: Bearer
//! <API token>` through `domain::accounts`.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::ApiError;
use crate::State;
use crate::domain::accounts::{self, Caller};
use crate::domain::requests;
use crate::domain::uploads::Writer;

/// The bearer token of a request, if any.
pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// Checks the request's bearer token with `check` (no token: unauthorized):
/// the one shape of every extractor here.
fn with_bearer<T, F, Fut>(req: &HttpRequest, check: F) -> LocalBoxFuture<'static, Result<T, ApiError>>
where
    F: FnOnce(State, String) -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
    T: 'static,
{
    let state = req.app_data::<State>().cloned();
    let token = bearer(req);
    Box::pin(async move {
        let state = state.ok_or_else(|| ApiError::internal("no application state"))?;
        let token = token.ok_or_else(ApiError::unauthorized)?;
        check(state, token).await
    })
}

/// A signed-in user (the sender side of the API).
pub(crate) struct SignedIn(pub Caller);

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_bearer(
            req,
            |state, token| async move { Ok(SignedIn(accounts::authenticate(&state.domain, &token).await?)) },
        )
    }
}

/// A signed-in admin of their organisation (the admin API). The role is
/// checked once, by `accounts::as_admin`, which makes the `OrgAdmin` every
/// admin function of the domain takes.
pub(crate) struct Admin(pub accounts::OrgAdmin);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        Box::pin(async move { Ok(Admin(accounts::as_admin(signed_in.await?.0)?)) })
    }
}

/// Who may write blobs (the tus endpoints): a signed-in sender, or an
/// outsider with an uploader session (`kluis_up_…`) of an upload request.
pub(crate) struct BlobWriter(pub Writer);

impl FromRequest for BlobWriter {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_bearer(req, |state, token| async move {
            let writer = if token.starts_with(requests::UPLOADER_PREFIX) {
                Writer::Uploader(requests::uploader(&state.domain, &token).await?)
            } else {
                Writer::Sender(accounts::authenticate(&state.domain, &token).await?)
            };
            Ok(BlobWriter(writer))
        })
    }
}

/// An outsider with an uploader session of an upload request.
pub(crate) struct Uploader(pub crate::store::UploaderSession);

impl FromRequest for Uploader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_bearer(req, |state, token| async move { Ok(Uploader(requests::uploader(&state.domain, &token).await?)) })
    }
}
