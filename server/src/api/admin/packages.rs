//! `/admin/packages`: the organisation's packages (metadata only) and revoking any of them.

use actix_web::{HttpResponse, web};
use kluis_protocol::PackageId;
use kluis_protocol::admin::{AdminPackage, AdminPackageList};
use serde::Deserialize;

use crate::State;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guard::Admin;
use crate::api::packages::{wire_state, wire_verify};
use crate::api::{package_id, rfc3339};
use crate::domain::packages::visible_state;
use crate::domain::{admin, now};
use crate::store::OrgPackage;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/packages", web::get().to(list)).route("/packages/{id}/revoke", web::post().to(revoke));
}

fn view(p: OrgPackage) -> Result<AdminPackage, ApiError> {
    let r = p.record;
    let package = &r.package;
    Ok(AdminPackage {
        id: PackageId::parse(&package.id).map_err(ApiError::internal)?,
        sender: p.sender,
        state: wire_state(visible_state(package, now())),
        created_at: rfc3339(package.created_at),
        expires_at: rfc3339(package.expires_at),
        recipients: r.recipients.clone(),
        verify: wire_verify(package.verify_email),
        password: package.has_password,
        downloads: package.downloads,
        max_downloads: package.max_downloads,
        files: u32::try_from(r.blobs.len().saturating_sub(1)).unwrap_or(u32::MAX),
        bytes: r.blobs.iter().map(|b| b.size.max(0) as u64).sum(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    before: Option<String>,
    limit: Option<i64>,
}

async fn list(state: State, admin: Admin, query: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let (rows, next) = admin::packages(&state.domain, &admin.0, query.before.as_deref(), query.limit).await?;
    let packages = rows.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(AdminPackageList { packages, next }))
}

async fn revoke(state: State, admin: Admin, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    admin::revoke(&state.domain, &admin.0, id.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}
