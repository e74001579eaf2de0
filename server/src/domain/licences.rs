//! Licences and seats (DESIGN §8): what an organisation may do, decided
//! here once.
//!
//! - Without a licence an organisation is in evaluation: `evaluation_seats`
//!   seats (`[licence]`, default 5), every feature.
//! - With one (installed by its admin or the operator, verified against the
//!   vendor keys built in: [`trust`]) it has the licence's seats and
//!   features. From [`WARN_DAYS`] before its last day the console warns;
//!   after it, `grace_days` more days of sending with a banner; then new
//!   sends stop. Recipients still open what was sent, senders revoke,
//!   admins export: nothing is deleted because a licence ended.
//! - A seat is a named user who may send. A user takes a free seat at their
//!   first send; an admin gives and takes seats, never beyond the count. A
//!   disabled or removed user's seat is free again.
//!
//! The stored text is verified again whenever it is read, so a row changed
//! by hand (or a licence of a key no longer trusted) counts as none.

use std::sync::LazyLock;

use kluis_licence::{Feature, Licence, LicenceError, PublicKey, Status, Trust, WARN_DAYS};
use time::{Date, OffsetDateTime};

use super::accounts::{Caller, OrgAdmin};
use super::{Actor, Domain, DomainError, DomainResult, Event, invalid, now, organisations};
use crate::store::{LicenceWarning, SeatClaim, StoredLicence, UserFilter, UserQuery};

/// The vendor keys licences are accepted from (`kluis-licence keygen` prints these lines).
const VENDOR_KEYS: &[&str] = &["kluis-licence-key kluis-2026-a 39+L0vQIwCG6vgYM/gKFHTx1WIldKkd3UTs8uMXpjuE="];

/// The test vendor key (`licence/testdata/`), whose private half is in the repository: test builds only.
#[cfg(feature = "test-licence-key")]
const TEST_KEY: &str = include_str!("../../../licence/testdata/test-vendor.pub");

/// Whether this build trusts the test vendor key (the server says so at start).
pub const TRUSTS_TEST_KEY: bool = cfg!(feature = "test-licence-key");

/// The vendor keys this build trusts.
pub(crate) fn trust() -> &'static Trust {
    static TRUST: LazyLock<Trust> = LazyLock::new(|| {
        #[allow(unused_mut)]
        let mut lines: Vec<&str> = VENDOR_KEYS.to_vec();
        #[cfg(feature = "test-licence-key")]
        lines.push(TEST_KEY.trim());
        Trust::new(lines.iter().map(|l| PublicKey::from_line(l).expect("a vendor key line")).collect())
    });
    &TRUST
}

/// Today (UTC).
fn today() -> Date {
    OffsetDateTime::from_unix_timestamp(now()).map(|t| t.date()).unwrap_or(Date::MIN)
}

/// Where an organisation stands.
#[derive(Debug, Clone)]
pub(crate) enum Standing {
    /// No licence: evaluation.
    Evaluation,
    /// A licence, and where today falls in it.
    Licensed { licence: Box<Licence>, status: Status, installed: StoredLicence },
}

/// An organisation's licence and seats now.
#[derive(Debug, Clone)]
pub(crate) struct LicenceState {
    pub standing: Standing,
    pub seats_total: u32,
    pub seats_used: i64,
}

impl LicenceState {
    /// Whether new packages may be made.
    pub(crate) fn may_send(&self) -> bool {
        !matches!(&self.standing, Standing::Licensed { status: Status::Lapsed | Status::NotYetValid, .. })
    }

    /// The state as the API names it (`evaluation`, `valid`, `ends_soon`,
    /// `grace`, `lapsed`), with the days left where it has them.
    pub(crate) fn summary(&self) -> (&'static str, Option<i64>) {
        match &self.standing {
            Standing::Evaluation => ("evaluation", None),
            Standing::Licensed { status, .. } => match *status {
                Status::NotYetValid | Status::Lapsed => ("lapsed", None),
                Status::Valid { days_left } if status.ends_soon() => ("ends_soon", Some(days_left)),
                Status::Valid { days_left } => ("valid", Some(days_left)),
                Status::Grace { days_left } => ("grace", Some(days_left)),
            },
        }
    }

    pub(crate) fn allows(&self, feature: Feature) -> bool {
        match &self.standing {
            Standing::Evaluation => true,
            Standing::Licensed { licence, .. } => licence.has(feature),
        }
    }
}

