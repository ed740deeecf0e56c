//! A thin client for the HTTP API (`crate::api`), used by the `job` and
//! `artifact` subcommands. Errors come back as one-line messages: the
//! API's own `message` when it answered, or why it could not be reached.

use anyhow::{anyhow, Context as _, Result};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::artifacts::{ArtifactInfo, CODESIGN_HEADER};
use crate::store::JobSummary;
use jobhost_protocol::{JobExecutionStatus, Timestamp};

/// One entry of ListJobExecutionsForJob.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForJob {
    /// `arn:...:thing/<name>`.
    pub thing_arn: String,
    /// The execution.
    pub job_execution_summary: Summary,
}

impl ForJob {
    /// The thing name inside the ARN.
    pub fn thing(&self) -> &str {
        self.thing_arn
            .rsplit_once(":thing/")
            .map_or(self.thing_arn.as_str(), |(_, name)| name)
    }
}

/// `jobExecutionSummary`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Current status.
    pub status: JobExecutionStatus,
    /// When it last changed.
    pub last_updated_at: Timestamp,
    /// Which execution.
    pub execution_number: u64,
}

/// DescribeJobExecution's `execution`, the fields `job watch` shows.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// Current status.
    pub status: JobExecutionStatus,
    /// `statusDetails.detailsMap`.
    #[serde(default)]
    pub status_details: Details,
    /// When it last changed.
    pub last_updated_at: Timestamp,
}

/// `statusDetails` in the control plane.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    /// The map the device reported.
    #[serde(default)]
    pub details_map: BTreeMap<String, String>,
}

/// The API at one base URL, with an optional bearer token.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the API at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!("--api {base:?} must be an http:// or https:// URL");
        }
        // reqwest has no crypto provider of its own (Cargo.toml).
        crate::broker::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("jobhost-fleet/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token,
        })
    }

    /// A request to `path`, which must start with `/` and have its
    /// variable segments passed through [`segment`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends `rb`; any non-2xx answer becomes an error carrying the API's
    /// message.
    pub async fn send(&self, rb: RequestBuilder) -> Result<Response> {
        let response = rb.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                if text.is_empty() {
                    format!("the API answered {status}")
                } else {
                    format!("the API answered {status}: {text}")
                }
            });
        Err(anyhow!(message))
    }

    /// Sends `rb` and parses the JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T> {
        let response = self.send(rb).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        serde_json::from_slice(&bytes).context("the API's answer is not what this client expects")
    }

    /// ListJobs, with its `status` and `thingGroupName` filters.
    pub async fn list_jobs(
        &self,
        status: Option<&str>,
        group: Option<&str>,
    ) -> Result<Vec<JobSummary>> {
        #[derive(Deserialize)]
        struct Jobs {
            jobs: Vec<JobSummary>,
        }
        let mut rb = self.request(Method::GET, "/jobs");
        if let Some(s) = status {
            rb = rb.query(&[("status", s)]);
        }
        if let Some(g) = group {
            rb = rb.query(&[("thingGroupName", g)]);
        }
        Ok(self.json::<Jobs>(rb).await?.jobs)
    }

    /// ListJobExecutionsForJob.
    pub async fn executions_for_job(&self, job_id: &str) -> Result<Vec<ForJob>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            execution_summaries: Vec<ForJob>,
        }
        let rb = self.request(Method::GET, &format!("/jobs/{}/things", segment(job_id)));
        Ok(self.json::<List>(rb).await?.execution_summaries)
    }

    /// DescribeJobExecution of the latest execution.
    pub async fn describe_execution(&self, job_id: &str, thing: &str) -> Result<Execution> {
        #[derive(Deserialize)]
        struct Described {
            execution: Execution,
        }
        let path = format!("/things/{}/jobs/{}", segment(thing), segment(job_id));
        let rb = self.request(Method::GET, &path);
        Ok(self.json::<Described>(rb).await?.execution)
    }

    /// DescribeManagedJobTemplate.
    pub async fn describe_template(&self, name: &str) -> Result<serde_json::Value> {
        let path = format!("/managed-job-templates/{}", segment(name));
        self.json(self.request(Method::GET, &path)).await
    }

    /// Uploads `file` (streamed, never whole in memory) as artifact `name`,
    /// with `signature` (a `.sig` file's bytes) when given.
    pub async fn put_artifact(
        &self,
        name: &str,
        file: tokio::fs::File,
        size: u64,
        signature: Option<&[u8]>,
    ) -> Result<ArtifactInfo> {
        use base64::Engine as _;
        let mut rb = self
            .request(Method::PUT, &format!("/artifacts/{}", segment(name)))
            .header(reqwest::header::CONTENT_LENGTH, size)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        if let Some(signature) = signature {
            rb = rb.header(
                CODESIGN_HEADER,
                base64::engine::general_purpose::STANDARD.encode(signature),
            );
        }
        self.json(rb.body(file)).await
    }

    /// "cannot reach the jobs API at <base>: <deepest cause>": the outer
    /// layers of reqwest's error chain repeat the URL and say nothing more.
    fn transport_error(&self, e: &reqwest::Error) -> anyhow::Error {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        anyhow!("cannot reach the jobs API at {}: {cause}", self.base)
    }
}

/// Percent-encodes one path segment, so that an id with a `/` or `?`
/// reaches the API as that id (and is refused there with a clear message)
/// instead of naming another route.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("job-1_a.b"), "job-1_a.b");
        assert_eq!(segment("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
