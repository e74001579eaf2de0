//! `/admin/packages`: the organisation's packages (metadata only), revoking or
//! deleting any of them, and its deleted packages, which an admin may restore.

use actix_web::{HttpResponse, web};
use kluis_protocol::PackageId;
use kluis_protocol::admin::{AdminPackage, AdminPackageList, DeletedPackage, DeletedPackageList};
use serde::Deserialize;

use crate::State;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guard::Admin;
use crate::api::packages::{wire_state, wire_verify};
use crate::api::{package_id, rfc3339};
use crate::domain::packages::visible_state;
use crate::domain::{admin, lifecycle, now};
use crate::store::OrgPackage;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/packages", web::get().to(list))
        .route("/packages/deleted", web::get().to(deleted))
        .route("/packages/{id}", web::delete().to(delete))
        .route("/packages/{id}/revoke", web::post().to(revoke))
        .route("/packages/{id}/restore", web::post().to(restore));
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

async fn delete(state: State, admin: Admin, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    admin::delete(&state.domain, &admin.0, id.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn deleted(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let rows = lifecycle::deleted_packages(&state.domain, &admin.0).await?;
    let packages = rows
        .into_iter()
        .map(|d| {
            Ok(DeletedPackage {
                package: view(d.package)?,
                deleted_at: rfc3339(d.deleted_at),
                deleted_by: d.deleted_by,
                restorable_until: rfc3339(lifecycle::purge_at(&state.domain, d.deleted_at)),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(DeletedPackageList { packages }))
}

async fn restore(state: State, admin: Admin, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    lifecycle::restore_package(&state.domain, &admin.0, id.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}
