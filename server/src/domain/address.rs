//! E-mail addresses, checked once at every entry point (package recipients,
//! users, sign-in) so that nothing is accepted that the mailer cannot send
//! to later: the address must be a dot-atom `local@domain` (RFC 5322 §3.4.1,
//! no quoted strings, comments or domain literals), the domain is converted
//! to ASCII with IDNA (UTS #46), and the result must parse as lettre's
//! `Address`, the type the mailer sends with.

use std::fmt;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidAddress(pub String);

impl fmt::Display for InvalidAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an e-mail address Kluis can send to", self.0)
    }
}

/// `atext` of RFC 5322 §3.2.3, plus non-ASCII letters (RFC 6531) in the local part.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (!c.is_ascii() && c.is_alphanumeric())
}

/// The address as stored and compared: trimmed, lower case, domain in ASCII (punycode).
pub(crate) fn normalize(raw: &str) -> Result<String, InvalidAddress> {
    let bad = || InvalidAddress(raw.chars().take(254).collect());
    let text = raw.trim();
    let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
    let dot_atom = !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    if !dot_atom || domain.starts_with('[') {
        return Err(bad());
    }
    let domain = normalize_domain(domain).map_err(|_| bad())?;
    let email = format!("{}@{domain}", local.to_lowercase());
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        return Err(bad());
    }
    Ok(email)
}

/// A mail domain as stored and compared: lower case, in ASCII (punycode),
/// with at least two labels (a domain the mailer can reach).
pub(crate) fn normalize_domain(raw: &str) -> Result<String, InvalidAddress> {
    let bad = || InvalidAddress(raw.chars().take(254).collect());
    let domain = idna::domain_to_ascii_strict(raw.trim()).map_err(|_| bad())?;
    if !domain.contains('.') || domain.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(bad());
    }
    Ok(domain)
}

/// The domain of a normalised address.
pub(crate) fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::{normalize, normalize_domain};

    #[test]
    fn mail_domains_are_normalised_like_the_domains_of_addresses() {
        assert_eq!(normalize_domain(" Example.ORG ").unwrap(), "example.org");
        assert_eq!(normalize_domain("bücher.example").unwrap(), "xn--bcher-kva.example");
        for bad in ["localhost", "", "a..b", ".example.org", "exa mple.org", "x@y.org"] {
            assert!(normalize_domain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn good_addresses_are_normalised() {
        assert_eq!(normalize("  Alice@Example.ORG ").unwrap(), "alice@example.org");
        assert_eq!(normalize("a.b+tag@x.org").unwrap(), "a.b+tag@x.org");
        assert_eq!(normalize("jan@bücher.example").unwrap(), "jan@xn--bcher-kva.example");
    }

    #[test]
    fn what_the_mailer_cannot_send_to_is_refused() {
        for bad in [
            "",
            "alice",
            "@x.org",
            "a@b",
            "a@.org",
            "a b@x.org",
            "a@x.org,b@y.org",
            "a<@x.org",
            "a(b@x.org",
            "a..b@x.org",
            ".a@x.org",
            "a.@x.org",
            "a@[1.2.3.4]",
            "\"a\"@x.org",
            "a@x..org",
            "a@-x.org",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(normalize(&format!("{}@x.org", "a".repeat(65))).is_err());
    }
}
