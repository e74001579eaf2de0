//! The HTTP API's request and response bodies (`/api/v1`, described in
//! `server/openapi.json`). The server serialises these types and the
//! command line deserialises them, so the two cannot drift apart; a server
//! test checks that the OpenAPI schemas accept what the server sends.
//!
//! Times are RFC 3339 strings; secrets (`server_share`, `access_proof`,
//! `link_proof`, tokens) are unpadded base64url or prefixed tokens, never raw bytes.

use std::collections::BTreeMap;

use kluis_policy::{ContentPolicy, Policy, SendRules};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::PackageId;

/// Every error answer: `{"error": {"code": "…", "message": "…", …}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable machine-readable `code`, a human `message`, and fields that
/// some codes carry (`tries_left`, `retry_after`, `missing`, `offset`, `quota`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable code, e.g. `wrong_code`, `expired`, `quota_exceeded`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Extra fields of this code.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `POST /auth/code`: mail a sign-in code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInCodeRequest {
    /// The user's address.
    pub email: String,
}

/// The answer to every code request, whether or not a code was sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeAccepted {
    /// Always true: the answer does not tell whether the address is known.
    pub sent: bool,
}

/// `POST /auth/token`: trade a sign-in code for an API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The user's address.
    pub email: String,
    /// The 6-digit code that was mailed.
    pub code: String,
    /// What the token is for (shown in the token list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A new API token, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The token (`kluis_…`); only its hash is stored.
    pub token: String,
    /// Whose it is.
    pub email: String,
}

/// `GET /me`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Me {
    /// The signed-in user's address.
    pub email: String,
    /// The organisation's name.
    pub organisation: String,
    /// The organisation's licence, for a banner.
    #[serde(default)]
    pub licence: LicenceNotice,
    /// Why this user cannot send now (`no_seat`, `licence_lapsed`: what
    /// making a package would answer), so pages say it before anyone picks
    /// files. Absent when they can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot_send: Option<ErrorDetail>,
}

/// An organisation's licence as pages' banners show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LicenceNotice {
    /// `evaluation` (no licence), `valid`, `ends_soon` (within 30 days),
    /// `grace` (ended; sending works `days_left` more days), `lapsed`.
    pub state: String,
    /// Days after today: in `valid`, `ends_soon` and `grace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Seats the licence (or evaluation) grants.
    pub seats_total: u32,
}

/// One API token of the signed-in user (`GET /tokens`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Id to revoke it by.
    pub id: i64,
    /// What it is for.
    pub label: String,
    /// When it was made.
    pub created_at: String,
    /// When it was last used, if ever.
    pub last_used_at: Option<String>,
    /// When it stops working: the end of a sign-in session, or earlier if
    /// left unused until then.
    pub expires_at: String,
    /// Whether this is the token of the request that asked.
    pub current: bool,
}

/// `GET /tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenList {
    /// Live tokens, newest first.
    pub tokens: Vec<TokenInfo>,
}

/// How a recipient proves who they are before the server releases S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// A code mailed to one of the package's recipient addresses.
    #[default]
    Email,
    /// Nothing beyond the link (and the password, if any).
    None,
}

/// One blob the sender will upload (blob 0 is the manifest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobSpec {
    /// Its exact size in bytes (an age file).
    pub size: u64,
}

/// `POST /packages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePackage {
    /// Who may open it (addresses the verification code may be sent to).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Days until it expires (default and maximum set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
    /// How often it may be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_downloads: Option<i64>,
    /// How recipients prove who they are.
    #[serde(default)]
    pub verify: Verify,
    /// Whether the package key includes a password.
    #[serde(default)]
    pub password: bool,
    /// Mail the sender when it is first opened.
    #[serde(default)]
    pub notify_on_download: bool,
    /// The blobs, manifest first.
    pub blobs: Vec<BlobSpec>,
    /// The files' types (extensions and what their first bytes show,
    /// `kluis_policy::file_type::of`), declared so the server can enforce
    /// the organisation's blocked file types; absent: not declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_types: Option<Vec<String>>,
    /// Whether the message text is in the package, declared for the
    /// policy's message rule; absent: not declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<bool>,
    /// Recipients who are colleagues with a key (`POST /directory`) whose
    /// recipient every blob is also encrypted to: the package appears in
    /// their inboxes. Each must be among `recipients` and name that
    /// colleague's current key; absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub colleagues: Vec<crate::inbound::ColleagueKey>,
}

