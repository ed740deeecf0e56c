//! The job document as CreateJob was given it. AWS clients send `document`
//! as a string holding JSON, and AWS hands that string back from
//! GetJobDocument as it was sent: its whitespace and key order are the
//! operator's, and a script may hash or diff it. So the store keeps the
//! text, byte for byte, and parses it where a parsed document is needed
//! (DescribeJob, the device API). A job made from a managed template also
//! keeps the template's document before its parameters were substituted,
//! for `beforeSubstitution=true`.

use super::{Store, StoreError};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The longest job document, in characters: `JobDocument` is a string of
/// at most 32768 in AWS's model (botocore `iot` 2015-05-28), and a
/// string's length there counts characters, not bytes. Counted on the
/// text as submitted.
pub const JOB_DOCUMENT_MAX_CHARS: usize = 32_768;

/// A CreateJob document, as the request carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobDocument {
    /// The string AWS clients send: kept verbatim.
    Text(String),
    /// A JSON object, as hand-written requests and tests give it: kept as
    /// its compact serialisation.
    Json(Value),
}

/// `null`, which no job accepts: a [`super::CreateJob`] built with
/// `..Default::default()` must set its document.
impl Default for JobDocument {
    fn default() -> Self {
        Self::Json(Value::Null)
    }
}

impl From<Value> for JobDocument {
    fn from(v: Value) -> Self {
        Self::Json(v)
    }
}

impl JobDocument {
    /// Checks the size (characters of the text as submitted) and that the
    /// text is a JSON object: devices read `jobDocument` as one
    /// (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_JobExecution.html>).
    /// Returns the text to keep.
    pub(crate) fn check(&self) -> Result<String, StoreError> {
        let invalid = |m: String| StoreError::InvalidRequest(m);
        let text = match self {
            Self::Text(t) => t.clone(),
            Self::Json(v) => serde_json::to_string(v)?,
        };
        let chars = text.chars().count();
        if chars > JOB_DOCUMENT_MAX_CHARS {
            return Err(invalid(format!(
                "the job document is {chars} characters long; at most \
                 {JOB_DOCUMENT_MAX_CHARS} are allowed"
            )));
        }
        let is_object = match self {
            Self::Text(t) => serde_json::from_str::<Value>(t)
                .map_err(|e| invalid(format!("the job document is not valid JSON: {e}")))?
                .is_object(),
            Self::Json(v) => v.is_object(),
        };
        if !is_object {
            return Err(invalid("the job document must be a JSON object".into()));
        }
        Ok(text)
    }
}

/// What a job made from an AWS managed template records: AWS returns the
/// template ARN and the parameters in DescribeJob, and the document before
/// substitution for `beforeSubstitution=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FromTemplate {
    /// The template's ARN (`jobTemplateArn`).
    pub arn: String,
    /// `documentParameters` as given.
    pub parameters: BTreeMap<String, String>,
    /// The template's document text, placeholders and all.
    pub document: String,
}

impl Store {
    /// GetJobDocument: the document text as CreateJob was given it. With
    /// `before_substitution`, a template job's document before its
    /// `${aws:iot:parameter:…}` placeholders were filled in; any other job
    /// has only the one text.
    pub fn job_document_text(
        &self,
        job_id: &str,
        before_substitution: bool,
    ) -> Result<String, StoreError> {
        let found: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT document, document_before_substitution FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (document, before) =
            found.ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
        Ok(match before {
            Some(before) if before_substitution => before,
            _ => document,
        })
    }
}
