//! Bringing files in (docs/architecture.md §3, "Accounts and inbound
//! files"): the user's key, upload requests, the uploader's side of an
//! upload link, and the inbox.
//!
//! Every user has an age X25519 identity made in their own client. The
//! server keeps it only as an age file encrypted with a passphrase (scrypt),
//! and, when the organisation turns recovery on, a second copy encrypted to
//! the organisation's recovery recipient. Outsiders encrypt to the user's
//! recipient (`age1…`), which the request link carries in its fragment.

use serde::{Deserialize, Serialize};

use crate::PackageId;
use crate::api::{BlobSpec, BlobView, Verify};

/// Longest wrapped identity the server keeps: an armored age file with one
/// scrypt stanza around a 74-character identity is about 450 bytes.
pub const MAX_WRAPPED_LEN: usize = 4096;

/// `GET /key`: the caller's key, if made, and what a new one must be
/// wrapped to besides the passphrase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyState {
    /// The key, once the user made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyView>,
    /// The organisation's recovery recipient when recovery is on: every
    /// key must then also be sent encrypted to it (`PutKey::recovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_recipient: Option<String>,
}

/// A user's key as the server keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyView {
    /// The public half (`age1…`), shown to the organisation's users.
    pub recipient: String,
    /// The identity as an armored age file encrypted with the passphrase.
    pub wrapped: String,
    /// Whether a copy encrypted to the organisation's recovery recipient is kept.
    pub recoverable: bool,
    /// The recovery recipient that copy is encrypted to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_recipient: Option<String>,
    /// When the key was made.
    pub created_at: String,
    /// When it was last wrapped again (a new passphrase, a recovery).
    pub updated_at: String,
    /// Set when an admin recovered the key under a passphrase they chose:
    /// the user should choose their own at the next unlock.
    pub must_change_passphrase: bool,
}

/// `PUT /key`: a first key, the same key under a new passphrase, or (with
/// `replace`) a new key that makes what was sent to the old one unreadable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutKey {
    /// The public half (`age1…`).
    pub recipient: String,
    /// The identity, an armored age file with exactly one scrypt stanza.
    pub wrapped: String,
    /// The identity encrypted to the organisation's recovery recipient
    /// (an armored age file with one X25519 stanza); required while
    /// recovery is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    /// A different recipient than the kept one: the user lost the
    /// passphrase and starts again. Refused without this flag.
    #[serde(default)]
    pub replace: bool,
}

/// `GET /directory?email=`: a colleague's recipient.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// Their address.
    pub email: String,
    /// Their recipient, if they made a key.
    pub recipient: Option<String>,
}

/// Most addresses one `POST /directory` looks up: a package's most recipients.
pub const MAX_DIRECTORY_LOOKUP: usize = 100;

/// `POST /directory`: which of these addresses are colleagues with a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryLookup {
    /// At most [`MAX_DIRECTORY_LOOKUP`] addresses.
    pub emails: Vec<String>,
}

/// A colleague's address and current recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColleagueKey {
    /// Their address.
    pub email: String,
    /// Their recipient (`age1…`).
    pub recipient: String,
}

/// `POST /directory`: the colleagues among the addresses asked for who have
/// a key, in the order asked. Unknown addresses, outsiders, colleagues
/// without a key and the caller themselves are left out alike.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Colleagues {
    /// Colleagues with a key.
    pub colleagues: Vec<ColleagueKey>,
}

/// `POST /requests`: ask someone to send files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Who may upload; empty: anyone with the link. Naming addresses
    /// implies verification by code.
    #[serde(default)]
    pub emails: Vec<String>,
    /// A note shown on the upload page. The server keeps it as it is: it is
    /// for instructions, not for secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Days the link works (default and maximum set by the organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
    /// How many uploads it takes (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uploads: Option<u32>,
    /// Largest upload in bytes (default and maximum: the server's package limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Whether the uploader proves their address with a mailed code.
    #[serde(default)]
    pub verify: Verify,
}

