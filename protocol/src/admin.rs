//! The admin API's request and response bodies (`/api/v1/admin`, described
//! in `server/openapi.json`): an organisation's admins run its users,
//! packages (metadata only: an admin never sees content), audit log and
//! settings. Everything here is scoped to the caller's organisation.
//!
//! Times are RFC 3339 strings.

use serde::{Deserialize, Serialize};

use crate::PackageId;
use crate::api::{PackageState, Verify};

/// What a user may do in their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends and receives.
    User,
    /// Also runs the organisation.
    Admin,
}

/// Whether a user may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    /// May sign in.
    Active,
    /// May not sign in; their tokens were revoked when disabled.
    Disabled,
}

/// A user of the organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminUser {
    /// Id for the calls on this user.
    pub id: i64,
    /// Address (normalised).
    pub email: String,
    /// Name, if known.
    pub name: Option<String>,
    /// Role.
    pub role: Role,
    /// Whether they may sign in.
    pub state: UserState,
    /// When they were added.
    pub created_at: String,
    /// When one of their tokens was last used, if ever.
    pub last_active_at: Option<String>,
    /// Whether they hold a seat: may send under the organisation's licence.
    pub seat: bool,
}

/// `GET /admin/users`: a page of users, by address.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminUserList {
    /// The users of this page.
    pub users: Vec<AdminUser>,
    /// Cursor for the next page (`after`), if any.
    pub next: Option<String>,
}

/// `POST /admin/users`: add a user (or let a disabled one in again).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdminUser {
    /// Address.
    pub email: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role (default `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// `PATCH /admin/users/{id}`: what to change; absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUserChange {
    /// New name (empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// `disabled`: revokes their tokens at once; `active`: lets them in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserState>,
    /// `true`: give them a seat (refused when none is free); `false`: take it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<bool>,
}

/// One line of a CSV import that was not taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRefusal {
    /// Line number in the file (1 is the first line).
    pub line: u32,
    /// The address on it, as written.
    pub email: String,
    /// Stable code (`invalid_email`, `invalid_role`, `user_elsewhere`, `duplicate`, …).
    pub code: String,
    /// Why, in a sentence.
    pub reason: String,
}

/// `POST /admin/users/import` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportReport {
    /// New users.
    pub added: u32,
    /// Users that existed (made active again; name and role as in the file).
    pub updated: u32,
    /// Lines not taken, and why.
    pub refused: Vec<ImportRefusal>,
}

/// A package of the organisation as an admin sees it: metadata only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminPackage {
    /// Package id.
    pub id: PackageId,
    /// The sender's address.
    pub sender: String,
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
    /// Downloads so far.
    pub downloads: i64,
    /// Download limit, if any.
    pub max_downloads: Option<i64>,
    /// Files (blobs minus the manifest).
    pub files: u32,
    /// Bytes stored (ciphertext, all blobs).
    pub bytes: u64,
}

/// `GET /admin/packages`: a page of packages, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminPackageList {
    /// The packages of this page.
    pub packages: Vec<AdminPackage>,
    /// Cursor for the next page (`before`), if any.
    pub next: Option<String>,
}

/// A deleted package an admin may still restore (`GET /admin/packages/deleted`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedPackage {
    /// The package as it was.
    pub package: AdminPackage,
    /// When it was deleted.
    pub deleted_at: String,
    /// Who deleted it (`user:…`).
    pub deleted_by: String,
    /// Until when it can be restored; then it is purged.
    pub restorable_until: String,
}

/// The organisation's deleted packages, most recently deleted first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedPackageList {
    /// The packages.
    pub packages: Vec<DeletedPackage>,
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log.
    pub id: i64,
    /// When.
    pub at: String,
    /// What (`created`, `accessed`, `sign_in_failed`, …).
    pub event: String,
    /// Who (`user:…`, `recipient:…`, `client:…`, `system`).
    pub actor: String,
    /// The package, if any.
    pub package_id: Option<String>,
    /// More about it.
    pub detail: Option<String>,
}

/// `GET /admin/audit`: a page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditPage {
    /// The rows of this page.
    pub entries: Vec<AuditEntry>,
    /// Cursor for the next (older) page (`before`), if any.
    pub next: Option<i64>,
}

/// `GET /admin/audit/verify`: whether the organisation's hash chain is intact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditCheck {
    /// Every row follows the one before and matches its hash.
    pub intact: bool,
    /// Rows checked.
    pub rows: u64,
    /// The first broken row, in words, if any.
    pub first_break: Option<String>,
    /// The newest row's hash (hex): kept elsewhere, it proves later that nothing before it changed.
    pub head: Option<String>,
}

/// The organisation as its admins see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganisationView {
    /// Id.
    pub id: i64,
    /// Name, as mails and pages show it.
    pub name: String,
    /// Mail domains: addresses there are internal and belong here.
    pub domains: Vec<String>,
    /// When it was made.
    pub created_at: String,
    /// Its own settings within the server's.
    pub settings: OrganisationSettings,
    /// The server's, which apply where a setting is `None` and bound the rest.
    pub server_limits: ServerLimits,
}

/// The server's limits an organisation's settings stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLimits {
    /// The server's default expiry, in days.
    pub default_expiry_days: u32,
    /// The server's longest expiry, in days.
    pub max_expiry_days: u32,
}

/// An organisation's own settings; `null`: the server's (for the audit log: kept for ever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationSettings {
    /// Expiry of a package whose sender names none, in days.
    pub default_expiry_days: Option<u32>,
    /// The longest expiry a sender may choose, in days (at most the server's).
    pub max_expiry_days: Option<u32>,
    /// Audit rows older than this many days are deleted (the deletion is itself a row).
    pub audit_retention_days: Option<u32>,
    /// Whether recipients may reply securely to what users send (absent: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies: Option<bool>,
}

/// `PUT /admin/organisation`: its name and mail domains.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationChange {
    /// Name.
    pub name: String,
    /// Every mail domain (replaces the list).
    pub domains: Vec<String>,
    /// New settings (absent: as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<OrganisationSettings>,
}

/// `GET /admin/overview`: the organisation at a glance, for the calendar month so far (UTC).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    /// Users who may sign in.
    pub active_users: u64,
    /// Of them, admins.
    pub admins: u64,
    /// Disabled users.
    pub disabled_users: u64,
    /// Users who used Kluis this month.
    pub users_active_this_month: u64,
    /// Packages made this month.
    pub packages_this_month: u64,
    /// Bytes of the packages made this month.
    pub bytes_this_month: u64,
    /// Wrong verification codes this month (first per address and package; repeats are counted, not logged).
    pub failed_verifications_this_month: u64,
    /// Packages that can be opened now.
    pub live_packages: u64,
}

/// `GET|PUT /admin/sso`: the organisation's single sign-on (OpenID Connect).
/// The client secret is never sent back, only whether one is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoView {
    /// Whether users of the organisation's domains sign in at the provider.
    pub enabled: bool,
    /// The provider's issuer URL (absent when off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client id registered at the provider (absent when off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether a client secret is kept (sealed with the server key).
    pub secret_set: bool,
    /// Whether an address of the organisation's domains that is not a user yet becomes one at its first sign-in.
    pub create_users: bool,
    /// Whether an address the provider does not mark `email_verified` is taken as verified.
    pub trust_email: bool,
    /// What to register at the provider as the redirect URI.
    pub redirect_uri: String,
}

/// `PUT /admin/sso`: turns single sign-on on or changes it. The provider
/// must answer at `issuer/.well-known/openid-configuration`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoChange {
    /// The provider's issuer URL (https, or http on loopback).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret; absent keeps the one set before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Make users at their first sign-in (default false).
    #[serde(default)]
    pub create_users: bool,
    /// Trust addresses the provider does not mark verified (default false).
    #[serde(default)]
    pub trust_email: bool,
}

/// `GET|PUT /admin/licence`: the organisation's licence and seats.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenceView {
    /// `evaluation` (no licence), `valid`, `ends_soon` (within 30 days),
    /// `grace` (ended; sending still works for `days_left` more days), `lapsed` (new sends refused).
    pub state: String,
    /// Days left in `valid`, `ends_soon` (after today) or `grace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Seats in use (users who may sign in and hold one).
    pub seats_used: u64,
    /// Seats the licence (or evaluation) grants.
    pub seats_total: u32,
    /// Features granted (evaluation: all this server knows).
    pub features: Vec<String>,
    /// The licence, when one is installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<LicenceDetails>,
}

