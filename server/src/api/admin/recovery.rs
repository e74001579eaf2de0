//! `/admin/recovery` and `/admin/users/{id}/key`: the organisation's key
//! recovery. The admin makes the recovery identity offline (or in the
//! console, which never sends it) and gives the server only its recipient;
//! to recover a user's key they fetch its recovery copy, decrypt it where
//! the recovery identity is, and hand it back wrapped under a passphrase
//! the user is asked to change. Rules: `domain::keys`.

use actix_web::{HttpResponse, web};
use kluis_protocol::inbound::{RecoveredKey, RecoveryCopy, RecoverySettings};

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::api::keys::view;
use crate::domain::keys;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/recovery", web::get().to(get))
        .route("/recovery", web::put().to(set))
        .route("/users/{id}/key", web::get().to(copy))
        .route("/users/{id}/key", web::put().to(recover));
}

async fn get(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let recipient = keys::recovery(&state.domain, &admin.0).await?;
    Ok(HttpResponse::Ok().json(RecoverySettings { recipient }))
}

async fn set(state: State, admin: Admin, body: web::Json<RecoverySettings>) -> ApiResult<HttpResponse> {
    keys::set_recovery(&state.domain, &admin.0, body.recipient.as_deref()).await?;
    get(state, admin).await
}

async fn copy(state: State, admin: Admin, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let key = keys::for_recovery(&state.domain, &admin.0, path.into_inner()).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(RecoveryCopy {
        recipient: key.recipient,
        recovery: key.recovery,
        recovery_recipient: key.recovery_recipient,
    }))
}

async fn recover(
    state: State,
    admin: Admin,
    path: web::Path<i64>,
    body: web::Json<RecoveredKey>,
) -> ApiResult<HttpResponse> {
    let key = keys::recover(&state.domain, &admin.0, path.into_inner(), body.into_inner().wrapped).await?;
    Ok(HttpResponse::Ok().json(view(key)))
}
