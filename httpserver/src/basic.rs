//! Basic auth against bcrypt hashes, as exporter-toolkit's `basic_auth_users`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use anyhow::bail;
use sha2::{Digest, Sha256};

/// Basic auth against bcrypt hashes. bcrypt is slow on purpose, so a
/// successful check is remembered (as a SHA-256 of user and password) and
/// later requests with the same credentials cost one hash.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
    /// A configured user's hash that an unknown user's password is checked
    /// against (the answer ignored), so that a wrong user name costs what a
    /// wrong password costs.
    dummy: String,
    /// bcrypt verifications done, as a test's witness of the work.
    bcrypt_checks: std::sync::atomic::AtomicUsize,
}

impl BasicAuth {
    /// Users and their bcrypt hashes; a value that is not a bcrypt hash is refused.
    pub fn new(users: BTreeMap<String, String>) -> anyhow::Result<BasicAuth> {
        for (user, hash) in &users {
            if !hash.starts_with("$2") {
                bail!("user {user}: the password must be a bcrypt hash ($2y$…), not plain text");
            }
        }
        let dummy = users.values().next().cloned().unwrap_or_default();
        Ok(BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
            dummy,
            bcrypt_checks: Default::default(),
        })
    }

    fn bcrypt(&self, password: &str, hash: &str) -> bool {
        self.bcrypt_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bcrypt::verify(password, hash).unwrap_or(false)
    }

    /// Checks an `Authorization` header value.
    /// The user name a Basic `Authorization` header gives (not checked:
    /// ask [`BasicAuth::check`] first).
    pub fn user_of(header: Option<&str>) -> Option<String> {
        use base64::Engine as _;
        let (scheme, rest) = header?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        Some(text.split_once(':')?.0.to_string())
    }

    pub fn check(&self, header: Option<&str>) -> bool {
        use base64::Engine as _;
        // The scheme name is case-insensitive (RFC 9110, section 11.1).
        let Some(encoded) = header
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, rest)| rest)
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user) else {
            let _ = self.bcrypt(password, &self.dummy);
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .chain_update([0u8])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if self
            .verified
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return true;
        }
        let ok = self.bcrypt(password, hash);
        if ok {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 1024 {
                    s.clear();
                }
                s.insert(key);
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unknown user costs a bcrypt check of a configured user's hash, like
    /// a known user's wrong password: timing does not tell which names exist.
    #[test]
    fn unknown_users_cost_a_bcrypt_check_of_the_same_cost() {
        use base64::Engine as _;
        let hash = bcrypt::hash("s3cret", 6).unwrap();
        let auth = BasicAuth::new([("alice".to_string(), hash)].into()).unwrap();
        assert_eq!(
            auth.dummy.split('$').nth(2),
            Some("06"),
            "the dummy is a configured hash"
        );
        let checks = || {
            auth.bcrypt_checks
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        for user in ["alice", "mallory"] {
            let h = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:wrong"))
            );
            let before = checks();
            assert!(!auth.check(Some(&h)));
            assert_eq!(checks() - before, 1, "{user}: one bcrypt check");
        }
    }
}
