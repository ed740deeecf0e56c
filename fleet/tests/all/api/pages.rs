//! `maxResults` / `nextToken` on the list calls, and their filters.

use super::*;

/// Follows `nextToken` from `path` (which has a query already) until the
/// last page; calls `between` after the first page. Returns the ids
/// (`field` of each entry of `list`) in order, and the number of pages.
async fn walk(
    s: &Server,
    path: &str,
    list: &str,
    field: &str,
    mut between: impl FnMut(usize),
) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &token {
            Some(t) => format!("{path}&nextToken={t}"),
            None => path.to_owned(),
        };
        let (status, _, page) = s.call(s.req(Method::GET, &url)).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        pages += 1;
        for entry in page[list].as_array().unwrap() {
            ids.push(entry[field].as_str().unwrap().to_owned());
        }
        between(pages);
        match page.get("nextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => return (ids, pages),
        }
        assert!(pages < 50, "the walk does not end");
    }
}

#[tokio::test]
async fn list_jobs_pages_every_job_exactly_once_in_order() {
    let s = Server::start(None).await;
    for i in 1..=7 {
        // Two jobs per second: the order within a second is creation order.
        s.clock.store(T0 + i / 2, Ordering::SeqCst);
        s.create(&format!("job-{i}"), &["t1"]).await;
    }
    let (ids, pages) = walk(&s, "/jobs?maxResults=3", "jobs", "jobId", |page| {
        if page == 1 {
            // Created between pages: listed once, at the end.
            let store = Arc::clone(&s.store);
            let mut store = store.lock().unwrap();
            let job = jobhost_fleet::store::CreateJob {
                job_id: "job-late".into(),
                targets: vec!["t1".into()],
                document: json!({"operation": "echo"}).into(),
                ..Default::default()
            };
            store.create_job(&job, T0 + 3).unwrap();
        }
    })
    .await;
    let expected: Vec<String> = (1..=7)
        .map(|i| format!("job-{i}"))
        .chain(["job-late".to_owned()])
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(pages, 3);

    // Without maxResults, everything at once and no nextToken.
    let (_, _, all) = s.call(s.req(Method::GET, "/jobs")).await;
    assert_eq!(all["jobs"].as_array().unwrap().len(), 8);
    assert!(all.get("nextToken").is_none());
}