/// What an installed licence says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenceDetails {
    /// The vendor's id of it.
    pub id: String,
    /// Who holds it.
    pub licensee: String,
    /// The mail domains it is for.
    pub domains: Vec<String>,
    /// First valid day (`YYYY-MM-DD`, UTC).
    pub valid_from: String,
    /// Last valid day.
    pub valid_until: String,
    /// Days of sending after the last day.
    pub grace_days: u32,
    /// When it was installed, and by whom.
    pub installed_at: String,
    /// `user:<address>` or `system` (the operator).
    pub installed_by: String,
}

/// `PUT /admin/licence`: a licence's text, as the vendor sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceInstall {
    /// The text from `-----BEGIN KLUIS LICENCE-----` to `-----END KLUIS LICENCE-----` (more around it is fine).
    pub text: String,
}

/// `GET /admin/policy`: the organisation's policy as its admins edit it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminPolicy {
    /// The current document (`version` 0: none saved yet, the server's default).
    pub policy: kluis_policy::Policy,
    /// When it was saved (absent for the server's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<String>,
    /// Who saved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<String>,
}

/// `PUT /admin/policy`: a new version of the whole document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// The version the admin edited (what `GET` answered): if another
    /// admin saved since, the change is refused (`policy_changed`).
    pub version: u32,
    /// The whole document; its own `version` is ignored.
    pub policy: kluis_policy::Policy,
}

/// `PUT /admin/policy`'s answer: the saved policy and what changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicySaved {
    /// The policy now (a new version; the same one when nothing changed).
    pub policy: kluis_policy::Policy,
    /// Each field that changed, before and after.
    pub changes: Vec<kluis_policy::Change>,
}

/// One saved version in `GET /admin/policy/versions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Its number.
    pub version: u32,
    /// When it was saved.
    pub saved_at: String,
    /// Who saved it.
    pub saved_by: String,
    /// What it changed from the version before (the first: from the server's default).
    pub changes: Vec<kluis_policy::Change>,
}

/// `GET /admin/policy/versions`: the newest versions first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersions {
    /// Newest first, at most 50.
    pub versions: Vec<PolicyVersion>,
}
