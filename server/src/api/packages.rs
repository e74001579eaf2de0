//! The sender's side of packages: create (answers S once), list, show,
//! events, finalize, revoke, delete. Blobs are uploaded through tus
//! (`uploads.rs`); recipients come in through `recipients.rs`.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kluis_protocol::api::{
    Activity, BlobView, CreatePackage, CreatedPackage, EventPage, EventView, FinalizeRequest, PackageDetail,
    PackageList, PackageState, PackageView, RecipientActivity, Revoked, SentPackage, SentPage, Verify,
};
use serde::Deserialize;

use kluis_crypto::package::PackageId;

use super::error::{ApiError, ApiResult};
use super::guard::SignedIn;
use super::{package_id, rfc3339};
use crate::State;
use crate::domain::packages::{self, Request, downloads_left, visible_state};
use crate::domain::sent;
use crate::domain::{Domain, now};
use crate::store::{self, AuditRow, PackageRecord};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/packages", web::post().to(create))
        .route("/packages", web::get().to(list))
        .route("/packages/{id}", web::get().to(show))
        .route("/packages/{id}", web::delete().to(delete))
        .route("/packages/{id}/events", web::get().to(events))
        .route("/packages/{id}/blobs/{idx}", web::get().to(blob))
        .route("/packages/{id}/finalize", web::post().to(finalize))
        .route("/packages/{id}/revoke", web::post().to(revoke))
        .route("/sent", web::get().to(sent_list));
}

pub(super) fn wire_state(s: store::PackageState) -> PackageState {
    match s {
        store::PackageState::Uploading => PackageState::Uploading,
        store::PackageState::Ready => PackageState::Ready,
        store::PackageState::Revoked => PackageState::Revoked,
        store::PackageState::Expired => PackageState::Expired,
    }
}

pub(super) fn wire_verify(email: bool) -> Verify {
    if email { Verify::Email } else { Verify::None }
}

/// The sender's view of a package.
fn view(domain: &Domain, r: PackageRecord) -> ApiResult<PackageView> {
    let p = &r.package;
    Ok(PackageView {
        id: PackageId::parse(&p.id).map_err(ApiError::internal)?,
        url: format!("{}/p/{}", domain.public_url, p.id),
        state: wire_state(visible_state(p, now())),
        created_at: rfc3339(p.created_at),
        expires_at: rfc3339(p.expires_at),
        recipients: r.recipients.clone(),
        verify: wire_verify(p.verify_email),
        password: p.has_password,
        max_downloads: p.max_downloads,
        downloads: p.downloads,
        downloads_left: downloads_left(p),
        notify_on_download: p.notify_on_download,
        blobs: r
            .blobs
            .iter()
            .map(|b| BlobView { index: b.idx as u32, size: b.size as u64, complete: b.complete })
            .collect(),
    })
}

/// Blobs as the API shows them.
pub(super) fn blob_views(blobs: &[crate::store::Blob]) -> Vec<BlobView> {
    blobs.iter().map(|b| BlobView { index: b.idx as u32, size: b.size as u64, complete: b.complete }).collect()
}

fn time(unix: Option<i64>) -> Option<String> {
    unix.map(rfc3339)
}

/// What recipients did, for the wire.
fn activity_view(a: sent::Activity) -> Activity {
    Activity {
        opens: a.opens,
        first_opened_at: time(a.first_opened_at),
        last_opened_at: time(a.last_opened_at),
        files_downloaded: a.files_downloaded,
        all_files: a.all_files,
        recipients: a
            .recipients
            .into_iter()
            .map(|r| RecipientActivity {
                email: r.email,
                code_requested_at: time(r.code_requested_at),
                opened_at: time(r.opened_at),
                opens: r.opens,
                downloads: r.downloads,
                files_downloaded: r.files_downloaded,
                all_files: r.all_files,
            })
            .collect(),
    }
}

fn event_view(e: AuditRow) -> EventView {
    EventView { id: e.id, at: rfc3339(e.at), event: e.event, actor: e.actor, detail: e.detail }
}

