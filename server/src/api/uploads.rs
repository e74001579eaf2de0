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
use kluis_protocol::tus::parse_metadata;

use super::error::{ApiError, ApiResult};
use super::guard::BlobWriter;
use super::package_id;
use crate::State;
use crate::domain::uploads;

const TUS_VERSION: &str = "1.0.0";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
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

async fn create(state: State, auth: BlobWriter, req: HttpRequest) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    if header(&req, "Upload-Defer-Length").is_some() {
        return Err(ApiError::bad_request(
            "length_required",
            "Upload-Defer-Length is not supported; send Upload-Length.",
        ));
    }
    let length: u64 = header(&req, "Upload-Length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("length_required", "Send Upload-Length with the blob's size in bytes."))?;
    let metadata = parse_metadata(header(&req, "Upload-Metadata").unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_metadata", format!("Upload-Metadata: {e}.")))?;
    let id = metadata.get_str("package").ok_or_else(|| {
        ApiError::bad_request("metadata_required", "Upload-Metadata must name the package (key \"package\").")
    })?;
    let blob_idx: u32 = metadata.get_str("blob").and_then(|b| b.parse().ok()).ok_or_else(|| {
        ApiError::bad_request("metadata_required", "Upload-Metadata must name the blob index (key \"blob\").")
    })?;
    let id = package_id(id)?;
    let (upload, expires_at) =
        uploads::create(&state.domain, &auth.0, id.as_str(), i64::from(blob_idx), length).await?;
    Ok(tus(StatusCode::CREATED)
        .insert_header((LOCATION, format!("{}/api/v1/uploads/{upload}", state.domain.public_url)))
        .insert_header(("Upload-Expires", expires_header(expires_at)))
        .finish())
}

async fn head(state: State, auth: BlobWriter, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    let up = uploads::load(&state.domain, &auth.0, &path).await?;
    Ok(tus(StatusCode::OK)
        .insert_header(("Upload-Offset", up.offset.to_string()))
        .insert_header(("Upload-Length", up.length.to_string()))
        .insert_header(("Upload-Expires", expires_header(up.expires_at)))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

async fn patch(
    state: State,
    auth: BlobWriter,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    if header(&req, CONTENT_TYPE.as_str()) != Some("application/offset+octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "PATCH bodies must be Content-Type: application/offset+octet-stream.",
        ));
    }
    let offset: u64 = header(&req, "Upload-Offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("offset_required", "Send Upload-Offset."))?;
    let durable = uploads::append(&state.domain, &auth.0, &path, offset, body).await?;
    Ok(tus(StatusCode::NO_CONTENT).insert_header(("Upload-Offset", durable.to_string())).finish())
}

async fn terminate(
    state: State,
    auth: BlobWriter,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    check_version(&req)?;
    uploads::terminate(&state.domain, &auth.0, &path).await?;
    Ok(tus(StatusCode::NO_CONTENT).finish())
}
