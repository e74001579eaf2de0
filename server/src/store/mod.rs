//! Metadata storage behind one trait whose methods are units of work, not
//! tables (docs/architecture.md, "Layers"). Each backend owns its
//! transactions: a method either happens completely or not at all. Rules
//! stay in `domain/`; where a rule must be applied inside a transaction (the
//! last download, a quota), the domain passes it in as a function.
//!
//! SQLite (`sqlite/`, the default: one file in the data directory) and
//! PostgreSQL (`postgres/`, for several nodes) implement the same trait, each
//! with its migrations in `migrations/<backend>/`. Nothing outside this
//! module names either.

#[cfg(test)]
pub(crate) mod conformance;
mod postgres;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::DomainError;

/// The metadata store's file in a data directory (and in a backup).
pub(crate) const DATABASE: &str = "kluis.db";

/// Opens the metadata store: PostgreSQL at `database_url` when one is set,
/// else SQLite in the data directory (`kluis.db`), creating and migrating it
/// as needed. The one place that chooses the backend.
pub(crate) async fn open(
    data_dir: &Path,
    database_url: Option<&str>,
    database_ca_file: Option<&Path>,
) -> anyhow::Result<Arc<dyn MetaStore>> {
    Ok(match database_url {
        Some(url) => postgres::open(url, database_ca_file).await?,
        None => open_local(data_dir)?,
    })
}

/// Opens the SQLite store of a data directory (or of a backup unpacked into one).
pub(crate) fn open_local(data_dir: &Path) -> anyhow::Result<Arc<dyn MetaStore>> {
    Ok(Arc::new(sqlite::SqliteStore::open(&data_dir.join(DATABASE))?))
}

pub(crate) use postgres::import::Imported;

/// Copies the SQLite database `sqlite` (kept from changing by the caller)
/// into the PostgreSQL database at `url`, which it migrates first and which
/// must be empty or hold an earlier run's copy of the same data
/// (`kluis-server migrate`); returns that store and the comparison of both.
pub(crate) async fn import_into_postgres(
    url: &str,
    ca_file: Option<&Path>,
    sqlite: &rusqlite::Connection,
) -> anyhow::Result<(Arc<dyn MetaStore>, Imported)> {
    let store = postgres::PostgresStore::open(url, ca_file).await?;
    let imported = postgres::import::import(&store, sqlite).await?;
    Ok((Arc::new(store), imported))
}

/// Makes the snapshot [`MetaStore::snapshot`] wrote into `dir` fit to be
/// restored: uploads in progress forgotten, the packages in `ended` (whose
/// blobs were deleted before the backup copied them) ended, with an audit row.
pub(crate) fn seal_snapshot(dir: &Path, ended: &[String]) -> anyhow::Result<()> {
    sqlite::seal_snapshot(&dir.join(DATABASE), ended)
}

/// A `LIKE` (SQLite) or `ILIKE` (PostgreSQL) pattern matching `text` anywhere,
/// with `\` (the statements' `ESCAPE`) escaping `%`, `_` and itself.
pub(crate) fn like_anywhere(text: &str) -> String {
    let escaped: String =
        text.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%{escaped}%")
}

/// Why a unit of work failed.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// The backend failed (connection, disk, constraint it should not hit).
    Backend(String),
    /// A rule the domain passed in refused the change; nothing was written.
    Refused(Box<DomainError>),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Backend(e) => write!(f, "metadata store: {e}"),
            StoreError::Refused(e) => write!(f, "refused: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// A rule checked inside a unit of work. `Fn`, not `FnOnce`: a backend may run
/// a unit again (PostgreSQL after a serialization failure), its rules with it.
pub(crate) type Rule<T> = Box<dyn Fn(&T) -> Result<(), DomainError> + Send + Sync>;

/// The audit event of one package, by its id, made inside a unit of work.
pub(crate) type EventOf = Box<dyn Fn(&str) -> NewEvent + Send + Sync>;

/// What a user may do in their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Sends and receives.
    User,
    /// Also runs the organisation: users, packages (metadata only), audit log, settings.
    Admin,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub org_id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
}

/// A user to add (or to make active again) in an organisation.
#[derive(Debug, Clone)]
pub(crate) struct NewUser {
    pub org_id: i64,
    /// Normalised address.
    pub email: String,
    /// `None`: as it was (a new user has none).
    pub name: Option<String>,
    /// `None`: as it was (a new user is a `User`).
    pub role: Option<Role>,
}

/// A user as an admin of their organisation sees them.
#[derive(Debug, Clone)]
pub(crate) struct UserRecord {
    pub user: User,
    pub disabled: bool,
    pub created_at: i64,
    /// When one of their tokens was last used (or made).
    pub last_active_at: Option<i64>,
    /// Whether they hold a seat (may send under the licence).
    pub seat: bool,
}

/// Which users a list shows (removed users never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserFilter {
    Active,
    Disabled,
    All,
    /// Active admins.
    Admins,
}