/// Where a package is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    /// Created; blobs are being uploaded.
    Uploading,
    /// Finalized: recipients may open it.
    Ready,
    /// Withdrawn by the sender.
    Revoked,
    /// Past its expiry.
    Expired,
}

/// A blob as the sender sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobView {
    /// 0 is the manifest, then one per file.
    pub index: u32,
    /// Size in bytes.
    pub size: u64,
    /// Whether its upload is complete.
    pub complete: bool,
}

/// The sender's view of a package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageView {
    /// Package id.
    pub id: PackageId,
    /// The link without its `#secret`.
    pub url: String,
    /// Where it is in its life.
    pub state: PackageState,
    /// When it was made.
    pub created_at: String,
    /// When it expires.
    pub expires_at: String,
    /// Recipient addresses.
    pub recipients: Vec<String>,
    /// How recipients prove who they are.
    pub verify: Verify,
    /// Whether it has a password.
    pub password: bool,
    /// Download limit, if any.
    pub max_downloads: Option<i64>,
    /// Downloads so far.
    pub downloads: i64,
    /// Downloads left, if limited.
    pub downloads_left: Option<i64>,
    /// Whether the sender is told of the first download.
    pub notify_on_download: bool,
    /// The blobs.
    pub blobs: Vec<BlobView>,
}

/// `POST /packages` answer: the package, S (handed to the sender this once)
/// and where to upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedPackage {
    /// The package.
    #[serde(flatten)]
    pub package: PackageView,
    /// S, unpadded base64url.
    pub server_share: String,
    /// The tus creation URL.
    pub upload_url: String,
}

/// `GET /packages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageList {
    /// The caller's packages, newest first.
    pub packages: Vec<PackageView>,
    /// The cursor of the next page, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One audit event of a package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventView {
    /// Position in the log (use as `after` to page on).
    pub id: i64,
    /// When.
    pub at: String,
    /// What (`created`, `accessed`, `verification_failed`, …).
    pub event: String,
    /// Who (`user:…`, `recipient:…`, `system`).
    pub actor: String,
    /// More about it.
    pub detail: Option<String>,
}

/// `GET /packages/{id}`: the package and the first page of its events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageDetail {
    /// The package.
    #[serde(flatten)]
    pub package: PackageView,
    /// The oldest events, at most one page.
    pub events: Vec<EventView>,
    /// Cursor for `GET /packages/{id}/events?after=…` if there are more.
    pub events_next: Option<i64>,
    /// Who asked for a code, opened and downloaded (from the audit log).
    pub activity: Activity,
}

/// What recipients did with a package, as the audit log tells it: per
/// verified address, and (for packages without verification, where nobody
/// is known by name) per package.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Activity {
    /// Successful opens (access checks passed), by anyone.
    pub opens: i64,
    /// The first open, if any.
    pub first_opened_at: Option<String>,
    /// The latest open, if any.
    pub last_opened_at: Option<String>,
    /// Files (not the manifest) read to their end at least once, by anyone.
    pub files_downloaded: u32,
    /// Whether every file was read to its end at least once, by anyone.
    pub all_files: bool,
    /// One entry per recipient address (the package's recipients, then any
    /// other address that verified), in address order.
    pub recipients: Vec<RecipientActivity>,
}

/// What one recipient address did, known by its e-mail verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipientActivity {
    /// The address.
    pub email: String,
    /// When a code was last mailed to it, if ever.
    pub code_requested_at: Option<String>,
    /// When it first opened the package (passed the code check), if ever.
    pub opened_at: Option<String>,
    /// How many times it opened the package.
    pub opens: i64,
    /// Files it read to their end (each time counts).
    pub downloads: i64,
    /// Distinct files it read to their end at least once.
    pub files_downloaded: u32,
    /// Whether it read every file to its end at least once.
    pub all_files: bool,
}

