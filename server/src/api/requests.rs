//! Upload requests (docs/inbound.md): the requester's side (`/requests`,
//! signed in) and the uploader's (`/r/{id}`, no sign-in, rate-limited per
//! client; deliveries need the uploader's session). Rules: `domain::requests`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use kluis_protocol::api::CodeAccepted;
use kluis_protocol::inbound::{
    CreateDelivery, CreateRequest, CreatedDelivery, DeliveryView, PortalInfo, RequestInfo, RequestList, RequestView,
    UploaderCodeRequest, UploaderSession, UploaderSessionRequest,
};

use super::error::{ApiError, ApiResult};
use super::guard::{SignedIn, Uploader};
use super::packages::{blob_views, wire_state, wire_verify};
use super::{client, package_id, rfc3339};
use crate::State;
use crate::domain::{DomainError, now, requests};
use crate::store::UploadRequest;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/upload/{name}",
        web::get().to(portal).wrap(actix_web::middleware::from_fn(super::limit::unauthenticated)),
    )
    .route("/requests", web::post().to(create))
    .route("/requests", web::get().to(list))
    .route("/requests/{id}/close", web::post().to(close))
    .service(
        web::scope("/r/{id}")
            .wrap(actix_web::middleware::from_fn(super::limit::unauthenticated))
            .app_data(super::json_config(64 * 1024))
            .route("", web::get().to(info))
            .route("/code", web::post().to(request_code))
            .route("/session", web::post().to(start))
            .route("/deliveries", web::post().to(create_delivery))
            .route("/deliveries/{delivery}", web::get().to(delivery))
            .route("/deliveries/{delivery}", web::delete().to(abandon))
            .route("/deliveries/{delivery}/finalize", web::post().to(finalize)),
    );
}

/// Unknown, closed, used-up and expired requests get one answer.
fn gone(e: DomainError) -> ApiError {
    match e {
        DomainError::NotFound("request") => ApiError::new(
            StatusCode::NOT_FOUND,
            "request_not_found",
            "This upload link has ended, was closed, or does not exist. Ask the person who sent it for a new one.",
        ),
        other => other.into(),
    }
}

fn view(state: &State, r: UploadRequest) -> ApiResult<RequestView> {
    let at = now();
    Ok(RequestView {
        id: package_id(&r.id)?,
        url: format!("{}/r/{}", state.domain.public_url, r.id),
        state: requests::state(&r, at),
        recipient: r.recipient,
        emails: r.emails,
        message: r.message,
        verify: wire_verify(r.verify_email),
        created_at: rfc3339(r.created_at),
        expires_at: rfc3339(r.expires_at),
        max_uploads: u32::try_from(r.max_uploads).unwrap_or(u32::MAX),
        uploads: u32::try_from(r.uploads).unwrap_or(u32::MAX),
        max_bytes: r.max_bytes as u64,
    })
}

async fn create(state: State, auth: SignedIn, body: web::Json<CreateRequest>) -> ApiResult<HttpResponse> {
    let request = requests::create(&state.domain, &auth.0, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view(&state, request)?))
}

async fn list(state: State, auth: SignedIn) -> ApiResult<HttpResponse> {
    let found = requests::list(&state.domain, &auth.0).await?;
    let requests = found.into_iter().map(|r| view(&state, r)).collect::<ApiResult<_>>()?;
    Ok(HttpResponse::Ok().json(RequestList { requests }))
}

async fn close(state: State, auth: SignedIn, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = package_id(&path)?;
    let request = requests::close(&state.domain, &auth.0, id.as_str()).await?;
    Ok(HttpResponse::Ok().json(view(&state, request)?))
}

fn request_id(raw: &str) -> ApiResult<kluis_protocol::PackageId> {
    package_id(raw).map_err(|_| gone(DomainError::NotFound("request")))
}

pub(super) fn info_of(card: requests::RequestCard) -> RequestInfo {
    RequestInfo {
        requester: card.requester.email,
        requester_name: card.requester.name,
        organisation: card.organisation,
        recipient: card.request.recipients.first().cloned().unwrap_or_default(),
        recipients: card.request.recipients,
        message: card.request.message,
        verify: wire_verify(card.request.verify_email),
        max_bytes: card.request.max_bytes as u64,
        expires_at: rfc3339(card.request.expires_at),
        blocked_file_types: card.blocked_file_types,
    }
}

async fn info(state: State, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = request_id(&path)?;
    let card = requests::card(&state.domain, id.as_str()).await.map_err(gone)?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(info_of(card)))
}

/// An organisation's upload portal: the request behind it and its page.
async fn portal(state: State, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let card = requests::portal_card(&state.domain, &path).await.map_err(gone)?;
    let request = package_id(&card.request.id)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(PortalInfo { request, info: info_of(card) }))
}

async fn request_code(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<UploaderCodeRequest>,
) -> ApiResult<HttpResponse> {
    let id = request_id(&path)?;
    let sent = requests::request_code(&state.domain, id.as_str(), &body.email, &client(&req)).await;
    state.mail_wake.notify_one();
    sent.map_err(gone)?;
    Ok(HttpResponse::Accepted().json(CodeAccepted { sent: true }))
}

async fn start(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<UploaderSessionRequest>,
) -> ApiResult<HttpResponse> {
    let id = request_id(&path)?;
    let (token, expires_at) =
        requests::start(&state.domain, id.as_str(), &body.email, body.code.as_deref(), &client(&req))
            .await
            .map_err(gone)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(UploaderSession { token, expires_at: rfc3339(expires_at) }))
}

async fn create_delivery(
    state: State,
    auth: Uploader,
    path: web::Path<String>,
    body: web::Json<CreateDelivery>,
) -> ApiResult<HttpResponse> {
    let id = request_id(&path)?;
    let record =
        requests::create_delivery(&state.domain, &auth.0, id.as_str(), body.into_inner()).await.map_err(gone)?;
    Ok(HttpResponse::Created().json(CreatedDelivery {
        id: package_id(&record.package.id)?,
        upload_url: format!("{}/api/v1/uploads", state.domain.public_url),
    }))
}

async fn delivery(state: State, auth: Uploader, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (raw, delivery) = path.into_inner();
    let id = request_id(&raw)?;
    let delivery = package_id(&delivery)?;
    let record = requests::delivery(&state.domain, &auth.0, id.as_str(), delivery.as_str()).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(DeliveryView {
        id: delivery,
        state: wire_state(record.package.state),
        blobs: blob_views(&record.blobs),
    }))
}

/// The uploader gives up an unfinished delivery: its place is free at once.
async fn abandon(state: State, auth: Uploader, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (raw, delivery) = path.into_inner();
    let id = request_id(&raw)?;
    // One answer for every delivery that is not this session's to give up.
    let delivery = package_id(&delivery).map_err(|_| ApiError::not_found("delivery"))?;
    requests::abandon(&state.domain, &auth.0, id.as_str(), delivery.as_str()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn finalize(state: State, auth: Uploader, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (raw, delivery) = path.into_inner();
    let id = request_id(&raw)?;
    let delivery = package_id(&delivery)?;
    let done = requests::finalize(&state.domain, &auth.0, id.as_str(), delivery.as_str()).await;
    state.mail_wake.notify_one();
    done?;
    Ok(HttpResponse::NoContent().finish())
}
