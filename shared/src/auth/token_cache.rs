//! Tokens already verified in this isolate, so a client's next request skips the signature
//! check (an ES256 check costs milliseconds of Worker CPU; a lookup costs one SHA-256).
//!
//! - Keyed by the SHA-256 of the token, never the token itself.
//! - Filled only with what verification accepted: a refused token (bad signature, not yet
//!   valid, wrong audience, ...) is verified again on its next use.
//! - An entry answers only while `verified_at <= now < exp`. Verification accepts that whole
//!   window (its leeway only widens it, and `nbf`/`iat` that held at `verified_at` hold later),
//!   so the cache never accepts a token verification would refuse. Past `exp` the token goes
//!   through verification again, which applies the policy's leeway.
//! - Tied to the key set's generation: when the keys change (a rotation, a key removed from
//!   the JWKS) every entry is dropped, and an entry verified with keys that have been replaced
//!   since is never stored.
//! - Bounded: when full, entries that can no longer answer go first, then the one that expires
//!   soonest, the newcomer included. Soonest-expiry rather than LRU because an entry's
//!   remaining lifetime is what it can still save, and because a hit then only reads (no
//!   recency to update on the hot path).

use super::Claims;
use sha2::{Digest, Sha256};

/// Entries per isolate: a few hundred clients' tokens, each a few KB of claims.
pub const TOKEN_CACHE_ENTRIES: usize = 256;

/// The SHA-256 of a bearer token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }
}

struct Entry {
    claims: Claims,
    verified_at: i64,
    exp: f64,
}

impl Entry {
    fn answers_at(&self, now: i64) -> bool {
        self.verified_at <= now && (now as f64) < self.exp
    }
}

pub struct TokenCache {
    capacity: usize,
    /// The key-set generation the entries were verified under.
    generation: u64,
    /// A few hundred entries: a scan costs less than a map's code in every Worker.
    entries: Vec<(TokenDigest, Entry)>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            generation: 0,
            entries: Vec::new(),
        }
    }

    /// The claims of a token verified under key-set `generation`, if its entry still answers.
    pub fn get(&self, digest: &TokenDigest, generation: u64, now: i64) -> Option<Claims> {
        if generation != self.generation {
            return None;
        }
        self.entries
            .iter()
            .find(|(d, entry)| d == digest && entry.answers_at(now))
            .map(|(_, entry)| entry.claims.clone())
    }

    /// Remembers `claims`, which verification accepted at `now` with the keys of `generation`
    /// (read before verifying, so a change of keys during verification makes it stale).
    pub fn insert(&mut self, digest: TokenDigest, claims: &Claims, generation: u64, now: i64) {
        if generation < self.generation {
            return;
        }
        if generation > self.generation {
            self.entries.clear();
            self.generation = generation;
        }
        let Some(exp) = claims.expires_at() else {
            return;
        };
        let entry = Entry {
            claims: claims.clone(),
            verified_at: now,
            exp,
        };
        if !entry.answers_at(now) {
            return;
        }
        match self.entries.iter().position(|(d, _)| *d == digest) {
            Some(at) => self.entries[at].1 = entry,
            None if self.make_room(exp, now) => self.entries.push((digest, entry)),
            None => {}
        }
    }

    /// Frees a slot for an entry expiring at `exp`, or says it is the one to leave out.
    fn make_room(&mut self, exp: f64, now: i64) -> bool {
        if self.entries.len() < self.capacity {
            return true;
        }
        self.entries.retain(|(_, entry)| entry.answers_at(now));
        if self.entries.len() < self.capacity {
            return true;
        }
        let soonest = self
            .entries
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.exp.total_cmp(&b.1 .1.exp))
            .map(|(at, (_, entry))| (at, entry.exp));
        match soonest {
            Some((at, soonest_exp)) if soonest_exp < exp => {
                self.entries.swap_remove(at);
                true
            }
            // Full of entries that outlive the newcomer (or no room at all).
            _ => false,
        }
    }
}

#[cfg(test)]
#[path = "token_cache_tests.rs"]
mod tests;
