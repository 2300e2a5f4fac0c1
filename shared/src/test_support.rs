//! Helpers for tests: this crate's unit tests, and through `testing` (which re-exports
//! `block_on` and `Gen`) the handler tests of the functions and the end-to-end tests.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future whose awaits all complete immediately (our fakes never pend, and handlers
/// wait on no real I/O in their tests).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Deterministic xorshift generator for property-style loops and for concurrent test clients
/// whose mix of operations must be reproducible from a seed (no proptest or rand dependency).
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string of up to `max_len` chars drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &[char], max_len: usize) -> String {
        let len = self.below(max_len + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

/// Letters, digits, punctuation, whitespace, controls, bidi overrides and non-ASCII.
#[cfg(test)]
pub const MIXED: &[char] = &[
    'a', 'Z', '0', '9', '-', '_', '.', '@', '/', ':', '%', ' ', '\t', '\n', '\r', '\0', '\u{7f}',
    '\u{202e}', '\u{200b}', 'é', 'ж', '字', '🙂', '"', '\\', '=', '+', '?', '#',
];