/// The organisation's licence and seats now.
pub(crate) async fn state(domain: &Domain, org_id: i64) -> DomainResult<LicenceState> {
    let standing = match domain.meta.licence(org_id).await? {
        None => Standing::Evaluation,
        Some(installed) => match trust().verify_signature(&installed.text) {
            Ok(licence) => {
                let status = licence.status(today(), domain.licence.grace_days);
                Standing::Licensed { licence: Box::new(licence), status, installed }
            }
            Err(e) => {
                tracing::error!(organisation = org_id, "the installed licence is not valid any more ({e}): evaluation");
                Standing::Evaluation
            }
        },
    };
    let seats_total = match &standing {
        Standing::Evaluation => domain.licence.evaluation_seats,
        Standing::Licensed { licence, .. } => licence.seats,
    };
    Ok(LicenceState { standing, seats_total, seats_used: domain.meta.seats_used(org_id).await? })
}

/// A licence's refusal as the API's error: its stable code and sentence.
fn refused(e: LicenceError) -> DomainError {
    invalid(e.code(), format!("{}.", capitalised(&e.to_string())))
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Installs `text` as the licence of organisation `org_id`, once it is
/// signed by a vendor key, valid today and for one of its mail domains.
pub(crate) async fn install(domain: &Domain, org_id: i64, text: &str, by: Actor<'_>) -> DomainResult<LicenceState> {
    if text.len() > 64 * 1024 {
        return Err(invalid("licence_malformed", "This is far longer than a licence."));
    }
    let org = organisations::get(domain, org_id).await?;
    let licence = trust().verify(text, today()).map_err(refused)?;
    licence.check_domains(org.domains.iter().map(String::as_str)).map_err(refused)?;
    let detail = format!(
        "licence {} for {}: {} seats, features {}, valid {} to {}",
        licence.id,
        licence.licensee,
        licence.seats,
        if licence.features.is_empty() { "none".to_string() } else { licence.features.join(",") },
        licence.valid_from,
        licence.valid_until
    );
    let who = by.name();
    let event = domain.event(org_id, Event::Admin("licence_installed"), by, None, Some(detail));
    domain.meta.put_licence(org_id, text.trim(), &who, event).await?;
    state(domain, org_id).await
}

/// The admins a user without a seat can ask (a few addresses).
async fn admins_of(domain: &Domain, org_id: i64) -> DomainResult<Vec<String>> {
    let query = UserQuery { org_id, search: None, filter: UserFilter::Admins, after: None, limit: 3 };
    Ok(domain.meta.users(query).await?.into_iter().map(|u| u.user.email).collect())
}

fn lapsed() -> DomainError {
    DomainError::Refused {
        code: "licence_lapsed",
        message: "Your organisation's Kluis licence has ended, so nothing new can be sent. What was sent can still \
                  be opened and revoked. Ask your administrator to renew it."
            .into(),
    }
}

async fn no_seat(domain: &Domain, org_id: i64, total: u32) -> DomainResult<DomainError> {
    Ok(DomainError::NoSeat { total, admins: admins_of(domain, org_id).await? })
}

/// Why the caller could not send now (`no_seat`, `licence_lapsed`: what
/// [`may_send`] would answer, without taking a seat), and the licence's
/// state for a banner. Pages ask before anyone chooses files.
pub(crate) async fn sending(domain: &Domain, caller: &Caller) -> DomainResult<(LicenceState, Option<DomainError>)> {
    let org_id = caller.user.org_id;
    let state = state(domain, org_id).await?;
    let refusal = if !state.may_send() {
        Some(lapsed())
    } else if state.seats_used >= i64::from(state.seats_total)
        && !domain.meta.holds_seat(org_id, caller.user.id).await?
    {
        Some(no_seat(domain, org_id, state.seats_total).await?)
    } else {
        None
    };
    Ok((state, refusal))
}

/// Whether the caller may make a package now: their organisation's licence
/// has not lapsed, and they hold a seat (taking a free one at their first send).
pub(crate) async fn may_send(domain: &Domain, caller: &Caller) -> DomainResult<()> {
    let org_id = caller.user.org_id;
    let state = state(domain, org_id).await?;
    if !state.may_send() {
        return Err(lapsed());
    }
    let event = domain.event(
        org_id,
        Event::Admin("seat_assigned"),
        Actor::User(&caller.user.email),
        None,
        Some(format!("{} took a free seat at their first send", caller.user.email)),
    );
    match domain.meta.claim_seat(org_id, caller.user.id, state.seats_total, event).await? {
        SeatClaim::Held | SeatClaim::Claimed => Ok(()),
        SeatClaim::Full => Err(no_seat(domain, org_id, state.seats_total).await?),
    }
}

/// Whether the organisation's licence grants `feature` (evaluation grants all).
pub(crate) async fn require(domain: &Domain, org_id: i64, feature: Feature) -> DomainResult<()> {
    if state(domain, org_id).await?.allows(feature) {
        Ok(())
    } else {
        Err(DomainError::Refused {
            code: "feature_not_licensed",
            message: format!(
                "Your organisation's Kluis licence does not include {}. Ask your Kluis supplier to add it.",
                feature.name()
            ),
        })
    }
}

/// An admin gives user `user_id` a seat (`true`) or takes it back; never beyond the count.
pub(crate) async fn set_seat(domain: &Domain, admin: &OrgAdmin, user_id: i64, seat: bool) -> DomainResult<()> {
    let org_id = admin.org_id();
    let user = super::users::get(domain, admin, user_id).await?;
    let what = if seat { "seat_assigned" } else { "seat_released" };
    let detail =
        format!("{} {} {}", admin.email(), if seat { "gave a seat to" } else { "took the seat of" }, user.user.email);
    let event = domain.event(org_id, Event::Admin(what), Actor::User(admin.email()), None, Some(detail));
    if !seat {
        domain.meta.release_seat(org_id, user_id, event).await?;
        return Ok(());
    }
    let state = state(domain, org_id).await?;
    match domain.meta.claim_seat(org_id, user_id, state.seats_total, event).await? {
        SeatClaim::Held | SeatClaim::Claimed => Ok(()),
        SeatClaim::Full => Err(invalid(
            "no_seats_left",
            format!("All {} seats are taken: take one back from someone first, or ask for more.", state.seats_total),
        )),
    }
}

/// The state in words, for the operator's command line.
pub(crate) fn report(org_name: &str, state: &LicenceState, grace_days: u32) -> String {
    let seats = format!("seats: {} of {} taken", state.seats_used, state.seats_total);
    match &state.standing {
        Standing::Evaluation => format!(
            "{org_name}: evaluation (no licence): {seats}, every feature\n  install one with `kluis-server licence install FILE`"
        ),
        Standing::Licensed { licence, status, installed } => {
            let when = match status {
                Status::NotYetValid => format!("not valid yet: from {}", licence.valid_from),
                Status::Valid { days_left } if *days_left < WARN_DAYS => {
                    format!("valid until {}: ENDS IN {} DAYS, renew it", licence.valid_until, days_left + 1)
                }
                Status::Valid { .. } => format!("valid until {}", licence.valid_until),
                Status::Grace { days_left } => format!(
                    "ENDED on {}: {grace_days} days of grace, sending stops in {} days; renew it",
                    licence.valid_until,
                    days_left + 1
                ),
                Status::Lapsed => format!("ENDED on {}: new sends are refused; renew it", licence.valid_until),
            };
            let features = if licence.features.is_empty() { "none".to_string() } else { licence.features.join(", ") };
            format!(
                "{org_name}: licence {} for {} ({})\n  {when}\n  {seats}\n  features: {features}\n  installed by {} at {}",
                licence.id,
                licence.licensee,
                licence.domains.join(", "),
                installed.installed_by,
                crate::api::rfc3339(installed.installed_at)
            )
        }
    }
}

// ---------------------------------------------------------------- warnings

/// Warnings about a licence's end, in the order they come: 30, 7 and 1
/// days before its last day ends, when its grace begins, when sending stops.
const STAGES: [&str; 5] = ["30d", "7d", "1d", "grace", "lapsed"];

/// The warning due for a licence in `status`, if any.
fn stage(status: Status) -> Option<&'static str> {
    match status {
        // `days_left` counts the days after today: the last day has 0.
        Status::Valid { days_left } if days_left < 1 => Some("1d"),
        Status::Valid { days_left } if days_left < 7 => Some("7d"),
        Status::Valid { days_left } if days_left < WARN_DAYS => Some("30d"),
        Status::Grace { .. } => Some("grace"),
        Status::Lapsed => Some("lapsed"),
        Status::Valid { .. } | Status::NotYetValid => None,
    }
}

