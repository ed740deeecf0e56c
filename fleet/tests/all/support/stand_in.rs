//! Stand-ins for the device's programs (systemctl, systemd-run, apt-get,
//! a health check): shell scripts in a directory of the test's, which log
//! their argv and play the program's part, so that a test sees exactly
//! what a plugin ran.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A directory of stand-in programs.
pub struct Programs {
    dir: PathBuf,
}

impl Programs {
    /// `dir`, created if need be.
    pub fn new(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).expect("create the stand-ins' directory");
        Self { dir }
    }

    /// `name` in the directory (a program, a log, a control file).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes program `name`, `#!/bin/sh` then `body`. Written and closed
    /// before any agent starts a process, so no fork can hold it open for
    /// writing when it is executed (ETXTBSY).
    pub fn script(&self, name: &str, body: &str) {
        let path = self.path(name);
        let mut file = std::fs::File::create(&path).expect("create a stand-in");
        write!(file, "#!/bin/sh\n{body}").expect("write a stand-in");
        drop(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make a stand-in executable");
    }

    /// The lines of file `name` (a log the stand-ins append to); none when
    /// it does not exist yet.
    pub fn log(&self, name: &str) -> Vec<String> {
        lines(&self.path(name))
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
