//! Organisations: the tenants of a server. Everything a user, package,
//! upload, audit row or blob is belongs to exactly one, and every rule
//! that reads or changes something checks that it is the caller's
//! (docs/architecture.md, "Organisations"). A self-hosted install has the
//! one made at first start; the operator (`kluis-server org create`) can
//! add more, each with its own mail domains.

use super::{Domain, DomainError, DomainResult, address, invalid};
use crate::store::{OrgSettings, Organisation};

/// The longest organisation name (it appears in mail subjects and on pages).
const NAME_MAX: usize = 100;
/// The most mail domains of one organisation.
pub(crate) const DOMAINS_MAX: usize = 100;

pub(crate) fn name(raw: &str) -> DomainResult<String> {
    let name: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(invalid("invalid_name", format!("An organisation's name has 1 to {NAME_MAX} characters.")));
    }
    Ok(name)
}

/// A new organisation with its mail domains; a domain that is already
/// another organisation's is refused (an address belongs to one).
pub(crate) async fn create(domain: &Domain, raw_name: &str, raw_domains: &[String]) -> DomainResult<Organisation> {
    let name = name(raw_name)?;
    let domains = domains(raw_domains)?;
    for d in &domains {
        if let Some(owner) = domain.meta.organisation_of_domain(d).await? {
            return Err(invalid("domain_taken", format!("{d} is already a domain of {}.", owner.name)));
        }
    }
    Ok(domain.meta.create_organisation(&name, &domains).await?)
}

/// Mail domains as given: each normalised, each once; at most [`DOMAINS_MAX`].
pub(crate) fn domains(raw: &[String]) -> DomainResult<Vec<String>> {
    let mut domains: Vec<String> = Vec::new();
    for raw in raw {
        let d = address::normalize_domain(raw)
            .map_err(|_| invalid("invalid_domain", format!("{raw:?} is not a mail domain (like example.org).")))?;
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if domains.len() > DOMAINS_MAX {
        return Err(invalid("too_many_domains", format!("An organisation has at most {DOMAINS_MAX} mail domains.")));
    }
    Ok(domains)
}

/// The expiry a package of `org` gets when its sender names none, and the
/// longest it may have: the organisation's, within the server's.
pub(crate) fn expiry(domain: &Domain, org: Option<&Organisation>) -> (u32, u32) {
    let server_max = domain.limits.max_expiry_days;
    let settings = org.map(|o| o.settings).unwrap_or_default();
    let max = settings.max_expiry_days.map_or(server_max, |m| m.clamp(1, server_max));
    let default = settings.default_expiry_days.unwrap_or(domain.limits.default_expiry_days).clamp(1, max);
    (default, max)
}

/// Checks settings an admin gives: expiry within the server's (default at
/// most the maximum), an audit retention of at least a day (at most 100 years).
pub(crate) fn check_settings(domain: &Domain, s: &OrgSettings) -> DomainResult<()> {
    let server_max = domain.limits.max_expiry_days;
    let max = s.max_expiry_days.unwrap_or(server_max);
    if !(1..=server_max).contains(&max) {
        return Err(invalid(
            "invalid_expiry",
            format!("The longest expiry is between 1 and {server_max} days (the server's)."),
        ));
    }
    if s.default_expiry_days.is_some_and(|d| !(1..=max).contains(&d)) {
        return Err(invalid("invalid_expiry", format!("The default expiry is between 1 and {max} days.")));
    }
    if s.audit_retention_days.is_some_and(|d| !(1..=36_500).contains(&d)) {
        return Err(invalid("invalid_retention", "The audit log is kept between 1 and 36500 days, or for ever."));
    }
    Ok(())
}

pub(crate) async fn list(domain: &Domain) -> DomainResult<Vec<Organisation>> {
    Ok(domain.meta.organisations().await?)
}

/// The organisation with id `id`.
pub(crate) async fn get(domain: &Domain, id: i64) -> DomainResult<Organisation> {
    domain.meta.organisation(id).await?.ok_or(DomainError::NotFound("organisation"))
}

/// Where the operator means a new user of address `email` to go: the
/// organisation named (by id or name), else the one whose mail domain the
/// address has, else the only one there is.
pub(crate) async fn for_new_user(domain: &Domain, email: &str, named: Option<&str>) -> DomainResult<Organisation> {
    let all = domain.meta.organisations().await?;
    if let Some(named) = named {
        let named = named.trim();
        return all
            .into_iter()
            .find(|o| o.id.to_string() == named || o.name.eq_ignore_ascii_case(named))
            .ok_or_else(|| invalid("unknown_organisation", format!("There is no organisation {named:?}.")));
    }
    if let Some(org) = domain.meta.organisation_of_domain(address::domain_of(email)).await? {
        return Ok(org);
    }
    match <[Organisation; 1]>::try_from(all) {
        Ok([only]) => Ok(only),
        Err(all) => {
            let names: Vec<String> = all.iter().map(|o| format!("{} ({})", o.name, o.id)).collect();
            Err(invalid(
                "organisation_required",
                format!(
                    "{} is in none of the organisations' mail domains; name one with --org: {}.",
                    address::domain_of(email),
                    names.join(", ")
                ),
            ))
        }
    }
}