async fn create(state: State, auth: SignedIn, body: web::Json<CreatePackage>) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let request = Request {
        recipients: req.recipients,
        expires_in_days: req.expires_in_days,
        max_downloads: req.max_downloads,
        verify_email: req.verify == Verify::Email,
        password: req.password,
        notify_on_download: req.notify_on_download,
        blob_sizes: req.blobs.iter().map(|b| b.size).collect(),
        file_types: req.file_types,
        message: req.message,
        colleagues: req.colleagues,
    };
    let (record, share) = packages::create(&state.domain, &auth.0, request).await?;
    Ok(HttpResponse::Created().json(CreatedPackage {
        package: view(&state.domain, record)?,
        // S is handed to the sender once, here, and afterwards only to recipients.
        server_share: URL_SAFE_NO_PAD.encode(share),
        upload_url: format!("{}/api/v1/uploads", state.domain.public_url),
    }))
}

/// The caller's packages, newest first, a page at a time (`cursor`, `limit` as for sent items).
async fn list(state: State, auth: SignedIn, query: web::Query<SentQuery>) -> ApiResult<HttpResponse> {
    let (records, next) = packages::list(&state.domain, &auth.0, query.cursor.as_deref(), query.limit).await?;
    let packages = records.into_iter().map(|r| view(&state.domain, r)).collect::<ApiResult<_>>()?;
    Ok(HttpResponse::Ok().json(PackageList { packages, next }))
}

async fn show(state: State, auth: SignedIn, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let record = packages::owned(&state.domain, &auth.0, id.as_str()).await?;
    let (events, next) = packages::events(&state.domain, &auth.0, id.as_str(), 0, None).await?;
    let activity = sent::of_package(&state.domain, &record).await?;
    Ok(HttpResponse::Ok().json(PackageDetail {
        package: view(&state.domain, record)?,
        events: events.into_iter().map(event_view).collect(),
        events_next: next,
        activity: activity_view(activity),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SentQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// The caller's sent items, a page at a time, each with what its recipients did.
async fn sent_list(state: State, auth: SignedIn, query: web::Query<SentQuery>) -> ApiResult<HttpResponse> {
    let (page, next) = sent::page(&state.domain, &auth.0, query.cursor.as_deref(), query.limit).await?;
    let packages = page
        .into_iter()
        .map(|(record, activity)| {
            Ok(SentPackage { package: view(&state.domain, record)?, activity: activity_view(activity) })
        })
        .collect::<ApiResult<_>>()?;
    Ok(HttpResponse::Ok().json(SentPage { packages, next }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

async fn events(
    state: State,
    auth: SignedIn,
    path: web::Path<String>,
    query: web::Query<EventQuery>,
) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let (events, next) = packages::events(&state.domain, &auth.0, id.as_str(), query.after, query.limit).await?;
    Ok(HttpResponse::Ok().json(EventPage { events: events.into_iter().map(event_view).collect(), next }))
}

async fn finalize(
    state: State,
    auth: SignedIn,
    path: web::Path<String>,
    body: web::Json<FinalizeRequest>,
) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let record =
        packages::finalize(&state.domain, &auth.0, id.as_str(), &body.access_verifier, &body.link_verifier).await?;
    Ok(HttpResponse::Ok().json(view(&state.domain, record)?))
}

async fn revoke(state: State, auth: SignedIn, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    packages::revoke(&state.domain, &auth.0, id.as_str()).await?;
    Ok(HttpResponse::Ok().json(Revoked { id, state: PackageState::Revoked }))
}

async fn delete(state: State, auth: SignedIn, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    packages::delete(&state.domain, &auth.0, id.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A blob of one of the caller's packages (ciphertext, with `Range`): the
/// sender reopens what they sent with their own key, which every blob is
/// also encrypted to once they have one.
async fn blob(
    state: State,
    auth: SignedIn,
    req: actix_web::HttpRequest,
    path: web::Path<(String, u32)>,
) -> ApiResult<HttpResponse> {
    let (raw, idx) = path.into_inner();
    let id = package_id(&raw)?;
    let found = packages::own_blob(&state.domain, &auth.0, id.as_str(), i64::from(idx)).await?;
    let (response, _) = super::recipients::blob_response(&state, &req, id.as_str(), idx, found.size as u64).await?;
    Ok(response)
}
