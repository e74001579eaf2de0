//! The licence document: what the vendor signs.

use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

use crate::LicenceError;

/// The format of the document this crate writes and reads.
pub const FORMAT: u32 = 1;

/// How many days before its end a licence is reported as ending soon.
pub const WARN_DAYS: i64 = 30;

/// A feature a licence may grant. A licence may name features this build
/// does not know (a newer vendor tool): they are kept and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The SMTP relay (`kluis-relay`).
    SmtpRelay,
    /// Upload requests from outsiders and the organisation's upload portal.
    UploadPortal,
    /// Single sign-on with OpenID Connect.
    SingleSignOn,
}

impl Feature {
    /// Every feature this build knows.
    pub const ALL: [Feature; 3] = [Feature::SmtpRelay, Feature::UploadPortal, Feature::SingleSignOn];

    /// Its name in a licence: `smtp-relay`, `upload-portal`, `single-sign-on`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::SmtpRelay => "smtp-relay",
            Feature::UploadPortal => "upload-portal",
            Feature::SingleSignOn => "single-sign-on",
        }
    }

    /// The feature named `name`, if this build knows it.
    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A licence: what the vendor signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    /// [`FORMAT`].
    pub format: u32,
    /// The vendor's id of this licence (for support and replacing it).
    pub id: String,
    /// The id of the vendor key that signed it.
    pub key_id: String,
    /// Who holds it, as the vendor's contract names them.
    pub licensee: String,
    /// The organisation's mail domains (lower case): the licence is for the
    /// organisation that has one of them.
    pub domains: Vec<String>,
    /// Named users who may send.
    pub seats: u32,
    /// Features granted by name (see [`Feature`]).
    pub features: Vec<String>,
    /// First valid day (UTC), `YYYY-MM-DD`.
    pub valid_from: String,
    /// Last valid day (UTC), `YYYY-MM-DD`.
    pub valid_until: String,
    /// When the vendor signed it (RFC 3339).
    pub issued_at: String,
}

/// Where a day falls in a licence's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Before its first day.
    NotYetValid,
    /// Valid, with this many days left after today (0 on the last day).
    Valid {
        /// Days after today that it is still valid.
        days_left: i64,
    },
    /// Past its last day, within the grace period, which ends after `days_left` more days.
    Grace {
        /// Days of grace after today.
        days_left: i64,
    },
    /// Past its last day and the grace period.
    Lapsed,
}

impl Status {
    /// Valid but ending within [`WARN_DAYS`].
    pub fn ends_soon(self) -> bool {
        matches!(self, Status::Valid { days_left } if days_left < WARN_DAYS)
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn parse_day(field: &str, raw: &str) -> Result<Date, LicenceError> {
    Date::parse(raw, format_description!("[year]-[month]-[day]"))
        .map_err(|_| LicenceError::Malformed(format!("{field} {raw:?} is not a day like 2027-11-30")))
}

pub(crate) fn format_day(day: Date) -> String {
    day.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

impl Licence {
    /// Checks what the signature cannot: the format, and fields that make sense.
    pub(crate) fn check(&self) -> Result<(), LicenceError> {
        let bad = |why: &str| Err(LicenceError::Malformed(why.to_string()));
        if self.format != FORMAT {
            return bad(&format!("format {} is not one this server reads (it reads {FORMAT})", self.format));
        }
        if self.seats == 0 {
            return bad("it grants no seats");
        }
        if self.domains.is_empty() || self.domains.iter().any(|d| d.is_empty() || *d != d.to_lowercase()) {
            return bad("it names no mail domain, or one not in lower case");
        }
        if self.licensee.trim().is_empty() {
            return bad("it names no licensee");
        }
        let (from, until) = (self.from()?, self.until()?);
        if until < from {
            return bad("it ends before it begins");
        }
        Ok(())
    }

    /// Its first valid day.
    pub fn from(&self) -> Result<Date, LicenceError> {
        parse_day("valid_from", &self.valid_from)
    }

    /// Its last valid day.
    pub fn until(&self) -> Result<Date, LicenceError> {
        parse_day("valid_until", &self.valid_until)
    }

    /// Whether it grants `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        self.features.iter().any(|f| f == feature.name())
    }

    /// Where `today` falls, with `grace_days` of grace after the last day.
    pub fn status(&self, today: Date, grace_days: u32) -> Status {
        let (Ok(from), Ok(until)) = (self.from(), self.until()) else { return Status::Lapsed };
        if today < from {
            return Status::NotYetValid;
        }
        let left = (until - today).whole_days();
        if left >= 0 {
            return Status::Valid { days_left: left };
        }
        let grace = left + i64::from(grace_days);
        if grace >= 0 { Status::Grace { days_left: grace } } else { Status::Lapsed }
    }

    /// Whether it is for an organisation with these mail domains (compared in lower case).
    pub fn check_domains<'a>(&self, domains: impl IntoIterator<Item = &'a str>) -> Result<(), LicenceError> {
        let ours: Vec<String> = domains.into_iter().map(str::to_lowercase).collect();
        if self.domains.iter().any(|d| ours.contains(d)) {
            Ok(())
        } else {
            Err(LicenceError::OtherOrganisation(self.domains.clone()))
        }
    }

    /// The header lines the text form shows people (not trusted when read).
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Licensee", self.licensee.clone()),
            ("Domains", self.domains.join(", ")),
            ("Seats", self.seats.to_string()),
        ];
        if !self.features.is_empty() {
            headers.push(("Features", self.features.join(", ")));
        }
        headers.push(("Valid", format!("{} to {}", self.valid_from, self.valid_until)));
        headers.push(("Licence", self.id.clone()));
        headers
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::{Feature, Licence, Status};

