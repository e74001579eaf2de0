//! Who may relay through AUTH: users with argon2id password hashes (PHC
//! strings, `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, as `kluis-relay
//! hash-password` prints them). Only hashes are in the configuration.
//!
//! A check costs the same whether the user exists or not (an unknown user
//! is checked against a dummy hash), and comparing the hashes is constant
//! time (the `password-hash` crate's `Output` comparison), so neither
//! timing nor the answer tells which user names exist.

use std::collections::HashMap;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// A user's hash in the configuration is not a PHC string argon2 can use.
#[derive(Debug, thiserror::Error)]
#[error("the password hash of user {user:?} is not an argon2 PHC string ($argon2id$…): {reason}")]
pub struct BadHash {
    pub user: String,
    pub reason: String,
}

/// The users who may authenticate.
pub struct Users {
    hashes: HashMap<String, PasswordHash>,
    /// Checked for unknown users, so they take as long as known ones: a
    /// configured user's hash (same algorithm and cost; a match counts for
    /// nothing), or argon2's defaults when there are none.
    dummy: PasswordHash,
}

impl Users {
    /// Users from (name, PHC hash) pairs.
    pub fn new(users: impl IntoIterator<Item = (String, String)>) -> Result<Users, BadHash> {
        let mut hashes = HashMap::new();
        for (user, hash) in users {
            let parsed = PasswordHash::new(&hash).map_err(|e| BadHash { user: user.clone(), reason: e.to_string() })?;
            if !parsed.algorithm.as_str().starts_with("argon2") {
                return Err(BadHash { user, reason: format!("the algorithm is {}", parsed.algorithm) });
            }
            hashes.insert(user, parsed);
        }
        // The costliest configured hash: an unknown name then takes at least as long as any known one.
        let cost = |h: &PasswordHash| {
            let param = |name: &str| h.params.get_decimal(name).map_or(0, u64::from);
            param("m") * param("t") * param("p").max(1)
        };
        let dummy = match hashes.values().max_by_key(|h| cost(h)) {
            Some(hash) => hash.clone(),
            None => {
                let dummy = hash_password("not a password").expect("argon2 with its default parameters");
                PasswordHash::new(&dummy).expect("argon2 writes PHC strings")
            }
        };
        Ok(Users { hashes, dummy })
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The user's name if `password` is theirs. Slow on purpose (argon2):
    /// run it off the async runtime.
    pub fn verify(&self, user: &str, password: &str) -> Option<String> {
        let (hash, known) = match self.hashes.get(user) {
            Some(hash) => (hash, true),
            None => (&self.dummy, false),
        };
        let matches = Argon2::default().verify_password(password.as_bytes(), hash).is_ok();
        (matches && known).then(|| user.to_string())
    }
}

/// An argon2id hash of `password` with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    Ok(Argon2::default().hash_password_with_salt(password.as_bytes(), &salt)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::{Users, hash_password};

    #[test]
    fn only_the_right_password_of_a_known_user_passes() {
        let users = Users::new([("postfix".to_string(), hash_password("s3cret").unwrap())]).unwrap();
        assert_eq!(users.verify("postfix", "s3cret").as_deref(), Some("postfix"));
        assert_eq!(users.verify("postfix", "s3cret "), None);
        assert_eq!(users.verify("someone", "s3cret"), None);
        assert_eq!(users.verify("someone", "not a password"), None, "the dummy hash opens nothing");
    }

    #[test]
    fn hashes_that_are_not_argon2_are_refused_at_start() {
        assert!(Users::new([("a".to_string(), "plain text".to_string())]).is_err());
        let sha = "$5$rounds=5000$salt$hash".to_string();
        assert!(Users::new([("a".to_string(), sha)]).is_err());
    }
}