/// Where an upload request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Takes uploads.
    Open,
    /// Took as many uploads as it allows.
    Used,
    /// Closed by its owner.
    Closed,
    /// Past its expiry.
    Expired,
}

/// An upload request as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestView {
    /// Its id.
    pub id: PackageId,
    /// The link without its `#recipient` (the client adds that).
    pub url: String,
    /// The recipient uploads are encrypted to (the owner's, when made).
    pub recipient: String,
    /// Who may upload; empty: anyone with the link.
    pub emails: Vec<String>,
    /// The note on the upload page.
    pub message: Option<String>,
    /// How uploaders prove who they are.
    pub verify: Verify,
    /// Where it is in its life.
    pub state: RequestState,
    /// When it was made.
    pub created_at: String,
    /// When the link stops working.
    pub expires_at: String,
    /// Uploads it takes in all.
    pub max_uploads: u32,
    /// Uploads finished so far.
    pub uploads: u32,
    /// Largest upload in bytes.
    pub max_bytes: u64,
}

/// `GET /requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestList {
    /// The caller's requests, newest first.
    pub requests: Vec<RequestView>,
}

/// `GET /r/{id}` (no sign-in): what the upload page shows before anything
/// is asked. Unknown, closed, used and expired requests all answer 404.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestInfo {
    /// Who asked (their address).
    pub requester: String,
    /// Their name, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_name: Option<String>,
    /// Their organisation.
    pub organisation: String,
    /// The recipient the server has for this request: the page refuses a
    /// link whose fragment differs before anything is uploaded.
    pub recipient: String,
    /// Every recipient uploads are encrypted to: `[recipient]`, or for a
    /// portal each receiver's (a portal link has no fragment to check them by).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The requester's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the uploader must prove their address with a code.
    pub verify: Verify,
    /// Largest upload in bytes.
    pub max_bytes: u64,
    /// When the link stops working.
    pub expires_at: String,
    /// File types the organisation does not accept (lower-case extensions).
    pub blocked_file_types: Vec<String>,
}

/// `POST /r/{id}/code`: mail the uploader a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploaderCodeRequest {
    /// The uploader's address.
    pub email: String,
}

/// `POST /r/{id}/session`: start uploading.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploaderSessionRequest {
    /// The uploader's address.
    pub email: String,
    /// The mailed code, when the request asks for verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A session for one uploader of one request: the bearer token for
/// `POST /r/{id}/deliveries`, the tus uploads and finalize.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploaderSession {
    /// `kluis_up_…`; only its hash is stored.
    pub token: String,
    /// When it stops working.
    pub expires_at: String,
}

/// `POST /r/{id}/deliveries`: declare an upload (blob 0 is the manifest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDelivery {
    /// The recipient the client encrypts to: must be the request's.
    pub recipient: String,
    /// For a request with several recipients (a portal): all of them,
    /// `recipient` included; they must be exactly the request's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// The blobs, manifest first.
    pub blobs: Vec<BlobSpec>,
    /// The files' types (`kluis_policy::file_type::of`), for the policy.
    #[serde(default)]
    pub file_types: Vec<String>,
}

/// The answer to `POST /r/{id}/deliveries`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedDelivery {
    /// The delivery's id (a package id): tus uploads name it.
    pub id: PackageId,
    /// The tus creation URL.
    pub upload_url: String,
}

/// What came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxKind {
    /// Through an upload request.
    Upload,
    /// A recipient's secure reply to a package the user sent.
    Reply,
    /// A package a colleague sent to the user, encrypted to their key too.
    Package,
}

/// One item of the inbox (`GET /inbox`, `GET /inbox/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxItem {
    /// Its id (a package id).
    pub id: PackageId,
    /// What it is.
    pub kind: InboxKind,
    /// Who uploaded it (a colleague's package: who sent it).
    pub from: String,
    /// Whether `from` was proven with a mailed code (a colleague's package:
    /// always, they signed in).
    pub verified: bool,
    /// The request it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<PackageId>,
    /// A reply: the package it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<PackageId>,
    /// When it arrived (finalized).
    pub received_at: String,
    /// When the server deletes it.
    pub expires_at: String,
    /// Encrypted bytes in all.
    pub size: u64,
    /// The blobs: 0 is the manifest (names, message), then one per file;
    /// each is fetched from `GET /inbox/{id}/blobs/{index}`.
    pub blobs: Vec<BlobView>,
}

