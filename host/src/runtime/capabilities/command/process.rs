//! One program run by `command.run`: started in a process group of its
//! own, its stdout and stderr tails kept while it runs, and its whole group
//! killed and reaped however the call ends (exit, time limit, deadline,
//! cancellation, or the call's future dropped).

use super::CommandGrant;
use crate::runtime::bindings::command::{Output, Request};
use crate::runtime::bindings::types::HostError;
use crate::runtime::capabilities::StopSignal;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The only environment variable a program gets.
pub const CHILD_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How often the call checks cancellation, the deadline and whether the
/// program exited, when it produces no output.
const POLL: Duration = Duration::from_millis(20);

/// After the program exited and its group was killed, how long to keep
/// reading output still buffered or held open (only a process that left
/// the group, e.g. with `setsid`, can hold the pipes longer).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Bytes read per `read` call.
const CHUNK: usize = 64 << 10;

/// What ends a program early: the run's cancel and deadline, and the
/// call itself going away.
#[derive(Clone)]
pub(super) struct CallStop {
    run: StopSignal,
    /// Set when the call's future was dropped (the executor gave up on
    /// the run): the program must not outlive the call.
    abandoned: Arc<AtomicBool>,
}

impl CallStop {
    fn is_cancelled(&self) -> bool {
        self.run.is_cancelled() || self.abandoned.load(Ordering::SeqCst)
    }

    fn deadline(&self) -> Instant {
        self.run.deadline()
    }

    fn is_set(&self) -> bool {
        self.is_cancelled() || Instant::now() >= self.deadline()
    }
}

/// Held by the call while the program runs on the blocking pool. Dropped
/// before the program finished (the run was dropped at its deadline or on
/// cancel), it tells the waiter to kill the program group and waits, up to
/// [`DRAIN_GRACE`], until it is killed and reaped: nothing a plugin starts
/// outlives the call, however the call ends.
pub(super) struct Waiter {
    pub(super) stop: CallStop,
    finished: mpsc::Receiver<()>,
}

impl Waiter {
    /// The waiter, and what the blocking side sends when it is done.
    pub(super) fn new(run: StopSignal) -> (Self, mpsc::Sender<()>) {
        let (done, finished) = mpsc::channel();
        let stop = CallStop {
            run,
            abandoned: Arc::new(AtomicBool::new(false)),
        };
        (Self { stop, finished }, done)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !matches!(self.finished.try_recv(), Err(mpsc::TryRecvError::Empty)) {
            return;
        }
        self.stop.abandoned.store(true, Ordering::SeqCst);
        // A short blocking wait inside a drop: the waiter looks every
        // `POLL` and kills at once, so this is milliseconds.
        let _ = self.finished.recv_timeout(DRAIN_GRACE);
    }
}

/// Why the call stopped the program before it exited.
enum Stop {
    Cancelled,
    Deadline,
    Timeout { limit: Duration, by_operator: bool },
}

pub(super) fn run_program(
    program: &str,
    request: &Request,
    grant: &CommandGrant,
    signal: &CallStop,
) -> Result<Output, HostError> {
    let requested = Duration::from_millis(u64::from(request.timeout_ms));
    let by_operator = grant.timeout < requested;
    let limit = requested.min(grant.timeout);
    let started = Instant::now();
    let ends = started + limit;

    let mut child = std::process::Command::new(program)
        .args(&request.args)
        .env_clear()
        .env("PATH", CHILD_PATH)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A new group whose id is the child's pid: one kill reaches every
        // process it forks (unless one deliberately leaves with setsid).
        .process_group(0)
        .spawn()
        .map_err(|e| HostError::Failed(format!("cannot start {program}: {e}")))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut running = Running::new(child);
    let mut streams = Streams {
        stdout,
        stderr,
        out: Tail::new(grant.output_bytes),
        err: Tail::new(grant.output_bytes),
        buf: vec![0; CHUNK],
    };
    let failed = |what: &str, e: io::Error| HostError::Failed(format!("{what} {program}: {e}"));

    let status = loop {
        streams
            .pump(POLL)
            .map_err(|e| failed("cannot read the output of", e))?;
        if running
            .has_exited()
            .map_err(|e| failed("cannot wait for", e))?
        {
            // The leader is a zombie, so its pid (the group id) cannot
            // have been reused yet: killing the group reaches only what
            // it left behind.
            running.kill_group();
            break running.reap().map_err(|e| failed("cannot wait for", e))?;
        }
        let now = Instant::now();
        let stop = if signal.is_cancelled() {
            Some(Stop::Cancelled)
        } else if now >= signal.deadline() {
            Some(Stop::Deadline)
        } else if now >= ends {
            Some(Stop::Timeout { limit, by_operator })
        } else {
            None
        };
        if let Some(stop) = stop {
            running.kill_group();
            // Reaped here rather than in Drop so that the call returns only
            // once the program is gone.
            let _ = running.reap();
            return Err(match stop {
                Stop::Cancelled => HostError::Cancelled,
                Stop::Deadline => HostError::LimitExceeded(format!(
                    "the execution's time limit ran out while {program} was running; it was killed"
                )),
                Stop::Timeout { limit, by_operator } => HostError::LimitExceeded(format!(
                    "{program} timed out after {} ms{} and was killed",
                    limit.as_millis(),
                    if by_operator {
                        " (the operator's command_timeout_secs)"
                    } else {
                        ""
                    }
                )),
            });
        }
    };

    // Whatever is still in the pipes. The group is dead, so EOF comes at
    // once unless something escaped it; do not wait on that for long.
    let drain_until = Instant::now() + DRAIN_GRACE;
    while streams.open() && Instant::now() < drain_until && !signal.is_set() {
        streams
            .pump(POLL)
            .map_err(|e| failed("cannot read the output of", e))?;
    }
    Ok(Output {
        exit_code: status.code(),
        stdout_tail: streams.out.into_text(),
        stderr_tail: streams.err.into_text(),
    })
}

