//! `POST /indices/buckets`: AWS IoT fleet indexing's GetBucketsAggregation
//! (<https://docs.aws.amazon.com/iot/latest/apireference/API_GetBucketsAggregation.html>),
//! for the one field where a fleet wants buckets and this service has the
//! data: `connectivity.connected`. "How many of my things are online"
//! is then one request, however large the fleet, where ListThings plus a
//! GetThingConnectivityData per thing would read every thing (the
//! console's overview asks this way).
//!
//! The query string is fleet indexing's, in the subset dynamic thing
//! groups use ([`crate::query`]); the index is `AWS_Things`. Other
//! aggregation fields, other indexes and query versions are refused with
//! a 400 naming them, never answered with something else.

use super::extract::{strict_body, Shape};
use super::{ApiError, ApiState};
use crate::query::Query;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// GetBucketsAggregationRequest's body members (botocore `iot` 2015-05-28).
const BUCKETS: Shape = Shape {
    operation: "GetBucketsAggregation",
    fields: &[
        "indexName",
        "queryString",
        "aggregationField",
        "queryVersion",
        "bucketsAggregationType",
    ],
};

/// The registry's index, the only one here (AWS's default name).
const THINGS_INDEX: &str = "AWS_Things";

/// The one field this service aggregates on.
const CONNECTED: &str = "connectivity.connected";

/// AWS's `maxBuckets` range (`TermsAggregation`, botocore's `iot` model).
const MAX_BUCKETS: std::ops::RangeInclusive<u32> = 1..=10_000;

/// `maxBuckets` when absent: AWS's default.
const DEFAULT_BUCKETS: u32 = 10;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BucketsBody {
    #[serde(default)]
    index_name: Option<String>,
    query_string: String,
    aggregation_field: String,
    #[serde(default)]
    query_version: Option<String>,
    buckets_aggregation_type: BucketsType,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BucketsType {
    #[serde(default)]
    terms_aggregation: Option<Terms>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Terms {
    #[serde(default)]
    max_buckets: Option<u32>,
}

/// `POST /indices/buckets`: GetBucketsAggregation on
/// `connectivity.connected`. The reply is AWS's: `totalCount` (the things
/// the query matches) and a bucket per value that occurs, largest first,
/// its `keyValue` the value as text (`"true"`, `"false"`).
pub(super) async fn buckets(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: BucketsBody = strict_body(&body, &BUCKETS)?;
    let refuse = |what: String| {
        Err(ApiError::InvalidRequest(format!(
            "GetBucketsAggregation: {what}"
        )))
    };
    if let Some(index) = body.index_name.as_deref().filter(|i| *i != THINGS_INDEX) {
        return refuse(format!(
            "indexName {index:?}: the only index here is {THINGS_INDEX}"
        ));
    }
    if let Some(v) = &body.query_version {
        return refuse(format!(
            "queryVersion {v:?} is not supported (one query language here)"
        ));
    }
    if body.aggregation_field != CONNECTED {
        return refuse(format!(
            "aggregationField {:?} is not supported: only {CONNECTED} is aggregated here",
            body.aggregation_field
        ));
    }
    let Some(terms) = body.buckets_aggregation_type.terms_aggregation else {
        return refuse("bucketsAggregationType needs termsAggregation".into());
    };
    let max = terms.max_buckets.unwrap_or(DEFAULT_BUCKETS);
    if !MAX_BUCKETS.contains(&max) {
        return refuse(format!(
            "maxBuckets {max} is outside {}-{}",
            MAX_BUCKETS.start(),
            MAX_BUCKETS.end()
        ));
    }
    let query = Query::parse(&body.query_string).map_err(|e| ApiError::InvalidQuery(e.0))?;
    let counts = state
        .with_store(move |s| s.count_connectivity(&query))
        .await?;
    let mut buckets: Vec<(&str, u64)> =
        [("true", counts.connected), ("false", counts.disconnected)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
    // Largest first, ties by key, as a terms aggregation orders its
    // buckets.
    buckets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    buckets.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    let buckets: Vec<Value> = buckets
        .into_iter()
        .map(|(key, count)| json!({ "keyValue": key, "count": count }))
        .collect();
    Ok(Json(
        json!({ "totalCount": counts.total(), "buckets": buckets }),
    ))
}
