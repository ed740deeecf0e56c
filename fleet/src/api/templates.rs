//! Managed job template routes: ListManagedJobTemplates and
//! DescribeManagedJobTemplate, at AWS's paths and in AWS's shapes. The
//! templates themselves are [`crate::templates`]; CreateJob uses them
//! through `jobTemplateArn` (see `jobs`).

use super::extract::{Path, Query};
use super::pages::{self, List};
use super::ApiError;
use crate::templates::{self, Parameter, Template, TemplateError, ENVIRONMENT, TEMPLATE_VERSION};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A template as ListManagedJobTemplates lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    template_arn: String,
    template_name: &'static str,
    description: &'static str,
    environments: [&'static str; 1],
    template_version: &'static str,
}

impl Summary {
    fn of(t: &Template) -> Self {
        Self {
            template_arn: t.arn(),
            template_name: t.name,
            description: t.description,
            environments: [ENVIRONMENT],
            template_version: TEMPLATE_VERSION,
        }
    }
}

/// DescribeManagedJobTemplate's answer: the summary, the parameters, and
/// the document as a string, as AWS returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Described {
    #[serde(flatten)]
    summary: Summary,
    document_parameters: &'static [Parameter],
    document: String,
}

/// A template error as the API reports it: an unknown template or version
/// is 404 ResourceNotFoundException, anything malformed 400.
pub(super) fn api_error(e: TemplateError) -> ApiError {
    match e {
        TemplateError::NotFound(m) => ApiError::NotFound(m),
        TemplateError::Invalid(m) => ApiError::InvalidRequest(m),
    }
}

/// ListManagedJobTemplates' query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    template_name: Option<String>,
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
}

/// `GET /managed-job-templates?templateName=&maxResults=&nextToken=`:
/// ListManagedJobTemplates, in a fixed order; a token is the index of the
/// last template listed.
pub(super) async fn list(Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let list = List::ManagedJobTemplates;
    let start = q
        .next_token
        .map(|t| list.index(&t).map(|i| i.saturating_add(1)))
        .transpose()?
        .unwrap_or(0);
    let limit = list.limit(q.max_results)?.unwrap_or(usize::MAX);
    let matching: Vec<(usize, &Template)> = templates::TEMPLATES
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, t)| q.template_name.as_deref().is_none_or(|n| n == t.name))
        .collect();
    let page: Vec<Summary> = matching
        .iter()
        .take(limit)
        .map(|(_, t)| Summary::of(t))
        .collect();
    let next = if matching.len() > limit {
        matching
            .get(limit - 1)
            .map(|(last, _)| list.index_token(*last))
    } else {
        None
    };
    Ok(Json(pages::reply("managedJobTemplates", page, next)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DescribeQuery {
    #[serde(default)]
    template_version: Option<String>,
}

/// `GET /managed-job-templates/{templateName}?templateVersion=`:
/// DescribeManagedJobTemplate.
pub(super) async fn describe(
    Path(name): Path<String>,
    Query(q): Query<DescribeQuery>,
) -> Result<Json<Value>, ApiError> {
    let template = templates::find(&name).map_err(api_error)?;
    if let Some(v) = &q.template_version {
        template.version(v).map_err(api_error)?;
    }
    let document = serde_json::to_string(&template.raw_document())
        .map_err(|e| ApiError::Internal(format!("cannot serialise the template document: {e}")))?;
    let described = Described {
        summary: Summary::of(template),
        document_parameters: template.parameters,
        document,
    };
    let value = serde_json::to_value(described)
        .map_err(|e| ApiError::Internal(format!("cannot serialise the template: {e}")))?;
    Ok(Json(value))
}
