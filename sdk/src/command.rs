//! Running programs on the device through the host (needs the `run-command`
//! capability naming the program). Arguments go to the program as argv —
//! no shell ever sees them — with no stdin, a cleared environment, and a
//! timeout the operator may shorten.

use crate::bindings::jobhost::plugin::command as wit;
use crate::HostError;
use std::time::Duration;

/// How a program ended, as far as the plugin can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status, or `None` when a signal killed the program.
    pub exit_code: Option<i32>,
    /// The end of stdout (the operator sets how much is kept).
    pub stdout_tail: String,
    /// The end of stderr.
    pub stderr_tail: String,
}

impl Output {
    /// Whether the program exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// What explains a failure, for a reason or a statusDetails value: the
    /// end of stderr (of stdout when stderr is empty: some programs put
    /// their errors there), its last `max_chars` characters, trimmed, with
    /// line breaks as ` / ` so that it stays one line.
    pub fn failure_tail(&self, max_chars: usize) -> String {
        let text = if self.stderr_tail.trim().is_empty() {
            &self.stdout_tail
        } else {
            &self.stderr_tail
        };
        let text = text.trim();
        let count = text.chars().count();
        let kept: String = text.chars().skip(count.saturating_sub(max_chars)).collect();
        kept.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// Runs `program` (an absolute path on the operator's allow-list, or the
/// file name of exactly one listed path) with `args`, for at most `timeout`
/// (rounded down to milliseconds, at least 1 ms, at most `u32::MAX` ms;
/// the operator's `command_timeout_secs` caps it further).
///
/// `Err(NotPermitted)` when the program is not granted; `Err(LimitExceeded)`
/// when it ran out of time and was killed. A program that exits non-zero is
/// `Ok`: look at [`Output::exit_code`].
pub fn run<S: AsRef<str>>(
    program: &str,
    args: &[S],
    timeout: Duration,
) -> Result<Output, HostError> {
    let timeout_ms = u32::try_from(timeout.as_millis())
        .unwrap_or(u32::MAX)
        .max(1);
    let output = wit::run(&wit::Request {
        program: program.to_owned(),
        args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
        timeout_ms,
    })?;
    Ok(Output {
        exit_code: output.exit_code,
        stdout_tail: output.stdout_tail,
        stderr_tail: output.stderr_tail,
    })
}

#[cfg(test)]
mod tests {
    use super::Output;

    fn output(stdout: &str, stderr: &str) -> Output {
        Output {
            exit_code: Some(1),
            stdout_tail: stdout.into(),
            stderr_tail: stderr.into(),
        }
    }

    #[test]
    fn the_failure_tail_is_one_line_from_the_end_of_stderr_or_stdout() {
        assert_eq!(output("out", "a\n\nb  \n").failure_tail(100), "a / b");
        assert_eq!(output("out", " \n").failure_tail(100), "out");
        let long = "x".repeat(410) + "END";
        let tail = output("", &long).failure_tail(400);
        assert!(tail.ends_with("END") && tail.chars().count() == 400);
    }
}