/// `GET /inbox`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxPage {
    /// Newest first.
    pub items: Vec<InboxItem>,
    /// The cursor of the next page, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET/PUT /admin/recovery`: the organisation's key recovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySettings {
    /// The recovery recipient (`age1…`) whose identity the admin keeps
    /// offline; absent: recovery is off.
    #[serde(default)]
    pub recipient: Option<String>,
}

/// `GET /admin/users/{id}/key`: what an admin needs to recover a user's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCopy {
    /// The user's recipient.
    pub recipient: String,
    /// The identity encrypted to the recovery recipient (armored age file),
    /// if the key has a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    /// The recovery recipient that copy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_recipient: Option<String>,
}

/// `PUT /admin/users/{id}/key`: the user's own identity, decrypted from the
/// recovery copy offline and wrapped under a passphrase the admin hands the
/// user; they are asked to choose their own at the next unlock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveredKey {
    /// The identity, an armored age file with one scrypt stanza.
    pub wrapped: String,
}

/// `GET /r/{id}/deliveries/{delivery}`: how far a delivery got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Its id.
    pub id: PackageId,
    /// `uploading` or `ready`.
    pub state: crate::api::PackageState,
    /// The blobs.
    pub blobs: Vec<BlobView>,
}

/// `POST /p/{id}/reply` (with the recipient's download session): where a
/// secure reply goes and the session to upload it with, through the same
/// `/r/{request}/deliveries` calls as an upload request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyStarted {
    /// The request behind replies to this package.
    pub request: PackageId,
    /// What the page shows (the requester is the package's sender).
    pub info: RequestInfo,
    /// The uploader's session.
    pub session: UploaderSession,
}

/// `POST /admin/portals`: publish an upload page for the organisation at
/// `/upload/<name>`; what comes in is encrypted to every receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePortal {
    /// The page's name in its address: 2 to 40 of a-z, 0-9 and `-`.
    pub name: String,
    /// The text on the page (instructions, not secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Users of the organisation who receive (each must have a key).
    pub receivers: Vec<String>,
    /// Whether uploaders prove their address with a mailed code.
    #[serde(default)]
    pub verify: Verify,
    /// Largest upload in bytes (default and maximum: the server's package limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// A portal as its admins see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalView {
    /// The request id behind it.
    pub id: PackageId,
    /// Its name.
    pub name: String,
    /// Its address.
    pub url: String,
    /// The text on the page.
    pub message: Option<String>,
    /// Who receives.
    pub receivers: Vec<String>,
    /// Receivers who have no key yet (they receive nothing until they make one).
    pub without_key: Vec<String>,
    /// Receivers whose key is post-quantum (`age1pq1…`). When others have
    /// classic keys, no file can be encrypted to all of them, and the portal
    /// takes no uploads (`409 portal_mixed_keys`) until they are of one kind.
    #[serde(default)]
    pub post_quantum: Vec<String>,
    /// How uploaders prove who they are.
    pub verify: Verify,
    /// Largest upload in bytes.
    pub max_bytes: u64,
    /// `open` or `closed`.
    pub state: RequestState,
    /// Uploads so far.
    pub uploads: u64,
    /// When it was published.
    pub created_at: String,
}

/// `GET /admin/portals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalList {
    /// Newest first.
    pub portals: Vec<PortalView>,
}

/// `GET /upload/{name}` (no sign-in): the request behind a portal and what
/// its page shows; then the same `/r/{request}/…` calls as any request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalInfo {
    /// The request behind the portal.
    pub request: PackageId,
    /// What the page shows.
    pub info: RequestInfo,
}
