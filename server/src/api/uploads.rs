//! Resumable blob uploads over tus 1.0 (<https://tus.io/protocols/resumable-upload>)
//! with the creation, termination and expiration extensions.
//!
//! `POST /uploads` with `Upload-Length` and `Upload-Metadata: package <b64 id>,
//! blob <b64 index>` creates an upload for one declared blob of one of the
//! caller's packages; `PATCH` appends at `Upload-Offset`; `HEAD` tells the
//! offset to resume from; `DELETE` drops the upload. Offsets are written to the
//! database only after the bytes before them reached the store, so they
//! survive a crash of the server; bytes past the recorded offset are discarded, and
//! after a power cut the offset falls back to what the store really kept.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;

use crate::State;
use crate::auth::AuthUser;
use crate::db;
use crate::db::models::audit::{self, Event};
use crate::db::models::package::{self, State as PackageState};
use crate::db::models::upload::{self, Upload};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::secrets::random_id;
use crate::storage::blob_key;

const TUS_VERSION: &str = "1.0.0";
/// Checkpoint interval during a PATCH: at most this much is resent after a crash.
const CHECKPOINT: u64 = 16 << 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/uploads")
            // Errors too must carry the protocol version.
            .wrap(actix_web::middleware::DefaultHeaders::new().add(("Tus-Resumable", TUS_VERSION)))
            .route("", web::method(actix_web::http::Method::OPTIONS).to(options))
            .route("", web::post().to(create))
            .route("/{id}", web::head().to(head))
            .route("/{id}", web::patch().to(patch))
            .route("/{id}", web::delete().to(terminate)),
    );
}

/// Marks an upload as being written; a second concurrent PATCH is refused.
struct Busy<'a> {
    state: &'a State,
    id: String,
}

impl<'a> Busy<'a> {
    fn claim(state: &'a State, id: &str) -> ApiResult<Busy<'a>> {
        let mut busy = state.uploads_in_progress.lock().expect("not poisoned");
        if !busy.insert(id.to_string()) {
            return Err(ApiError::new(StatusCode::LOCKED, "upload_busy", "Another request is writing to this upload."));
        }
        Ok(Busy { state, id: id.to_string() })
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.state.uploads_in_progress.lock().expect("not poisoned").remove(&self.id);
    }
}

fn tus(status: StatusCode) -> HttpResponseBuilder {
    let mut r = HttpResponse::build(status);
    r.insert_header(("Tus-Resumable", TUS_VERSION));
    r
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Every request but OPTIONS must speak our tus version.
fn check_version(req: &HttpRequest) -> ApiResult<()> {
    match header(req, "Tus-Resumable") {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            "This server speaks tus 1.0.0 (Tus-Resumable: 1.0.0).",
        )),
    }
}

fn expires_header(unix: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64))
}

async fn options(state: State) -> HttpResponse {
    tus(StatusCode::NO_CONTENT)
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", "creation,termination,expiration"))
        .insert_header(("Tus-Max-Size", state.config.limits.max_package_bytes.to_string()))
        .finish()
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs.
fn metadata(req: &HttpRequest, key: &str) -> Option<String> {
    header(req, "Upload-Metadata")?.split(',').find_map(|pair| {
        let mut parts = pair.trim().splitn(2, ' ');
        (parts.next()? == key)
            .then(|| parts.next().and_then(|v| STANDARD.decode(v.trim()).ok()))?
            .and_then(|b| String::from_utf8(b).ok())
    })
}

async fn create(state: State, auth: AuthUser, req: HttpRequest) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    if header(&req, "Upload-Defer-Length").is_some() {
        return Err(ApiError::bad_request(
            "length_required",
            "Upload-Defer-Length is not supported; send Upload-Length.",
        ));
    }
    let length: i64 = header(&req, "Upload-Length")
        .and_then(|v| v.parse().ok())
        .filter(|&l: &i64| l >= 0)
        .ok_or_else(|| ApiError::bad_request("length_required", "Send Upload-Length with the blob's size in bytes."))?;
    let package_id = metadata(&req, "package").ok_or_else(|| {
        ApiError::bad_request("metadata_required", "Upload-Metadata must name the package (key \"package\").")
    })?;
    let blob_idx: i64 = metadata(&req, "blob").and_then(|b| b.parse().ok()).ok_or_else(|| {
        ApiError::bad_request("metadata_required", "Upload-Metadata must name the blob index (key \"blob\").")
    })?;
    super::check_package_id(&package_id)?;

    let id = random_id();
    let expires_at = now() + i64::from(state.config.limits.upload_expiry_hours) * 3600;
    let user_id = auth.user.id;
    let upload =
        Upload { id: id.clone(), package_id: package_id.clone(), blob_idx, user_id, length, offset: 0, expires_at };
    let replaced = state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            let pkg = package::get(&tx, &upload.package_id)?
                .filter(|p| p.sender_id == upload.user_id)
                .ok_or_else(|| ApiError::not_found("package"))?;
            if pkg.state != PackageState::Uploading || now() >= pkg.expires_at {
                return Err(ApiError::conflict("not_uploading", "This package no longer takes uploads."));
            }
            let blob = package::blob(&tx, &pkg.id, upload.blob_idx)?.ok_or_else(|| ApiError::not_found("blob"))?;
            if blob.complete {
                return Err(ApiError::conflict("already_uploaded", "This blob has been uploaded already."));
            }
            if blob.size != upload.length {
                if upload.length > blob.size {
                    return Err(ApiError::too_large(format!("This blob was declared as {} bytes.", blob.size)));
                }
                return Err(ApiError::bad_request(
                    "length_mismatch",
                    format!("This blob was declared as {} bytes.", blob.size),
                ));
            }
            // A new upload for the same blob supersedes an unfinished one.
            let old = upload::for_blob(&tx, &pkg.id, upload.blob_idx)?;
            if let Some(old) = &old {
                upload::delete(&tx, &old.id)?;
            }
            upload::create(&tx, &upload)?;
            tx.commit()?;
            Ok(old.map(|o| o.id))
        })
        .await?;
    if let Some(old) = replaced {
        state.store.discard(&old).await?;
    }
    Ok(tus(StatusCode::CREATED)
        .insert_header((LOCATION, format!("{}/api/v1/uploads/{id}", state.config.public_url)))
        .insert_header(("Upload-Expires", expires_header(expires_at)))
        .finish())
}

