//! The sender's side of packages: create (returns the server share S once),
//! list, show, finalize, revoke, delete. Blobs are uploaded through tus
//! (`uploads.rs`); recipients come in through `recipients.rs`.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{check_package_id, rfc3339};
use crate::State;
use crate::auth::AuthUser;
use crate::db;
use crate::db::models::audit::{self, Event};
use crate::db::models::package::{self, NewPackage, Package, State as PackageState};
use crate::db::models::user;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::janitor;
use crate::secrets::{random_bytes, random_id};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/packages", web::post().to(create))
        .route("/packages", web::get().to(list))
        .route("/packages/{id}", web::get().to(show))
        .route("/packages/{id}", web::delete().to(delete))
        .route("/packages/{id}/finalize", web::post().to(finalize))
        .route("/packages/{id}/revoke", web::post().to(revoke));
}

/// Smallest possible age file: header with one stanza, nonce and one tag.
const MIN_BLOB_SIZE: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    #[serde(default)]
    recipients: Vec<String>,
    expires_in_days: Option<u32>,
    max_downloads: Option<i64>,
    #[serde(default = "default_verify")]
    verify: String,
    #[serde(default)]
    password: bool,
    #[serde(default)]
    notify_on_download: bool,
    blobs: Vec<BlobSpec>,
}

fn default_verify() -> String {
    "email".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobSpec {
    size: i64,
}

/// The sender's view of a package.
fn view(state: &State, p: &Package, recipients: Vec<String>, blobs: Vec<package::Blob>) -> Value {
    json!({
        "id": p.id,
        "url": format!("{}/p/{}", state.config.public_url, p.id),
        "state": if p.state == PackageState::Ready && now() >= p.expires_at { "expired" } else { p.state.as_str() },
        "created_at": rfc3339(p.created_at),
        "expires_at": rfc3339(p.expires_at),
        "recipients": recipients,
        "verify": if p.verify_email { "email" } else { "none" },
        "password": p.has_password,
        "max_downloads": p.max_downloads,
        "downloads": p.downloads,
        "downloads_left": p.downloads_left(),
        "notify_on_download": p.notify_on_download,
        "blobs": blobs.iter().map(|b| json!({ "index": b.idx, "size": b.size, "complete": b.complete })).collect::<Vec<_>>(),
    })
}

async fn create(state: State, auth: AuthUser, body: web::Json<CreateRequest>) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let limits = &state.config.limits;
    let verify_email = match req.verify.as_str() {
        "email" => true,
        "none" => false,
        _ => return Err(ApiError::bad_request("invalid_verify", "verify must be \"email\" or \"none\".")),
    };
    let mut recipients = Vec::new();
    for raw in &req.recipients {
        let email = user::normalize_email(raw).ok_or_else(|| {
            ApiError::bad_request("invalid_recipient", format!("{raw:?} is not a valid e-mail address."))
        })?;
        if !recipients.contains(&email) {
            recipients.push(email);
        }
    }
    if recipients.len() > 100 {
        return Err(ApiError::bad_request("too_many_recipients", "A package can have at most 100 recipients."));
    }
    if verify_email && recipients.is_empty() {
        return Err(ApiError::bad_request(
            "no_recipients",
            "E-mail verification needs at least one recipient address.",
        ));
    }
    let days = req.expires_in_days.unwrap_or(limits.default_expiry_days);
    if days == 0 || days > limits.max_expiry_days {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            format!("expires_in_days must be between 1 and {}.", limits.max_expiry_days),
        ));
    }
    if req.max_downloads.is_some_and(|m| !(1..=10_000).contains(&m)) {
        return Err(ApiError::bad_request("invalid_max_downloads", "max_downloads must be between 1 and 10000."));
    }
    if req.blobs.is_empty() || req.blobs.len() > limits.max_blobs as usize {
        return Err(ApiError::bad_request(
            "invalid_blobs",
            format!("A package has 1 to {} blobs (the manifest and the files).", limits.max_blobs),
        ));
    }
    let sizes: Vec<i64> = req.blobs.iter().map(|b| b.size).collect();
    if sizes.iter().any(|&s| s < MIN_BLOB_SIZE) {
        return Err(ApiError::bad_request("invalid_blob_size", "Every blob is an age file of at least 100 bytes."));
    }
    let total: i64 = sizes.iter().sum();
    if total as u64 > limits.max_package_bytes {
        return Err(ApiError::too_large(format!(
            "The package is {total} bytes; the limit is {} bytes.",
            limits.max_package_bytes
        )));
    }

    let id = random_id();
    let share = random_bytes::<32>();
    let expires_at = now() + i64::from(days) * 86_400;
    let sender = auth.user.clone();
    let (pkg, recipients, blobs) = {
        let id = id.clone();
        state
            .db
            .run(move |c| {
                let tx = db::transaction(c)?;
                package::create(
                    &tx,
                    &id,
                    &NewPackage {
                        sender_id: sender.id,
                        server_share: &share,
                        expires_at,
                        max_downloads: req.max_downloads,
                        verify_email,
                        has_password: req.password,
                        notify_on_download: req.notify_on_download,
                        recipients: &recipients,
                        blob_sizes: &sizes,
                    },
                )?;
                let detail = format!("{} blobs, {total} bytes, {} recipients", sizes.len(), recipients.len());
                audit::record(&tx, Event::Created, &format!("user:{}", sender.email), Some(&id), Some(&detail))?;
                tx.commit()?;
                let pkg = package::get(c, &id)?.expect("just created");
                Ok((pkg, package::recipients(c, &id)?, package::blobs(c, &id)?))
            })
            .await?
    };
    let mut answer = view(&state, &pkg, recipients, blobs);
    // S is handed to the sender once, here, and afterwards only to recipients.
    answer["server_share"] = json!(URL_SAFE_NO_PAD.encode(share));
    answer["upload_url"] = json!(format!("{}/api/v1/uploads", state.config.public_url));
    Ok(HttpResponse::Created().json(answer))
}

