//! The recipient's side, reached from the link `/p/<id>#<L>`: package
//! status, e-mail verification codes, the access check that releases the
//! server share S, and ranged blob downloads.
//!
//! Access checks, in order: the package exists and is finalized; not
//! revoked; not expired; downloads left; and, when the package asks for it,
//! a valid code mailed to one of its recipient addresses. Passing them
//! counts one download and opens a download session; blobs are then fetched
//! (and re-fetched, in ranges) with that session's token.

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;

use super::auth::code_error;
use super::{check_package_id, rfc3339};
use crate::State;
use crate::auth::bearer;
use crate::db;
use crate::db::models::audit::{self, Event};
use crate::db::models::code::{self, Check, Purpose};
use crate::db::models::package::{self, Package, Unavailable};
use crate::db::models::{session, user};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::mail;
use crate::storage::blob_key;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{id}", web::get().to(status))
        .route("/p/{id}/code", web::post().to(request_code))
        .route("/p/{id}/access", web::post().to(access))
        .route("/p/{id}/blobs/{idx}", web::get().to(download));
}

fn unavailable(reason: Unavailable) -> ApiError {
    match reason {
        Unavailable::NotReady => ApiError::not_found("package"),
        Unavailable::Expired => ApiError::gone("expired", "This package has expired and its files were deleted."),
        Unavailable::Revoked => ApiError::gone("revoked", "The sender withdrew this package."),
        Unavailable::LimitReached => {
            ApiError::gone("download_limit_reached", "This package has been downloaded as often as the sender allowed.")
        }
    }
}

/// Loads a package that a recipient may open now.
async fn open(state: &State, id: &str) -> ApiResult<Package> {
    check_package_id(id)?;
    let id = id.to_string();
    let pkg = state.db.run(move |c| Ok(package::get(c, &id)?)).await?.ok_or_else(|| ApiError::not_found("package"))?;
    pkg.availability(now()).map_err(unavailable)?;
    Ok(pkg)
}

async fn status(state: State, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let pkg = open(&state, &path).await?;
    let id = pkg.id.clone();
    let blobs = state.db.run(move |c| Ok(package::blobs(c, &id)?)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "id": pkg.id,
        "verify": if pkg.verify_email { "email" } else { "none" },
        "password": pkg.has_password,
        "expires_at": rfc3339(pkg.expires_at),
        "downloads_left": pkg.downloads_left(),
        "blob_count": blobs.len(),
    })))
}

#[derive(Deserialize)]
struct CodeRequest {
    email: String,
}

/// Mails a code if the address is one of the package's recipients. The
/// answer is the same either way, so the endpoint does not reveal who the
/// recipients are.
async fn request_code(state: State, path: web::Path<String>, body: web::Json<CodeRequest>) -> ApiResult<HttpResponse> {
    let pkg = open(&state, &path).await?;
    if !pkg.verify_email {
        return Err(ApiError::bad_request("no_verification", "This package needs no code."));
    }
    let email = user::normalize_email(&body.email)
        .ok_or_else(|| ApiError::bad_request("invalid_email", "That is not a valid e-mail address."))?;
    let key = state.key.clone();
    let id = pkg.id.clone();
    let sender_id = pkg.sender_id;
    let issued = state
        .db
        .run(move |c| {
            if let Some(wait) = code::send_wait(c, Purpose::Verify, &id, &email)? {
                return Err(ApiError::rate_limited(wait as u64));
            }
            if !package::is_recipient(c, &id, &email)? {
                audit::record(
                    c,
                    Event::VerificationFailed,
                    &format!("recipient:{email}"),
                    Some(&id),
                    Some("code asked for an address that is not a recipient"),
                )?;
                return Ok(None);
            }
            let code = code::issue(c, &key, Purpose::Verify, &id, &email)?;
            audit::record(c, Event::VerificationSent, &format!("recipient:{email}"), Some(&id), None)?;
            let sender = user::get(c, sender_id)?.map(|u| u.email).unwrap_or_default();
            Ok(Some((email, code, sender)))
        })
        .await?;
    if let Some((email, code, sender)) = issued {
        state.mailer.send(mail::verification_code(&email, &code, &sender)).await.map_err(ApiError::internal)?;
    }
    Ok(HttpResponse::Accepted().json(json!({ "sent": true })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AccessRequest {
    email: Option<String>,
    code: Option<String>,
}

async fn access(
    state: State,
    path: web::Path<String>,
    body: Option<web::Json<AccessRequest>>,
) -> ApiResult<HttpResponse> {
    let pkg = open(&state, &path).await?;
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    let key = state.key.clone();
    let session_hours = i64::from(state.config.limits.download_session_hours);
    let id = pkg.id.clone();
    let granted = state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            let mut verified = None;
            if pkg.verify_email {
                let (Some(email), Some(code)) =
                    (body.email.as_deref().and_then(user::normalize_email), body.code.as_deref())
                else {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "verification_required",
                        "This package asks for a code sent to your e-mail address.",
                    ));
                };
                let check = code::check(&tx, &key, Purpose::Verify, &id, &email, code)?;
                if check != Check::Valid {
                    audit::record(
                        &tx,
                        Event::VerificationFailed,
                        &format!("recipient:{email}"),
                        Some(&id),
                        Some("wrong code"),
                    )?;
                    tx.commit()?;
                    return Err(code_error(check));
                }
                verified = Some(email);
            }
            // Checked again inside the transaction: two recipients racing for the last download.
            let current = package::get(&tx, &id)?.ok_or_else(|| ApiError::not_found("package"))?;
            current.availability(now()).map_err(unavailable)?;
            let share = current.server_share.clone().ok_or_else(|| unavailable(Unavailable::Revoked))?;
            let first = package::count_download(&tx, &id)?;
            let expires_at = (now() + session_hours * 3600).min(current.expires_at);
            let token = session::create(&tx, &id, verified.as_deref(), expires_at)?;
            let actor = verified.as_ref().map_or("recipient".to_string(), |e| format!("recipient:{e}"));
            audit::record(&tx, Event::Accessed, &actor, Some(&id), None)?;
            let blobs = package::blobs(&tx, &id)?;
            let notify = if first {
                Some((
                    user::get(&tx, current.sender_id)?.map(|u| u.email).unwrap_or_default(),
                    package::recipients(&tx, &id)?,
                ))
            } else {
                None
            };
            tx.commit()?;
            let left = current.max_downloads.map(|m| (m - current.downloads - 1).max(0));
            Ok((share, token, expires_at, blobs, left, notify))
        })
        .await?;
    let (share, token, expires_at, blobs, left, notify) = granted;
    if let Some((sender, recipients)) = notify
        && let Err(e) = state.mailer.send(mail::first_download(&sender, &path, &recipients)).await
    {
        tracing::warn!(error = %e, "could not send the first-download notice");
    }
    let base = format!("{}/api/v1/p/{}/blobs", state.config.public_url, path.as_str());
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "server_share": URL_SAFE_NO_PAD.encode(share),
        "download_token": token,
        "session_expires_at": rfc3339(expires_at),
        "downloads_left": left,
        "blobs": blobs.iter().map(|b| json!({ "index": b.idx, "size": b.size, "url": format!("{base}/{}", b.idx) })).collect::<Vec<_>>(),
    })))
}

