//! The server's rules, written once: packages and their life, access
//! checks, uploads, one-time codes and their budgets, accounts, quotas and
//! audit events (docs/architecture.md, "Layers"). Functions here take the
//! [`Domain`] (the stores, the server key and the limits), know nothing of
//! HTTP and hold no SQL. HTTP handlers, the janitor and the mail worker all
//! call them.

pub(crate) mod access;
pub(crate) mod accounts;
pub(crate) mod address;
pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod certificate;
pub(crate) mod codes;
pub(crate) mod colleagues;
pub(crate) mod inbox;
pub(crate) mod janitor;
pub(crate) mod keys;
pub(crate) mod leases;
pub(crate) mod licences;
pub(crate) mod lifecycle;
pub(crate) mod mail;
pub(crate) mod organisations;
pub(crate) mod packages;
pub(crate) mod policy;
pub(crate) mod requests;
pub(crate) mod sent;
pub(crate) mod sso;
pub(crate) mod uploads;
pub(crate) mod users;

use std::sync::Arc;

use crate::blobs::BlobStore;
use crate::config::Limits;
use crate::secrets::ServerKey;
use crate::store::{MetaStore, NewEvent, StoreError};

/// Everything the rules work on.
pub(crate) struct Domain {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub key: ServerKey,
    pub limits: Limits,
    /// The server's public URL (links in answers and mail).
    pub public_url: String,
    /// Rules for sending and the content check (`[policy]`).
    pub policy: crate::config::Policy,
    /// How licences are treated (`[licence]`).
    pub licence: crate::config::Licence,
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Why a package cannot be opened now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    NotReady,
    Expired,
    Revoked,
    LimitReached,
}

/// A quota a request would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quota {
    /// Bytes declared by unfinished packages.
    ReservedBytes,
    /// Unfinished packages.
    UnfinishedPackages,
    /// Open uploads.
    OpenUploads,
}

/// Why a code was not accepted. Known and unknown addresses get the same
/// answers: there is no "no code" or "expired" that only a real recipient
/// could see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeRejection {
    Wrong {
        tries_left: i64,
    },
    /// The failure budget is spent; `retry_after` is `None` when the lock is for good.
    Locked {
        retry_after: Option<i64>,
    },
}

/// Everything a rule can refuse, and the failures below it.
#[derive(Debug)]
pub(crate) enum DomainError {
    NotFound(&'static str),
    /// A request that breaks a rule of its shape: `code` is stable, the message says which.
    Invalid {
        code: &'static str,
        message: String,
    },
    Unavailable(Unavailable),
    NotUploading,
    AlreadyUploaded,
    UploadIncomplete(Vec<i64>),
    /// Larger than allowed: a sentence, and the limit in bytes it broke.
    TooLarge {
        message: String,
        limit: u64,
    },
    Quota {
        quota: Quota,
        limit: u64,
    },
    Unauthorized,
    /// Signed in, but this needs a role the caller does not have.
    Forbidden(&'static str),
    /// Not allowed by the organisation's licence or seats: a stable code and a sentence saying whom to ask.
    Refused {
        code: &'static str,
        message: String,
    },
    /// The caller holds no seat and none is free: `total` seats, and admins who can give one.
    NoSeat {
        total: u32,
        admins: Vec<String>,
    },
    /// A package breaks a rule of the organisation's policy.
    Policy(kluis_policy::Breach),
    /// The thing changed since the caller read it: a stable code and a sentence.
    Conflict {
        code: &'static str,
        message: String,
    },
    VerificationRequired,
    NoVerification,
    /// The access proof did not match: a wrong password, or a damaged link.
    WrongProof {
        password: bool,
    },
    Code(CodeRejection),
    RateLimited {
        retry_after: u64,
    },
    /// Another request holds the upload's lease for `retry_after` more seconds (at most).
    UploadBusy {
        retry_after: u64,
    },
    UploadExpired,
    OffsetMismatch(i64),
    SessionRequired,
    SessionExpired,
    Store(String),
    Blob(std::io::Error),
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DomainError {}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(e) => *e,
            StoreError::Backend(e) => DomainError::Store(e),
        }
    }
}

impl From<std::io::Error> for DomainError {
    fn from(e: std::io::Error) -> Self {
        DomainError::Blob(e)
    }
}

pub(crate) type DomainResult<T> = Result<T, DomainError>;

/// One page of a list read with one row more than `limit`: the rows of the
/// page, and the cursor of the next page (of its last row) when that extra row came.
pub(crate) fn page<T, C>(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor);
    (rows, next)
}

pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid { code, message: message.into() }
}

/// Who did something, as the audit log names them.
pub(crate) enum Actor<'a> {
    User(&'a str),
    Recipient(Option<&'a str>),
    /// An unauthenticated caller known only by its network address.
    Client(&'a str),
    /// An outsider uploading through a request: their address (proven by a code or not).
    Uploader(&'a str),
    System,
}

impl Actor<'_> {
    pub(crate) fn name(&self) -> String {
        match self {
            Actor::User(e) => format!("user:{e}"),
            Actor::Recipient(Some(e)) => format!("recipient:{e}"),
            Actor::Recipient(None) => "recipient".into(),
            Actor::Client(ip) => format!("client:{ip}"),
            Actor::Uploader(e) => format!("uploader:{e}"),
            Actor::System => "system".into(),
        }
    }
}

/// The audit events (append-only log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Created,
    Uploaded,
    Finalized,
    Accessed,
    AccessDenied,
    Downloaded,
    VerificationSent,
    VerificationFailed,
    VerificationLocked,
    Revoked,
    Expired,
    Deleted,
    SignedIn,
    SignInFailed,
    SignInLocked,
    /// A send-time check's verdict (kinds of findings, never content).
    SendChecked,
    /// An admin changed the organisation: `user_added`, `user_changed`, `user_removed`, `organisation_changed`, …
    Admin(&'static str),
    /// Rows past the organisation's retention were deleted.
    AuditPruned,
    /// Receiving files: `key_made`, `key_rewrapped`, `key_replaced`,
    /// `request_created`, `request_closed`, `received`, `abandoned` (an
    /// unfinished delivery given up by its uploader, or by their new session).
    Inbound(&'static str),
}

impl Event {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Event::Created => "created",
            Event::Uploaded => "uploaded",
            Event::Finalized => "finalized",
            Event::Accessed => "accessed",
            Event::AccessDenied => "access_denied",
            Event::Downloaded => "downloaded",
            Event::VerificationSent => "verification_sent",
            Event::VerificationFailed => "verification_failed",
            Event::VerificationLocked => "verification_locked",
            Event::Revoked => "revoked",
            Event::Expired => "expired",
            Event::Deleted => "deleted",
            Event::SignedIn => "signed_in",
            Event::SignInFailed => "sign_in_failed",
            Event::SignInLocked => "sign_in_locked",
            Event::SendChecked => "send_checked",
            Event::Admin(what) => what,
            Event::AuditPruned => "audit_pruned",
            Event::Inbound(what) => what,
        }
    }
}

impl Domain {
    /// An audit event of organisation `org_id`.
    pub(crate) fn event(
        &self,
        org_id: impl Into<Option<i64>>,
        event: Event,
        actor: Actor,
        package_id: Option<&str>,
        detail: Option<String>,
    ) -> NewEvent {
        NewEvent {
            org_id: org_id.into(),
            event: event.as_str(),
            actor: actor.name(),
            package_id: package_id.map(str::to_string),
            detail,
        }
    }
}
