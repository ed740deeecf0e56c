//! Whole lists from the API's paged list operations (ListThings,
//! ListThingGroups, ListThingsInThingGroup): a listing that showed only
//! the first page would hide things without saying so.

use super::client::Client;
use anyhow::{bail, Result};
use reqwest::Method;
use serde_json::Value;

/// Every item under `key` of the list at `path` with `query`, following
/// `nextToken` until the service sends none (how botocore's paginators
/// stop).
pub async fn all(
    client: &Client,
    path: &str,
    query: &[(&str, &str)],
    key: &str,
) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut rb = client.request(Method::GET, path).query(query);
        if let Some(t) = &token {
            rb = rb.query(&[("nextToken", t)]);
        }
        let mut page: Value = client.json(rb).await?;
        match page.get_mut(key).map(Value::take) {
            Some(Value::Array(list)) => items.extend(list),
            None | Some(Value::Null) => {}
            Some(_) => bail!("the API's {key} is not a list"),
        }
        match page.get("nextToken").and_then(Value::as_str) {
            None => return Ok(items),
            // A token that does not move would page forever.
            Some(t) if token.as_deref() == Some(t) => {
                bail!("the API sent the same nextToken twice")
            }
            Some(t) => token = Some(t.to_owned()),
        }
    }
}