/// A single byte range from a `Range` header, resolved against `len`.
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return ByteRange::Whole };
    if spec.contains(',') {
        // Several ranges are allowed to be ignored (RFC 9110, 14.2).
        return ByteRange::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return ByteRange::Whole };
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => match suffix.parse::<u64>() {
            Ok(0) | Err(_) => return ByteRange::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len),
        },
        (start, "") => match start.parse::<u64>() {
            Ok(s) => (s, len),
            Err(_) => return ByteRange::Whole,
        },
        (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => (s, (e + 1).min(len)),
            _ => return ByteRange::Whole,
        },
    };
    if range.0 >= len || range.0 >= range.1 { ByteRange::Unsatisfiable } else { ByteRange::Part(range.0, range.1) }
}

async fn download(state: State, req: HttpRequest, path: web::Path<(String, i64)>) -> ApiResult<HttpResponse> {
    let (id, idx) = path.into_inner();
    check_package_id(&id)?;
    let token = bearer(&req).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "session_required", "Open the package first (POST …/access).")
    })?;
    let pkg_id = id.clone();
    let (pkg, blob, email) = state
        .db
        .run(move |c| {
            let email = session::check(c, &token, &pkg_id)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "session_expired",
                    "The download session has ended; open the package again.",
                )
            })?;
            let pkg = package::get(c, &pkg_id)?.ok_or_else(|| ApiError::not_found("package"))?;
            let blob = package::blob(c, &pkg_id, idx)?.ok_or_else(|| ApiError::not_found("blob"))?;
            Ok((pkg, blob, email))
        })
        .await?;
    // An open session may finish its downloads, unless the package has ended.
    match pkg.availability(now()) {
        Ok(()) | Err(Unavailable::LimitReached) => {}
        Err(reason) => return Err(unavailable(reason)),
    }
    let len = blob.size as u64;
    let (start, end, status) = match parse_range(req.headers().get("Range").and_then(|v| v.to_str().ok()), len) {
        ByteRange::Whole => (0, len, StatusCode::OK),
        ByteRange::Part(s, e) => (s, e, StatusCode::PARTIAL_CONTENT),
        ByteRange::Unsatisfiable => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((CONTENT_RANGE, format!("bytes */{len}")))
                .finish());
        }
    };
    let body = state.store.read(&blob_key(&id, idx), start..end).await?;
    if end == len {
        let actor = email.map_or("recipient".to_string(), |e| format!("recipient:{e}"));
        let detail = format!("blob {idx}, bytes {start}-{}", end.saturating_sub(1));
        state.db.run(move |c| Ok(audit::record(c, Event::Downloaded, &actor, Some(&id), Some(&detail))?)).await?;
    }
    let mut response = HttpResponse::build(status);
    response
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((ACCEPT_RANGES, "bytes"))
        .insert_header(("Cache-Control", "no-store"))
        .no_chunking(end - start);
    if status == StatusCode::PARTIAL_CONTENT {
        response.insert_header((CONTENT_RANGE, format!("bytes {start}-{}/{len}", end - 1)));
    }
    Ok(response.streaming(body))
}

#[cfg(test)]
mod tests {
    use super::{ByteRange, parse_range};

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), ByteRange::Part(0, 10));
        assert_eq!(parse_range(Some("bytes=90-"), 100), ByteRange::Part(90, 100));
        assert_eq!(parse_range(Some("bytes=-10"), 100), ByteRange::Part(90, 100));
        assert_eq!(parse_range(Some("bytes=95-200"), 100), ByteRange::Part(95, 100));
        assert_eq!(parse_range(Some("bytes=100-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), ByteRange::Whole);
    }
}
