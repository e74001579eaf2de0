//! The recipient's side, reached from the link `/p/<id>#<L>`: status, the
//! sender card (it needs the link proof), verification codes, the access
//! check that releases S (each needs the access proof), and ranged blob
//! downloads with the session token. The rules are in `domain::access`;
//! every route but the downloads is rate-limited per client.

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kluis_protocol::api::{
    AccessGranted, AccessRequest, CodeAccepted, DownloadBlob, PackageSender, PackageStatus, RecipientCodeRequest,
    Sender, SenderRequest,
};
use kluis_protocol::inbound::{ReplyStarted, UploaderSession};
use kluis_protocol::range::{ByteRange, content_range, parse_range};

use super::error::{ApiError, ApiResult};
use super::guard::bearer;
use super::packages::wire_verify;
use super::{client, package_id, rfc3339};
use crate::State;
use crate::blobs::blob_key;
use crate::domain::access;
use crate::domain::packages::downloads_left;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    // Downloads carry a session token (made by a successful access), so the
    // per-client limit of the calls that need nothing does not apply to them.
    cfg.route("/p/{id}/blobs/{idx}", web::get().to(download)).service(
        web::scope("/p/{id}")
            .wrap(actix_web::middleware::from_fn(super::limit::unauthenticated))
            .app_data(super::json_config(16 * 1024))
            .route("", web::get().to(status))
            .route("/sender", web::post().to(sender))
            .route("/code", web::post().to(request_code))
            .route("/access", web::post().to(access))
            .route("/reply", web::post().to(reply)),
    );
}

async fn status(state: State, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let (pkg, blobs) = access::status(&state.domain, id.as_str()).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(PackageStatus {
        id: id.clone(),
        verify: wire_verify(pkg.verify_email),
        password: pkg.has_password,
        expires_at: rfc3339(pkg.expires_at),
        downloads_left: downloads_left(&pkg),
        blob_count: blobs.len() as u32,
    }))
}

async fn sender(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<SenderRequest>,
) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let card = access::sender(&state.domain, id.as_str(), &body.link_proof, &client(&req)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(PackageSender {
        sender: Sender { email: card.email, name: card.name },
        organisation: card.organisation,
        files: card.files,
        sent_at: rfc3339(card.sent_at),
    }))
}

async fn request_code(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<RecipientCodeRequest>,
) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    access::request_code(&state.domain, id.as_str(), &body.email, &body.access_proof, &client(&req)).await?;
    state.mail_wake.notify_one();
    Ok(HttpResponse::Accepted().json(CodeAccepted { sent: true }))
}

async fn access(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<AccessRequest>,
) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let granted = access::access(
        &state.domain,
        id.as_str(),
        &body.access_proof,
        body.email.as_deref(),
        body.code.as_deref(),
        &client(&req),
    )
    .await;
    state.mail_wake.notify_one();
    let granted = granted?;
    let base = format!("{}/api/v1/p/{}/blobs", state.domain.public_url, id);
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(AccessGranted {
        server_share: URL_SAFE_NO_PAD.encode(&granted.server_share),
        download_token: granted.download_token,
        session_expires_at: rfc3339(granted.session_expires_at),
        downloads_left: granted.downloads_left,
        blobs: granted
            .blobs
            .iter()
            .map(|b| DownloadBlob { index: b.idx as u32, size: b.size as u64, url: format!("{base}/{}", b.idx) })
            .collect(),
    }))
}

async fn download(state: State, req: HttpRequest, path: web::Path<(String, u32)>) -> ApiResult<HttpResponse> {
    let (raw, idx) = path.into_inner();
    let id = package_id(&raw)?;
    let token = bearer(&req);
    let (blob, email) =
        access::authorize_download(&state.domain, id.as_str(), i64::from(idx), token.as_deref()).await?;
    let (response, to_end) = blob_response(&state, &req, id.as_str(), idx, blob.size as u64).await?;
    if let Some((start, end)) = to_end {
        let detail = format!("blob {idx}, bytes {start}-{}", end.saturating_sub(1));
        access::downloaded(&state.domain, id.as_str(), email.as_deref(), detail).await?;
    }
    Ok(response)
}

/// Blob `idx` of package `id` (`len` bytes), as much as the `Range` header
/// asks, streamed; and the range when it reaches the blob's end (a download
/// to count).
pub(super) async fn blob_response(
    state: &State,
    req: &HttpRequest,
    id: &str,
    idx: u32,
    len: u64,
) -> ApiResult<(HttpResponse, Option<(u64, u64)>)> {
    let (start, end, status) = match parse_range(req.headers().get("Range").and_then(|v| v.to_str().ok()), len) {
        ByteRange::Whole => (0, len, StatusCode::OK),
        ByteRange::Part { start, end } => (start, end, StatusCode::PARTIAL_CONTENT),
        ByteRange::Unsatisfiable => {
            let response =
                HttpResponse::RangeNotSatisfiable().insert_header((CONTENT_RANGE, format!("bytes */{len}"))).finish();
            return Ok((response, None));
        }
    };
    let body = state
        .domain
        .blobs
        .read(&blob_key(id, i64::from(idx)), start..end)
        .await
        .map_err(|e| ApiError::internal(format!("blob store: {e}")))?;
    let mut response = HttpResponse::build(status);
    response
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((ACCEPT_RANGES, "bytes"))
        .insert_header(("Cache-Control", "no-store"))
        .no_chunking(end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        response.insert_header((CONTENT_RANGE, content_range(start, end, len)));
    }
    Ok((response.streaming(body), (end == len).then_some((start, end))))
}

/// Starts a secure reply (the download session proves the caller opened the package).
async fn reply(state: State, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let token = bearer(&req);
    let started = crate::domain::requests::reply(&state.domain, id.as_str(), token.as_deref()).await?;
    let request = package_id(&started.card.request.id)?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(ReplyStarted {
        request,
        info: super::requests::info_of(started.card),
        session: UploaderSession { token: started.token, expires_at: rfc3339(started.expires_at) },
    }))
}