#[tokio::test]
async fn bad_page_sizes_and_tokens_are_invalid_requests() {
    let s = Server::start(None).await;
    s.create("j1", &["t1", "t2"]).await;
    s.create("j2", &["t1"]).await;
    let (_, _, page) = s.call(s.req(Method::GET, "/jobs?maxResults=1")).await;
    let jobs_token = page["nextToken"].as_str().unwrap().to_owned();
    let (_, _, page) = s
        .call(s.req(Method::GET, "/jobs/j1/things?maxResults=1"))
        .await;
    let exec_token = page["nextToken"].as_str().unwrap().to_owned();
    for path in [
        "/jobs?maxResults=0".to_owned(),
        "/jobs?maxResults=251".to_owned(),
        "/jobs?maxResults=ten".to_owned(),
        "/jobs?nextToken=garbage".to_owned(),
        format!("/jobs?nextToken={exec_token}"),
        format!("/jobs/j1/things?nextToken={jobs_token}"),
        format!("/things/t1/jobs?nextToken={exec_token}"),
        "/things/t1/jobs?maxResults=300".to_owned(),
        "/managed-job-templates?maxResults=0".to_owned(),
        "/managed-job-templates?nextToken=abc".to_owned(),
    ] {
        assert_error(
            s.call(s.req(Method::GET, &path)).await,
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        );
    }
    let (status, _, page) = s.call(s.req(Method::GET, "/jobs?maxResults=250")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn execution_and_template_lists_page_too() {
    let s = Server::start(None).await;
    s.create("j1", &["a", "b", "c", "d", "e"]).await;
    s.create("j2", &["a"]).await;
    s.create("j3", &["a"]).await;
    let (things, pages) = walk(
        &s,
        "/jobs/j1/things?maxResults=2",
        "executionSummaries",
        "thingArn",
        |_| {},
    )
    .await;
    let arn = |t: &str| format!("arn:aws:iot:local:000000000000:thing/{t}");
    assert_eq!(things, ["a", "b", "c", "d", "e"].map(arn));
    assert_eq!(pages, 3);
    let (jobs, _) = walk(
        &s,
        "/things/a/jobs?maxResults=1",
        "executionSummaries",
        "jobId",
        |_| {},
    )
    .await;
    assert_eq!(jobs, ["j1", "j2", "j3"]);
    let (names, pages) = walk(
        &s,
        "/managed-job-templates?maxResults=3",
        "managedJobTemplates",
        "templateName",
        |_| {},
    )
    .await;
    assert_eq!(names.len(), jobhost_fleet::templates::TEMPLATES.len());
    assert_eq!(names[0], "AWS-Download-File");
    assert_eq!(pages, names.len().div_ceil(3));
    let (_, _, one) = s
        .call(s.req(
            Method::GET,
            "/managed-job-templates?templateName=AWS-Reboot&maxResults=1",
        ))
        .await;
    assert_eq!(one["managedJobTemplates"][0]["templateName"], "AWS-Reboot");
    assert!(one.get("nextToken").is_none(), "{one}");
}

#[tokio::test]
async fn list_filters_are_applied() {
    let s = Server::start(None).await;
    s.create("j1", &["a"]).await;
    s.create("j2", &["a", "b"]).await;
    s.device_update("a", "j2", JobExecutionStatus::InProgress, &[]);

    let (_, _, list) = s.call(s.req(Method::GET, "/things/a/jobs?jobId=j2")).await;
    let entries = list["executionSummaries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["jobId"], "j2");
    assert_eq!(entries[0]["jobExecutionSummary"]["status"], "IN_PROGRESS");
    let (_, _, list) = s
        .call(s.req(Method::GET, "/things/a/jobs?jobId=j2&status=QUEUED"))
        .await;
    assert_eq!(list["executionSummaries"], json!([]));
    let (_, _, list) = s.call(s.req(Method::GET, "/things/b/jobs?jobId=j1")).await;
    assert_eq!(list["executionSummaries"], json!([]));

    let (_, _, jobs) = s
        .call(s.req(Method::GET, "/jobs?targetSelection=SNAPSHOT"))
        .await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2);
    let (_, _, jobs) = s
        .call(s.req(Method::GET, "/jobs?targetSelection=CONTINUOUS"))
        .await;
    assert_eq!(jobs["jobs"], json!([]));
    assert_error(
        s.call(s.req(Method::GET, "/jobs?targetSelection=SOMETIMES"))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}

#[tokio::test]
async fn list_jobs_newest_first_is_jobhosts_sort_order_with_its_own_tokens() {
    let s = Server::start(None).await;
    for i in 1..=5 {
        s.clock.store(T0 + i / 2, Ordering::SeqCst);
        s.create(&format!("job-{i}"), &["t1"]).await;
    }
    let (ids, pages) = walk(
        &s,
        "/jobs?sortOrder=DESCENDING&maxResults=2",
        "jobs",
        "jobId",
        |_| {},
    )
    .await;
    assert_eq!(ids, ["job-5", "job-4", "job-3", "job-2", "job-1"]);
    assert_eq!(pages, 3);
    // The newest two alone: one bounded request.
    let (_, _, newest) = s
        .call(s.req(
            Method::GET,
            "/jobs?sortOrder=DESCENDING&maxResults=2&status=IN_PROGRESS",
        ))
        .await;
    let ids: Vec<&str> = newest["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["jobId"].as_str())
        .collect();
    assert_eq!(ids, ["job-5", "job-4"]);
    // ASCENDING is AWS's order; a token of one order is refused by the
    // other, and so is any other sortOrder.
    let (_, _, asc) = s
        .call(s.req(Method::GET, "/jobs?sortOrder=ASCENDING&maxResults=1"))
        .await;
    assert_eq!(asc["jobs"][0]["jobId"], "job-1");
    let asc_token = asc["nextToken"].as_str().unwrap();
    let desc_token = newest["nextToken"].as_str().unwrap();
    for path in [
        format!("/jobs?sortOrder=DESCENDING&nextToken={asc_token}"),
        format!("/jobs?nextToken={desc_token}"),
        "/jobs?sortOrder=descending".to_owned(),
    ] {
        assert_error(
            s.call(s.req(Method::GET, &path)).await,
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        );
    }
}
