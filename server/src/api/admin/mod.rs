//! The admin API under `/api/v1/admin`: an organisation's admins run its
//! users, packages (metadata only), audit log, settings and single sign-on. Every handler
//! takes the [`Admin`](super::guard::Admin) extractor; the domain functions
//! it calls take the `OrgAdmin` inside it and are scoped to its organisation.

mod audit;
mod export;
mod licence;
mod organisation;
mod packages;
mod policy;
mod portals;
mod recovery;
mod sso;
mod users;

use actix_web::web;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .configure(users::configure)
            .configure(packages::configure)
            .configure(audit::configure)
            .configure(export::configure)
            .configure(organisation::configure)
            .configure(sso::configure)
            .configure(licence::configure)
            .configure(policy::configure)
            .configure(recovery::configure)
            .configure(portals::configure),
    );
}

/// `2026-11-01` or an RFC 3339 time, as Unix seconds (a date is its start, UTC).
fn parse_time(field: &'static str, raw: &str) -> Result<i64, super::error::ApiError> {
    use time::format_description::well_known::Rfc3339;
    let raw = raw.trim();
    if let Ok(t) = time::OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format).map(|d| d.midnight().assume_utc().unix_timestamp()).map_err(|_| {
        super::error::ApiError::bad_request(
            "invalid_query",
            format!("{field} must be a date like 2026-11-01 or a time like 2026-11-01T09:00:00Z."),
        )
    })
}