/// A page of an organisation's users, by address after `after`.
#[derive(Debug, Clone)]
pub(crate) struct UserQuery {
    pub org_id: i64,
    /// Part of the address or name.
    pub search: Option<String>,
    pub filter: UserFilter,
    pub after: Option<String>,
    pub limit: i64,
}

/// What an admin changes about a user; `None` leaves it.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserChange {
    /// `Some(None)`: no name.
    pub name: Option<Option<String>>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// Removed: cannot sign in, not listed; the row stays for the audit log and their packages.
    pub remove: bool,
}

/// A page of an organisation's audit log, newest first, before row `before`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditQuery {
    pub org_id: i64,
    /// Rows by this user (address).
    pub user: Option<String>,
    /// Rows by this recipient (address).
    pub recipient: Option<String>,
    pub package: Option<String>,
    pub event: Option<String>,
    /// `from <= at < to` (Unix seconds).
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// A package of an organisation with its sender's address.
#[derive(Debug, Clone)]
pub(crate) struct OrgPackage {
    pub record: PackageRecord,
    pub sender: String,
}

/// An organisation's figures since a moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrgStats {
    pub active_users: i64,
    pub admins: i64,
    pub disabled_users: i64,
    pub users_active_since: i64,
    pub packages_since: i64,
    pub bytes_since: i64,
    pub failed_verifications_since: i64,
    pub live_packages: i64,
}

/// A tenant: its users, packages, audit log and settings are its own.
#[derive(Debug, Clone)]
pub(crate) struct Organisation {
    pub id: i64,
    pub name: String,
    /// Its mail domains (lowercase): addresses there are internal, and belong here.
    pub domains: Vec<String>,
    pub created_at: i64,
    pub settings: OrgSettings,
}

/// An organisation's own settings, within the server's; `None`: the server's
/// (for the audit log: kept for ever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OrgSettings {
    pub default_expiry_days: Option<u32>,
    pub max_expiry_days: Option<u32>,
    pub audit_retention_days: Option<u32>,
    /// Whether recipients may reply securely; `None`: yes.
    pub replies: Option<bool>,
}

/// An organisation's single sign-on (OpenID Connect) settings.
#[derive(Clone)]
pub(crate) struct SsoSettings {
    pub org_id: i64,
    /// The provider's issuer URL, exactly as its discovery document names it.
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed under the server key (`ServerKey::seal`); never stored or shown in the clear.
    pub sealed_secret: Vec<u8>,
    /// Unknown addresses of the organisation's mail domains become users at their first sign-in.
    pub create_users: bool,
    /// The provider's `email` claim counts as verified without `email_verified` (e.g. Entra ID).
    pub trust_email: bool,
    pub updated_at: i64,
}

/// Who an address signing in with single sign-on is, in one organisation.
#[derive(Debug, Clone)]
pub(crate) enum SsoUser {
    /// An active user of the organisation.
    Active(User),
    /// Made now (the organisation allows it).
    Created(User),
    /// A user of the organisation who is disabled or removed.
    Disabled,
    /// A user of another organisation.
    Elsewhere,
    /// No user, and none may be made.
    Unknown,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// End of a sign-in session; `None` for tokens that only expire unused.
    pub expires_at: Option<i64>,
}

/// Where a package is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackageState {
    Uploading,
    Ready,
    Revoked,
    Expired,
}

impl PackageState {
    /// The state as both backends store it (`packages.state`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PackageState::Uploading => "uploading",
            PackageState::Ready => "ready",
            PackageState::Revoked => "revoked",
            PackageState::Expired => "expired",
        }
    }

    /// The state of a stored `packages.state` (a CHECK keeps it to the four).
    pub(crate) fn from_column(s: &str) -> PackageState {
        match s {
            "uploading" => PackageState::Uploading,
            "ready" => PackageState::Ready,
            "revoked" => PackageState::Revoked,
            _ => PackageState::Expired,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub id: String,
    pub org_id: i64,
    pub sender_id: i64,
    pub server_share: Option<Vec<u8>>,
    pub access_verifier: Option<Vec<u8>>,
    pub state: PackageState,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_downloads: Option<i64>,
    pub downloads: i64,
    pub verify_email: bool,
    pub has_password: bool,
    pub notify_on_download: bool,
    /// Verification is locked for good: the package's failure budget is spent.
    pub verification_locked: bool,
    /// `SHA-256(A_L)`, set at finalize; none for packages finalized before it existed.
    pub link_verifier: Option<Vec<u8>>,
    /// Set for a delivery: files an outsider uploaded for the owner (`sender_id`).
    pub inbound: Option<Inbound>,
    /// Set for a finalized package sent to colleagues' keys too.
    pub direct: Option<Direct>,
}

/// What makes a package an item of colleagues' inboxes (migration 0014):
/// the sender also encrypted it to their keys ([`PackageReceiver`]).
#[derive(Debug, Clone)]
pub(crate) struct Direct {
    pub sender_email: String,
    /// When it was finalized.
    pub received_at: i64,
}

/// A colleague a package is also encrypted to, and the key it is encrypted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageReceiver {
    pub user_id: i64,
    pub recipient: String,
}

