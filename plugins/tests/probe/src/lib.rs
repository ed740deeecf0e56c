//! Test fixture: does what the document asks, so that tests can pin how the
//! host contains a plugin. Not shipped.
//!
//! Document fields (all optional, applied in this order):
//! - `"panic": "message"` panics;
//! - `"trap": true` executes `unreachable`;
//! - `"spin": true` loops forever without calling the host (timeouts,
//!   cancellation);
//! - `"allocate_mib": N` allocates and touches N MiB (memory limits);
//! - `"write": [{"path": "...", "content": "..."}]` writes files;
//! - `"append": [{"path": "...", "content": "..."}]` appends to files (how
//!   tests count runs);
//! - `"read": ["path", ...]` reads files;
//! - `"list": ["dir", ...]` lists directories;
//! - `"capabilities": true` calls download, run-command and request-reboot
//!   and reports each result under `capability:<name>`.
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
    spin: bool,
    allocate_mib: usize,
    write: Vec<WriteFile>,
    append: Vec<WriteFile>,
    read: Vec<String>,
    list: Vec<String>,
    capabilities: bool,
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
        if doc.spin {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        let mut outcome = Outcome::new();
        if doc.allocate_mib > 0 {
            let block = vec![1u8; doc.allocate_mib << 20];
            let sum: u64 = block.iter().step_by(4096).map(|b| u64::from(*b)).sum();
            outcome = outcome.detail("allocated_pages", sum);
        }
        for w in &doc.write {
            let result = std::fs::write(&w.path, &w.content).map(|()| "written".to_owned());
            outcome = outcome.detail(format!("write:{}", w.path), report(result));
        }
        for a in &doc.append {
            use std::io::Write;
            let result = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&a.path)
                .and_then(|mut f| f.write_all(a.content.as_bytes()))
                .map(|()| "appended".to_owned());
            outcome = outcome.detail(format!("append:{}", a.path), report(result));
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
        if doc.capabilities {
            use jobhost_sdk::bindings::jobhost::plugin::{command, device, download};
            let fetched = download::fetch(&download::Request {
                url: "https://example.com/firmware.bin".into(),
                destination: "/data/firmware.bin".into(),
                sha256: None,
                max_bytes: None,
            });
            outcome = outcome.detail("capability:download", describe(fetched.map(|r| r.bytes)));
            let ran = command::run(&command::Request {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), "id".into()],
                timeout_ms: 1000,
            });
            outcome = outcome.detail("capability:command", describe(ran.map(|o| o.exit_code)));
            let reboot = device::request_reboot("probe");
            outcome = outcome.detail("capability:reboot", describe(reboot));
        }
        Ok(outcome)
    }
}

fn describe<T: std::fmt::Debug>(result: Result<T, jobhost_sdk::HostError>) -> String {
    match result {
        Ok(v) => format!("ok:{v:?}"),
        Err(e) => format!("err:{}", jobhost_sdk::host::describe(&e)),
    }
}

fn report(result: std::io::Result<String>) -> String {
    match result {
        Ok(text) => format!("ok:{text}"),
        Err(e) => format!("err:{:?}", e.kind()),
    }
}

jobhost_sdk::export!(Probe);