/// Mails each organisation's admins the warning its licence has come to,
/// once (a server that was down sends only the latest). Run by the janitor.
pub(crate) async fn warn_admins(domain: &Domain) -> DomainResult<usize> {
    let mut warned = 0;
    for org in domain.meta.organisations().await? {
        let state = state(domain, org.id).await?;
        let Standing::Licensed { licence, status, installed } = &state.standing else { continue };
        let Some(due) = stage(*status) else { continue };
        let last = installed.warned.as_deref().and_then(|w| w.strip_prefix(&format!("{}:", licence.id)));
        let rank = |s: &str| STAGES.iter().position(|x| *x == s);
        if last.is_some_and(|l| rank(l) >= rank(due)) {
            continue;
        }
        let query = UserQuery { org_id: org.id, search: None, filter: UserFilter::Admins, after: None, limit: 100 };
        let admins: Vec<String> = domain.meta.users(query).await?.into_iter().map(|u| u.user.email).collect();
        let (subject, body) = warning_text(&org.name, licence, *status, domain.licence.grace_days);
        let detail = format!("warned {} admins: licence {} {}", admins.len(), licence.id, warning_words(*status));
        let warning = LicenceWarning {
            before: installed.warned.clone(),
            stage: format!("{}:{due}", licence.id),
            mails: admins.into_iter().map(|to| (to, subject.clone(), body.clone())).collect(),
            event: domain.event(org.id, Event::Admin("licence_warning"), Actor::System, None, Some(detail)),
        };
        if domain.meta.licence_warned(org.id, warning).await? {
            tracing::info!(organisation = org.id, stage = due, "admins warned about the licence's end");
            warned += 1;
        }
    }
    Ok(warned)
}

