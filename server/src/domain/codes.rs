//! One-time codes (sign-in and package verification) and their budgets.
//!
//! A code is six digits, valid ten minutes, stored as HMAC under the server
//! key and compared in constant time. Sending is limited per subject (one a
//! minute, five an hour), recorded for every request whether or not the
//! address is known, so the answers cannot tell the two apart.
//!
//! Wrong codes are counted in budgets that a new code does not reset:
//! per address, per package across all its recipients, and per client
//! network address. Unknown addresses spend their budget exactly as known
//! ones do. With a per-package budget of [`PACKAGE_BUDGET`] wrong codes for
//! the package's whole life, the chance of guessing a code is at most
//! 20 / 10^6 = 2·10⁻⁵ per package, below the required 10⁻⁴.

use super::{CodeRejection, Domain, DomainError, DomainResult, now};
use crate::secrets::{digests_equal, random_code};
use crate::store::{CodeKey, Counter};

pub(crate) const CODE_TTL_SECONDS: i64 = 10 * 60;
/// Wrong codes per recipient address of a package, for the package's life.
pub(crate) const ADDRESS_BUDGET: i64 = 5;
/// Wrong codes per package, across all its recipients, for its life.
pub(crate) const PACKAGE_BUDGET: i64 = 20;
/// Wrong sign-in codes per address per day.
pub(crate) const SIGNIN_BUDGET: i64 = 10;
/// Wrong codes (of any kind) per client network address per hour.
pub(crate) const CLIENT_BUDGET: i64 = 50;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// What a code is for. Verification codes are scoped to one package.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose<'a> {
    SignIn,
    Verify {
        package_id: &'a str,
    },
    /// An outsider proving their address to upload through a request.
    Upload {
        request_id: &'a str,
    },
}

/// A counter of one budget: the key, its window, and its limit.
struct Budget {
    counter: Counter,
    limit: i64,
    /// `None`: for ever.
    window: Option<i64>,
}

fn windowed(key: String, window: i64, limit: i64, at: i64) -> Budget {
    Budget { counter: Counter { key, window_start: at - at.rem_euclid(window) }, limit, window: Some(window) }
}

fn lifetime(key: String, limit: i64) -> Budget {
    Budget { counter: Counter { key, window_start: 0 }, limit, window: None }
}

impl Purpose<'_> {
    fn key(&self, email: &str) -> CodeKey {
        match self {
            Purpose::SignIn => CodeKey { purpose: "signin", scope: String::new(), email: email.into() },
            Purpose::Verify { package_id } => {
                CodeKey { purpose: "verify", scope: (*package_id).into(), email: email.into() }
            }
            Purpose::Upload { request_id } => {
                CodeKey { purpose: "upload", scope: (*request_id).into(), email: email.into() }
            }
        }
    }

    fn budgets(&self, email: &str, client: &str, at: i64) -> Vec<Budget> {
        let mut budgets = match self {
            Purpose::SignIn => vec![windowed(format!("signin:{email}"), DAY, SIGNIN_BUDGET, at)],
            Purpose::Verify { package_id } => vec![
                lifetime(format!("verify:{package_id}:{email}"), ADDRESS_BUDGET),
                lifetime(format!("verify:{package_id}"), PACKAGE_BUDGET),
            ],
            // The same budgets as a package's: per address and per request, for its life.
            Purpose::Upload { request_id } => vec![
                lifetime(format!("upload:{request_id}:{email}"), ADDRESS_BUDGET),
                lifetime(format!("upload:{request_id}"), PACKAGE_BUDGET),
            ],
        };
        budgets.push(windowed(format!("client:{client}"), HOUR, CLIENT_BUDGET, at));
        budgets
    }
}

/// What happened to a code that was checked.
pub(crate) enum Outcome {
    Valid,
    Rejected {
        rejection: CodeRejection,
        /// First failure in its window for this address: worth an audit row
        /// (later ones are counted, not logged).
        first: bool,
        /// The package's budget is spent: its verification locks for good.
        package_spent: bool,
        /// This failure spent a budget (worth telling the owner).
        just_locked: bool,
    },
}

fn hash(domain: &Domain, key: &CodeKey, code: &str) -> String {
    domain.key.mac_hex(&[key.purpose, &key.scope, &key.email, code])
}

