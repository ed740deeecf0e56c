//! The commented configuration `jobhost init` writes; a test keeps it
//! parsing.

/// The commented example `jobhost init` writes.
pub const EXAMPLE: &str = r#"# jobhost agent configuration. Relative paths are relative to this file.

# The AWS IoT thing this device is: 1-128 characters of [a-zA-Z0-9:_-].
thing_name = "my-device"

# The journal (running execution, unsent statuses) and the compiled-plugin
# cache live here. Keep it on persistent storage.
state_dir = "state"

# Installed plugins: <name>.wasm, each signed by a key in [trust]. A job
# whose document says {"operation": "X"} runs in the plugin whose signed
# manifest lists operation X. The built-in `install-plugin` and
# `remove-plugin` operations manage this directory.
plugin_dir = "plugins"

[broker]
host = "127.0.0.1"
port = 1883
# client_id = "my-device"        # defaults to thing_name
# username = "..."               # plain MQTT credentials (not used by AWS IoT)
# password = "..."
# keep_alive_secs = 30
# clean_session = true

# For AWS IoT Core: port 8883, or 443 with ALPN. Keep the private key in
# a directory of its own that only the agent's user can read (mode 0700):
# no plugin grant may reach it (the agent refuses to start otherwise), and
# it must not be inside [device] certificate_dir.
# [broker.tls]
# ca = "AmazonRootCA1.pem"
# cert = "/etc/jobhost/certs/device.pem.crt"
# key = "/etc/jobhost/private/device.pem.key"
# alpn = ["x-amzn-mqtt-ca"]      # only with port 443

# Only plugins signed by one of these keys are loaded or installed
# (`jobhost plugin keygen` makes a key pair; see docs/plugin-format.md).
# With no key, no plugin runs.
[trust]
# keys = ["operator.pub"]
# revoked = ["0123456789abcdef01234567"]  # key ids refused even if listed
# max_plugin_mib = 64
# A plugin never goes back to an older version than this device has run,
# unless listed here:
# allow_downgrade = ["download-file"]
# install-plugin never replaces a plugin with a copy of the same name
# signed by another key, unless the key is listed in [plugins.<name>]
# signer or the name here:
# allow_signer_change = ["download-file"]
# Hosts the built-in install-plugin operation may download from (https
# only unless install_allow_http = true). Empty: install-plugin is refused.
# install_hosts = ["fleet.example.com"]
# Files that jobs download may carry an artifact signature, a `codesign`
# beside their `url` (`jobhost artifact sign --key KEY FILE`, same keys as
# plugins): it is always verified before the file is moved into place.
# With this on, a download without one is refused too (download-file and
# install-application jobs are REJECTED before they run).
# require_artifact_signatures = false

[limits]
# timeout_secs = 600             # per run; a run past it ends FAILED "timed out after N s"
# memory_mib = 128               # per run
# progress_interval_secs = 5     # at most one progress update this often
# max_log_kib = 1024             # plugin log bytes per run; further lines dropped
# max_log_lines_per_sec = 100    # plugin log rate; lines above it dropped
# max_details_kib = 16           # statusDetails per update; excess entries dropped
# max_handles = 256              # open files/directories/streams at once
# max_stack_kib = 512            # WebAssembly stack, for every plugin

# What each plugin may use. Nothing is granted unless listed here, and a
# plugin gets only what its signed manifest requests AND this grants.
# A table applies to the plugin of that name signed by `signer` (a key id,
# or a list while rotating keys); with a single key in [trust] it may be
# left out, with several it is required.
# Granted directories must not contain, or be inside, state_dir,
# plugin_dir or the private key's directory, nor contain this file or the
# files it names, nor contain one another within a table: the agent
# refuses to start otherwise.
# [plugins.download-file]
# signer = "0123456789abcdef01234567"
# dirs = ["/var/lib/jobhost-data/downloads:/downloads"]
# download_hosts = ["updates.example.com"]   # port 443 only; "host:8443" for another
# allow_http = false
#
# Programs a plugin may run (absolute paths; never a shell, never a PATH
# lookup). Each runs with argv only, an environment of just
# PATH=/usr/sbin:/usr/bin:/sbin:/bin, stdin /dev/null and working directory
# /, and is killed with everything it started at the timeout, on
# cancellation and at the run's own time limit.
# [plugins.service-restart]
# run_commands = ["/usr/bin/systemctl"]
# command_timeout_secs = 60      # per call; the plugin may ask for less
# command_output_bytes = 4096    # last bytes of stdout and of stderr kept
# [plugins.download-file.limits]  # overrides [limits] for this plugin
# timeout_secs = 3600

