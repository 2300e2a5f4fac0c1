//! The AI SDK's UI message stream (what `useChat` reads, headers
//! `x-vercel-ai-ui-message-stream: v1`): Server-Sent Events whose data are JSON parts, `start`
//! (the message id), `start-step`, `source-document` (the excerpts of a document chat),
//! `text-start` / `text-delta` / `text-end`, `error`, `abort`,
//! `finish-step`, `finish` (with `finishReason` and `messageMetadata`), then `data: [DONE]`.
//! It writes into any [`EventSink`] and remembers whether the client is still there.

use genbase_shared::deps::EventSink;
use serde_json::{json, Value};

/// The protocol's header, beside `content-type: text/event-stream`.
pub const HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// The one text part of a reply.
const TEXT_ID: &str = "text-0";

/// How the reply ended, as the stream tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Complete,
    /// Stopped by the user (or cut when the client left).
    Stopped,
    /// Failed, with what the user reads.
    Failed(&'static str),
}

pub struct UiStream<S> {
    sink: S,
    /// False once a write failed: the client has gone.
    present: bool,
    text_open: bool,
    /// Parts not yet written: what one provider chunk brought goes out in one write.
    pending: String,
}

impl<S: EventSink> UiStream<S> {
    pub fn new(sink: S) -> UiStream<S> {
        UiStream {
            sink,
            present: true,
            text_open: false,
            pending: String::new(),
        }
    }

    fn part(&mut self, part: Value) {
        self.data(&part.to_string());
    }

    fn data(&mut self, data: &str) {
        if self.present {
            self.pending.push_str("data: ");
            self.pending.push_str(data);
            self.pending.push_str("\n\n");
        }
    }

    /// Writes the parts so far. `false` when the client has gone.
    pub async fn flush(&mut self) -> bool {
        if self.present && !self.pending.is_empty() {
            self.present = self.sink.write(&self.pending).await;
        }
        self.pending.clear();
        self.present
    }

    /// The message's id (so the client's copy carries the stored one) and what is known
    /// before the reply: `metadata`. Written at once.
    pub async fn start(&mut self, message_id: &str, metadata: Value) -> bool {
        self.part(json!({"type": "start", "messageId": message_id, "messageMetadata": metadata}));
        self.part(json!({"type": "start-step"}));
        self.flush().await
    }

    /// A document excerpt the reply was given (`api.add_reply_sources`' source), as the
    /// protocol's `source-document` part: the chunk's id, the file's name and page as the
    /// title, and where it is in `providerMetadata.genbase`. Written at the next flush.
    pub fn source(&mut self, source: &Value) {
        let file = source["file_name"].as_str().unwrap_or("document");
        let title = match source["page"].as_i64() {
            Some(page) => format!("{file}, page {page}"),
            None => file.to_string(),
        };
        self.part(json!({
            "type": "source-document",
            "sourceId": source["chunk_id"],
            "mediaType": source["mime_type"].as_str().unwrap_or("text/plain"),
            "title": title,
            "filename": file,
            "providerMetadata": {"genbase": {
                "file_id": source["file_id"], "chunk_index": source["chunk_index"],
                "page": source["page"], "heading": source["heading"], "score": source["score"],
            }},
        }));
    }

    /// A piece of the reply's text, written at the next [`flush`](Self::flush).
    pub fn text(&mut self, delta: &str) {
        if !self.text_open {
            self.text_open = true;
            self.part(json!({"type": "text-start", "id": TEXT_ID}));
        }
        self.part(json!({"type": "text-delta", "id": TEXT_ID, "delta": delta}));
    }

    /// Ends the stream: closes the text, says how the reply ended, and gives `metadata`
    /// (usage and credits charged) in the finish part.
    pub async fn end(mut self, ending: Ending, metadata: Value) {
        if self.text_open {
            self.part(json!({"type": "text-end", "id": TEXT_ID}));
        }
        let reason = match ending {
            Ending::Complete => "stop",
            Ending::Stopped => {
                self.part(json!({"type": "abort", "reason": "stopped"}));
                "other"
            }
            Ending::Failed(message) => {
                self.part(json!({"type": "error", "errorText": message}));
                "error"
            }
        };
        self.part(json!({"type": "finish-step"}));
        self.part(json!({"type": "finish", "finishReason": reason, "messageMetadata": metadata}));
        self.data("[DONE]");
        self.flush().await;
        self.sink.close().await;
    }
}

/// The sink of a reply nobody reads as it streams (`"stream": false`).
pub struct Unread;

impl EventSink for Unread {
    async fn write(&mut self, _: &str) -> bool {
        true
    }

    async fn close(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::testing::{block_on, RecordingSink};

    fn parts(sink: &RecordingSink) -> Vec<Value> {
        sink.event_data()
            .iter()
            .map(|data| serde_json::from_str(data).unwrap_or(json!(data)))
            .collect()
    }

    #[test]
    fn a_reply_is_start_text_and_finish_with_its_metadata() {
        let mut sink = RecordingSink::default();
        block_on(async {
            let mut ui = UiStream::new(&mut sink);
            assert!(ui.start("m1", json!({"credits_reserved": 5})).await);
            ui.text("Hel");
            ui.text("lo");
            assert!(ui.flush().await);
            ui.end(Ending::Complete, json!({"credits_charged": 1}))
                .await;
        });
        assert_eq!(
            parts(&sink),
            vec![
                json!({"type": "start", "messageId": "m1", "messageMetadata": {"credits_reserved": 5}}),
                json!({"type": "start-step"}),
                json!({"type": "text-start", "id": "text-0"}),
                json!({"type": "text-delta", "id": "text-0", "delta": "Hel"}),
                json!({"type": "text-delta", "id": "text-0", "delta": "lo"}),
                json!({"type": "text-end", "id": "text-0"}),
                json!({"type": "finish-step"}),
                json!({"type": "finish", "finishReason": "stop", "messageMetadata": {"credits_charged": 1}}),
                json!("[DONE]"),
            ]
        );
        assert_eq!(
            sink.written.len(),
            3,
            "the start, the text so far, the end: one write each"
        );
        assert!(sink.closed);
    }

    #[test]
    fn failures_and_stops_say_so_before_the_finish() {
        for (ending, part, reason) in [
            (
                Ending::Failed("it broke"),
                json!({"type": "error", "errorText": "it broke"}),
                "error",
            ),
            (
                Ending::Stopped,
                json!({"type": "abort", "reason": "stopped"}),
                "other",
            ),
        ] {
            let mut sink = RecordingSink::default();
            block_on(async {
                let mut ui = UiStream::new(&mut sink);
                ui.start("m1", json!({})).await;
                ui.end(ending, json!({})).await;
            });
            let got = parts(&sink);
            assert_eq!(
                got[2], part,
                "no text part was opened for a reply with no text"
            );
            assert_eq!(got[4]["finishReason"], reason);
        }
    }

    #[test]
    fn a_client_that_left_gets_nothing_more() {
        let mut sink = RecordingSink {
            leaves_after: Some(2),
            ..RecordingSink::default()
        };
        block_on(async {
            let mut ui = UiStream::new(&mut sink);
            ui.start("m1", json!({})).await;
            ui.text("a");
            assert!(ui.flush().await, "the second write still arrives");
            ui.text("b");
            assert!(!ui.flush().await);
            ui.end(Ending::Complete, json!({})).await;
        });
        assert_eq!(sink.written.len(), 2);
    }
}