/// One sent package with its activity (`GET /sent`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentPackage {
    /// The package.
    #[serde(flatten)]
    pub package: PackageView,
    /// What recipients did with it.
    pub activity: Activity,
}

/// `GET /sent`: a page of the caller's packages, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentPage {
    /// Newest first.
    pub packages: Vec<SentPackage>,
    /// Cursor for `GET /sent?cursor=…` if there are more.
    pub next: Option<String>,
}

/// `GET /packages/{id}/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventPage {
    /// Events in order.
    pub events: Vec<EventView>,
    /// Cursor for the next page, if any.
    pub next: Option<i64>,
}

/// `POST /packages/{id}/finalize`: the access verifier `SHA-256(A)` and the
/// link verifier `SHA-256(A_L)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizeRequest {
    /// `SHA-256(A)`, unpadded base64url (docs/architecture.md, access proof).
    pub access_verifier: String,
    /// `SHA-256(A_L)`, unpadded base64url (docs/architecture.md, link proof).
    pub link_verifier: String,
}

/// `POST /packages/{id}/revoke` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    /// Package id.
    pub id: PackageId,
    /// Always `revoked`.
    pub state: PackageState,
}

/// `GET /p/{id}`: what a recipient needs to know before opening.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageStatus {
    /// Package id.
    pub id: PackageId,
    /// How the recipient proves who they are.
    pub verify: Verify,
    /// Whether a password is needed (it is part of the access proof).
    pub password: bool,
    /// When it expires.
    pub expires_at: String,
    /// Downloads left, if limited.
    pub downloads_left: Option<i64>,
    /// Number of blobs.
    pub blob_count: u32,
}

/// `POST /p/{id}/sender`: who sent the package, for a caller who holds the link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderRequest {
    /// A_L, unpadded base64url: proves the caller holds the link (no password needed).
    pub link_proof: String,
}

/// Who sent a package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sender {
    /// The sender's address.
    pub email: String,
    /// The sender's name, when the account has one.
    pub name: Option<String>,
}

/// `POST /p/{id}/sender` answer: what a recipient sees before being asked
/// for anything, so the link does not look like phishing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageSender {
    /// Who sent it.
    pub sender: Sender,
    /// The sender's organisation.
    pub organisation: String,
    /// Number of files (blobs without the manifest).
    pub files: u32,
    /// When it was sent (when the sender made the package, as in the mails).
    pub sent_at: String,
}

/// `POST /p/{id}/code`: mail a verification code to a recipient address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientCodeRequest {
    /// The recipient's address.
    pub email: String,
    /// A, unpadded base64url: proves the caller holds the link (and password).
    pub access_proof: String,
}

/// `POST /p/{id}/access`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    /// A, unpadded base64url.
    pub access_proof: String,
    /// The verified address, when the package asks for a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The mailed code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A blob a recipient may download.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadBlob {
    /// 0 is the manifest.
    pub index: u32,
    /// Size in bytes.
    pub size: u64,
    /// Where to `GET` it (with the download token as bearer).
    pub url: String,
}

/// `POST /p/{id}/access` answer: S and a download session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessGranted {
    /// S, unpadded base64url.
    pub server_share: String,
    /// Bearer token for the blob downloads.
    pub download_token: String,
    /// When the session ends.
    pub session_expires_at: String,
    /// Downloads left after this one, if limited.
    pub downloads_left: Option<i64>,
    /// The blobs.
    pub blobs: Vec<DownloadBlob>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `GET /policy`: the organisation's rules for sending, for the add-in, the
