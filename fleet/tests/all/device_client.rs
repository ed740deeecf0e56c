//! AWS managed job templates and AWS IoT Device Client documents, end to
//! end: jobs created from a template through the HTTP API and through the
//! `jobhost-fleet` binary, and Device Client documents written out by hand,
//! run on the real agent in the signed first-party plugins their handlers
//! map to; what jobhost cannot run is REJECTED with the reason.
//!
//! Real parts: the service on the embedded broker with its HTTP API and
//! artifact server, the agent in-process, plugins built from this
//! repository and signed here.

use crate::support;

use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::Server;
use jobhost_fleet::templates::TEMPLATES;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use support::agent::Agent;
use support::service::{assert_reason, detail, embedded, start_server, wait_terminal};

const THING: &str = "dc-device";
const BIN: &str = env!("CARGO_BIN_EXE_jobhost-fleet");

/// A guard against a hung child process, never a synchronisation point.
const PATIENCE: Duration = Duration::from_secs(60);

/// An agent with download-file (writing to `<root>/downloads`, mounted as
/// `/downloads`, from the service's HTTP server) and run-command (allowed
/// /bin/echo); no reboot plugin.
fn start_agent(root: &Path, server: &Server) -> (Agent, PathBuf) {
    let dir = root.join("agent");
    let downloads = root.join("downloads");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&downloads).unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(
        &dir.join("plugins"),
        &key,
        &["download-file", "run-command"],
    );
    let config = support::agent::write_config(
        &dir,
        THING,
        server.mqtt_addr.port(),
        &format!(
            "[plugins.download-file]\ndirs = [\"{}:/downloads\"]\n\
             download_hosts = [\"127.0.0.1:{}\"]\nallow_http = true\n\
             [plugins.run-command]\nrun_commands = [\"/bin/echo\"]\n",
            downloads.display(),
            server.http_addr.port()
        ),
    );
    (Agent::start(&config), downloads)
}

fn http() -> reqwest::Client {
    crate::support::http()
}

/// A request to the service's API; returns the status, the AWS error
/// type header, and the JSON body.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut rb = http().request(method, format!("http://{}{path}", server.http_addr));
    if let Some(body) = body {
        rb = rb.json(&body);
    }
    let response = rb.send().await.unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, kind, body)
}

