//! The stand-ins for systemd-run and systemctl (see the parent module's
//! docs for what they simulate) and what they record.

use crate::support::stand_in::Programs;
use std::path::{Path, PathBuf};

/// The stand-ins for systemd and what they record.
pub struct Systemd {
    programs: Programs,
}

impl Systemd {
    pub fn new(root: &Path) -> Self {
        let programs = Programs::new(root.join("systemd"));
        std::fs::create_dir_all(programs.path("units")).unwrap();
        let systemd = Self { programs };
        let units = systemd.path("units");
        systemd.script(
            "systemd-run",
            &format!(
                "echo \"$*\" >> '{log}'\n\
                 all=\"$*\"; unit=''; dir=''\n\
                 while [ $# -gt 0 ]; do\n\
                   case \"$1\" in\n\
                     --unit=*) unit=\"${{1#--unit=}}\" ;;\n\
                     --working-directory=*) dir=\"${{1#--working-directory=}}\" ;;\n\
                     --) shift; break ;;\n\
                   esac\n\
                   shift\n\
                 done\n\
                 if [ -f '{units}'/\"$unit\" ]; then\n\
                   echo \"Failed to start transient service unit: Unit $unit was already loaded\" >&2; exit 1\n\
                 fi\n\
                 grep -q crash \"$dir/$2\" 2>/dev/null && exit 0\n\
                 echo \"$all\" > '{units}'/\"$unit\"\n",
                log = systemd.path("systemd-run.log").display(),
                units = units.display(),
            ),
        );
        systemd.script(
            "systemctl",
            &format!(
                "echo \"$*\" >> '{log}'\n\
                 code=$(cat '{status}' 2>/dev/null || echo 0)\n\
                 case \"$1\" in\n\
                   is-active) [ -f '{units}'/\"$2\" ] && {{ echo active; exit 0; }}; echo inactive; exit 3 ;;\n\
                   stop)\n\
                     [ \"$code\" = 0 ] || {{ echo \"Job for $2 failed.\" >&2; exit \"$code\"; }}\n\
                     [ -f '{units}'/\"$2\" ] && {{ rm '{units}'/\"$2\"; exit 0; }}\n\
                     echo \"Failed to stop $2: Unit $2 not loaded.\" >&2; exit 5 ;;\n\
                 esac\n\
                 exit 1\n",
                log = systemd.path("systemctl.log").display(),
                status = systemd.path("systemctl.status").display(),
                units = units.display(),
            ),
        );
        systemd
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.programs.path(name)
    }

    fn script(&self, name: &str, body: &str) {
        self.programs.script(name, body);
    }

    fn log(&self, name: &str) -> Vec<String> {
        self.programs.log(name)
    }

    /// (systemctl calls, systemd-run calls) so far, to look at what follows.
    pub fn marks(&self) -> (usize, usize) {
        (
            self.log("systemctl.log").len(),
            self.log("systemd-run.log").len(),
        )
    }

    pub fn since(&self, (ctl, run): (usize, usize)) -> (Vec<String>, Vec<String>) {
        (
            self.log("systemctl.log")[ctl..].to_vec(),
            self.log("systemd-run.log")[run..].to_vec(),
        )
    }

    /// The argv of the running unit, if it runs.
    pub fn running(&self, unit: &str) -> Option<String> {
        std::fs::read_to_string(self.path("units").join(unit))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    pub fn systemctl_exits_with(&self, code: i32) {
        std::fs::write(self.path("systemctl.status"), code.to_string()).unwrap();
    }
}