fn locked(budgets: &[Budget], counts: &[i64], at: i64) -> Option<CodeRejection> {
    let spent: Vec<&Budget> = budgets.iter().zip(counts).filter(|(b, c)| **c >= b.limit).map(|(b, _)| b).collect();
    if spent.is_empty() {
        return None;
    }
    let retry_after = if spent.iter().any(|b| b.window.is_none()) {
        None
    } else {
        spent.iter().filter_map(|b| b.window.map(|w| b.counter.window_start + w - at)).max()
    };
    Some(CodeRejection::Locked { retry_after })
}

/// Seconds until another code may be sent to `subject`, if it may not be now.
async fn send_wait(domain: &Domain, subject: &str) -> DomainResult<Option<u64>> {
    let at = now();
    let h = domain.meta.send_history(subject, at).await?;
    if let Some(last) = h.last.filter(|&l| at - l < 60) {
        return Ok(Some((60 - (at - last)) as u64));
    }
    if h.count_last_hour >= 5 {
        return Ok(Some(h.oldest_last_hour.map_or(HOUR, |o| o + HOUR - at).max(1) as u64));
    }
    Ok(None)
}

/// Issues a code for `email` if `deliver` (the address may receive one),
/// after the send rate limit and the budgets, which apply to every address
/// alike. Returns the code to mail, or `None` when nothing is to be sent.
pub(crate) async fn issue(
    domain: &Domain,
    purpose: Purpose<'_>,
    email: &str,
    client: &str,
    deliver: bool,
) -> DomainResult<Option<String>> {
    let key = purpose.key(email);
    // Joined by U+001F (unit separator), which no address or id holds; not NUL,
    // which PostgreSQL's text refuses.
    let subject = format!("{}\u{1f}{}\u{1f}{}", key.purpose, key.scope, key.email);
    // A spent budget first: it outlasts the send limit and says what is wrong.
    let at = now();
    let budgets = purpose.budgets(email, client, at);
    let counts = domain.meta.failures(&budgets.iter().map(|b| b.counter.clone()).collect::<Vec<_>>()).await?;
    if let Some(rejection) = locked(&budgets, &counts, at) {
        return Err(DomainError::Code(rejection));
    }
    if let Some(wait) = send_wait(domain, &subject).await? {
        return Err(DomainError::RateLimited { retry_after: wait });
    }
    domain.meta.record_send(&subject, at).await?;
    if !deliver {
        return Ok(None);
    }
    let code = random_code();
    domain.meta.put_code(&key, &hash(domain, &key, &code), at + CODE_TTL_SECONDS).await?;
    Ok(Some(code))
}

/// Checks a code; a valid one is used up, a wrong one (or none, or an
/// expired one) costs one failure in every budget.
pub(crate) async fn check(
    domain: &Domain,
    purpose: Purpose<'_>,
    email: &str,
    code: &str,
    client: &str,
) -> DomainResult<Outcome> {
    let at = now();
    let key = purpose.key(email);
    let budgets = purpose.budgets(email, client, at);
    let counters: Vec<Counter> = budgets.iter().map(|b| b.counter.clone()).collect();
    let counts = domain.meta.failures(&counters).await?;
    if let Some(rejection) = locked(&budgets, &counts, at) {
        return Ok(Outcome::Rejected { rejection, first: false, package_spent: false, just_locked: false });
    }
    let candidate = code.trim();
    let well_formed = candidate.len() == 6 && candidate.bytes().all(|b| b.is_ascii_digit());
    if let Some(stored) = domain.meta.code(&key).await?
        && at < stored.expires_at
        && well_formed
    {
        let presented = hash(domain, &key, candidate);
        if digests_equal(&presented, &stored.hash) && domain.meta.spend_code(&key, &stored.hash).await? {
            return Ok(Outcome::Valid);
        }
    }
    let counts = domain.meta.count_failure(&counters, at).await?;
    let tries_left = budgets.iter().zip(&counts).map(|(b, c)| b.limit - c).min().unwrap_or(0).max(0);
    let first = counts[0] == 1;
    let package_spent = matches!(purpose, Purpose::Verify { .. }) && counts[1] >= PACKAGE_BUDGET;
    match locked(&budgets, &counts, at) {
        Some(rejection) => Ok(Outcome::Rejected { rejection, first, package_spent, just_locked: true }),
        None => Ok(Outcome::Rejected {
            rejection: CodeRejection::Wrong { tries_left },
            first,
            package_spent,
            just_locked: false,
        }),
    }
}
