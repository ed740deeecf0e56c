//! Test fixture: does what the document asks, so that tests can pin how the
//! host contains a plugin. Not shipped.
//!
//! Document fields (all optional, applied in this order):
//! - `"panic": "message"` panics;
//! - `"trap": true` executes `unreachable`;
//! - `"write": [{"path": "...", "content": "..."}]` writes files;
//! - `"read": ["path", ...]` reads files;
//! - `"list": ["dir", ...]` lists directories.
//!
//! Each filesystem probe is reported as a statusDetails entry
//! `<verb>:<path>` = `ok:<result>` or `err:<io error kind>`, so a test can see
//! exactly what the sandbox allowed.

use jobhost_sdk::{Failure, Job, Operation, Outcome};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    panic: Option<String>,
    trap: bool,
    write: Vec<WriteFile>,
    read: Vec<String>,
    list: Vec<String>,
}

#[derive(Deserialize)]
struct WriteFile {
    path: String,
    content: String,
}

struct Probe;

impl Operation for Probe {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Doc = job.document()?;
        if let Some(message) = doc.panic {
            panic!("{message}");
        }
        if doc.trap {
            #[cfg(target_arch = "wasm32")]
            core::arch::wasm32::unreachable();
        }
        let mut outcome = Outcome::new();
        for w in &doc.write {
            let result = std::fs::write(&w.path, &w.content).map(|()| "written".to_owned());
            outcome = outcome.detail(format!("write:{}", w.path), report(result));
        }
        for path in &doc.read {
            let result = std::fs::read_to_string(path);
            outcome = outcome.detail(format!("read:{path}"), report(result));
        }
        for dir in &doc.list {
            let result = std::fs::read_dir(dir).and_then(|entries| {
                let mut names = entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<Vec<_>, _>>()?;
                names.sort();
                Ok(names.join(","))
            });
            outcome = outcome.detail(format!("list:{dir}"), report(result));
        }
        Ok(outcome)
    }
}

fn report(result: std::io::Result<String>) -> String {
    match result {
        Ok(text) => format!("ok:{text}"),
        Err(e) => format!("err:{:?}", e.kind()),
    }
}

jobhost_sdk::export!(Probe);