/// What makes a package a delivery (migration 0013): it came in through an
/// upload request, encrypted to its owner's recipient; it has no S.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    pub request_id: String,
    /// The uploader's address, proven by a code when `verified`.
    pub uploader_email: String,
    pub verified: bool,
    /// SHA-256 of the uploader session that may write it.
    pub session: String,
    /// When it was finalized.
    pub received_at: Option<i64>,
    /// A reply: the package it answers.
    pub reply_to: Option<String>,
}

/// A user's key as the server keeps it: never the identity in the clear.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    pub user_id: i64,
    /// `age1…`
    pub recipient: String,
    /// The identity as an armored age file encrypted with the passphrase.
    pub wrapped: String,
    /// The identity encrypted to `recovery_recipient`.
    pub recovery: Option<String>,
    pub recovery_recipient: Option<String>,
    /// An admin recovered it under a passphrase they chose.
    pub must_change: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An upload request, with its uploads counted.
#[derive(Debug, Clone)]
pub(crate) struct UploadRequest {
    pub id: String,
    pub org_id: i64,
    pub user_id: i64,
    /// Set for the request behind replies to a package: that package's id.
    pub reply_to: Option<String>,
    /// Set for an organisation's upload portal: its name (`/upload/<name>`).
    pub portal: Option<String>,
    /// Who receives what comes in (the inbox lists it for them).
    pub receivers: Vec<i64>,
    /// What uploads are encrypted to: `recipient`, or for a portal every
    /// receiver's recipient (of those with a key), sorted.
    pub recipients: Vec<String>,
    pub recipient: String,
    pub message: Option<String>,
    pub verify_email: bool,
    pub max_uploads: i64,
    pub max_bytes: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    /// Who may upload; empty: anyone with the link.
    pub emails: Vec<String>,
    /// Deliveries finalized.
    pub uploads: i64,
    /// Deliveries still uploading (they hold a place until they end).
    pub pending: i64,
}

/// An uploader's live session.
#[derive(Debug, Clone)]
pub(crate) struct UploaderSession {
    pub hash: String,
    pub request_id: String,
    pub email: String,
    pub verified: bool,
}

/// A delivery to create: a package of `owner_id` without S.
#[derive(Debug, Clone)]
pub(crate) struct NewDelivery {
    pub id: String,
    pub org_id: i64,
    pub owner_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub blob_sizes: Vec<i64>,
    pub inbound: Inbound,
}

/// What the sender registers at finalize (docs/architecture.md §3): the
/// access verifier `SHA-256(A)` and the link verifier `SHA-256(A_L)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verifiers {
    pub access: [u8; 32],
    pub link: [u8; 32],
}

#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub idx: i64,
    pub size: i64,
    pub complete: bool,
}

/// A package with what the sender sees of it.
#[derive(Debug, Clone)]
pub(crate) struct PackageRecord {
    pub package: Package,
    pub recipients: Vec<String>,
    pub blobs: Vec<Blob>,
}

pub(crate) struct NewPackage {
    pub id: String,
    pub org_id: i64,
    pub sender_id: i64,
    pub server_share: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_downloads: Option<i64>,
    pub verify_email: bool,
    pub has_password: bool,
    pub notify_on_download: bool,
    pub recipients: Vec<String>,
    pub blob_sizes: Vec<i64>,
    /// Colleagues it is also encrypted to: it is in their inboxes once finalized.
    pub receivers: Vec<PackageReceiver>,
}

/// What a user holds open, for quotas.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    /// Bytes declared by the user's unfinished packages.
    pub reserved_bytes: i64,
    /// Unfinished packages.
    pub unfinished_packages: i64,
    /// Open tus uploads.
    pub open_uploads: i64,
}

pub(crate) enum Finalized {
    Done(Box<PackageRecord>),
    Missing(Vec<i64>),
}

/// A granted access: S, the package, and who to tell.
pub(crate) struct Grant {
    pub package: Package,
    pub blobs: Vec<Blob>,
    /// The sender's address and the recipients, when the sender asked to be
    /// told of the first download and this is it.
    pub notify: Option<(String, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub id: String,
    pub package_id: String,
    pub blob_idx: i64,
    pub user_id: i64,
    pub length: i64,
    pub offset: i64,
    pub expires_at: i64,
}

pub(crate) enum Lease {
    Acquired(Upload),
    /// Another writer holds it until this time.
    Busy {
        until: i64,
    },
    Missing,
}

/// One-time code: `purpose` is `signin` or `verify`, `scope` empty or the package id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeKey {
    pub purpose: &'static str,
    pub scope: String,
    pub email: String,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredCode {
    pub hash: String,
    pub expires_at: i64,
}

/// A counter of failures in a window (`window_start` 0: for ever).
#[derive(Debug, Clone)]
pub(crate) struct Counter {
    pub key: String,
    pub window_start: i64,
}

/// Sends of codes to one subject, for the send rate limit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SendHistory {
    pub last: Option<i64>,
    pub count_last_hour: i64,
    pub oldest_last_hour: Option<i64>,
}