    fn licence() -> Licence {
        Licence {
            format: 1,
            id: "L-1".into(),
            key_id: "test".into(),
            licensee: "Ziekenhuis Oost".into(),
            domains: vec!["zho.nl".into()],
            seats: 10,
            features: vec!["single-sign-on".into(), "holograms".into()],
            valid_from: "2026-12-01".into(),
            valid_until: "2027-11-30".into(),
            issued_at: "2026-11-27T12:00:00Z".into(),
        }
    }

    #[test]
    fn a_day_falls_before_in_at_the_end_in_grace_or_after() {
        let l = licence();
        assert_eq!(l.status(date!(2026 - 11 - 30), 14), Status::NotYetValid);
        assert_eq!(l.status(date!(2026 - 12 - 01), 14), Status::Valid { days_left: 364 });
        assert!(!l.status(date!(2027 - 10 - 31), 14).ends_soon());
        assert!(l.status(date!(2027 - 11 - 01), 14).ends_soon());
        assert_eq!(l.status(date!(2027 - 11 - 30), 14), Status::Valid { days_left: 0 });
        assert_eq!(l.status(date!(2027 - 12 - 01), 14), Status::Grace { days_left: 13 });
        assert_eq!(l.status(date!(2027 - 12 - 14), 14), Status::Grace { days_left: 0 });
        assert_eq!(l.status(date!(2027 - 12 - 15), 14), Status::Lapsed);
        assert_eq!(l.status(date!(2027 - 12 - 01), 0), Status::Lapsed);
    }

    #[test]
    fn features_by_name_and_unknown_ones_kept() {
        let l = licence();
        assert!(l.has(Feature::SingleSignOn));
        assert!(!l.has(Feature::SmtpRelay));
        assert_eq!(Feature::from_name("upload-portal"), Some(Feature::UploadPortal));
        assert_eq!(Feature::from_name("holograms"), None);
    }

    #[test]
    fn it_is_for_the_organisation_with_one_of_its_domains() {
        let l = licence();
        assert!(l.check_domains(["other.nl", "ZHO.nl"]).is_ok());
        assert_eq!(l.check_domains(["other.nl"]).unwrap_err().code(), "licence_other_organisation");
        assert!(l.check_domains([]).is_err());
    }

    #[test]
    fn senseless_documents_are_refused() {
        let mut l = licence();
        assert!(l.check().is_ok());
        l.seats = 0;
        assert!(l.check().is_err());
        let mut l = licence();
        l.valid_until = "2026-11-30".into();
        assert!(l.check().is_err());
        let mut l = licence();
        l.valid_from = "1 Dec 2026".into();
        assert!(l.check().unwrap_err().to_string().contains("not a day"));
        let mut l = licence();
        l.domains = vec!["ZHO.nl".into()];
        assert!(l.check().is_err());
        let mut l = licence();
        l.format = 2;
        assert!(l.check().is_err());
    }
}
