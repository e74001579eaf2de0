//! What an organisation's admins oversee beyond its users: its packages
//! (metadata only — an admin never gets S, a proof or a blob), revoking any
//! of them, its audit log (filtered pages, a CSV export for Excel, the hash
//! chain's state), its figures, its name and mail domains, and its single sign-on.
//!
//! Every function takes an [`OrgAdmin`] (made once, by
//! [`super::accounts::as_admin`]) and is scoped to its organisation: a
//! package or row of another organisation is "not found".

use super::accounts::OrgAdmin;
use super::packages;
use super::sso::{ChangedBy, SsoConfig, SsoView};
use super::{Actor, Domain, DomainError, DomainResult, Event, address, audit, invalid, now};
use crate::store::{
    AuditQuery, AuditRow, OrgPackage, OrgSettings, OrgStats, Organisation, PackageRecord, PackageState,
};

/// Most rows in one page of packages or of the audit log.
pub(crate) const PAGE: i64 = 200;
/// Most rows in one CSV export.
pub(crate) const EXPORT_MAX_ROWS: i64 = 100_000;

/// A page of the organisation's packages, newest first; the cursor of the next page.
pub(crate) async fn packages(
    domain: &Domain,
    admin: &OrgAdmin,
    before: Option<&str>,
    limit: Option<i64>,
) -> DomainResult<(Vec<OrgPackage>, Option<String>)> {
    let limit = limit.unwrap_or(50).clamp(1, PAGE);
    let before = before.map(packages::parse_cursor).transpose()?;
    let rows = domain.meta.org_packages(admin.org_id(), before, limit + 1).await?;
    Ok(super::page(rows, limit, |p| packages::cursor_of(&p.record)))
}

/// A package of the admin's organisation.
async fn org_package(domain: &Domain, admin: &OrgAdmin, id: &str) -> DomainResult<PackageRecord> {
    let record = domain.meta.package_record(id).await?.ok_or(DomainError::NotFound("package"))?;
    if record.package.org_id != admin.org_id() {
        return Err(DomainError::NotFound("package"));
    }
    Ok(record)
}

/// Revokes any package of the organisation (S and the blobs are deleted; the link is dead).
pub(crate) async fn revoke(domain: &Domain, admin: &OrgAdmin, id: &str) -> DomainResult<()> {
    org_package(domain, admin, id).await?;
    packages::end(domain, id, PackageState::Revoked, Actor::User(admin.email())).await?;
    Ok(())
}

/// Deletes any package of the organisation (`lifecycle::delete`: a sent one stays restorable for a while).
pub(crate) async fn delete(domain: &Domain, admin: &OrgAdmin, id: &str) -> DomainResult<()> {
    let record = org_package(domain, admin, id).await?;
    super::lifecycle::delete(domain, &record.package, Actor::User(admin.email())).await
}

/// Filters of the audit log, as the console and the export take them.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditFilter {
    pub user: Option<String>,
    pub recipient: Option<String>,
    pub package: Option<String>,
    pub event: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

fn query(admin: &OrgAdmin, filter: &AuditFilter) -> DomainResult<AuditQuery> {
    let email = |raw: &Option<String>| -> DomainResult<Option<String>> {
        raw.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| address::normalize(s).map_err(|e| invalid("invalid_email", format!("{e}."))))
            .transpose()
    };
    let text = |raw: &Option<String>| raw.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    Ok(AuditQuery {
        org_id: admin.org_id(),
        user: email(&filter.user)?,
        recipient: email(&filter.recipient)?,
        package: text(&filter.package),
        event: text(&filter.event),
        from: filter.from,
        to: filter.to,
        before: None,
        limit: 0,
    })
}

/// A page of the organisation's audit log, newest first, before row `before`; the cursor of the next page.
pub(crate) async fn audit_page(
    domain: &Domain,
    admin: &OrgAdmin,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: Option<i64>,
) -> DomainResult<(Vec<AuditRow>, Option<i64>)> {
    let limit = limit.unwrap_or(50).clamp(1, PAGE);
    let q = AuditQuery { before, limit: limit + 1, ..query(admin, filter)? };
    let rows = domain.meta.audit_page(q).await?;
    Ok(super::page(rows, limit, |r| r.id))
}

/// The language of an export's header row (and its separator: what Excel
/// expects in that locale, `;` for Dutch, `,` for English).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    English,
    Dutch,
}

