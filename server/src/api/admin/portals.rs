//! `/admin/portals`: the organisation's upload portals (permanent pages at
//! `/upload/<name>`), which its admins publish and close. Rules: `domain::requests`.

use actix_web::{HttpResponse, web};
use kluis_protocol::inbound::{CreatePortal, PortalList, PortalView};

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::api::packages::wire_verify;
use crate::api::{package_id, rfc3339};
use crate::domain::requests::{self, NewPortal};
use crate::domain::{accounts::OrgAdmin, now};
use crate::store::UploadRequest;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/portals", web::get().to(list))
        .route("/portals", web::post().to(create))
        .route("/portals/{id}/close", web::post().to(close));
}

async fn view(state: &State, admin: &OrgAdmin, p: UploadRequest) -> ApiResult<PortalView> {
    let receivers = requests::portal_receivers(&state.domain, admin, &p).await?;
    let name = p.portal.clone().unwrap_or_default();
    Ok(PortalView {
        id: package_id(&p.id)?,
        url: format!("{}/upload/{name}", state.domain.public_url),
        name,
        message: p.message.clone(),
        receivers: receivers.all,
        without_key: receivers.without_key,
        post_quantum: receivers.post_quantum,
        verify: wire_verify(p.verify_email),
        max_bytes: p.max_bytes as u64,
        state: requests::state(&p, now()),
        uploads: p.uploads as u64,
        created_at: rfc3339(p.created_at),
    })
}

async fn list(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let mut portals = Vec::new();
    for p in requests::portals(&state.domain, &admin.0).await? {
        portals.push(view(&state, &admin.0, p).await?);
    }
    Ok(HttpResponse::Ok().json(PortalList { portals }))
}

async fn create(state: State, admin: Admin, body: web::Json<CreatePortal>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let new = NewPortal {
        name: body.name,
        message: body.message,
        receivers: body.receivers,
        verify_email: body.verify == kluis_protocol::api::Verify::Email,
        max_bytes: body.max_bytes,
    };
    let portal = requests::create_portal(&state.domain, &admin.0, new).await?;
    Ok(HttpResponse::Created().json(view(&state, &admin.0, portal).await?))
}

async fn close(state: State, admin: Admin, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let portal = requests::close_portal(&state.domain, &admin.0, id.as_str()).await?;
    Ok(HttpResponse::Ok().json(view(&state, &admin.0, portal).await?))
}
