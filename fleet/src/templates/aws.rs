//! The managed templates themselves: AWS's names, descriptions, parameters
//! and handler steps, as data. Kept apart from the lookup and substitution
//! in `super`, which do not change when a template is added.

use super::{Parameter, Step, Template};

/// Longest value of a required parameter: a job document holds at most
/// 32 KiB anyway.
const MAX_VALUE_CHARS: usize = 32 * 1024;

const fn required(
    key: &'static str,
    description: &'static str,
    example: &'static str,
) -> Parameter {
    Parameter {
        key,
        description,
        regex: "(.*?)",
        example,
        optional: false,
        max_chars: MAX_VALUE_CHARS,
    }
}

pub(super) const RUN_AS_USER: Parameter = Parameter {
    key: "runAsUser",
    description: "Execute handler as another user. If not specified, then handler is executed as \
                  the same user as device client.",
    regex: "(.){0,256}",
    example: "user1",
    optional: true,
    max_chars: 256,
};

pub(super) const PATH_TO_HANDLER: Parameter = Parameter {
    key: "pathToHandler",
    description: "Path to handler on the device. If not specified, then device client will use \
                  the current working directory.",
    regex: "(.){0,4096}",
    example: "/path/to/handler/script",
    optional: true,
    max_chars: 4096,
};

const PACKAGES_EXAMPLE: &str = "mosquitto htop";
const SERVICES_EXAMPLE: &str = "mosquitto cron";

/// Every managed template, by name.
pub static TEMPLATES: &[Template] = &[
    Template {
        name: "AWS-Download-File",
        description: "A managed job template for downloading a file.",
        parameters: &[
            required(
                "downloadUrl",
                "URL of file to download.",
                "http://www.example.com/index.html",
            ),
            required(
                "filePath",
                "Path on the device where downloaded file is written.",
                "/path/to/file",
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        action: "Download-File",
        step: Step::Handler {
            handler: "download-file.sh",
            args: &["downloadUrl", "filePath"],
        },
    },
    Template {
        name: "AWS-Install-Application",
        description: "A managed job template for installing one or more applications.",
        parameters: &[
            required(
                "packages",
                "Space separated list of packages to install.",
                PACKAGES_EXAMPLE,
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        action: "Install-Application",
        step: Step::Handler {
            handler: "install-packages.sh",
            args: &["packages"],
        },
    },
    Template {
        name: "AWS-Reboot",
        description: "A managed job template for rebooting the device.",
        parameters: &[RUN_AS_USER, PATH_TO_HANDLER],
        action: "Reboot",
        step: Step::Handler {
            handler: "reboot.sh",
            args: &[],
        },
    },
    Template {
        name: "AWS-Remove-Application",
        description: "A managed job template for uninstalling one or more applications.",
        parameters: &[
            required(
                "packages",
                "Space separated list of packages to remove.",
                PACKAGES_EXAMPLE,
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        action: "Remove-Application",
        step: Step::Handler {
            handler: "remove-packages.sh",
            args: &["packages"],
        },
    },
    Template {
        name: "AWS-Restart-Application",
        description: "A managed job template for restarting one or more system services.",
        parameters: &[
            required(
                "services",
                "Space separated list of services to restart.",
                SERVICES_EXAMPLE,
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        action: "Restart-Application",
        step: Step::Handler {
            handler: "restart-services.sh",
            args: &["services"],
        },
    },
    Template {
        name: "AWS-Run-Command",
        description: "A managed job template for running a command.",
        parameters: &[
            required(
                "command",
                "A command to run: the program and its arguments separated by commas; a comma \
                 inside an argument is written \\,",
                "ls,-l,/tmp",
            ),
            RUN_AS_USER,
        ],
        action: "Run-Command",
        step: Step::Command,
    },
    Template {
        name: "AWS-Start-Application",
        description: "A managed job template for starting one or more system services.",
        parameters: &[
            required(
                "services",
                "Space separated list of services to start.",
                SERVICES_EXAMPLE,
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        action: "Start-Application",
        step: Step::Handler {
            handler: "start-services.sh",
            args: &["services"],
        },
    },
    Template {
        name: "AWS-Stop-Application",
        description: "A managed job template for stopping one or more system services.",
        parameters: &[
            required(
                "services",
                "Space separated list of services to stop.",
                SERVICES_EXAMPLE,
            ),
            RUN_AS_USER,
            PATH_TO_HANDLER,
        ],
        action: "Stop-Application",
        step: Step::Handler {
            handler: "stop-services.sh",
            args: &["services"],
        },
    },
];
