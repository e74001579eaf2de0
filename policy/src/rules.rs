//! The organisation's policy document and the rules every package must meet.
//!
//! A [`Policy`] is one versioned JSON document: the send rules and the
//! content check. The server keeps each version an admin saves, enforces
//! from a package's metadata every rule it can see ([`check`] on the
//! [`PackagePlan`] a client declares), and clients run the same [`check`]
//! before they encrypt anything, so the sender hears the reason first.
//!
//! Every field has a default, so `{}` is the policy that allows everything
//! the server allows; unknown fields are ignored, so an older client reads
//! a newer document.

use serde::{Deserialize, Serialize};

use crate::document::ContentPolicy;
use crate::domains;
use crate::file_type;

/// An organisation's policy, as the admin edits it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Which saved version this is (1, 2, …); 0 for the server's default.
    pub version: u32,
    /// What a package may be.
    pub send: SendRules,
    /// The send-time content check.
    pub content: ContentPolicy,
}

/// Who must confirm their address with an e-mail code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Every package asks every recipient for a code.
    Always,
    /// Packages to anyone outside the internal domains ask for a code.
    External,
    /// The sender chooses.
    #[default]
    Never,
}

/// Whether the message text goes into the package.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRule {
    /// Always (the sender cannot leave it out).
    Always,
    /// Unless the sender leaves it out.
    #[default]
    DefaultOn,
    /// Only when the sender puts it in.
    DefaultOff,
}

/// What a package may be. Absent limits are the server's. (Expiry is an
/// organisation setting: `GET /policy` carries it to clients beside these.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendRules {
    /// When not empty, recipients must be in one of these domains (or a subdomain).
    pub allowed_domains: Vec<String>,
    /// Recipients in these domains (or a subdomain) are refused, even if allowed.
    pub blocked_domains: Vec<String>,
    /// File types refused, as extensions without the dot (`exe`, `js`); a
    /// file is also refused when its first bytes show a blocked type
    /// ([`file_type::sniff`]).
    pub blocked_file_types: Vec<String>,
    /// Largest package, in bytes of ciphertext.
    pub max_package_bytes: Option<u64>,
    /// Most downloads a package may allow; with this set every package has a limit.
    pub max_downloads: Option<u32>,
    /// Who must confirm their address with a code.
    pub verification: Verification,
    /// Every package needs a password.
    pub password_required: bool,
    /// Whether the message text goes into the package.
    pub message: MessageRule,
}

/// What a sender means to send, as a client declares it to the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackagePlan {
    /// Every recipient address.
    pub recipients: Vec<String>,
    /// The files' types: extensions and sniffed types ([`file_type::of`]), lowercase.
    pub file_types: Vec<String>,
    /// Total size in bytes (the server counts ciphertext, clients plaintext).
    pub bytes: u64,
    /// Download limit, if any.
    pub max_downloads: Option<u32>,
    /// Recipients confirm their address with an e-mail code.
    pub verification: bool,
    /// The package has a password.
    pub password: bool,
    /// The message text is in the package.
    pub message: bool,
}

/// A rule a package breaks. JSON: `{"rule": "domain_blocked", "domain": "x.com"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Breach {
    /// A recipient is in a blocked domain.
    DomainBlocked {
        /// The recipient's domain.
        domain: String,
    },
    /// Only some domains are allowed, and a recipient is in none of them.
    DomainNotAllowed {
        /// The recipient's domain (empty when the address has none).
        domain: String,
    },
    /// A file is of a blocked type.
    FileTypeBlocked {
        /// The type, as the policy lists it.
        file_type: String,
    },
    /// The package is larger than the policy allows.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The package has no download limit, or a higher one than allowed.
    TooManyDownloads {
        /// The most allowed.
        max: u32,
    },
    /// Recipients must confirm their address with a code.
    VerificationRequired,
    /// The package needs a password.
    PasswordRequired,
    /// The message text must be in the package.
    MessageRequired,
}

impl Breach {
    /// The API's error code: `policy_` and the rule.
    pub fn code(&self) -> &'static str {
        match self {
            Breach::DomainBlocked { .. } => "policy_domain_blocked",
            Breach::DomainNotAllowed { .. } => "policy_domain_not_allowed",
            Breach::FileTypeBlocked { .. } => "policy_file_type",
            Breach::TooLarge { .. } => "policy_too_large",
            Breach::TooManyDownloads { .. } => "policy_downloads",
            Breach::VerificationRequired => "policy_verification",
            Breach::PasswordRequired => "policy_password",
            Breach::MessageRequired => "policy_message",
        }
    }
}