/// send page, the relay and the CLI. Readable without signing in: the send
/// check must work before anyone has signed in to the add-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyView {
    /// The saved version of the organisation's policy (0: the server's default).
    #[serde(default)]
    pub version: u32,
    /// What the send-time content check looks for and does (`kluis_policy`);
    /// its internal domains include the organisation's mail domains.
    pub content: ContentPolicy,
    /// Choices a sender may make for a package.
    pub send: SendPolicy,
    /// The rules every package must meet (`kluis_policy::SendRules`):
    /// clients `check` them before encrypting, the server again at creation.
    #[serde(default)]
    pub rules: SendRules,
}

impl PolicyView {
    /// The policy document the rules are checked against.
    pub fn document(&self) -> Policy {
        Policy { version: self.version, send: self.rules.clone(), content: self.content.clone() }
    }
}

/// Rules for packages the server enforces at creation; clients shape their forms by them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendPolicy {
    /// Expiry when the sender names none, in days.
    pub default_expiry_days: u32,
    /// Longest expiry a sender may choose, in days.
    pub max_expiry_days: u32,
    /// Whether the add-in puts the message text into the package by default.
    pub include_message: bool,
    /// Recipients must prove their address with an e-mail code (`verify` may not be `none`).
    pub require_verification: bool,
    /// Every package needs a password.
    pub require_password: bool,
}

/// Which check produced a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    /// The add-in's `OnMessageSend` handler.
    SendCheck,
    /// The add-in's task pane ("Send securely").
    TaskPane,
    /// The web send page.
    Web,
    /// The SMTP relay.
    Relay,
}

/// What became of the message after a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Sent as it was (nothing stood in the way).
    Sent,
    /// The sender was warned (advise mode); they may still send.
    Warned,
    /// Sending was stopped until the message is secured.
    Blocked,
    /// Sent after a warning, as it was.
    SentAnyway,
    /// Secured with Kluis: attachments (and possibly the text) went into a package.
    Secured,
}

/// `POST /policy/verdicts`: a verdict for the audit log. Kinds and counts of
/// findings only, never what was found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictReport {
    /// Which check decided.
    pub source: CheckSource,
    /// What it decided.
    pub action: kluis_policy::Action,
    /// What became of the message.
    pub outcome: CheckOutcome,
    /// What was found (kinds, confidences and counts).
    #[serde(default)]
    pub findings: Vec<kluis_policy::Finding>,
    /// The package the message was secured with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_id: Option<PackageId>,
    /// The SMTP relay's triggers that fired besides the content policy
    /// (relay verdicts only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<RelayTrigger>,
    /// The message's sender, `MAIL FROM` (relay verdicts only: the relay
    /// sends as its own account, for everyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The relay's id of the message (relay verdicts only), to find it in
    /// the relay's log: 1 to 64 lowercase letters and digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Why the SMTP relay secured a message, besides the content policy's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayTrigger {
    /// A keyword in the subject (`[secure]`, `[beveiligd]`).
    SubjectKeyword,
    /// A `Sensitivity` header the relay is set to secure (`Private`, `Company-Confidential`).
    Sensitivity,
    /// A sender whose mail is always secured.
    Sender,
    /// A recipient in a domain whose mail is always secured.
    RecipientDomain,
    /// The policy asks to secure attachments to external recipients.
    ExternalAttachments,
    /// The message could not be parsed as MIME: secured to be safe.
    Unparsable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_and_state_are_lowercase_strings() {
        assert_eq!(serde_json::to_string(&Verify::None).unwrap(), "\"none\"");
        assert_eq!(serde_json::to_string(&PackageState::Uploading).unwrap(), "\"uploading\"");
    }

    #[test]
    fn unknown_request_fields_are_refused() {
        assert!(serde_json::from_str::<AccessRequest>(r#"{"access_proof":"x","extra":1}"#).is_err());
        let req: CreatePackage = serde_json::from_str(r#"{"blobs":[{"size":100}]}"#).unwrap();
        assert_eq!(req.verify, Verify::Email);
    }

    #[test]
    fn error_extras_are_flattened() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"wrong_code","message":"m","tries_left":3}}"#).unwrap();
        assert_eq!(body.error.extra["tries_left"], 3);
    }
}
