use super::*;
use serde_json::json;

const NOW: i64 = 1_700_000_000;

fn claims(sub: &str, exp: i64) -> Claims {
    Claims::from_payload(json!({"sub": sub, "role": "authenticated", "exp": exp}))
}

fn digest(n: usize) -> TokenDigest {
    TokenDigest::of(&format!("token-{n}"))
}

#[test]
fn an_entry_answers_until_exp_and_not_at_exp() {
    let mut cache = TokenCache::new(4);
    cache.insert(digest(1), &claims("a", NOW + 60), 0, NOW);
    assert_eq!(
        cache.get(&digest(1), 0, NOW + 59).unwrap().sub.as_deref(),
        Some("a")
    );
    assert!(cache.get(&digest(1), 0, NOW + 60).is_none());
    assert!(cache.get(&digest(1), 0, NOW + 61).is_none());
}

#[test]
fn a_fractional_exp_is_honoured_to_the_second() {
    let mut cache = TokenCache::new(4);
    let c = Claims::from_payload(json!({"exp": (NOW + 10) as f64 + 0.5}));
    cache.insert(digest(1), &c, 0, NOW);
    assert!(cache.get(&digest(1), 0, NOW + 10).is_some());
    assert!(cache.get(&digest(1), 0, NOW + 11).is_none());
}

#[test]
fn an_entry_does_not_answer_before_it_was_verified() {
    let mut cache = TokenCache::new(4);
    cache.insert(digest(1), &claims("a", NOW + 60), 0, NOW);
    assert!(
        cache.get(&digest(1), 0, NOW - 1).is_none(),
        "the clock went back"
    );
}

#[test]
fn a_token_accepted_inside_the_leeway_after_exp_is_not_stored() {
    let mut cache = TokenCache::new(4);
    cache.insert(digest(1), &claims("a", NOW - 5), 0, NOW);
    assert!(cache.entries.is_empty());
}

#[test]
fn other_tokens_miss() {
    let mut cache = TokenCache::new(4);
    cache.insert(digest(1), &claims("a", NOW + 60), 0, NOW);
    assert!(cache.get(&digest(2), 0, NOW).is_none());
    assert!(TokenDigest::of("x.y.z") != TokenDigest::of("x.y.z "));
}

#[test]
fn n_plus_one_tokens_keep_n_entries_and_the_soonest_to_expire_goes() {
    let n = 8;
    let mut cache = TokenCache::new(n);
    // Token i expires at NOW + 100 + i, except token 3, which expires first.
    let exp = |i: usize| {
        if i == 3 {
            NOW + 50
        } else {
            NOW + 100 + i as i64
        }
    };
    for i in 0..n {
        cache.insert(digest(i), &claims(&i.to_string(), exp(i)), 0, NOW);
    }
    assert_eq!(cache.entries.len(), n);
    cache.insert(digest(n), &claims("new", NOW + 1000), 0, NOW);
    assert_eq!(cache.entries.len(), n);
    assert!(cache.get(&digest(3), 0, NOW).is_none(), "soonest evicted");
    for i in (0..=n).filter(|i| *i != 3) {
        assert!(cache.get(&digest(i), 0, NOW).is_some(), "{i} kept");
    }
}

#[test]
fn a_newcomer_that_would_expire_first_is_left_out_of_a_full_cache() {
    let mut cache = TokenCache::new(2);
    cache.insert(digest(1), &claims("a", NOW + 100), 0, NOW);
    cache.insert(digest(2), &claims("b", NOW + 200), 0, NOW);
    cache.insert(digest(3), &claims("c", NOW + 50), 0, NOW);
    assert!(cache.get(&digest(3), 0, NOW).is_none());
    assert!(cache.get(&digest(1), 0, NOW).is_some());
    assert!(cache.get(&digest(2), 0, NOW).is_some());
}

#[test]
fn expired_entries_make_room_before_live_ones() {
    let mut cache = TokenCache::new(2);
    cache.insert(digest(1), &claims("short", NOW + 10), 0, NOW);
    cache.insert(digest(2), &claims("long", NOW + 500), 0, NOW);
    // At NOW + 20 entry 1 is dead; the newcomer expires before entry 2 yet still gets in.
    cache.insert(digest(3), &claims("new", NOW + 100), 0, NOW + 20);
    assert!(cache.get(&digest(2), 0, NOW + 20).is_some());
    assert!(cache.get(&digest(3), 0, NOW + 20).is_some());
    assert_eq!(cache.entries.len(), 2);
}

#[test]
fn re_verifying_a_cached_token_in_a_full_cache_keeps_the_others() {
    let mut cache = TokenCache::new(2);
    cache.insert(digest(1), &claims("a", NOW + 100), 0, NOW);
    cache.insert(digest(2), &claims("b", NOW + 200), 0, NOW);
    cache.insert(digest(1), &claims("a", NOW + 100), 0, NOW + 1);
    assert!(cache.get(&digest(1), 0, NOW + 1).is_some());
    assert!(cache.get(&digest(2), 0, NOW + 1).is_some());
}

#[test]
fn a_new_key_generation_drops_every_entry() {
    let mut cache = TokenCache::new(4);
    cache.insert(digest(1), &claims("a", NOW + 60), 0, NOW);
    assert!(cache.get(&digest(1), 1, NOW).is_none(), "keys changed");
    cache.insert(digest(2), &claims("b", NOW + 60), 1, NOW);
    assert!(
        cache.get(&digest(1), 1, NOW).is_none(),
        "old entries are gone"
    );
    assert!(cache.get(&digest(2), 1, NOW).is_some());
}

#[test]
fn a_token_verified_with_replaced_keys_is_not_stored() {
    let mut cache = TokenCache::new(4);
    cache.insert(digest(2), &claims("b", NOW + 60), 1, NOW);
    cache.insert(digest(1), &claims("a", NOW + 60), 0, NOW);
    assert!(cache.get(&digest(1), 1, NOW).is_none());
    assert_eq!(cache.entries.len(), 1);
}
