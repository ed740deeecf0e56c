//! A Server-Sent-Events reader over reqwest's streaming body: what a
//! browser's `EventSource` does, one event at a time, with [`super::WAIT`]
//! as the guard against hanging.

use std::collections::VecDeque;

/// One event of the stream. A comment (`: keep-alive`) is an event with
/// only `comment` set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl SseEvent {
    /// `data` as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.data.as_deref().expect("the event has data"))
            .expect("data is JSON")
    }
}

/// An open stream.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
    parsed: VecDeque<SseEvent>,
}

impl SseReader {
    /// Sends `request` and checks that the answer is an event stream. When
    /// this returns, the server has answered with its headers: it is
    /// subscribed.
    pub async fn open(request: reqwest::RequestBuilder) -> SseReader {
        let response = tokio::time::timeout(super::WAIT, request.send())
            .await
            .expect("the stream's headers within the guard")
            .expect("the request is sent");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an event stream"
        );
        SseReader {
            response,
            buffer: String::new(),
            parsed: VecDeque::new(),
        }
    }

    /// The next event, comments included.
    pub async fn next_any(&mut self) -> SseEvent {
        loop {
            if let Some(e) = self.parsed.pop_front() {
                return e;
            }
            let chunk = tokio::time::timeout(super::WAIT, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {:?}", super::WAIT))
                .expect("the stream is readable")
                .expect("the stream did not end");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                self.parsed.push_back(parse(&frame));
            }
        }
    }

    /// Reads to the end of the stream, skipping comments; true if it ended
    /// cleanly, false on an error. Panics on an event.
    pub async fn end(&mut self) -> bool {
        assert!(
            self.parsed.iter().all(|e| e.comment.is_some()),
            "{:?}",
            self.parsed
        );
        loop {
            match self.response.chunk().await {
                Ok(None) => return true,
                Ok(Some(chunk)) => {
                    let text = String::from_utf8_lossy(&chunk);
                    assert!(
                        text.lines().all(|l| l.is_empty() || l.starts_with(':')),
                        "an event after the end: {text}"
                    );
                }
                Err(_) => return false,
            }
        }
    }

    /// The next event that is not a comment.
    pub async fn next(&mut self) -> SseEvent {
        loop {
            let e = self.next_any().await;
            if e.comment.is_none() {
                return e;
            }
        }
    }
}

/// One frame (the lines before a blank line), as the SSE format reads it.
fn parse(frame: &str) -> SseEvent {
    let mut e = SseEvent::default();
    for line in frame.lines().filter(|l| !l.is_empty()) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "" => e.comment = Some(value),
            "event" => e.event = Some(value),
            "id" => e.id = Some(value),
            "data" => {
                e.data = Some(match e.data.take() {
                    Some(before) => format!("{before}\n{value}"),
                    None => value,
                })
            }
            other => panic!("unexpected field {other:?} in {frame:?}"),
        }
    }
    e
}
