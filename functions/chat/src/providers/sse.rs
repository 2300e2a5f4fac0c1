//! Server-Sent Events as providers send them, decoded incrementally: bytes arrive in chunks
//! cut anywhere (inside a line, inside a UTF-8 character), events come out whole. Only what
//! the chat protocols use is kept: the `event` name and the `data` lines (joined by `\n`);
//! comments (`: ping`) and other fields are skipped, as the SSE spec says.

#[derive(Debug, Default, PartialEq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

#[derive(Default)]
pub struct Decoder {
    /// Bytes of the line being received (kept as bytes: a chunk may end mid-character).
    line: Vec<u8>,
    event: Event,
    has_data: bool,
}

/// Longest line kept; a provider sending more without a newline is not speaking SSE, and the
/// Worker's memory is not its to fill.
const MAX_LINE: usize = 1 << 20;

impl Decoder {
    /// The events `chunk` completes. `Err` when a line passes [`MAX_LINE`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte != b'\n' {
                self.line.push(byte);
                if self.line.len() > MAX_LINE {
                    return Err(format!("an event line longer than {MAX_LINE} bytes"));
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            // A blank line dispatches the event, if it had data.
            let event = std::mem::take(&mut self.event);
            return std::mem::take(&mut self.has_data).then_some(event);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event.name = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.event.data.push('\n');
                }
                self.event.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<Event> {
        let mut d = Decoder::default();
        chunks.iter().flat_map(|c| d.push(c).unwrap()).collect()
    }

    fn data(text: &str) -> Event {
        Event {
            name: None,
            data: text.into(),
        }
    }

    #[test]
    fn events_cut_anywhere_come_out_whole() {
        let all = "data: {\"a\":1}\n\ndata: \u{e9}t\u{e9}\r\n\r\ndata: [DONE]\n\n".as_bytes();
        let whole = decode(&[all]);
        assert_eq!(
            whole,
            vec![data("{\"a\":1}"), data("\u{e9}t\u{e9}"), data("[DONE]")]
        );
        for cut in 1..all.len() {
            assert_eq!(decode(&[&all[..cut], &all[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn names_multiline_data_comments_and_empty_events() {
        let got =
            decode(&[b": ping\n\nevent: message_start\ndata: a\ndata:b\nid: 7\n\nevent: x\n\n"]);
        assert_eq!(
            got,
            vec![Event {
                name: Some("message_start".into()),
                data: "a\nb".into()
            }]
        );
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut d = Decoder::default();
        assert!(d.push(&vec![b'x'; MAX_LINE + 1]).is_err());
    }
}