/// Loads a package of the calling user.
async fn owned(state: &State, auth: &AuthUser, id: &str) -> ApiResult<Package> {
    check_package_id(id)?;
    let id = id.to_string();
    let pkg = state.db.run(move |c| Ok(package::get(c, &id)?)).await?.ok_or_else(|| ApiError::not_found("package"))?;
    if pkg.sender_id != auth.user.id {
        return Err(ApiError::not_found("package"));
    }
    Ok(pkg)
}

async fn list(state: State, auth: AuthUser) -> ApiResult<HttpResponse> {
    let user_id = auth.user.id;
    let rows = state
        .db
        .run(move |c| {
            package::list_by_sender(c, user_id)?
                .into_iter()
                .map(|p| {
                    let (r, b) = (package::recipients(c, &p.id)?, package::blobs(c, &p.id)?);
                    Ok((p, r, b))
                })
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    let packages: Vec<Value> = rows.into_iter().map(|(p, r, b)| view(&state, &p, r, b)).collect();
    Ok(HttpResponse::Ok().json(json!({ "packages": packages })))
}

async fn show(state: State, auth: AuthUser, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let pkg = owned(&state, &auth, &path).await?;
    let id = pkg.id.clone();
    let (r, b, events) = state
        .db
        .run(move |c| Ok((package::recipients(c, &id)?, package::blobs(c, &id)?, audit::for_package(c, &id)?)))
        .await?;
    let mut answer = view(&state, &pkg, r, b);
    answer["events"] = json!(
        events
            .iter()
            .map(|e| json!({ "at": rfc3339(e.at), "event": e.event, "actor": e.actor, "detail": e.detail }))
            .collect::<Vec<_>>()
    );
    Ok(HttpResponse::Ok().json(answer))
}

async fn finalize(state: State, auth: AuthUser, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let pkg = owned(&state, &auth, &path).await?;
    match pkg.availability(now()) {
        Err(package::Unavailable::Revoked) => return Err(ApiError::gone("revoked", "This package was revoked.")),
        Err(package::Unavailable::Expired) => return Err(ApiError::gone("expired", "This package has expired.")),
        _ => {}
    }
    let (id, email) = (pkg.id.clone(), auth.user.email.clone());
    let (pkg, r, b) = state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            let blobs = package::blobs(&tx, &id)?;
            let missing: Vec<i64> = blobs.iter().filter(|b| !b.complete).map(|b| b.idx).collect();
            if !missing.is_empty() {
                return Err(ApiError::conflict("upload_incomplete", "Not every blob has been uploaded yet.")
                    .with("missing", missing));
            }
            let was_uploading = package::get(&tx, &id)?.is_some_and(|p| p.state == PackageState::Uploading);
            package::set_ready(&tx, &id)?;
            if was_uploading {
                audit::record(&tx, Event::Finalized, &format!("user:{email}"), Some(&id), None)?;
            }
            tx.commit()?;
            Ok((package::get(c, &id)?.expect("exists"), package::recipients(c, &id)?, blobs))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view(&state, &pkg, r, b)))
}

async fn revoke(state: State, auth: AuthUser, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let pkg = owned(&state, &auth, &path).await?;
    let (id, email) = (pkg.id.clone(), auth.user.email.clone());
    state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            if package::end(&tx, &id, PackageState::Revoked)? {
                audit::record(&tx, Event::Revoked, &format!("user:{email}"), Some(&id), None)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    // S is gone; the blobs follow at once (the janitor retries on failure).
    janitor::purge_blobs(&state, &pkg.id).await;
    Ok(HttpResponse::Ok().json(json!({ "id": pkg.id, "state": "revoked" })))
}

async fn delete(state: State, auth: AuthUser, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let pkg = owned(&state, &auth, &path).await?;
    let (id, email) = (pkg.id.clone(), auth.user.email.clone());
    state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            package::end(&tx, &id, PackageState::Revoked)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    janitor::purge_blobs(&state, &pkg.id).await;
    let id = pkg.id.clone();
    state
        .db
        .run(move |c| {
            let tx = db::transaction(c)?;
            package::delete(&tx, &id)?;
            audit::record(&tx, Event::Deleted, &format!("user:{email}"), Some(&id), None)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