impl std::fmt::Display for Breach {
    /// A sentence naming the rule, for people (pages translate by [`Breach::code`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breach::DomainBlocked { domain } => {
                write!(f, "Your organisation does not allow sending to {domain}.")
            }
            Breach::DomainNotAllowed { domain } => {
                write!(f, "Your organisation allows sending only to some domains, and {domain} is not one of them.")
            }
            Breach::FileTypeBlocked { file_type } => {
                write!(f, "Your organisation does not allow sending files of type {file_type}.")
            }
            Breach::TooLarge { limit } => {
                write!(f, "Your organisation allows packages of at most {limit} bytes.")
            }
            Breach::TooManyDownloads { max } => {
                write!(f, "Your organisation requires a download limit of at most {max}.")
            }
            Breach::VerificationRequired => {
                f.write_str("Your organisation requires recipients to confirm their address with a code.")
            }
            Breach::PasswordRequired => f.write_str("Your organisation requires a password on every package."),
            Breach::MessageRequired => f.write_str("Your organisation requires the message text in the package."),
        }
    }
}

impl SendRules {
    /// Whether `plan` must ask for a code: always, or with a recipient outside `internal_domains`.
    pub fn needs_verification(&self, plan: &PackagePlan, internal_domains: &[String]) -> bool {
        match self.verification {
            Verification::Always => true,
            Verification::Never => false,
            Verification::External => {
                let internal = domains::normalize_all(internal_domains);
                plan.recipients.iter().any(|r| !domains::of(r).is_some_and(|d| domains::within(&d, &internal)))
            }
        }
    }
}

/// Every rule of `policy` that `plan` breaks, in the order of the document
/// (empty: it may be sent). Internal domains are the content policy's.
pub fn check(policy: &Policy, plan: &PackagePlan) -> Vec<Breach> {
    let rules = &policy.send;
    let mut breaches = Vec::new();
    let blocked = domains::normalize_all(&rules.blocked_domains);
    let allowed = domains::normalize_all(&rules.allowed_domains);
    for recipient in &plan.recipients {
        let domain = domains::of(recipient).unwrap_or_default();
        let breach = if !domain.is_empty() && domains::within(&domain, &blocked) {
            Breach::DomainBlocked { domain }
        } else if !allowed.is_empty() && !domains::within(&domain, &allowed) {
            Breach::DomainNotAllowed { domain }
        } else {
            continue;
        };
        if !breaches.contains(&breach) {
            breaches.push(breach);
        }
    }
    for listed in &rules.blocked_file_types {
        let listed = file_type::normalize(listed);
        if !listed.is_empty() && plan.file_types.iter().any(|t| file_type::normalize(t) == listed) {
            breaches.push(Breach::FileTypeBlocked { file_type: listed });
        }
    }
    if let Some(limit) = rules.max_package_bytes
        && plan.bytes > limit
    {
        breaches.push(Breach::TooLarge { limit });
    }
    if let Some(max) = rules.max_downloads
        && plan.max_downloads.is_none_or(|m| m > max)
    {
        breaches.push(Breach::TooManyDownloads { max });
    }
    if !plan.verification && rules.needs_verification(plan, &policy.content.internal_domains) {
        breaches.push(Breach::VerificationRequired);
    }
    if rules.password_required && !plan.password {
        breaches.push(Breach::PasswordRequired);
    }
    if rules.message == MessageRule::Always && !plan.message {
        breaches.push(Breach::MessageRequired);
    }
    breaches
}

/// One field that differs between two versions of a policy: its path in
/// the document (`send.blocked_domains`) and its JSON before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Dotted path of the field.
    pub field: String,
    /// Its value before, as JSON.
    pub before: String,
    /// Its value after, as JSON.
    pub after: String,
}

/// What changed from `before` to `after`, field by field (the version
/// itself is not a change): the audit log's record and the console's diff.
pub fn diff(before: &Policy, after: &Policy) -> Vec<Change> {
    let mut changes = Vec::new();
    let (Ok(a), Ok(b)) = (serde_json::to_value(before), serde_json::to_value(after)) else {
        return changes;
    };
    walk("", &a, &b, &mut changes);
    changes.retain(|c| c.field != "version");
    changes
}

fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<Change>) {
    use serde_json::Value;
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            walk(&field, a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
        }
    } else if a != b {
        out.push(Change { field: path.to_owned(), before: a.to_string(), after: b.to_string() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PackagePlan {
        PackagePlan {
            recipients: vec!["jan@klant.nl".into()],
            file_types: vec!["pdf".into()],
            bytes: 1000,
            max_downloads: None,
            verification: false,
            password: false,
            message: true,
        }
    }

    fn rules(send: SendRules) -> Policy {
        Policy { send, ..Policy::default() }
    }

    #[test]
    fn the_default_policy_allows_everything() {
        assert_eq!(check(&Policy::default(), &plan()), []);
        let parsed: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, Policy::default());
    }

    #[test]
    fn blocked_domains_win_over_allowed_ones_and_cover_subdomains() {
        let policy = rules(SendRules {
            allowed_domains: vec!["klant.nl".into(), "zorg.nl".into()],
            blocked_domains: vec!["Extern.Zorg.NL".into()],
            ..SendRules::default()
        });
        let mut p = plan();
        p.recipients =
            vec!["a@klant.nl".into(), "b@mail.zorg.nl".into(), "c@extern.zorg.nl".into(), "d@gmail.com".into()];
        assert_eq!(
            check(&policy, &p),
            [
                Breach::DomainBlocked { domain: "extern.zorg.nl".into() },
                Breach::DomainNotAllowed { domain: "gmail.com".into() }
            ]
        );
    }

    #[test]
    fn each_rule_names_itself() {
        let policy = rules(SendRules {
            blocked_file_types: vec![".EXE".into(), "js".into()],
            max_package_bytes: Some(500),
            max_downloads: Some(5),
            verification: Verification::Always,
            password_required: true,
            message: MessageRule::Always,
            ..SendRules::default()
        });
        let mut p = plan();
        p.file_types = vec!["pdf".into(), "exe".into()];
        p.message = false;
        let breaches = check(&policy, &p);
        assert_eq!(
            breaches,
            [
                Breach::FileTypeBlocked { file_type: "exe".into() },
                Breach::TooLarge { limit: 500 },
                Breach::TooManyDownloads { max: 5 },
                Breach::VerificationRequired,
                Breach::PasswordRequired,
                Breach::MessageRequired,
            ]
        );
        let codes: Vec<&str> = breaches.iter().map(Breach::code).collect();
        assert_eq!(codes[0], "policy_file_type");
        assert_eq!(breaches[1].to_string(), "Your organisation allows packages of at most 500 bytes.");
        assert_eq!(serde_json::to_string(&breaches[0]).unwrap(), r#"{"rule":"file_type_blocked","file_type":"exe"}"#);

        let ok = PackagePlan {
            file_types: vec!["pdf".into()],
            bytes: 500,
            max_downloads: Some(5),
            verification: true,
            password: true,
            message: true,
            ..p
        };
        assert_eq!(check(&policy, &ok), []);
    }

    #[test]
    fn a_diff_names_each_changed_field() {
        let before = Policy::default();
        let mut after = Policy { version: 2, ..Policy::default() };
        after.send.blocked_domains = vec!["gmail.com".into()];
        after.send.max_downloads = Some(14);
        after.content.mode = crate::Mode::Require;
        let changes = diff(&before, &after);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["content.mode", "send.blocked_domains", "send.max_downloads"]);
        assert_eq!((changes[1].before.as_str(), changes[1].after.as_str()), ("[]", r#"["gmail.com"]"#));
        assert_eq!((changes[2].before.as_str(), changes[2].after.as_str()), ("null", "14"));
        assert_eq!(diff(&after, &after), []);
    }

    #[test]
    fn verification_for_external_recipients_only() {
        let mut policy = rules(SendRules { verification: Verification::External, ..SendRules::default() });
        policy.content.internal_domains = vec!["ziekenhuis.nl".into()];
        let mut p = plan();
        p.recipients = vec!["arts@ziekenhuis.nl".into()];
        assert_eq!(check(&policy, &p), []);
        p.recipients.push("jan@klant.nl".into());
        assert_eq!(check(&policy, &p), [Breach::VerificationRequired]);
        p.verification = true;
        assert_eq!(check(&policy, &p), []);
    }
}