/// An organisation's licence as installed (its text is verified again when read).
#[derive(Debug, Clone)]
pub(crate) struct StoredLicence {
    pub text: String,
    pub installed_at: i64,
    pub installed_by: String,
    /// The last warning mailed about its end (`<licence id>:<stage>`), if any.
    pub warned: Option<String>,
}

/// A warning about a licence's end: the stage it moves to (only if the last
/// one is still `before`), the mails to its admins and its audit row.
#[derive(Debug, Clone)]
pub(crate) struct LicenceWarning {
    pub before: Option<String>,
    pub stage: String,
    /// (to, subject, body)
    pub mails: Vec<(String, String, String)>,
    pub event: NewEvent,
}

/// One saved version of an organisation's policy.
#[derive(Debug, Clone)]
pub(crate) struct StoredPolicy {
    pub version: u32,
    /// `kluis_policy::Policy` as JSON.
    pub document: String,
    pub saved_at: i64,
    pub saved_by: String,
}

/// What asking for a seat for a user gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeatClaim {
    /// They had one.
    Held,
    /// They have one now.
    Claimed,
    /// None is free (or no such user of the organisation).
    Full,
}

/// A position in a list of packages (newest first): the creation
/// time and id of the last package of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageCursor {
    pub created_at: i64,
    pub id: String,
}

/// Audit rows of one package that tell what recipients did, aggregated per
/// event, actor and (for `downloaded`) blob index: how many, first and last time.
#[derive(Debug, Clone)]
pub(crate) struct ActivityRow {
    pub package_id: String,
    pub event: String,
    pub actor: String,
    pub blob: Option<i64>,
    pub count: i64,
    pub first_at: i64,
    pub last_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub package_id: Option<String>,
    pub detail: Option<String>,
}

/// An audit event to append.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    /// `None`: of no organisation (a sign-in attempt for an unknown address outside every mail domain).
    pub org_id: Option<i64>,
    pub event: &'static str,
    pub actor: String,
    pub package_id: Option<String>,
    pub detail: Option<String>,
}

/// An audit row with its place in its organisation's chain (domain/audit.rs).
#[derive(Debug, Clone)]
pub(crate) struct ChainedRow {
    pub id: i64,
    /// `None` for rows written before rows had an organisation.
    pub org_id: Option<i64>,
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub package_id: Option<String>,
    pub detail: Option<String>,
    /// `None` only in a row not written by Kluis.
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Option<Vec<u8>>,
}

/// One organisation's audit chain: its recorded head (newest row id and
/// hash), `None` if it has rows but no head.
#[derive(Debug, Clone)]
pub(crate) struct AuditHead {
    pub org_id: Option<i64>,
    pub head: Option<(i64, Vec<u8>)>,
    /// The hash of the last row deleted for retention, which the chain's
    /// oldest remaining row follows (`None`: nothing was deleted).
    pub anchor: Option<Vec<u8>>,
}

/// A complete blob, as a backup, an export or a deletion goes through them.
#[derive(Debug, Clone)]
pub(crate) struct StoredBlob {
    pub package_id: String,
    pub idx: i64,
    pub size: i64,
}

/// A user of an organisation as its export lists them (removed users too).
#[derive(Debug, Clone)]
pub(crate) struct ExportUser {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub removed_at: Option<i64>,
    pub created_at: i64,
    pub seat: bool,
    pub last_active_at: Option<i64>,
}

/// A soft-deleted package (restorable by an admin until the purge).
#[derive(Debug, Clone)]
pub(crate) struct DeletedPackage {
    pub package: OrgPackage,
    pub deleted_at: i64,
    /// Who deleted it, as the audit log names them.
    pub deleted_by: String,
}

