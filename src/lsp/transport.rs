//! The language server's stdio transport: frames in, messages out, and no input that
//! stops the server.
//!
//! `lsp-server`'s own stdio reader ends the session at the first malformed frame and
//! allocates whatever `Content-Length` claims. Editors and fuzzers send worse than
//! that, so the header block is read here — bounded, and resynchronising on the next
//! `Content-Length` header after garbage — and the body is handed to `lsp-server`'s
//! `Message` for decoding. Writing stays `lsp-server`'s (`Message::write`).

use std::io::{self, BufRead, Read, Write};
use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded};
use lsp_server::{Connection, ErrorCode, Message, RequestId, Response};

/// The largest message body accepted. A larger `Content-Length` is refused before any
/// memory is set aside for it, and the body is skipped as garbage.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How much of a long header line is kept; the front of a longer line is read and
/// dropped.
const MAX_HEADER_LINE: usize = 8 << 10;

const CONTENT_LENGTH: &str = "content-length:";

/// What one read from the stream produced.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// A frame that was read and could not be used, with the reason and, when the
    /// body names one, the id of the request to answer with an error; the stream is
    /// positioned after it.
    Malformed {
        reason: String,
        id: Option<RequestId>,
    },
    End,
}

/// Reads the next frame. Only an I/O error is an `Err`; everything the peer can send
/// is a `Frame`.
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let length = match read_headers(input)? {
        Headers::End => return Ok(Frame::End),
        Headers::Invalid(reason) => return Ok(Frame::Malformed { reason, id: None }),
        Headers::Length(length) => length,
    };
    let mut body = Vec::with_capacity(length);
    let read = input.take(length as u64).read_to_end(&mut body)?;
    if read < length {
        return Ok(Frame::End);
    }
    match serde_json::from_slice::<Message>(&body) {
        Ok(message) => Ok(Frame::Message(message)),
        Err(e) => Ok(Frame::Malformed {
            reason: format!("a {length}-byte body that is not a JSON-RPC message: {e}"),
            id: request_id(&body),
        }),
    }
}

/// The id of a JSON object that is not a valid message, so that its sender gets an
/// answer rather than waiting forever.
fn request_id(body: &[u8]) -> Option<RequestId> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::from_value(value.get("id")?.clone()).ok()
}

enum Headers {
    Length(usize),
    Invalid(String),
    End,
}

fn read_headers(input: &mut impl BufRead) -> io::Result<Headers> {
    let mut length: Option<Result<usize, String>> = None;
    let mut garbage = false;
    loop {
        let Some(line) = read_header_line(input)? else {
            return Ok(Headers::End);
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if length.is_none() && garbage {
                // Garbage between frames ends at a blank line; keep looking for a frame.
                garbage = false;
                continue;
            }
            break;
        }
        // After garbage (an unframed body, a broken frame) the next frame's header
        // may begin in the middle of a line: start there.
        let lower = line.to_ascii_lowercase();
        match lower.find(CONTENT_LENGTH) {
            Some(at) => {
                let value = line[at + CONTENT_LENGTH.len()..].trim();
                length = Some(parse_length(value));
            }
            None if !line.contains(':') => garbage = true,
            None => {} // Content-Type and other headers are not needed.
        }
    }
    Ok(match length {
        Some(Ok(n)) => Headers::Length(n),
        Some(Err(reason)) => Headers::Invalid(reason),
        None => Headers::Invalid("a frame without a Content-Length header".into()),
    })
}

fn parse_length(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n <= MAX_MESSAGE_BYTES => Ok(n),
        Ok(n) => Err(format!(
            "a Content-Length of {n} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
        )),
        Err(_) => Err(format!(
            "a Content-Length of `{}` that is not a byte count",
            value.chars().take(40).collect::<String>()
        )),
    }
}

