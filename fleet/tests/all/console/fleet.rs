//! The service the console's tests drive: a bearer token, a clock the
//! test can move, and what an operator does before and around the pages
//! (API calls as a script makes them, logging in, creating a job).

use super::browser::Browser;
use super::device::{Device, Outcome};
use crate::support::service::embedded;
use jobhost_fleet::server::{Server, ServerConfig};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN: &str = "console-test-token-0123456789";

/// The service with a bearer token and a clock the test can move.
pub struct Fleet {
    pub server: Server,
    pub clock: Arc<AtomicI64>,
    pub base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Fleet {
    pub async fn start() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(crate::support::service::clock()()));
        let c = Arc::clone(&clock);
        let server = Server::start(ServerConfig {
            data_dir: dir.path().join("fleet"),
            broker: embedded(),
            url_ttl: Duration::from_secs(600),
            token: Some(TOKEN.into()),
            clock: Arc::new(move || c.load(Ordering::SeqCst)),
            ..ServerConfig::default()
        })
        .await
        .expect("start the service");
        let base = format!("http://{}", server.http_addr);
        Fleet {
            server,
            clock,
            base,
            http: crate::support::http(),
            _dir: dir,
        }
    }

    /// A management API call with the token, as a script would make it.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("API reachable")
    }

    pub async fn thing(&self, name: &str) {
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("/things/{name}"),
                serde_json::json!({}),
            )
            .await;
        assert!(
            r.status().is_success(),
            "CreateThing {name}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    pub async fn device(&self, name: &str, outcome: Outcome, held: bool) -> Device {
        self.thing(name).await;
        Device::start(self.server.mqtt_addr, name, outcome, held).await
    }

    /// A custom template with one parameter, which the form must ask for.
    pub async fn template(&self) {
        let r = self
            .api(
                reqwest::Method::PUT,
                "/job-templates/greet",
                serde_json::json!({
                    "description": "say hello",
                    "document": "{\"operation\":\"echo\",\"message\":\"${aws:iot:parameter:message}\"}",
                }),
            )
            .await;
        assert!(
            r.status().is_success(),
            "CreateJobTemplate: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Logs the browser in through the login page with the token.
    pub async fn login(&self, b: &Browser) {
        b.goto(&format!("{}/console/", self.base)).await;
        assert_eq!(
            b.path().await,
            "/console/login",
            "a new browser is sent to login"
        );
        b.fill("#token", TOKEN).await;
        b.click("form button[type=submit]").await;
        b.wait_for("main h1").await;
        assert_eq!(b.path().await, "/console/");
    }

    /// Creates a job through the console's form from template `greet`.
    pub async fn create_job(&self, b: &Browser, job: &str, things: &[&str]) {
        b.goto(&format!("{}/console/jobs/new", self.base)).await;
        b.click("a[href='/console/jobs/new?kind=custom&template=greet']")
            .await;
        b.fill("#job_id", job).await;
        b.fill("#param-message", "hello from the console").await;
        for t in things {
            b.click(&format!("input[name=thing][value='{t}']")).await;
        }
        b.click("button[value=create]").await;
        b.wait_for("#live").await;
        assert_eq!(b.path().await, format!("/console/jobs/{job}"));
    }
}