/// What deleting an organisation removed.
#[derive(Debug, Clone)]
pub(crate) struct Deleted {
    /// Rows deleted per table.
    pub rows: std::collections::BTreeMap<&'static str, u64>,
    /// The hash of its audit chain's newest row: it commits to every row deleted.
    pub audit_head: Option<Vec<u8>>,
    /// Its unfinished uploads, whose parts the blob store still holds.
    pub uploads: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct QueuedMail {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

/// The metadata store: every method is one transaction.
#[async_trait]
pub(crate) trait MetaStore: Send + Sync + 'static {
    /// The store answers (health check).
    async fn ping(&self) -> StoreResult<()>;

    // Organisations, users, API tokens.
    /// The first organisation, made with `name` if there is none (first start).
    async fn ensure_organisation(&self, name: &str) -> StoreResult<i64>;
    /// A new organisation with its mail domains (none of them another's: the domain checks first).
    async fn create_organisation(&self, name: &str, domains: &[String]) -> StoreResult<Organisation>;
    async fn organisation(&self, id: i64) -> StoreResult<Option<Organisation>>;
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;
    /// The organisation whose mail domain `domain` (lowercase) is.
    async fn organisation_of_domain(&self, domain: &str) -> StoreResult<Option<Organisation>>;
    /// Adds a user, or makes the user of that address active again; `None`
    /// when the address is a user of another organisation.
    async fn add_user(&self, user: NewUser) -> StoreResult<Option<User>>;
    // What an organisation's admins read and change (every call scoped by `org_id`).
    async fn users(&self, query: UserQuery) -> StoreResult<Vec<UserRecord>>;
    /// User `id` of `org_id` (active or disabled; not removed).
    async fn org_user(&self, org_id: i64, id: i64) -> StoreResult<Option<UserRecord>>;
    /// Changes user `id` of `org_id` (disabling or removing revokes their
    /// tokens), if `rule` accepts the number of active admins left.
    async fn change_user(
        &self,
        org_id: i64,
        id: i64,
        change: UserChange,
        rule: Rule<i64>,
    ) -> StoreResult<Option<UserRecord>>;
    /// A page of the organisation's packages, newest first, before `(created_at, id)`.
    async fn org_packages(
        &self,
        org_id: i64,
        before: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<OrgPackage>>;
    async fn audit_page(&self, query: AuditQuery) -> StoreResult<Vec<AuditRow>>;
    async fn org_stats(&self, org_id: i64, since: i64) -> StoreResult<OrgStats>;
    /// Sets name and mail domains, if `rule` accepts the domains that are
    /// another organisation's (with its name).
    async fn update_organisation(
        &self,
        org_id: i64,
        name: &str,
        domains: &[String],
        rule: Rule<Vec<(String, String)>>,
    ) -> StoreResult<Organisation>;
    /// An active user (not disabled, not removed) by address or id.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn user(&self, id: i64) -> StoreResult<Option<User>>;
    /// A token that stops working at `expires_at` (if given) or once unused for too long.
    async fn create_token(
        &self,
        user_id: i64,
        hash: &str,
        label: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64>;
    /// The user of a live token (not revoked, not past its `expires_at`, used or
    /// made after `unused_since`); marks it used.
    async fn use_token(&self, hash: &str, now: i64, unused_since: i64) -> StoreResult<Option<(User, i64)>>;
    /// The user's live tokens, newest first.
    async fn tokens(&self, user_id: i64, now: i64, unused_since: i64) -> StoreResult<Vec<TokenRecord>>;
    /// Revokes token `token_id` of `user_id`; false if there is no such live token.
    async fn revoke_token(&self, user_id: i64, token_id: i64, now: i64) -> StoreResult<bool>;

    // Single sign-on (OpenID Connect).
    async fn sso_settings(&self, org_id: i64) -> StoreResult<Option<SsoSettings>>;
    /// Sets (replaces) an organisation's settings.
    async fn put_sso_settings(&self, settings: SsoSettings) -> StoreResult<()>;
    /// Turns single sign-on off; false if it was not on.
    async fn remove_sso_settings(&self, org_id: i64) -> StoreResult<bool>;
    /// Records a sign-in on its way through the provider (and forgets those run out).
    async fn start_sso_flow(
        &self,
        state_hash: &str,
        org_id: i64,
        browser_hash: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Takes (deletes) a live flow: its organisation and browser hash; `None` if unknown or run out.
    async fn take_sso_flow(&self, state_hash: &str, now: i64) -> StoreResult<Option<(i64, String)>>;
    /// The user of `email` in organisation `org_id`, made (role user) when `create` and unknown.
    async fn sso_user(&self, org_id: i64, email: &str, create: bool) -> StoreResult<SsoUser>;
    /// A one-time handoff code (its hash) for `user_id` (and forgets those run out).
    async fn put_sso_handoff(&self, hash: &str, user_id: i64, expires_at: i64) -> StoreResult<()>;
    /// Takes (deletes) a live handoff: its user, if still active.
    async fn take_sso_handoff(&self, hash: &str, now: i64) -> StoreResult<Option<User>>;

    // One-time codes, their send history and failure counters.
    async fn put_code(&self, key: &CodeKey, hash: &str, expires_at: i64) -> StoreResult<()>;
    async fn code(&self, key: &CodeKey) -> StoreResult<Option<StoredCode>>;
    /// Deletes the code if it is still `hash`; true for the one caller that used it.
    async fn spend_code(&self, key: &CodeKey, hash: &str) -> StoreResult<bool>;
    async fn record_send(&self, subject: &str, now: i64) -> StoreResult<()>;
    async fn send_history(&self, subject: &str, now: i64) -> StoreResult<SendHistory>;
    /// Adds one failure to each counter and returns the new counts, in order.
    async fn count_failure(&self, counters: &[Counter], now: i64) -> StoreResult<Vec<i64>>;
    /// Current counts, in order.
    async fn failures(&self, counters: &[Counter]) -> StoreResult<Vec<i64>>;
    /// Locks verification of a package for good; true if it was not locked yet.
    async fn lock_verification(&self, package_id: &str) -> StoreResult<bool>;

    // Packages.
    /// Creates a package if `quota` accepts the sender's usage (with this package).
    async fn create_package(&self, new: NewPackage, quota: Rule<Usage>, event: NewEvent) -> StoreResult<()>;
    async fn package(&self, id: &str) -> StoreResult<Option<Package>>;
    async fn package_record(&self, id: &str) -> StoreResult<Option<PackageRecord>>;
    /// The organisation's licence, if one was installed.
    async fn licence(&self, org_id: i64) -> StoreResult<Option<StoredLicence>>;
    /// Installs a licence for the organisation (replacing one before), with its audit row.
    async fn put_licence(&self, org_id: i64, text: &str, installed_by: &str, event: NewEvent) -> StoreResult<()>;
    /// Seats held by the organisation's users who may sign in.
    async fn seats_used(&self, org_id: i64) -> StoreResult<i64>;
    /// The organisation's current policy (its highest version), if one was saved.
    async fn policy(&self, org_id: i64) -> StoreResult<Option<StoredPolicy>>;
    /// The newest `limit` saved versions, newest first.
    async fn policy_versions(&self, org_id: i64, limit: i64) -> StoreResult<Vec<StoredPolicy>>;
    /// Saves a new version after version `after` (0: the first), with its
    /// audit row; false (nothing saved) when the highest is no longer `after`.
    async fn put_policy(&self, org_id: i64, after: u32, document: &str, by: &str, event: NewEvent)
    -> StoreResult<bool>;
    /// Whether the user holds a seat.
    async fn holds_seat(&self, org_id: i64, user_id: i64) -> StoreResult<bool>;
    /// Queues a warning about the licence's end, once: false (and nothing
    /// done) when its last warning is no longer `warning.before`.
    async fn licence_warned(&self, org_id: i64, warning: LicenceWarning) -> StoreResult<bool>;
    /// Gives a user a seat if one of `total` is free; the event is recorded when one is given.
    async fn claim_seat(&self, org_id: i64, user_id: i64, total: u32, event: NewEvent) -> StoreResult<SeatClaim>;
    /// Takes a user's seat back (false: they had none); the event is recorded when one is taken.
    async fn release_seat(&self, org_id: i64, user_id: i64, event: NewEvent) -> StoreResult<bool>;

    /// A page of a sender's packages in one organisation, newest first (ties by id), after `after`.
    async fn packages_page(
        &self,
        sender_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<PackageRecord>>;
    /// A page of the packages `sender_id` sent in organisation `org_id`, newest
    /// first, after `after`, at most `limit`, with the recipients' activity on
    /// them aggregated from the audit log (one read, a bounded number of queries).
    async fn sent_page(
        &self,
        sender_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<(Vec<PackageRecord>, Vec<ActivityRow>)>;
    /// The recipients' activity on one package, aggregated from the audit log.
    async fn activity(&self, package_id: &str) -> StoreResult<Vec<ActivityRow>>;
    async fn is_recipient(&self, id: &str, email: &str) -> StoreResult<bool>;
    async fn blobs(&self, id: &str) -> StoreResult<Vec<Blob>>;
    /// Makes an uploading package ready with its access and link verifiers, once every blob is complete.
    async fn finalize(&self, id: &str, verifiers: Verifiers, event: NewEvent) -> StoreResult<Finalized>;
    /// Ends a live package (drops S); true if it was live.
    async fn end_package(&self, id: &str, state: PackageState, event: NewEvent) -> StoreResult<bool>;
    async fn delete_package(&self, id: &str, event: NewEvent) -> StoreResult<()>;
    /// Counts a download and opens a session if `rule` accepts the package as it is now.
    async fn grant_access(
        &self,
        id: &str,
        rule: Rule<Package>,
        session_hash: &str,
        session_email: Option<&str>,
        session_expires_at: i64,
        event: NewEvent,
    ) -> StoreResult<Grant>;
    /// The verified address (if any) of a live download session for a package.
    async fn session(&self, hash: &str, package_id: &str, now: i64) -> StoreResult<Option<Option<String>>>;
    async fn overdue_packages(&self, now: i64) -> StoreResult<Vec<String>>;
    async fn ended_with_blobs(&self) -> StoreResult<Vec<String>>;
    async fn forget_blob(&self, id: &str, idx: i64) -> StoreResult<()>;
    async fn blob_keys(&self) -> StoreResult<Vec<(String, i64)>>;

    // Uploads.
    /// Creates an upload for a blob (replacing an unfinished one, whose id is returned).
    async fn create_upload(&self, upload: &Upload, quota: Rule<Usage>) -> StoreResult<Option<String>>;
    async fn upload(&self, id: &str) -> StoreResult<Option<Upload>>;
    /// Takes the write lease if it is free or has lapsed.
    async fn acquire_lease(&self, id: &str, owner: &str, until: i64, now: i64) -> StoreResult<Lease>;
    /// Records a durable offset under the lease; false if the lease was lost.
    async fn record_offset(
        &self,
        id: &str,
        owner: &str,
        offset: i64,
        expires_at: i64,
        lease_until: i64,
    ) -> StoreResult<bool>;
    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()>;
    /// The upload became its blob: mark the blob complete, recording `event`
    /// unless it was already. The upload stays until it expires, so a client
    /// that lost the last answer learns from it that the upload is whole.
    async fn complete_upload(&self, id: &str, event: NewEvent) -> StoreResult<()>;
    async fn delete_upload(&self, id: &str) -> StoreResult<()>;
    async fn abandoned_uploads(&self, now: i64) -> StoreResult<Vec<Upload>>;
    async fn uploads_of_package(&self, id: &str) -> StoreResult<Vec<Upload>>;

    // Audit.
    async fn record(&self, event: NewEvent) -> StoreResult<()>;
    /// Events of a package after position `after`, at most `limit`.
    async fn events(&self, package_id: &str, after: i64, limit: i64) -> StoreResult<Vec<AuditRow>>;
    /// Every organisation that has audit rows or a recorded chain head, oldest first, with its head.
    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>>;
    /// Deletes the organisation's rows older than `before` (retention): the
    /// chain's anchor is moved past them first, and the event that
    /// `pruned(count, first kept id, anchor hash)` makes is appended in the
    /// same transaction. Returns how many went.
    async fn prune_audit(
        &self,
        org_id: i64,
        before: i64,
        pruned: Box<dyn Fn(u64, i64, Vec<u8>) -> NewEvent + Send + Sync>,
    ) -> StoreResult<u64>;
    async fn set_org_settings(&self, org_id: i64, settings: OrgSettings) -> StoreResult<()>;
    /// Rows of one organisation's chain with `after < id <= until` (no upper
    /// bound without `until`), in order, at most `limit`.
    async fn audit_chain(
        &self,
        org_id: Option<i64>,
        after: i64,
        until: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ChainedRow>>;

    // Mail queue.
    async fn enqueue_mail(&self, to: &str, subject: &str, body: &str, now: i64) -> StoreResult<()>;
    /// Claims the mail due first at `now` until `until` (then it is due again
    /// unless sent or failed): one process sends it.
    async fn claim_due_mail(&self, now: i64, until: i64) -> StoreResult<Option<QueuedMail>>;
    async fn mail_sent(&self, id: i64) -> StoreResult<()>;
    async fn mail_failed(&self, id: i64, retry_at: Option<i64>, error: &str) -> StoreResult<()>;
    /// Mails not yet sent (waiting or to be retried).
    async fn mail_queue_length(&self) -> StoreResult<i64>;
    /// Takes or renews background job `name`'s lease for `holder` until
    /// `until`, if it is free at `now` or already `holder`'s; whether
    /// `holder` holds it now.
    async fn take_job_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool>;

    /// Counts one request of `client` in the window that started at
    /// `window_start` and returns the window's count so far, this one
    /// included. One atomic step: every process sees one count.
    async fn count_request(&self, client: &str, window_start: i64) -> StoreResult<i64>;

    /// Forgets what has run out: sessions, codes, send history, old counters, sent mail.
    async fn sweep(&self, now: i64) -> StoreResult<()>;

    // Data lifecycle (backup, export, deletion).
    /// Writes a consistent copy of the whole store into the directory `dir`
    /// (as [`DATABASE`]) while the server goes on.
    async fn snapshot(&self, dir: &Path) -> StoreResult<()>;
    /// A page of complete blobs, of organisation `org_id` or of all, ordered by package and index;
    /// those of soft-deleted packages too when `deleted` (a backup, a deletion; not an export).
    async fn complete_blobs(
        &self,
        org_id: Option<i64>,
        deleted: bool,
        after: Option<(String, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<StoredBlob>>;
    /// Soft-deletes a package (S and blobs stay; nothing can open, list or count it), with `event`;
    /// false if there is no such package not yet deleted.
    async fn soft_delete_package(&self, id: &str, by: &str, event: NewEvent) -> StoreResult<bool>;
    /// The organisation's soft-deleted packages, most recently deleted first.
    async fn deleted_packages(&self, org_id: i64, limit: i64) -> StoreResult<Vec<DeletedPackage>>;
    /// Undoes a soft delete of a package of `org_id`, with `event`; false if it is not one.
    async fn restore_package(&self, org_id: i64, id: &str, event: NewEvent) -> StoreResult<bool>;
    /// Soft-deleted packages deleted before `before`, with their organisation.
    async fn deleted_before(&self, before: i64) -> StoreResult<Vec<(String, i64)>>;
    /// A page of an organisation's users (removed ones too), by id after `after`.
    async fn export_users(&self, org_id: i64, after: i64, limit: i64) -> StoreResult<Vec<ExportUser>>;
    // Receiving files (docs/inbound.md): users' keys, upload requests, deliveries, the inbox.
    async fn user_key(&self, user_id: i64) -> StoreResult<Option<StoredKey>>;
    /// Stores a user's key if `rule` accepts the one kept now (if any), with `event`.
    async fn put_user_key(&self, key: StoredKey, rule: Rule<Option<StoredKey>>, event: NewEvent) -> StoreResult<()>;
    /// The organisation's recovery recipient, if recovery is on.
    async fn recovery_recipient(&self, org_id: i64) -> StoreResult<Option<String>>;
    async fn set_recovery_recipient(&self, org_id: i64, recipient: Option<String>, event: NewEvent) -> StoreResult<()>;
    /// An active user of `org_id` by address and their recipient, if they made a key.
    async fn colleague(&self, org_id: i64, email: &str) -> StoreResult<Option<(User, Option<String>)>>;
    /// The active users of `org_id` among `emails` who made a key, with
    /// their recipient, in the order of `emails`.
    async fn colleague_keys(&self, org_id: i64, emails: Vec<String>) -> StoreResult<Vec<(User, String)>>;
    /// Whether `user_id` is among the colleagues package `package_id` is encrypted to.
    async fn is_package_receiver(&self, package_id: &str, user_id: i64) -> StoreResult<bool>;
    async fn create_request(&self, request: UploadRequest, event: NewEvent) -> StoreResult<()>;
    async fn request(&self, id: &str, now: i64) -> StoreResult<Option<UploadRequest>>;
    /// The request behind replies to package `package_id`, made by `make` if there is none yet.
    async fn reply_request(&self, package_id: &str, make: UploadRequest, now: i64) -> StoreResult<UploadRequest>;
    /// The open or closed portal `name`.
    async fn portal(&self, name: &str, now: i64) -> StoreResult<Option<UploadRequest>>;
    /// An organisation's portals, newest first.
    async fn portals(&self, org_id: i64, now: i64) -> StoreResult<Vec<UploadRequest>>;
    /// A user's newest requests.
    async fn requests(&self, user_id: i64, now: i64, limit: i64) -> StoreResult<Vec<UploadRequest>>;
    /// Closes an open request; false if it was closed already.
    async fn close_request(&self, id: &str, at: i64, event: NewEvent) -> StoreResult<bool>;
    /// Creates an uploader session. With `supersede`, in the same
    /// transaction, the deliveries still uploading that earlier verified
    /// sessions of the same address made on the same request end (revoked:
    /// their places are free at once), each with the event `supersede` makes
    /// of its id; their ids are returned (their blobs are the caller's to purge).
    async fn create_uploader_session(
        &self,
        session: UploaderSession,
        expires_at: i64,
        supersede: Option<EventOf>,
    ) -> StoreResult<Vec<String>>;
    /// Ends delivery `id` if it is still uploading and session `session`
    /// made it (revoked: its place is free at once), with `event`; false if not.
    async fn abandon_delivery(&self, id: &str, session: &str, event: NewEvent) -> StoreResult<bool>;
    async fn uploader_session(&self, hash: &str, now: i64) -> StoreResult<Option<UploaderSession>>;
    /// Creates a delivery if `rule` accepts its request as it is now (its
    /// uploads counted in the same transaction) and `quota` the owner's usage.
    async fn create_delivery(
        &self,
        new: NewDelivery,
        rule: Rule<UploadRequest>,
        quota: Rule<Usage>,
        event: NewEvent,
    ) -> StoreResult<()>;
    /// Makes an uploading delivery ready, kept until `keep_until`, once every blob is complete.
    async fn finalize_delivery(&self, id: &str, at: i64, keep_until: i64, event: NewEvent) -> StoreResult<Finalized>;
    /// A page of what came in for `owner_id`, newest first, after `(received_at, id)`:
    /// deliveries of requests they receive for, and live packages colleagues
    /// sent to their key.
    async fn inbox_page(
        &self,
        owner_id: i64,
        org_id: i64,
        after: Option<PackageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<PackageRecord>>;

    /// Deletes everything the organisation owns, its audit chain included, and
    /// appends the event `tombstone` makes of what went (to the chain of rows
    /// without an organisation), in one transaction. `None`: no such organisation.
    async fn delete_organisation(
        &self,
        org_id: i64,
        tombstone: Box<dyn for<'d> Fn(&'d Deleted) -> NewEvent + Send + Sync>,
    ) -> StoreResult<Option<Deleted>>;
}