/// One header line, at most the last `2 * MAX_HEADER_LINE` bytes of it kept; `None`
/// at the end of the input.
fn read_header_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut seen_any = false;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok(seen_any.then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        seen_any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        line.extend_from_slice(chunk);
        if line.len() > 2 * MAX_HEADER_LINE {
            // Keep the tail: after garbage, the next frame's header ends the line.
            line.drain(..line.len() - MAX_HEADER_LINE);
        }
        let used = chunk.len();
        input.consume(used);
        if done {
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
}

/// The reader and writer threads of a stdio connection.
pub struct IoThreads {
    reader: thread::JoinHandle<()>,
    writer: thread::JoinHandle<io::Result<()>>,
}

impl IoThreads {
    /// Waits for the writer to flush what was sent (the connection must be dropped
    /// first) and for the reader, which ends at `exit` or the end of input.
    pub fn join(self) -> io::Result<()> {
        let written = self
            .writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        let _ = self.reader.join();
        written
    }
}

/// A connection over standard input and output.
pub fn stdio() -> io::Result<(Connection, IoThreads)> {
    let (to_writer, from_server) = bounded::<Message>(0);
    let (to_server, from_reader) = bounded::<Message>(0);
    // The reader answers malformed requests on its own channel, so that the writer
    // ends when the server hangs up even while the reader still waits on stdin.
    let (answers, from_reader_answers) = bounded::<Message>(16);
    let writer = thread::Builder::new()
        .name("bylaw-lsp-writer".into())
        .spawn(move || write_messages(from_server, from_reader_answers, io::stdout().lock()))?;
    let reader = thread::Builder::new()
        .name("bylaw-lsp-reader".into())
        .spawn(move || read_messages(io::stdin().lock(), to_server, answers))?;
    let connection = Connection {
        sender: to_writer,
        receiver: from_reader,
    };
    Ok((connection, IoThreads { reader, writer }))
}

fn write_messages(
    server: Receiver<Message>,
    reader: Receiver<Message>,
    mut out: impl Write,
) -> io::Result<()> {
    let mut reader = Some(reader);
    loop {
        let message = match &reader {
            Some(answers) => crossbeam_channel::select! {
                recv(server) -> m => match m { Ok(m) => m, Err(_) => return Ok(()) },
                recv(answers) -> m => match m {
                    Ok(m) => m,
                    Err(_) => { reader = None; continue; }
                },
            },
            None => match server.recv() {
                Ok(m) => m,
                Err(_) => return Ok(()),
            },
        };
        message.write(&mut out)?;
    }
}

fn read_messages(mut input: impl BufRead, server: Sender<Message>, writer: Sender<Message>) {
    loop {
        match read_frame(&mut input) {
            Ok(Frame::Message(message)) => {
                let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
                if server.send(message).is_err() || exit {
                    return;
                }
            }
            Ok(Frame::Malformed { reason, id }) => {
                tracing::warn!("bylaw lsp: ignored {reason}");
                if let Some(id) = id {
                    let code = ErrorCode::InvalidRequest as i32;
                    let answer = Response::new_err(id, code, format!("bylaw lsp: {reason}"));
                    if writer.send(Message::Response(answer)).is_err() {
                        return;
                    }
                }
            }
            Ok(Frame::End) => return,
            Err(e) => {
                tracing::error!("bylaw lsp: cannot read standard input: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot read its own input has nothing to check"
)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut input = input;
        let mut seen = Vec::new();
        loop {
            match read_frame(&mut input).unwrap() {
                Frame::Message(Message::Notification(n)) => seen.push(n.method),
                Frame::Message(other) => seen.push(format!("{other:?}")),
                Frame::Malformed { reason, id } => {
                    seen.push(format!("malformed ({id:?}): {reason}"))
                }
                Frame::End => return seen,
            }
        }
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    const PING: &str = r#"{"jsonrpc":"2.0","method":"ping"}"#;

    #[test]
    fn a_broken_frame_is_skipped_and_the_next_one_read() {
        let cases = [
            "Content-Length: -5\r\n\r\n{}".to_string(),
            "Content-Type: x\r\n\r\n{}".to_string(),
            "Content-Length: 99999999999999999999\r\n\r\n{}".to_string(),
            format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_BYTES + 1),
            frame("{not json"),
            frame(r#"{"hello":"world"}"#),
            "just garbage with no newline".to_string(),
            "garbage line\r\n\r\n".to_string(),
            "x".repeat(100_000),
        ];
        for case in cases {
            let input = format!("{case}{}", frame(PING));
            let seen = frames(input.as_bytes());
            assert_eq!(
                seen.last().map(String::as_str),
                Some("ping"),
                "{case:.60}: {seen:?}"
            );
        }
    }

    #[test]
    fn an_oversized_length_is_refused_without_allocating_it() {
        let input = format!("Content-Length: {}\r\n\r\n", usize::MAX);
        let seen = frames(input.as_bytes());
        assert!(
            seen[0].contains("not a byte count") || seen[0].contains("over the"),
            "{seen:?}"
        );
    }

    #[test]
    fn a_request_that_is_not_a_message_is_answered_by_its_id() {
        let seen = frames(frame(r#"{"jsonrpc":"2.0","id":7,"method":5}"#).as_bytes());
        assert!(
            seen[0].starts_with("malformed (Some(RequestId(I32(7))))"),
            "{seen:?}"
        );
    }

    #[test]
    fn a_truncated_body_ends_the_stream() {
        assert!(frames(b"Content-Length: 100\r\n\r\n{\"a\"").is_empty());
    }
}
