//! Why a licence is not accepted, precisely enough to act on.

use std::fmt;

/// Why a licence is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenceError {
    /// Not a licence, or damaged on the way (what is wrong).
    Malformed(String),
    /// Signed with a key this server does not know (the key id named in it).
    UnknownKey(String),
    /// The signature does not match: changed after signing, or not made by the vendor.
    BadSignature,
    /// Valid only from this day (`YYYY-MM-DD`).
    NotYetValid(String),
    /// Its last valid day was this one (`YYYY-MM-DD`).
    Expired(String),
    /// For another organisation: the mail domains it names.
    OtherOrganisation(Vec<String>),
}

impl LicenceError {
    /// A stable code for APIs and pages.
    pub fn code(&self) -> &'static str {
        match self {
            LicenceError::Malformed(_) => "licence_malformed",
            LicenceError::UnknownKey(_) => "licence_unknown_key",
            LicenceError::BadSignature => "licence_bad_signature",
            LicenceError::NotYetValid(_) => "licence_not_yet_valid",
            LicenceError::Expired(_) => "licence_expired",
            LicenceError::OtherOrganisation(_) => "licence_other_organisation",
        }
    }
}

impl fmt::Display for LicenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LicenceError::Malformed(why) => write!(f, "this is not a Kluis licence: {why}"),
            LicenceError::UnknownKey(id) => {
                write!(
                    f,
                    "the licence is signed with key {id:?}, which this server does not know (an older server, or not a Kluis licence)"
                )
            }
            LicenceError::BadSignature => {
                write!(
                    f,
                    "the licence's signature does not match: it was changed after it was signed, or not signed by Kluis"
                )
            }
            LicenceError::NotYetValid(day) => write!(f, "the licence is valid from {day}, not yet today"),
            LicenceError::Expired(day) => write!(f, "the licence expired: its last day was {day}"),
            LicenceError::OtherOrganisation(domains) => write!(
                f,
                "the licence is for another organisation: it names {}, which is not a mail domain of this organisation",
                domains.join(", ")
            ),
        }
    }
}

impl std::error::Error for LicenceError {}