/// The child, killed and reaped however the call ends (including a panic).
struct Running {
    child: Child,
    group: Pid,
    reaped: bool,
}

impl Running {
    fn new(child: Child) -> Self {
        let group = Pid::from_child(&child);
        Self {
            child,
            group,
            reaped: false,
        }
    }

    /// Whether the leader exited, without reaping it (`WNOWAIT`), so that
    /// the group id stays reserved until [`reap`](Self::reap).
    fn has_exited(&self) -> io::Result<bool> {
        loop {
            match rustix::process::waitid(
                WaitId::Pid(self.group),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ) {
                Ok(status) => return Ok(status.is_some()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// SIGKILL to every process in the group. Only called while the leader
    /// is not yet reaped; "no such process" (all gone) is fine.
    fn kill_group(&self) {
        if !self.reaped {
            let _ = rustix::process::kill_process_group(self.group, Signal::KILL);
        }
    }

    fn reap(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait();
        self.reaped = true;
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let _ = self.reap();
        }
    }
}

/// Both output pipes and what was kept of each.
struct Streams {
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Tail,
    err: Tail,
    /// Read buffer, shared by both pipes.
    buf: Vec<u8>,
}

impl Streams {
    fn open(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// Waits up to `wait` for output on either pipe and reads what is
    /// there; a pipe at EOF is closed. With both closed it just waits, so
    /// the caller's loop keeps its pace.
    fn pump(&mut self, wait: Duration) -> io::Result<()> {
        let timeout =
            Timespec::try_from(wait).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let events = PollFlags::IN;
        let (out_ready, err_ready) = {
            let mut fds = Vec::with_capacity(2);
            if let Some(s) = &self.stdout {
                fds.push(PollFd::new(s, events));
            }
            if let Some(s) = &self.stderr {
                fds.push(PollFd::new(s, events));
            }
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            let mut ready = ready.into_iter();
            let out = self.stdout.is_some() && ready.next().unwrap_or(false);
            let err = self.stderr.is_some() && ready.next().unwrap_or(false);
            (out, err)
        };
        if out_ready {
            read_into(&mut self.stdout, &mut self.out, &mut self.buf)?;
        }
        if err_ready {
            read_into(&mut self.stderr, &mut self.err, &mut self.buf)?;
        }
        Ok(())
    }
}

/// One `read` from a pipe `poll` reported ready (so it does not block):
/// data goes to the tail, EOF closes the pipe.
fn read_into<R: Read>(pipe: &mut Option<R>, tail: &mut Tail, buf: &mut [u8]) -> io::Result<()> {
    let Some(reader) = pipe.as_mut() else {
        return Ok(());
    };
    match reader.read(buf) {
        Ok(0) => *pipe = None,
        Ok(n) => tail.push(&buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The last `cap` bytes written to a stream.
pub(super) struct Tail {
    pub(super) buf: VecDeque<u8>,
    cap: usize,
    /// Whether bytes were dropped from the front.
    pub(super) cut: bool,
}

impl Tail {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            buf: VecDeque::with_capacity(cap.min(CHUNK)),
            cap,
            cut: false,
        }
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        let data = if data.len() > self.cap {
            self.cut = true;
            &data[data.len() - self.cap..]
        } else {
            data
        };
        let excess = (self.buf.len() + data.len()).saturating_sub(self.cap);
        if excess > 0 {
            self.cut = true;
            self.buf.drain(..excess);
        }
        self.buf.extend(data);
    }

    /// Lossy UTF-8 without control characters other than newline and tab
    /// (a terminal escape or a `\r` in a plugin's statusDetails helps
    /// no one), at most `cap` bytes.
    pub(super) fn into_text(self) -> String {
        let bytes = Vec::from(self.buf);
        // A cut may have split a character: drop its orphaned tail bytes
        // rather than show a replacement character.
        let start = if self.cut {
            bytes
                .iter()
                .take(3)
                .take_while(|b| (**b & 0xC0) == 0x80)
                .count()
        } else {
            0
        };
        let text: String = String::from_utf8_lossy(&bytes[start..])
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect();
        if text.len() <= self.cap {
            return text;
        }
        // Replacement characters are 3 bytes for 1: cut again, on a
        // character boundary.
        let mut from = text.len() - self.cap;
        while !text.is_char_boundary(from) {
            from += 1;
        }
        text[from..].to_owned()
    }
}