/// CreateJob through the HTTP API; panics unless it is accepted.
async fn create_job(server: &Server, job_id: &str, body: Value) {
    let (status, _, answer) = call(
        server,
        reqwest::Method::PUT,
        &format!("/jobs/{job_id}"),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{job_id}: {answer}");
}

/// The `jobhost-fleet` binary against this server.
async fn cli(server: &Server, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env("JOBHOST_FLEET_API", format!("http://{}", server.http_addr))
        .env_remove("JOBHOST_FLEET_TOKEN")
        .env_remove("JOBHOST_FLEET_LOG")
        .env("NO_PROXY", "*")
        .kill_on_drop(true);
    tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("the CLI finished")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn assert_status(e: &JobExecution, status: JobExecutionStatus) {
    assert_eq!(e.status, status, "{}: {:?}", e.job_id, e.status_details);
}

/// The AWS-Download-File document, as AWS writes it, with its parameters
/// filled in by hand (and unset optional ones as "").
fn download_document(url: &str, path: &str) -> Value {
    json!({"version": "1.0", "steps": [{"action": {
        "name": "Download-File", "type": "runHandler",
        "input": {"handler": "download-file.sh", "args": [url, path], "path": ""},
        "runAsUser": ""}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_templates_and_device_client_documents_run_in_plugins() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let (agent, downloads) = start_agent(root.path(), &server);
    let firmware: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let info = server.artifacts.put("fw.bin", &firmware).unwrap();
    let url = placeholder(&info.url);

    // The CLI, from the template, with a presigned-URL placeholder that the
    // service resolves at delivery.
    let out = cli(
        &server,
        &[
            "job",
            "create",
            "--job-id",
            "dl-template",
            "--target",
            THING,
            "--template",
            "AWS-Download-File",
            "--param",
            &format!("downloadUrl={url}"),
            "--param",
            "filePath=/downloads/fw.bin",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "dl-template\n");
    let e = wait_terminal(&server, THING, "dl-template").await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    // No checksum in the template: the plugin reports what it wrote.
    assert_eq!(detail(&e, "sha256"), Some(info.sha256.as_str()));
    assert_eq!(detail(&e, "destination"), Some("/downloads/fw.bin"));
    assert_eq!(std::fs::read(downloads.join("fw.bin")).unwrap(), firmware);

    // The HTTP API, from the template's ARN, as the AWS CLI sends it.
    create_job(
        &server,
        "rc-template",
        json!({"targets": [THING],
               "jobTemplateArn": "arn:aws:iot:us-east-1::jobtemplate/AWS-Run-Command:1.0",
               "documentParameters": {"command": "/bin/echo,hello"}}),
    )
    .await;
    let e = wait_terminal(&server, THING, "rc-template").await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "stdout"), Some("hello"));
    assert_eq!(detail(&e, "exitCode"), Some("0"));

    // A Device Client document sent as a plain document routes the same
    // as the template.
    create_job(
        &server,
        "dl-raw",
        json!({"targets": [THING],
               "document": download_document(&url, "/downloads/raw.bin").to_string()}),
    )
    .await;
    let e = wait_terminal(&server, THING, "dl-raw").await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "sha256"), Some(info.sha256.as_str()));
    assert_eq!(std::fs::read(downloads.join("raw.bin")).unwrap(), firmware);

    // A third argument is a sha256, and it is enforced.
    let mut wrong = download_document(&url, "/downloads/checked.bin");
    wrong["steps"][0]["action"]["input"]["args"]
        .as_array_mut()
        .unwrap()
        .push(json!("0".repeat(64)));
    create_job(
        &server,
        "dl-wrong-sha",
        json!({"targets": [THING], "document": wrong}),
    )
    .await;
    let e = wait_terminal(&server, THING, "dl-wrong-sha").await;
    // Exactly FAILED, as docs/device-client.md promises (`sha256 mismatch` → FAILED):
    // REJECTED or TIMED_OUT would be a different promise broken.
    assert_reason(&e, JobExecutionStatus::Failed, "sha256 mismatch");
    assert!(!downloads.join("checked.bin").exists());

    // runCommand as the Device Client splits it: `\,` is a comma.
    create_job(
        &server,
        "rc-raw",
        json!({"targets": [THING], "document": {"version": "1.0", "steps": [{"action": {
            "name": "Echo", "type": "runCommand", "input": {"command": "/bin/echo,a\\,b,c"},
            "runAsUser": "root"}}]}}),
    )
    .await;
    let e = wait_terminal(&server, THING, "rc-raw").await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "stdout"), Some("a,b c"));

    // What jobhost cannot run is refused, with why.
    create_job(
        &server,
        "unknown-handler",
        json!({"targets": [THING], "document": {"version": "1.0", "steps": [{"action": {
            "name": "Update", "type": "runHandler",
            "input": {"handler": "firmware-update.sh", "args": ["1.2.3"]}}}]}}),
    )
    .await;
    let e = wait_terminal(&server, THING, "unknown-handler").await;
    assert_reason(
        &e,
        JobExecutionStatus::Rejected,
        "unknown Device Client handler `firmware-update.sh`: jobhost knows download-file.sh,",
    );

    let step = |name: &str| {
        json!({"action": {"name": name, "type": "runCommand",
                                              "input": {"command": "/bin/echo,x"}}})
    };
    create_job(
        &server,
        "two-steps",
        json!({"targets": [THING], "document": {"version": "1.0",
               "steps": [step("First"), step("Second")]}}),
    )
    .await;
    let e = wait_terminal(&server, THING, "two-steps").await;
    assert_reason(
        &e,
        JobExecutionStatus::Rejected,
        "jobhost runs one operation per job, and this document has 2 actions",
    );

    // This device has no reboot plugin: the reason says which handler
    // asked for which operation.
    create_job(
        &server,
        "reboot-template",
        json!({"targets": [THING], "jobTemplateArn": "AWS-Reboot"}),
    )
    .await;
    let e = wait_terminal(&server, THING, "reboot-template").await;
    assert_reason(
        &e,
        JobExecutionStatus::Rejected,
        "unknown operation `reboot` (Device Client handler `reboot.sh`): no plugin on this device handles it",
    );
    agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_cli_list_describe_and_check_templates() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    use reqwest::Method as M;

    let (status, _, listed) = call(&server, M::GET, "/managed-job-templates", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = listed["managedJobTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["templateName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "AWS-Download-File",
            "AWS-Install-Application",
            "AWS-Reboot",
            "AWS-Remove-Application",
            "AWS-Restart-Application",
            "AWS-Run-Command",
            "AWS-Start-Application",
            "AWS-Stop-Application"
        ]
    );
    assert_eq!(
        listed["managedJobTemplates"][0],
        json!({"templateArn": "arn:aws:iot:local::jobtemplate/AWS-Download-File:1.0",
               "templateName": "AWS-Download-File",
               "description": "A managed job template for downloading a file.",
               "environments": ["LINUX"], "templateVersion": "1.0"})
    );

    let (status, _, described) = call(
        &server,
        M::GET,
        "/managed-job-templates/AWS-Download-File?templateVersion=1.0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{described}");
    let parameters: Vec<(&str, bool)> = described["documentParameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p["optional"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        parameters,
        [
            ("downloadUrl", false),
            ("filePath", false),
            ("runAsUser", true),
            ("pathToHandler", true)
        ]
    );
    let document: Value = serde_json::from_str(described["document"].as_str().unwrap()).unwrap();
    assert_eq!(
        document["steps"][0]["action"]["input"]["args"],
        json!([
            "${aws:iot:parameter:downloadUrl}",
            "${aws:iot:parameter:filePath}"
        ])
    );

    for path in [
        "/managed-job-templates/AWS-Format-Disk",
        "/managed-job-templates/AWS-Reboot?templateVersion=2.0",
    ] {
        let (status, kind, body) = call(&server, M::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(kind.as_deref(), Some("ResourceNotFoundException"));
    }

    // CreateJob from a template: the document AWS's would be, and the
    // template's description.
    create_job(
        &server,
        "from-template",
        json!({"targets": ["t1"], "jobTemplateArn": "AWS-Install-Application:1.0",
               "documentParameters": {"packages": "mosquitto \"htop\"", "runAsUser": "root"}}),
    )
    .await;
    let (_, _, doc) = call(&server, M::GET, "/jobs/from-template/job-document", None).await;
    let doc: Value = serde_json::from_str(doc["document"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc,
        json!({"version": "1.0", "steps": [{"action": {"name": "Install-Application",
            "type": "runHandler",
            "input": {"handler": "install-packages.sh", "args": ["mosquitto \"htop\""], "path": ""},
            "runAsUser": "root"}}]})
    );
    let (_, _, job) = call(&server, M::GET, "/jobs/from-template", None).await;
    assert_eq!(
        job["job"]["description"],
        "A managed job template for installing one or more applications."
    );

    let refused = [
        (
            json!({"targets": ["t1"], "jobTemplateArn": "AWS-Format-Disk"}),
            StatusCode::NOT_FOUND,
            "no managed job template \"AWS-Format-Disk\"",
        ),
        (
            json!({"targets": ["t1"], "jobTemplateArn": "AWS-Download-File",
                   "documentParameters": {"downloadUrl": "https://h/f"}}),
            StatusCode::BAD_REQUEST,
            "documentParameters: AWS-Download-File needs \"filePath\"",
        ),
        (
            json!({"targets": ["t1"], "jobTemplateArn": "AWS-Reboot",
                   "documentParameters": {"delay": "5"}}),
            StatusCode::BAD_REQUEST,
            "documentParameters: AWS-Reboot has no parameter \"delay\"",
        ),
        (
            json!({"targets": ["t1"], "jobTemplateArn": "AWS-Reboot", "document": "{}"}),
            StatusCode::BAD_REQUEST,
            "give either `document` or `jobTemplateArn`, not both",
        ),
        (
            json!({"targets": ["t1"], "document": "{}", "documentParameters": {"a": "b"}}),
            StatusCode::BAD_REQUEST,
            "documentParameters go with a job template's jobTemplateArn",
        ),
        (
            json!({"targets": ["t1"], "jobTemplateArn": "arn:aws:iot:us-east-1::job/AWS-Reboot"}),
            StatusCode::BAD_REQUEST,
            "is not a job template ARN",
        ),
    ];
    for (body, status, message) in refused {
        let (got, kind, answer) = call(&server, M::PUT, "/jobs/refused", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {answer}");
        let expected_kind = if status == StatusCode::NOT_FOUND {
            "ResourceNotFoundException"
        } else {
            "InvalidRequestException"
        };
        assert_eq!(kind.as_deref(), Some(expected_kind), "{body}");
        let got = answer["message"].as_str().unwrap();
        assert!(got.contains(message), "{body}: {got:?}");
    }

    // The CLI: the list, one template, and the API's refusal on one line.
    let out = cli(&server, &["job", "templates"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert_eq!(listing.lines().count(), 1 + TEMPLATES.len(), "{listing}");
    let line = listing
        .lines()
        .find(|l| l.starts_with("AWS-Download-File "))
        .unwrap();
    assert!(
        line.contains("downloadUrl filePath [runAsUser] [pathToHandler]")
            && line.contains("A managed job template for downloading a file."),
        "{line}"
    );
    let out = cli(&server, &["job", "templates", "AWS-Run-Command"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["document"]["steps"][0]["action"]["input"]["command"],
        "${aws:iot:parameter:command}"
    );
    let out = cli(
        &server,
        &[
            "job",
            "create",
            "--job-id",
            "cli-missing",
            "--target",
            "t1",
            "--template",
            "AWS-Download-File",
            "--param",
            "downloadUrl=https://h/f",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: documentParameters: AWS-Download-File needs \"filePath\" (Path on the device \
         where downloaded file is written.)\n"
    );
    let out = cli(
        &server,
        &[
            "job",
            "create",
            "--job-id",
            "cli-twice",
            "--target",
            "t1",
            "--template",
            "AWS-Run-Command",
            "--param",
            "command=/bin/ls",
            "--param",
            "command=/bin/id",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: --param command is given twice\n");
    server.stop().await;
}

/// Every template's document, as the service fills it in, is routed by
/// the agent's document module to the operation of the plugin that does
/// the same thing.
#[test]
fn every_template_document_routes_to_its_plugin() {
    let expected = [
        ("AWS-Download-File", "download-file"),
        ("AWS-Install-Application", "install-packages"),
        ("AWS-Reboot", "reboot"),
        ("AWS-Remove-Application", "remove-packages"),
        ("AWS-Restart-Application", "restart-application"),
        ("AWS-Run-Command", "run-command"),
        ("AWS-Start-Application", "start-application"),
        ("AWS-Stop-Application", "stop-application"),
    ];
    assert_eq!(TEMPLATES.len(), expected.len());
    for (name, operation) in expected {
        let template = jobhost_fleet::templates::find(name).unwrap();
        let parameters: BTreeMap<String, String> = template
            .parameters
            .iter()
            .filter(|p| !p.optional)
            .map(|p| (p.key.to_owned(), p.example.to_owned()))
            .collect();
        let document = template.document(&parameters).unwrap();
        let routed = jobhost::document::route(&document, &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(routed.operation, operation, "{name}");
        assert_eq!(routed.document["operation"], operation, "{name}");
        // The parameters reach the plugin's document.
        for value in parameters.values() {
            let native = routed.document.to_string();
            let shown = match name {
                // Split into argv on commas.
                "AWS-Run-Command" => value.split(',').next().unwrap().to_owned(),
                _ => value.clone(),
            };
            assert!(native.contains(&shown), "{name}: {native} lacks {shown}");
        }
    }
}
