//! API errors: a stable machine-readable `code`, a human message, and the
//! HTTP status that fits. Every handler returns `Result<_, ApiError>`.
//!
//! Body: `{"error": {"code": "wrong_code", "message": "…", "tries_left": 3}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

use crate::domain::{CodeRejection, DomainError, Quota, Unavailable};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Extra fields for the error object (e.g. `tries_left`).
    pub(crate) extra: Map<String, Value>,
    pub(crate) retry_after: Option<u64>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), extra: Map::new(), retry_after: None }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    pub(crate) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self.with("retry_after", seconds)
    }

    /// The `error` object of the answer, for an answer that carries one without failing (`cannot_send`).
    pub(crate) fn detail(self) -> kluis_protocol::api::ErrorDetail {
        kluis_protocol::api::ErrorDetail {
            code: self.code.into(),
            message: self.message,
            extra: self.extra.into_iter().collect(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first: this needs a valid API token.")
    }
    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("No such {what}."))
    }
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    pub(crate) fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, message)
    }
    pub(crate) fn rate_limited(seconds: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests; try again later.")
            .retry_after(seconds)
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        // The cause goes to the log, not to the client.
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong on the server.")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.extend(self.extra.clone());
        let mut response = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            response.insert_header((RETRY_AFTER, HeaderValue::from(s)));
        }
        response.json(json!({ "error": error }))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(what) => ApiError::not_found(what),
            DomainError::Invalid { code, message } => ApiError::bad_request(code, message),
            DomainError::Unavailable(Unavailable::NotReady) => ApiError::not_found("package"),
            DomainError::Unavailable(Unavailable::Expired) => {
                ApiError::gone("expired", "This package has expired and its files were deleted.")
            }
            DomainError::Unavailable(Unavailable::Revoked) => {
                ApiError::gone("revoked", "The sender withdrew this package.")
            }
            DomainError::Unavailable(Unavailable::LimitReached) => ApiError::gone(
                "download_limit_reached",
                "This package has been downloaded as often as the sender allowed.",
            ),
            DomainError::NotUploading => ApiError::conflict("not_uploading", "This package no longer takes uploads."),
            DomainError::AlreadyUploaded => {
                ApiError::conflict("already_uploaded", "This blob has been uploaded already.")
            }
            DomainError::UploadIncomplete(missing) => {
                ApiError::conflict("upload_incomplete", "Not every blob has been uploaded yet.")
                    .with("missing", missing)
            }
            DomainError::TooLarge { message, limit } => ApiError::too_large(message).with("limit", limit),
            DomainError::Quota { quota, limit } => {
                let (status, name, what) = match quota {
                    Quota::ReservedBytes => (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "reserved_bytes",
                        format!("{limit} bytes in unfinished packages"),
                    ),
                    Quota::UnfinishedPackages => {
                        (StatusCode::TOO_MANY_REQUESTS, "unfinished_packages", format!("{limit} unfinished packages"))
                    }
                    Quota::OpenUploads => {
                        (StatusCode::TOO_MANY_REQUESTS, "open_uploads", format!("{limit} open uploads"))
                    }
                };
                ApiError::new(
                    status,
                    "quota_exceeded",
                    format!("Your quota allows at most {what}; finish or delete some first."),
                )
                .with("quota", name)
                .with("limit", limit)
            }
            DomainError::Unauthorized => ApiError::unauthorized(),
            DomainError::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            DomainError::Refused { code, message } => ApiError::new(StatusCode::FORBIDDEN, code, message),
            DomainError::Policy(breach) => {
                let mut error = ApiError::bad_request(breach.code(), breach.to_string());
                for (key, value) in crate::domain::policy::breach_fields(&breach) {
                    error = error.with(&key, value);
                }
                error
            }
            DomainError::Conflict { code, message } => ApiError::conflict(code, message),
            DomainError::NoSeat { total, admins } => {
                let ask = if admins.is_empty() { "your administrator".to_string() } else { admins.join(" or ") };
                let message = format!(
                    "You have no Kluis seat: all {total} of your organisation's seats are taken. Ask {ask} to give you one."
                );
                ApiError::new(StatusCode::FORBIDDEN, "no_seat", message).with("seats", total).with("admins", admins)
            }
            DomainError::VerificationRequired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "verification_required",
                "This package asks for a code sent to your e-mail address.",
            ),
            DomainError::NoVerification => ApiError::bad_request("no_verification", "This package needs no code."),
            DomainError::WrongProof { password: true } => ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_password",
                "That password is not right. Nothing was counted; try again.",
            ),
            DomainError::WrongProof { password: false } => ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_link",
                "This link is incomplete or damaged: copy the whole link from the message.",
            ),
            DomainError::Code(CodeRejection::Wrong { tries_left }) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "wrong_code", "That code is not right, or it has expired.")
                    .with("tries_left", tries_left)
            }
            DomainError::Code(CodeRejection::Locked { retry_after: Some(s) }) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "locked",
                "Too many wrong codes: codes are refused for a while.",
            )
            .retry_after(s.max(1) as u64),
            DomainError::Code(CodeRejection::Locked { retry_after: None }) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "locked",
                "Too many wrong codes: this can no longer be opened with a code. Ask the sender to send it again.",
            ),
            DomainError::RateLimited { retry_after } => ApiError::rate_limited(retry_after),
            DomainError::UploadBusy { retry_after } => ApiError::new(
                StatusCode::LOCKED,
                "upload_busy",
                "Another request is writing to this upload; try again when it lets go (Retry-After).",
            )
            .retry_after(retry_after),
            DomainError::UploadExpired => ApiError::gone("upload_expired", "This upload has expired; start a new one."),
            DomainError::OffsetMismatch(offset) => {
                ApiError::conflict("offset_mismatch", "Upload-Offset does not match; HEAD the upload to resume.")
                    .with("offset", offset)
            }
            DomainError::SessionRequired => {
                ApiError::new(StatusCode::UNAUTHORIZED, "session_required", "Open the package first (POST …/access).")
            }
            DomainError::SessionExpired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "The download session has ended; open the package again.",
            ),
            DomainError::Store(e) => ApiError::internal(e),
            DomainError::Blob(e) => ApiError::internal(format!("blob store: {e}")),
        }
    }
}
