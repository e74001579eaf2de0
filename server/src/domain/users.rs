//! An organisation's users as its admins run them: list and search, add,
//! change name and role, disable (their tokens are revoked at once) and
//! enable, remove (the row stays, so the audit log and their packages still
//! name them), and import from CSV with a report of what was refused.
//!
//! Every function takes an [`OrgAdmin`], which only
//! [`super::accounts::as_admin`] makes: the rule "admins only, of their own
//! organisation" is checked once, where a caller becomes an admin.

use super::accounts::OrgAdmin;
use super::{Actor, Domain, DomainError, DomainResult, Event, address, invalid};
use crate::store::{NewUser, Role, UserChange, UserFilter, UserQuery, UserRecord};

/// Most users in one page.
pub(crate) const PAGE: i64 = 200;
/// Most lines in one CSV import.
pub(crate) const IMPORT_MAX_LINES: usize = 10_000;

fn name(raw: &str) -> Option<String> {
    let name: String = raw.trim().chars().filter(|c| !c.is_control()).take(100).collect();
    (!name.is_empty()).then_some(name)
}

/// A page of the organisation's users by address, after `after`; and the cursor of the next page.
pub(crate) async fn list(
    domain: &Domain,
    admin: &OrgAdmin,
    search: Option<String>,
    filter: UserFilter,
    after: Option<String>,
    limit: Option<i64>,
) -> DomainResult<(Vec<UserRecord>, Option<String>)> {
    let limit = limit.unwrap_or(50).clamp(1, PAGE);
    let query = UserQuery { org_id: admin.org_id(), search, filter, after, limit: limit + 1 };
    let users = domain.meta.users(query).await?;
    Ok(super::page(users, limit, |u| u.user.email.clone()))
}

/// Adds a user to the admin's organisation (or lets a disabled or removed one in again).
pub(crate) async fn add(
    domain: &Domain,
    admin: &OrgAdmin,
    raw_email: &str,
    raw_name: Option<&str>,
    role: Option<Role>,
) -> DomainResult<(UserRecord, bool)> {
    let email = address::normalize(raw_email).map_err(|e| invalid("invalid_email", format!("{e}.")))?;
    let existed = domain.meta.user_by_email(&email).await?.is_some();
    let new = NewUser { org_id: admin.org_id(), email: email.clone(), name: raw_name.and_then(name), role };
    let user = domain.meta.add_user(new).await?.ok_or_else(|| {
        invalid("user_elsewhere", format!("{email} is a user of another organisation; an address belongs to one."))
    })?;
    let detail = format!("{} ({})", user.email, user.role.as_str());
    record(domain, admin, if existed { "user_updated" } else { "user_added" }, detail).await?;
    let record = domain.meta.org_user(admin.org_id(), user.id).await?.ok_or(DomainError::NotFound("user"))?;
    Ok((record, !existed))
}

/// User `id` of the admin's organisation.
pub(crate) async fn get(domain: &Domain, admin: &OrgAdmin, id: i64) -> DomainResult<UserRecord> {
    domain.meta.org_user(admin.org_id(), id).await?.ok_or(DomainError::NotFound("user"))
}

/// What an admin may change about a user.
#[derive(Debug, Clone, Default)]
pub(crate) struct Change {
    /// `Some("")`: no name.
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// Give (`true`) or take back (`false`) a seat (`domain/licences.rs`).
    pub seat: Option<bool>,
}

/// Changes a user. An organisation keeps at least one active admin, and an
/// admin does not disable or demote themselves (another admin can).
pub(crate) async fn change(domain: &Domain, admin: &OrgAdmin, id: i64, change: Change) -> DomainResult<UserRecord> {
    let before = get(domain, admin, id).await?;
    if id == admin.user_id() && (change.disabled == Some(true) || change.role == Some(Role::User)) {
        return Err(invalid("own_account", "You cannot disable yourself or take away your own admin role."));
    }
    if let Some(seat) = change.seat {
        super::licences::set_seat(domain, admin, id, seat).await?;
    }
    let store_change = UserChange {
        name: change.name.as_deref().map(name),
        role: change.role,
        disabled: change.disabled,
        remove: false,
    };
    let after = domain
        .meta
        .change_user(admin.org_id(), id, store_change, keeps_an_admin())
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    let mut what = Vec::new();
    if change.name.is_some() {
        what.push("name".to_string());
    }
    if let Some(role) = change.role.filter(|r| *r != before.user.role) {
        what.push(format!("role {}", role.as_str()));
    }
    match change.disabled {
        Some(true) if !before.disabled => what.push("disabled, tokens revoked".into()),
        Some(false) if before.disabled => what.push("enabled".into()),
        _ => {}
    }
    if !what.is_empty() {
        record(domain, admin, "user_changed", format!("{}: {}", after.user.email, what.join(", "))).await?;
    }
    Ok(after)
}

