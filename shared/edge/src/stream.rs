//! Streams both ways: a provider's body read chunk by chunk as it arrives ([`FetchBody`]),
//! and a response whose events are written while the client reads them ([`EdgeSink`], the
//! writable side of a `TransformStream` whose readable side is the response body).

use genbase_shared::deps::{BodyReader, EventSink};
use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader, WritableStreamDefaultWriter};

/// A fetched body, read through its own reader so that [`cancel`](BodyReader::cancel) can
/// close the connection (dropping a reader would leave the provider producing).
pub struct FetchBody {
    reader: Option<ReadableStreamDefaultReader>,
}

impl FetchBody {
    pub fn new(stream: Option<ReadableStream>) -> FetchBody {
        FetchBody {
            reader: stream.map(|s| s.get_reader().unchecked_into()),
        }
    }
}

impl BodyReader for FetchBody {
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, String>> {
        let reader = self.reader.as_ref()?;
        let result = match JsFuture::from(reader.read()).await {
            Ok(result) => result,
            Err(e) => {
                self.reader = None;
                return Some(Err(describe(&e)));
            }
        };
        let field = |name: &str| Reflect::get(&result, &JsValue::from_str(name)).ok();
        if field("done").and_then(|d| d.as_bool()).unwrap_or(true) {
            self.reader = None;
            return None;
        }
        Some(Ok(field("value")
            .map(|v| Uint8Array::new(&v).to_vec())
            .unwrap_or_default()))
    }

    async fn cancel(self) {
        if let Some(reader) = self.reader {
            let _ = JsFuture::from(reader.cancel()).await;
        }
    }
}

/// The writing end of a streamed response.
pub struct EdgeSink {
    writer: WritableStreamDefaultWriter,
    open: bool,
}

impl EdgeSink {
    pub fn new(writer: WritableStreamDefaultWriter) -> EdgeSink {
        EdgeSink { writer, open: true }
    }
}

impl EventSink for EdgeSink {
    /// A write waits while the client's reads lag (the stream's backpressure), and fails
    /// once the client has gone: workerd then cancels the response's readable side.
    async fn write(&mut self, text: &str) -> bool {
        if self.open {
            let chunk = Uint8Array::from(text.as_bytes());
            self.open = JsFuture::from(self.writer.write_with_chunk(&chunk))
                .await
                .is_ok();
        }
        self.open
    }

    async fn close(self) {
        if self.open {
            let _ = JsFuture::from(self.writer.close()).await;
        }
    }
}

fn describe(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<worker::js_sys::Error>()
                .map(|e| e.message().into())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}
