//! A tiny HTTP/1.1 server whose answers the test scripts, for what a real
//! server only does by accident: break a body off halfway, fail on
//! purpose, change the file between two requests, trickle a body out
//! slowly. Each connection carries one request (`Connection: close`); every
//! request head is recorded, with when it arrived.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with the whole body.
    Full,
    /// 200 announcing the whole body, then only its first `n` bytes, then
    /// the connection closes.
    CutAfter(usize),
    /// Like `CutAfter`, after which the server has this file instead (a new
    /// release under the same URL).
    CutThenRelease(usize, File),
    /// This status, empty body.
    Status(u16),
    /// A server that supports resuming: 206 for `Range: bytes=N-` with a
    /// matching `If-Range`, 200 with the whole body otherwise.
    Ranged,
    /// 200 with the whole body in `pieces` equal pieces, `pause` apart (a
    /// slow network): the download lasts at least `(pieces - 1) × pause`.
    Trickle { pieces: usize, pause: Duration },
    /// [`Answer::Trickle`] without `Content-Length`: the body ends when the
    /// connection closes, and its size is unknown until then.
    TrickleUnsized { pieces: usize, pause: Duration },
}

/// The file being served: its bytes and its strong ETag.
#[derive(Debug, Clone)]
pub struct File {
    pub body: Vec<u8>,
    pub etag: String,
}

/// The server; it runs until the test process ends.
pub struct Scripted {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

struct State {
    file: File,
    script: Vec<Answer>,
    requests: Vec<String>,
    /// When each request's head had arrived.
    arrivals: Vec<Instant>,
}

impl Scripted {
    /// Serves `file`, answering request i with `script[i]`, and every
    /// request past the script with [`Answer::Ranged`].
    pub fn start(file: File, script: Vec<Answer>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            file,
            script,
            requests: Vec::new(),
            arrivals: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &shared);
            }
        });
        Scripted { addr, state }
    }

    /// The heads of the requests so far, lowercased.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").requests.clone()
    }

    /// When each request's head had arrived, in order. The gap between two
    /// is at least the client's pause between them (the server answers
    /// request i before request i + 1 can be sent), plus noise: good for
    /// lower bounds only.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.state.lock().expect("state").arrivals.clone()
    }

    /// Replaces the file (a new release under the same URL) and the script.
    pub fn replace(&self, file: File, script: Vec<Answer>) {
        let mut state = self.state.lock().expect("state");
        state.file = file;
        state.script = script;
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let (answer, file) = {
        let mut state = state.lock().expect("state");
        let index = state.requests.len();
        state.requests.push(head.clone());
        state.arrivals.push(Instant::now());
        let answer = state.script.get(index).cloned().unwrap_or(Answer::Ranged);
        let file = state.file.clone();
        if let Answer::CutThenRelease(_, next) = &answer {
            state.file = next.clone();
        }
        (answer, file)
    };
    let mut out = stream;
    let header = |status: &str, extra: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nETag: {}\r\n{extra}Connection: close\r\n\r\n",
            file.etag
        )
    };
    let len = file.body.len();
    let (head_out, body): (String, &[u8]) = match answer {
        Answer::Full => (header("200 OK", "", len), &file.body),
        Answer::CutAfter(n) | Answer::CutThenRelease(n, _) => {
            (header("200 OK", "", len), &file.body[..n.min(len)])
        }
        Answer::Status(code) => (header(&format!("{code} Scripted"), "", 0), &[]),
        Answer::Ranged => match resume_from(&head, &file.etag) {
            Some(start) if start < len => (
                header(
                    "206 Partial Content",
                    &format!("Content-Range: bytes {start}-{}/{len}\r\n", len - 1),
                    len - start,
                ),
                &file.body[start..],
            ),
            _ => (header("200 OK", "", len), &file.body),
        },
        Answer::Trickle { pieces, pause } | Answer::TrickleUnsized { pieces, pause } => {
            let head_out = match answer {
                Answer::Trickle { .. } => header("200 OK", "", len),
                _ => format!(
                    "HTTP/1.1 200 OK\r\nETag: {}\r\nConnection: close\r\n\r\n",
                    file.etag
                ),
            };
            let _ = out.write_all(head_out.as_bytes());
            for (i, piece) in file.body.chunks(len.div_ceil(pieces.max(1))).enumerate() {
                if i > 0 {
                    std::thread::sleep(pause);
                }
                let _ = out.write_all(piece);
                let _ = out.flush();
            }
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
    };
    let _ = out.write_all(head_out.as_bytes());
    let _ = out.write_all(body);
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
}

/// `range: bytes=N-` with `if-range` equal to `etag` → N.
fn resume_from(head: &str, etag: &str) -> Option<usize> {
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    if header("if-range:")? != etag.to_ascii_lowercase() {
        return None;
    }
    header("range:")?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}