/// The audit log as CSV that opens cleanly in Excel: UTF-8 with a BOM, the
/// separator of the language's locale, times in UTC as `2026-11-27 13:45:00`,
/// every field quoted where needed, and no cell starting with `=`, `+`, `-`
/// or `@` (Excel would run it as a formula). At most [`EXPORT_MAX_ROWS`] rows, newest first.
pub(crate) async fn audit_csv(
    domain: &Domain,
    admin: &OrgAdmin,
    filter: &AuditFilter,
    language: Language,
) -> DomainResult<Vec<u8>> {
    let header: [&str; 6] = match language {
        Language::English => ["Time (UTC)", "Event", "Who", "Package", "Detail", "Row"],
        Language::Dutch => ["Tijd (UTC)", "Gebeurtenis", "Wie", "Pakket", "Details", "Regel"],
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(if language == Language::Dutch { b';' } else { b',' })
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    let csv_error = |e: csv::Error| DomainError::Store(format!("csv: {e}"));
    writer.write_record(header).map_err(csv_error)?;
    let base = query(admin, filter)?;
    let mut before = None;
    let mut written = 0;
    while written < EXPORT_MAX_ROWS {
        let limit = (EXPORT_MAX_ROWS - written).min(1000);
        let rows = domain.meta.audit_page(AuditQuery { before, limit, ..base.clone() }).await?;
        for row in &rows {
            let fields = [
                excel_time(row.at),
                row.event.clone(),
                row.actor.clone(),
                row.package_id.clone().unwrap_or_default(),
                row.detail.clone().unwrap_or_default(),
                row.id.to_string(),
            ];
            writer.write_record(fields.iter().map(|f| inert(f))).map_err(csv_error)?;
        }
        written += rows.len() as i64;
        match rows.last() {
            Some(last) if rows.len() as i64 == limit => before = Some(last.id),
            _ => break,
        }
    }
    writer.into_inner().map_err(|e| DomainError::Store(format!("csv: {e}")))
}

/// `2026-11-27 13:45:00`: a time Excel reads as a date in every locale.
fn excel_time(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// A cell Excel shows as text: one that would start a formula gets a leading `'`.
pub(crate) fn inert(field: &str) -> String {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{field}") } else { field.to_string() }
}

/// The organisation's hash chain: the rows checked, and its head or first break.
pub(crate) async fn audit_check(
    domain: &Domain,
    admin: &OrgAdmin,
) -> DomainResult<(u64, Result<Option<audit::Head>, audit::Break>)> {
    audit::verify_organisation(domain.meta.as_ref(), admin.org_id()).await
}

/// The organisation's figures for the calendar month so far (UTC).
pub(crate) async fn overview(domain: &Domain, admin: &OrgAdmin) -> DomainResult<OrgStats> {
    let at = time::OffsetDateTime::from_unix_timestamp(now()).map_err(|e| DomainError::Store(e.to_string()))?;
    let month = at.replace_day(1).map_err(|e| DomainError::Store(e.to_string()))?.replace_time(time::Time::MIDNIGHT);
    Ok(domain.meta.org_stats(admin.org_id(), month.unix_timestamp()).await?)
}

/// The admin's organisation.
pub(crate) async fn organisation(domain: &Domain, admin: &OrgAdmin) -> DomainResult<Organisation> {
    super::organisations::get(domain, admin.org_id()).await
}

/// Renames the organisation, sets its mail domains (none of them another
/// organisation's) and, when given, its settings (within the server's).
pub(crate) async fn update_organisation(
    domain: &Domain,
    admin: &OrgAdmin,
    raw_name: &str,
    raw_domains: &[String],
    settings: Option<OrgSettings>,
) -> DomainResult<Organisation> {
    let name = super::organisations::name(raw_name)?;
    let domains = super::organisations::domains(raw_domains)?;
    if let Some(settings) = &settings {
        super::organisations::check_settings(domain, settings)?;
    }
    let taken = Box::new(|taken: &Vec<(String, String)>| match taken.first() {
        Some((d, owner)) => Err(invalid("domain_taken", format!("{d} is already a domain of {owner}."))),
        None => Ok(()),
    });
    let mut org = domain.meta.update_organisation(admin.org_id(), &name, &domains, taken).await?;
    if let Some(settings) = settings {
        domain.meta.set_org_settings(org.id, settings).await?;
        org.settings = settings;
    }
    let days = |d: Option<u32>| d.map_or("server's".to_string(), |d| d.to_string());
    let s = org.settings;
    let detail = format!(
        "name {:?}, domains {}, expiry {}/{} days, audit kept {}, replies {}",
        org.name,
        org.domains.join(","),
        days(s.default_expiry_days),
        days(s.max_expiry_days),
        s.audit_retention_days.map_or("for ever".to_string(), |d| format!("{d} days")),
        if s.replies == Some(false) { "off" } else { "on" }
    );
    let event =
        domain.event(org.id, Event::Admin("organisation_changed"), Actor::User(admin.email()), None, Some(detail));
    domain.meta.record(event).await?;
    Ok(org)
}

/// The organisation's single sign-on (`None`: off), and the redirect URI to register at a provider.
pub(crate) async fn sso(domain: &Domain, admin: &OrgAdmin) -> DomainResult<(Option<SsoView>, String)> {
    Ok((super::sso::settings(domain, admin.org_id()).await?, super::sso::redirect_uri(domain)))
}

/// Turns the organisation's single sign-on on, or changes it.
pub(crate) async fn configure_sso(domain: &Domain, admin: &OrgAdmin, config: SsoConfig) -> DomainResult<SsoView> {
    super::sso::configure(domain, admin.org_id(), config, ChangedBy::Admin(admin.email())).await
}

/// Turns the organisation's single sign-on off; false if it was off.
pub(crate) async fn turn_off_sso(domain: &Domain, admin: &OrgAdmin) -> DomainResult<bool> {
    super::sso::turn_off(domain, admin.org_id(), ChangedBy::Admin(admin.email())).await
}

#[cfg(test)]
mod tests {
    use super::{excel_time, inert};

    #[test]
    fn cells_that_excel_would_run_as_formulas_are_made_text() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("+31 6"), "'+31 6");
        assert_eq!(inert("@sum"), "'@sum");
        assert_eq!(inert("user:alice@example.org"), "user:alice@example.org");
    }

    #[test]
    fn times_are_written_as_excel_reads_them() {
        assert_eq!(excel_time(1_800_000_000), "2027-01-15 08:00:00");
    }
}