/// The caller's live upload `id`.
async fn load(state: &State, auth: &AuthUser, id: &str) -> ApiResult<Upload> {
    let id = id.to_string();
    let up = state.db.run(move |c| Ok(upload::get(c, &id)?)).await?;
    match up {
        Some(mut u) if u.user_id == auth.user.id && now() < u.expires_at => {
            // After a power cut the store may hold less than was recorded.
            let stored = state.store.part_len(&u.id).await? as i64;
            u.offset = u.offset.min(stored);
            Ok(u)
        }
        Some(u) if u.user_id == auth.user.id => {
            Err(ApiError::gone("upload_expired", "This upload has expired; start a new one."))
        }
        _ => Err(ApiError::not_found("upload")),
    }
}

async fn head(state: State, auth: AuthUser, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    let up = load(&state, &auth, &path).await?;
    Ok(tus(StatusCode::OK)
        .insert_header(("Upload-Offset", up.offset.to_string()))
        .insert_header(("Upload-Length", up.length.to_string()))
        .insert_header(("Upload-Expires", expires_header(up.expires_at)))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

async fn patch(
    state: State,
    auth: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
    mut body: web::Payload,
) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    if header(&req, CONTENT_TYPE.as_str()) != Some("application/offset+octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "PATCH bodies must be Content-Type: application/offset+octet-stream.",
        ));
    }
    let _busy = Busy::claim(&state, &path)?;
    let up = load(&state, &auth, &path).await?;
    let offset: i64 = header(&req, "Upload-Offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("offset_required", "Send Upload-Offset."))?;
    if offset != up.offset {
        return Err(ApiError::conflict("offset_mismatch", "Upload-Offset does not match; HEAD the upload to resume.")
            .with("offset", up.offset));
    }

    let mut writer = state.store.append(&up.id, up.offset as u64).await?;
    let mut written = up.offset as u64;
    let mut checkpoint = written;
    let length = up.length as u64;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                // The client went away: keep what arrived.
                tracing::info!(upload = %up.id, error = %e, "upload interrupted");
                break;
            }
        };
        if written + chunk.len() as u64 > length {
            failure = Some(ApiError::too_large("The body goes past Upload-Length."));
            break;
        }
        writer.write(&chunk).await?;
        written += chunk.len() as u64;
        if written - checkpoint >= CHECKPOINT {
            checkpoint = writer.checkpoint().await?;
            record_offset(&state, &up.id, checkpoint).await?;
        }
    }
    let durable = writer.checkpoint().await?;
    drop(writer);
    record_offset(&state, &up.id, durable).await?;
    if let Some(e) = failure {
        return Err(e);
    }
    if durable == length {
        complete(&state, &auth, &up).await?;
    }
    Ok(tus(StatusCode::NO_CONTENT).insert_header(("Upload-Offset", durable.to_string())).finish())
}

async fn record_offset(state: &State, id: &str, offset: u64) -> ApiResult<()> {
    let (id, expires_at) = (id.to_string(), now() + i64::from(state.config.limits.upload_expiry_hours) * 3600);
    state.db.run(move |c| Ok(upload::set_offset(c, &id, offset as i64, expires_at)?)).await
}

/// The last byte arrived: the upload becomes the blob.
async fn complete(state: &State, auth: &AuthUser, up: &Upload) -> ApiResult<()> {
    state.store.commit(&up.id, &blob_key(&up.package_id, up.blob_idx)).await?;
    let (up, email) = (up.clone(), auth.user.email.clone());
    state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            package::mark_blob_complete(&tx, &up.package_id, up.blob_idx)?;
            upload::delete(&tx, &up.id)?;
            let detail = format!("blob {}, {} bytes", up.blob_idx, up.length);
            audit::record(&tx, Event::Uploaded, &format!("user:{email}"), Some(&up.package_id), Some(&detail))?;
            tx.commit()?;
            Ok(())
        })
        .await
}

async fn terminate(state: State, auth: AuthUser, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    let _busy = Busy::claim(&state, &path)?;
    let up = load(&state, &auth, &path).await?;
    let id = up.id.clone();
    state.db.run(move |c| Ok(upload::delete(c, &id)?)).await?;
    state.store.discard(&up.id).await?;
    Ok(tus(StatusCode::NO_CONTENT).finish())
}
