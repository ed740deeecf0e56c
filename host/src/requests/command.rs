//! `run_command`: the programs a plugin runs through the host's `command`
//! import; `["*"]` asks for every program the device's operator grants it
//! (a general runner; the operator's list is then the only gate).
//!
//! ```toml
//! [capabilities]
//! run_command = ["/usr/bin/systemctl"]
//! ```

use super::{check_text, RequestError, RequestSpec};
use std::collections::BTreeSet;

/// The `run_command` entry that requests every granted program.
pub const ANY_PROGRAM: &str = "*";

/// The `run_command` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = Vec<String>;
    const ALWAYS_WRITTEN: bool = true;

    /// Non-empty entries, each once; `*` only alone.
    fn validate(programs: &Vec<String>) -> Result<(), RequestError> {
        let mut seen = BTreeSet::new();
        for program in programs {
            let bad = |reason| RequestError {
                key: "run_command",
                value: program.clone(),
                reason,
            };
            if program.trim().is_empty() {
                return Err(bad("is empty"));
            }
            check_text("run_command", program)?;
            if !seen.insert(program.as_str()) {
                return Err(bad("is requested twice"));
            }
            if program == ANY_PROGRAM && programs.len() > 1 {
                return Err(bad(
                    "(every program the device grants) must be the only entry",
                ));
            }
        }
        Ok(())
    }
}
