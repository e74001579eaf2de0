//! Mail domains in policies: an address is in a listed domain when its
//! domain is that domain or a subdomain of it, compared case-insensitively.

/// `example.nl` from `Example.NL`, `@example.nl`, `.example.nl.` or ` example.nl `.
pub(crate) fn normalize(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_start_matches('@').trim_matches('.');
    (!domain.is_empty()).then(|| domain.to_lowercase())
}

/// The domain of `recipient` (`a@b.nl` or `Name <a@b.nl>`), normalised.
pub(crate) fn of(recipient: &str) -> Option<String> {
    let address = match (recipient.rfind('<'), recipient.rfind('>')) {
        (Some(open), Some(close)) if open < close => &recipient[open + 1..close],
        _ => recipient,
    };
    address.rsplit_once('@').and_then(|(_, d)| normalize(d))
}

/// Whether `domain` (normalised) is one of `listed` (normalised) or a subdomain of one.
pub(crate) fn within(domain: &str, listed: &[String]) -> bool {
    listed.iter().any(|d| {
        domain == d
            || (domain.len() > d.len()
                && domain.ends_with(d.as_str())
                && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
    })
}

/// Normalises a list of domains, dropping empty entries.
pub(crate) fn normalize_all(domains: &[String]) -> Vec<String> {
    domains.iter().filter_map(|d| normalize(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_are_within_and_lookalikes_are_not() {
        let listed = normalize_all(&["Example.NL".into(), " @zorg.nl ".into(), "".into()]);
        assert_eq!(listed, ["example.nl", "zorg.nl"]);
        assert!(within("example.nl", &listed));
        assert!(within("mail.example.nl", &listed));
        assert!(!within("badexample.nl", &listed));
        assert!(!within("example.nl.evil.com", &listed));
        assert_eq!(of("Jan <Jan@Mail.Example.NL>").as_deref(), Some("mail.example.nl"));
        assert_eq!(of("no address"), None);
    }
}
