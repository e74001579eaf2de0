//! One-time codes sent by mail: sign-in codes and package verification
//! codes. Six digits, valid for ten minutes, at most five tries; stored as
//! HMAC under the server key and compared in constant time. Sending is
//! rate-limited per address.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::now;
use crate::secrets::{ServerKey, digests_equal, random_code};

pub const CODE_TTL_SECONDS: i64 = 10 * 60;
pub const MAX_TRIES: i64 = 5;

/// What a code is for. `scope` is empty for sign-in and the package id for
/// verification, so a code for one package never opens another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    Verify,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "signin",
            Purpose::Verify => "verify",
        }
    }
}

/// Outcome of checking a code.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Valid,
    Wrong {
        tries_left: i64,
    },
    /// Too many wrong tries: the code is dead, a new one must be requested.
    Locked,
    Expired,
    /// No code was requested (or it was used up).
    Missing,
}

fn hash(key: &ServerKey, purpose: Purpose, scope: &str, email: &str, code: &str) -> String {
    key.mac_hex(&[purpose.as_str(), scope, email, code])
}

/// Makes a new code (replacing any earlier one) and returns it for mailing.
pub fn issue(
    conn: &Connection,
    key: &ServerKey,
    purpose: Purpose,
    scope: &str,
    email: &str,
) -> rusqlite::Result<String> {
    let code = random_code();
    conn.execute(
        "INSERT INTO codes (purpose, scope, email, code_hash, expires_at, tries_left) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (purpose, scope, email) DO UPDATE SET code_hash = excluded.code_hash,
             expires_at = excluded.expires_at, tries_left = excluded.tries_left",
        params![
            purpose.as_str(),
            scope,
            email,
            hash(key, purpose, scope, email, &code),
            now() + CODE_TTL_SECONDS,
            MAX_TRIES
        ],
    )?;
    conn.execute(
        "INSERT INTO code_sends (purpose, subject, sent_at) VALUES (?1, ?2, ?3)",
        params![purpose.as_str(), format!("{scope}\u{0}{email}"), now()],
    )?;
    Ok(code)
}

/// Checks `code`; a valid code is used up, a wrong one costs a try.
pub fn check(
    conn: &Connection,
    key: &ServerKey,
    purpose: Purpose,
    scope: &str,
    email: &str,
    code: &str,
) -> rusqlite::Result<Check> {
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT code_hash, expires_at, tries_left FROM codes WHERE purpose = ?1 AND scope = ?2 AND email = ?3",
            params![purpose.as_str(), scope, email],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((stored, expires_at, tries_left)) = row else { return Ok(Check::Missing) };
    let delete = || {
        conn.execute(
            "DELETE FROM codes WHERE purpose = ?1 AND scope = ?2 AND email = ?3",
            params![purpose.as_str(), scope, email],
        )
    };
    if tries_left <= 0 {
        return Ok(Check::Locked);
    }
    if now() >= expires_at {
        delete()?;
        return Ok(Check::Expired);
    }
    let candidate = code.trim();
    let well_formed = candidate.len() == 6 && candidate.bytes().all(|b| b.is_ascii_digit());
    if well_formed && digests_equal(&hash(key, purpose, scope, email, candidate), &stored) {
        delete()?;
        return Ok(Check::Valid);
    }
    let left = tries_left - 1;
    conn.execute(
        "UPDATE codes SET tries_left = ?4 WHERE purpose = ?1 AND scope = ?2 AND email = ?3",
        params![purpose.as_str(), scope, email, left],
    )?;
    Ok(if left == 0 { Check::Locked } else { Check::Wrong { tries_left: left } })
}

/// Seconds to wait before another code may be sent to `email` for `scope`,
/// or `None` if one may be sent now: at most one a minute and five an hour.
pub fn send_wait(conn: &Connection, purpose: Purpose, scope: &str, email: &str) -> rusqlite::Result<Option<i64>> {
    let subject = format!("{scope}\u{0}{email}");
    let t = now();
    let last: Option<i64> = conn.query_row(
        "SELECT MAX(sent_at) FROM code_sends WHERE purpose = ?1 AND subject = ?2",
        params![purpose.as_str(), subject],
        |r| r.get(0),
    )?;
    if let Some(last) = last.filter(|&l| t - l < 60) {
        return Ok(Some(60 - (t - last)));
    }
    let (count, oldest): (i64, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MIN(sent_at) FROM code_sends WHERE purpose = ?1 AND subject = ?2 AND sent_at > ?3",
        params![purpose.as_str(), subject, t - 3600],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if count >= 5 {
        return Ok(Some(oldest.map(|o| o + 3600 - t).unwrap_or(3600).max(1)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, crate::db::Db, ServerKey) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("k.db")).unwrap();
        let key = ServerKey::load_or_create(&dir.path().join("secret.key")).unwrap();
        (dir, db, key)
    }

    #[test]
    fn valid_once_wrong_five_times_locks() {
        let (_d, db, key) = setup();
        let c = db.conn().unwrap();
        let code = issue(&c, &key, Purpose::SignIn, "", "a@x.org").unwrap();
        assert_eq!(check(&c, &key, Purpose::Verify, "", "a@x.org", &code).unwrap(), Check::Missing);
        assert_eq!(check(&c, &key, Purpose::SignIn, "", "a@x.org", &code).unwrap(), Check::Valid);
        assert_eq!(check(&c, &key, Purpose::SignIn, "", "a@x.org", &code).unwrap(), Check::Missing);

        let code = issue(&c, &key, Purpose::SignIn, "", "a@x.org").unwrap();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for left in (1..5).rev() {
            assert_eq!(
                check(&c, &key, Purpose::SignIn, "", "a@x.org", wrong).unwrap(),
                Check::Wrong { tries_left: left }
            );
        }
        assert_eq!(check(&c, &key, Purpose::SignIn, "", "a@x.org", wrong).unwrap(), Check::Locked);
        // Even the right code no longer works.
        assert_eq!(check(&c, &key, Purpose::SignIn, "", "a@x.org", &code).unwrap(), Check::Locked);
    }

    #[test]
    fn sends_are_rate_limited() {
        let (_d, db, key) = setup();
        let c = db.conn().unwrap();
        assert_eq!(send_wait(&c, Purpose::Verify, "p1", "a@x.org").unwrap(), None);
        issue(&c, &key, Purpose::Verify, "p1", "a@x.org").unwrap();
        assert!(send_wait(&c, Purpose::Verify, "p1", "a@x.org").unwrap().is_some_and(|s| s > 0 && s <= 60));
        assert_eq!(send_wait(&c, Purpose::Verify, "p2", "a@x.org").unwrap(), None, "per package");
    }
}
