//! The signed-in user's inbox: what came in through their upload requests,
//! as ciphertext their client decrypts. Rules: `domain::inbox`.

use actix_web::{HttpRequest, HttpResponse, web};
use kluis_protocol::inbound::{InboxItem, InboxKind, InboxPage};
use serde::Deserialize;

use super::error::ApiResult;
use super::guard::SignedIn;
use super::packages::blob_views;
use super::recipients::blob_response;
use super::{package_id, rfc3339};
use crate::State;
use crate::domain::inbox;
use crate::store::PackageRecord;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/inbox", web::get().to(list))
        .route("/inbox/{id}", web::get().to(show))
        .route("/inbox/{id}", web::delete().to(delete))
        .route("/inbox/{id}/blobs/{idx}", web::get().to(blob));
}

fn item(r: PackageRecord) -> Option<InboxItem> {
    if r.package.inbound.is_none() {
        return colleague_item(r);
    }
    let inbound = r.package.inbound?;
    Some(InboxItem {
        id: package_id(&r.package.id).ok()?,
        kind: if inbound.reply_to.is_some() { InboxKind::Reply } else { InboxKind::Upload },
        reply_to: inbound.reply_to.as_deref().and_then(|p| package_id(p).ok()),
        from: inbound.uploader_email,
        verified: inbound.verified,
        request: package_id(&inbound.request_id).ok(),
        received_at: rfc3339(inbound.received_at.unwrap_or(r.package.created_at)),
        expires_at: rfc3339(r.package.expires_at),
        size: r.blobs.iter().map(|b| b.size as u64).sum(),
        blobs: blob_views(&r.blobs),
    })
}

/// A package a colleague sent to the caller's key.
fn colleague_item(r: PackageRecord) -> Option<InboxItem> {
    let direct = r.package.direct?;
    Some(InboxItem {
        id: package_id(&r.package.id).ok()?,
        kind: InboxKind::Package,
        reply_to: None,
        from: direct.sender_email,
        // They signed in to send it.
        verified: true,
        request: None,
        received_at: rfc3339(direct.received_at),
        expires_at: rfc3339(r.package.expires_at),
        size: r.blobs.iter().map(|b| b.size as u64).sum(),
        blobs: blob_views(&r.blobs),
    })
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn list(state: State, auth: SignedIn, query: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let (records, next) = inbox::list(&state.domain, &auth.0, query.cursor.as_deref(), query.limit).await?;
    let items = records.into_iter().filter_map(item).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(InboxPage { items, next }))
}

async fn show(state: State, auth: SignedIn, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let record = inbox::item(&state.domain, &auth.0, id.as_str()).await?;
    let item = item(record).ok_or_else(|| super::error::ApiError::not_found("item"))?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(item))
}

async fn delete(state: State, auth: SignedIn, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    inbox::delete(&state.domain, &auth.0, id.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn blob(
    state: State,
    auth: SignedIn,
    req: HttpRequest,
    path: web::Path<(String, u32)>,
) -> ApiResult<HttpResponse> {
    let (raw, idx) = path.into_inner();
    let id = package_id(&raw)?;
    let found = inbox::blob(&state.domain, &auth.0, id.as_str(), i64::from(idx)).await?;
    let (response, to_end) = blob_response(&state, &req, id.as_str(), idx, found.size as u64).await?;
    if let Some((start, end)) = to_end {
        let detail = format!("blob {idx}, bytes {start}-{}", end.saturating_sub(1));
        inbox::downloaded(&state.domain, &auth.0, id.as_str(), detail).await?;
    }
    Ok(response)
}