/// "ends in 7 days", "ended; sending stops in 13 days", "ended; sending has stopped".
fn warning_words(status: Status) -> String {
    match status {
        Status::Valid { days_left: 0 } => "ends today".into(),
        Status::Valid { days_left } => format!("ends in {} days", days_left + 1),
        Status::Grace { days_left } => format!("ended; sending stops in {} days", days_left + 1),
        Status::Lapsed => "ended; sending has stopped".into(),
        Status::NotYetValid => "is not valid yet".into(),
    }
}

/// The warning mail, in English and Dutch.
fn warning_text(org: &str, licence: &Licence, status: Status, grace_days: u32) -> (String, String) {
    let until = &licence.valid_until;
    let (subject, en, nl) = match status {
        Status::Valid { days_left } => {
            let days = days_left + 1;
            (
                format!("The Kluis licence of {org} ends in {days} days / De Kluis-licentie verloopt"),
                format!(
                    "The Kluis licence of {org} ({}) is valid until {until}. After that day, Kluis keeps sending for \
                     {grace_days} more days, then new sends stop.",
                    licence.id
                ),
                format!(
                    "De Kluis-licentie van {org} ({}) is geldig tot en met {until}. Daarna kan nog {grace_days} dagen \
                     verstuurd worden; dan stopt het versturen.",
                    licence.id
                ),
            )
        }
        Status::Grace { days_left } => {
            let days = days_left + 1;
            (
                format!(
                    "The Kluis licence of {org} has ended: sending stops in {days} days / De Kluis-licentie is verlopen"
                ),
                format!("The Kluis licence of {org} ended on {until}. Sending keeps working for {days} more days."),
                format!("De Kluis-licentie van {org} is op {until} verlopen. Versturen werkt nog {days} dagen."),
            )
        }
        Status::Lapsed | Status::NotYetValid => (
            format!("The Kluis licence of {org} has lapsed: nothing new can be sent / De Kluis-licentie is verlopen"),
            format!("The Kluis licence of {org} ended on {until} and its grace period is over: new sends are refused."),
            format!(
                "De Kluis-licentie van {org} is op {until} verlopen en de extra periode is voorbij: nieuwe pakketten worden geweigerd."
            ),
        ),
    };
    let body = format!(
        "{en}\n\nWhat was sent can still be opened by its recipients and revoked by its senders, and you can still \
         export your organisation's data: nothing is deleted because a licence ends. To renew, install the new licence \
         key in the admin console (Licence) or with `kluis-server licence install`.\n\n\
         {nl}\n\nWat verstuurd is, kunnen ontvangers nog openen en afzenders nog intrekken, en je kunt de gegevens van je \
         organisatie nog exporteren: er wordt niets verwijderd omdat een licentie afloopt. Verlengen: installeer de nieuwe \
         licentiesleutel in de beheeromgeving (Licentie) of met `kluis-server licence install`.\n"
    );
    (subject, body)
}
