//! Paced response bodies for the chat endpoints: each part goes out after its own delay, as a
//! model's tokens do, and a body can end by cutting the connection (`[drop]`). The chat log
//! learns how each body ended, including when the client went away first.

use crate::chat::Recorder;
use axum::body::{Body, Bytes};
use std::collections::VecDeque;
use std::time::Duration;

/// hyper discards output it has not flushed yet when a body fails, and flushes whenever the body
/// is not ready: a cut waits at least this long so the parts before it reach the client.
const FLUSH_PAUSE: Duration = Duration::from_millis(5);

/// One part of a body, sent `after` the previous one (or the answer's headers).
pub enum Step {
    Send {
        after: Duration,
        bytes: Bytes,
    },
    /// Ends the body with an error: the server closes the connection without finishing the
    /// chunked encoding, so the client sees a body cut short.
    Cut {
        after: Duration,
    },
}

/// Walks the steps; when dropped before the last one (the server drops a body whose client
/// has gone), logs the exchange as `client_closed`.
struct Pacer {
    steps: VecDeque<Step>,
    recorder: Recorder,
    /// What to log once the last step is handed to the server.
    outcome: &'static str,
    finished: bool,
}

impl Drop for Pacer {
    fn drop(&mut self) {
        if !self.finished {
            self.recorder.ended("client_closed");
        }
    }
}

/// A body sending `steps`; `outcome` is logged through `recorder` when the last step goes out.
pub fn body(steps: Vec<Step>, recorder: Recorder, outcome: &'static str) -> Body {
    let pacer = Pacer {
        steps: steps.into(),
        recorder,
        outcome,
        finished: false,
    };
    Body::from_stream(futures_util::stream::unfold(pacer, |mut p| async move {
        let step = p.steps.pop_front()?;
        let (after, item) = match step {
            Step::Send { after, bytes } => (after, Ok(bytes)),
            Step::Cut { after } => (
                after.max(FLUSH_PAUSE),
                Err(std::io::Error::other("fake: connection dropped ([drop])")),
            ),
        };
        if !after.is_zero() {
            tokio::time::sleep(after).await;
        }
        if p.steps.is_empty() {
            p.finished = true;
            p.recorder.ended(p.outcome);
        }
        Some((item, p))
    }))
}