# How this device reboots, for plugins granted `reboot = true` (the
# reboot plugin): the agent runs this argv (no shell), then checks after
# the restart that the boot id changed.
# [device]
# reboot_command = ["/usr/bin/systemctl", "reboot"]
# boot_id_file = "/proc/sys/kernel/random/boot_id"
# reboot_timeout_secs = 300
# shutdown_command = ["/usr/bin/systemctl", "poweroff"]   # for `shutdown` jobs (jobs-agent.js's)
# certificate_dir = "/etc/jobhost/certs"   # offered as /certificates; never the key's directory
# [plugins.reboot]
# reboot = true
# [plugins.rotate-certificate]
# certificates = "rw"            # or "ro"; the manifest must ask for it too

# Remote troubleshooting: the diagnostics plugin reads what the agent knows
# about itself (version, uptime, memory, disk, plugins, broker link, recent
# log lines) and uploads a bundle by HTTP PUT to the hosts listed here.
# [plugins.diagnostics]
# diagnostics = true
# upload_hosts = ["fleet.example.com"]
# upload_allow_http = false      # https only unless true
# upload_max_mib = 64            # largest file one upload sends
# dirs = ["/var/lib/jobhost-data/diagnostics:/diagnostics", "/var/log/myapp:/logs:ro"]

# Jobs in the AWS IoT Device Client schema (the AWS managed templates:
# AWS-Download-File, AWS-Reboot, AWS-Run-Command, ...) run in the plugin
# for the handler they name: download-file.sh -> download-file, reboot.sh
# -> reboot, install-packages.sh -> install-packages, start-services.sh ->
# start-application, ... (see docs/device-client.md). Other handlers, by name, to the
# operation that runs them; the plugin gets {"operation": ..., "args": [...]}.
# [device_client]
# handlers = { "my-update.sh" = "my-update" }

# Grants for every plugin signed by a key (by key id), used by plugins
# without a [plugins.<name>] table of their own. Same keys, no limits.
# [signers.0123456789abcdef01234567]
# dirs = ["/var/lib/jobhost-data/data:/data"]
"#;

/// What `jobhost init` fills in; the rest of [`EXAMPLE`] stays as written.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// `thing_name`; the example's when `None`.
    pub thing_name: Option<String>,
    /// `state_dir`; the example's (`state`, beside the file) when `None`.
    pub state_dir: Option<std::path::PathBuf>,
    /// `plugin_dir`; the example's (`plugins`) when `None`.
    pub plugin_dir: Option<std::path::PathBuf>,
    /// An AWS IoT Core connection instead of the example's local broker.
    pub aws: Option<AwsSetup>,
}

/// `[broker]` for AWS IoT Core.
#[derive(Debug, Clone)]
pub struct AwsSetup {
    /// The data endpoint.
    pub endpoint: String,
    /// 8883, or 443 (with ALPN).
    pub port: u16,
    /// The CA bundle, the device certificate and its key (absolute paths).
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// [`EXAMPLE`] with `setup`'s values in place of the example's.
pub fn render(setup: &Setup) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let path = |p: &std::path::Path| quote(&p.to_string_lossy());
    let mut text = EXAMPLE.to_owned();
    if let Some(thing) = &setup.thing_name {
        text = text.replacen(
            "thing_name = \"my-device\"",
            &format!("thing_name = {}", quote(thing)),
            1,
        );
    }
    if let Some(dir) = &setup.state_dir {
        text = text.replacen(
            "state_dir = \"state\"",
            &format!("state_dir = {}", path(dir)),
            1,
        );
    }
    if let Some(dir) = &setup.plugin_dir {
        text = text.replacen(
            "plugin_dir = \"plugins\"",
            &format!("plugin_dir = {}", path(dir)),
            1,
        );
    }
    if let Some(aws) = &setup.aws {
        let start = text.find("[broker]\n").expect("the example has [broker]");
        let end = text[start..]
            .find("\n# Only plugins signed")
            .map(|i| start + i + 1)
            .expect("the example's [trust] follows [broker]");
        let alpn = if aws.port == super::AWS_MQTT_PORT {
            String::new()
        } else {
            format!(
                "# Port 443 is MQTT only with this ALPN protocol (for networks that\n\
                 # let only HTTPS out).\nalpn = [{}]\n",
                quote(super::AWS_ALPN)
            )
        };
        let broker = format!(
            "# AWS IoT Core, as `jobhost init --aws` wrote it. The client id is the\n\
             # thing name: AWS IoT policies commonly allow iot:Connect only for\n\
             # a client id equal to the thing's name (docs/aws-iot-core.md).\n\
             [broker]\nhost = {}\nport = {}\nclient_id = {}\n\
             # keep_alive_secs = 30           # AWS allows 30-1200\n\n\
             # The private key's directory must be readable by the agent's user\n\
             # only, and no plugin grant may reach it (the agent refuses to start\n\
             # otherwise).\n\
             [broker.tls]\nca = {}\ncert = {}\nkey = {}\n{alpn}\n",
            quote(&aws.endpoint),
            aws.port,
            quote(setup.thing_name.as_deref().unwrap_or("my-device")),
            path(&aws.ca),
            path(&aws.cert),
            path(&aws.key),
        );
        text.replace_range(start..end, &broker);
    }
    text
}