/// Removes a user: they cannot sign in and are no longer listed; their tokens
/// are revoked; the audit log and their packages keep naming them.
pub(crate) async fn remove(domain: &Domain, admin: &OrgAdmin, id: i64) -> DomainResult<()> {
    let user = get(domain, admin, id).await?;
    if id == admin.user_id() {
        return Err(invalid("own_account", "You cannot remove yourself."));
    }
    let change = UserChange { remove: true, ..UserChange::default() };
    domain.meta.change_user(admin.org_id(), id, change, keeps_an_admin()).await?;
    record(domain, admin, "user_removed", user.user.email).await
}

fn keeps_an_admin() -> crate::store::Rule<i64> {
    Box::new(|admins: &i64| {
        if *admins < 1 {
            Err(invalid("last_admin", "An organisation keeps at least one active admin."))
        } else {
            Ok(())
        }
    })
}

async fn record(domain: &Domain, admin: &OrgAdmin, what: &'static str, detail: String) -> DomainResult<()> {
    let event = domain.event(admin.org_id(), Event::Admin(what), Actor::User(admin.email()), None, Some(detail));
    Ok(domain.meta.record(event).await?)
}

/// One line of a CSV import that was not taken.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub line: u32,
    pub email: String,
    pub code: &'static str,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Imported {
    pub added: u32,
    pub updated: u32,
    pub refused: Vec<Refusal>,
}

/// The line (from 1) of the first character at or after byte `at` that ends
/// no line: the csv reader's record positions point at the line break before a record.
fn line_of(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let mut at = at.min(bytes.len());
    while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
        at += 1;
    }
    bytes[..at].iter().filter(|&&c| c == b'\n').count() + 1
}

/// A role as a CSV file may write it, in English or Dutch; empty is "user".
fn role_in_csv(text: &str) -> Option<Role> {
    match text.trim().to_lowercase().as_str() {
        "" | "user" | "gebruiker" => Some(Role::User),
        "admin" | "administrator" | "beheerder" => Some(Role::Admin),
        _ => None,
    }
}

/// Whether a first line is a header: its first field names the column.
fn is_header(fields: &[String]) -> bool {
    let first = fields.first().map(|f| f.trim().to_lowercase()).unwrap_or_default();
    matches!(first.as_str(), "email" | "e-mail" | "mail" | "e-mailadres" | "emailadres" | "address" | "adres")
}

/// Imports users from CSV: columns e-mail, name, role (English or Dutch
/// header optional; `,` or `;` as Excel writes it; UTF-8 with or without
/// BOM). Every line is checked on its own; the report names each line not
/// taken and why. Existing users of the organisation are updated.
pub(crate) async fn import(domain: &Domain, admin: &OrgAdmin, text: &str) -> DomainResult<Imported> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut report = Imported::default();
    let mut seen = std::collections::HashSet::new();
    for (i, row) in reader.records().enumerate() {
        if i >= IMPORT_MAX_LINES {
            return Err(invalid("too_many_lines", format!("An import takes at most {IMPORT_MAX_LINES} lines.")));
        }
        // The line in the file where the record starts, as an editor numbers it (blank lines count).
        let start = match &row {
            Ok(row) => row.position().map(|p| p.byte()),
            Err(e) => e.position().map(|p| p.byte()),
        };
        let line = start.map_or(i + 1, |b| line_of(text, b as usize));
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let reason = format!("This line is not valid CSV: {e}.");
                report.refused.push(Refusal { line, email: String::new(), code: "invalid_line", reason });
                continue;
            }
        };
        let fields: Vec<String> = row.iter().map(str::to_string).collect();
        if fields.iter().all(|f| f.is_empty()) || (i == 0 && is_header(&fields)) {
            continue;
        }
        let raw = fields.first().cloned().unwrap_or_default();
        let refuse = |code: &'static str, reason: String| Refusal { line, email: raw.clone(), code, reason };
        let Ok(email) = address::normalize(&raw) else {
            report.refused.push(refuse("invalid_email", format!("{raw:?} is not an e-mail address.")));
            continue;
        };
        let Some(role) = role_in_csv(fields.get(2).map_or("", String::as_str)) else {
            let reason = format!("The role {:?} is neither user nor admin.", fields[2]);
            report.refused.push(refuse("invalid_role", reason));
            continue;
        };
        if !seen.insert(email.clone()) {
            report.refused.push(refuse("duplicate", format!("{email} is on an earlier line too.")));
            continue;
        }
        if email == admin.email() && role == Role::User {
            report.refused.push(refuse("own_account", "You cannot take away your own admin role.".into()));
            continue;
        }
        match add(domain, admin, &email, fields.get(1).map(String::as_str), Some(role)).await {
            Ok((_, true)) => report.added += 1,
            Ok((_, false)) => report.updated += 1,
            Err(DomainError::Invalid { code, message }) => report.refused.push(refuse(code, message)),
            Err(other) => return Err(other),
        }
    }
    Ok(report)
}
