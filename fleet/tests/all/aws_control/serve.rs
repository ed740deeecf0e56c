//! `jobhost-fleet serve` as an operator starts it for AWS clients: the
//! access key id as a flag, its secret from a file or from
//! `JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY` (never the command line), the
//! bearer token from `JOBHOST_FLEET_TOKEN`; boto3 then signs against it.

use super::{run_cases, KEY_ID, SECRET, TOKEN};
use tokio::process::{Child, Command};

/// `serve` (fleet/tests/all/serve.rs) on free loopback ports, with the
/// token from the environment and the access key id as a flag.
fn serve(dir: &std::path::Path) -> Command {
    let mut command = crate::serve::serve(dir, &["--mqtt", "127.0.0.1:0"]);
    command
        .args(["--aws-access-key-id", KEY_ID])
        .env("JOBHOST_FLEET_TOKEN", TOKEN);
    command
}

/// Starts `serve` and returns it with its API's URL.
async fn start(command: Command) -> (Child, String) {
    let (child, line) = crate::serve::start_announced(command).await;
    let endpoint = line
        .split_once(", HTTP API on ")
        .and_then(|(_, rest)| rest.split(',').next())
        .unwrap()
        .to_owned();
    (child, endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_the_aws_secret_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aws-secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let mut from_file = serve(dir.path());
    from_file.arg("--aws-secret-access-key-file").arg(&file);
    let (mut child, endpoint) = start(from_file).await;
    run_cases(
        &endpoint,
        "auth",
        &[
            "any_region_signs",
            "wrong_secret",
            "bearer_token_still_works",
        ],
    )
    .await;
    child.kill().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut from_env = serve(dir.path());
    from_env.env("JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY", SECRET);
    let (mut child, endpoint) = start(from_env).await;
    run_cases(&endpoint, "auth", &["any_region_signs", "unknown_key"]).await;
    child.kill().await.unwrap();
}

#[tokio::test]
async fn serve_refuses_an_access_key_without_its_secret() {
    let stderr = crate::serve::fails(&["--aws-access-key-id", KEY_ID]).await;
    assert!(
        stderr.contains("JOBHOST_FLEET_AWS_SECRET_ACCESS_KEY")
            && stderr.contains("--aws-secret-access-key-file"),
        "{stderr}"
    );
}

/// An access key without a token is enough to serve the API off loopback
/// (SECURITY.md, M1); a request without credentials then gets what AWS
/// answers an unsigned request.
#[tokio::test]
async fn an_access_key_alone_guards_an_api_off_loopback() {
    use jobhost_fleet::api::{AwsCredentials, ERROR_TYPE_HEADER};
    use jobhost_fleet::server::{Server, ServerConfig};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        data_dir: dir.path().join("fleet"),
        http: "0.0.0.0:0".parse().unwrap(),
        aws_credentials: Some(AwsCredentials::new(KEY_ID, SECRET).unwrap()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let http = crate::support::http();
    let url = format!("http://127.0.0.1:{}/jobs", server.http_addr.port());
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.headers()[ERROR_TYPE_HEADER],
        "MissingAuthenticationTokenException"
    );
    // No token is configured, so none is taken.
    let response = http.get(&url).bearer_auth("anything").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    server.stop().await;
}
