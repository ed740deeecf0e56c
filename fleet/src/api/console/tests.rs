#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! The console through the real router (real store, in-process requests):
//! login, sessions and their expiry, CSRF refusal, escaping, login links,
//! which failures the overview reads.

use super::super::{router, ApiState};
use super::pages::create::placeholders;
use super::pages::plot::{series, Execution, Group};
use super::session::{Sessions, IDLE_SECS, MAX_AGE_SECS};
use crate::artifacts::Artifacts;
use crate::store::Store;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

const T0: i64 = 1_700_000_000;
const TOKEN: &str = "s3cret-token";

struct Fixture {
    app: Router,
    clock: Arc<AtomicI64>,
    store: Arc<Mutex<Store>>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = Arc::new(
        Artifacts::open(
            &dir.path().join("artifacts"),
            "http://fleet.test",
            Duration::from_secs(600),
        )
        .unwrap(),
    );
    let store = Arc::new(Mutex::new(
        Store::open(&dir.path().join("jobs.sqlite")).unwrap(),
    ));
    let (tx, _) = tokio::sync::mpsc::unbounded_channel();
    let clock = Arc::new(AtomicI64::new(T0));
    let c = Arc::clone(&clock);
    let state = ApiState::new(Arc::clone(&store), tx, artifacts)
        .with_token(TOKEN)
        .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    Fixture {
        // One router for the whole test, as `serve` builds one.
        app: router(state),
        clock,
        store,
        _dir: dir,
    }
}

impl Fixture {
    async fn call(&self, request: Request<Body>) -> Response {
        self.app.clone().oneshot(request).await.unwrap()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut r = Request::get(path);
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        self.call(r.body(Body::empty()).unwrap()).await
    }

    async fn post_form(&self, path: &str, cookie: Option<&str>, form: &str) -> Response {
        let mut r =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        self.call(r.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// The login form's pre-session cookie (as a `Cookie` header value)
    /// and the token its form carries.
    async fn login_form(&self) -> (String, String) {
        let r = self.get("/console/login", None).await;
        let cookie = cookie_of(&r);
        let page = text(r).await;
        let at = page.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
        (cookie, page[at..at + 64].to_owned())
    }

    /// Posts the login form (fetched first, as a browser does) with `fields`.
    async fn post_login(&self, fields: &str) -> Response {
        let (cookie, token) = self.login_form().await;
        self.post_form(
            "/console/login",
            Some(&cookie),
            &format!("_csrf={token}&{fields}"),
        )
        .await
    }

    /// Logs in with the token; the `Cookie` header value to send back.
    async fn login(&self) -> String {
        let r = self
            .post_login(&format!("token={TOKEN}&next=%2Fconsole%2Fjobs"))
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/console/jobs");
        cookie_of(&r)
    }

    /// The CSRF token the page at `path` puts in its forms.
    async fn csrf(&self, cookie: &str, path: &str) -> String {
        let page = text(self.get(path, Some(cookie)).await).await;
        let at = page.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
        page[at..at + 64].to_owned()
    }
}

fn location(r: &Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

fn cookie_of(r: &Response) -> String {
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn text(r: Response) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_login_and_back() {
    let f = fixture();
    let r = f.get("/console/jobs?status=COMPLETED", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/console/login?next=%2Fconsole%2Fjobs%3Fstatus%3DCOMPLETED"
    );
    let login = f.get(&location(&r), None).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(text(login).await.contains("name=\"token\""));
}

#[tokio::test]
async fn login_takes_the_api_token_and_sets_a_strict_httponly_cookie() {
    let f = fixture();
    let wrong = f.post_login("token=nope").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let set = wrong.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("jobhost_console_login="),
        "only a new form: {set}"
    );
    assert!(
        text(wrong).await.contains("not this service"),
        "the reason is shown"
    );

    let r = f.post_login(&format!("token={TOKEN}")).await;
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let id = set.split(';').next().unwrap().split('=').nth(1).unwrap();
    assert_eq!(id.len(), 64, "256 bits in hex");

    let page = f.get("/console/jobs", Some(&cookie_of(&r))).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));

    let (cookie, token) = f.login_form().await;
    let https = f
        .call(
            Request::post("/console/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie)
                .header("x-forwarded-proto", "https")
                .body(Body::from(format!("_csrf={token}&token={TOKEN}")))
                .unwrap(),
        )
        .await;
    assert!(https.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));
}

#[tokio::test]
async fn a_login_without_its_forms_pre_session_token_is_refused() {
    let f = fixture();
    // The login page sets its token in a strict, short-lived cookie.
    let page = f.get("/console/login", None).await;
    let set = page.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "jobhost_console_login=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console/login",
        "Max-Age=600",
    ] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    let (cookie, token) = f.login_form().await;
    let (_, other_token) = f.login_form().await;
    // The right credentials, but no token, another form's token, or no
    // cookie (a cross-site POST): refused, no session.
    for (cookie, form) in [
        (Some(cookie.as_str()), format!("token={TOKEN}")),
        (
            Some(cookie.as_str()),
            format!("_csrf={other_token}&token={TOKEN}"),
        ),
        (None, format!("_csrf={token}&token={TOKEN}")),
    ] {
        let r = f.post_form("/console/login", cookie, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form}");
        let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(!set.starts_with("jobhost_console="), "no session: {set}");
        assert!(text(r).await.contains("did not come from this service"));
    }
    let r = f
        .post_form(
            "/console/login",
            Some(&cookie),
            &format!("_csrf={token}&token={TOKEN}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(cookie_of(&r).starts_with("jobhost_console="));
}

#[tokio::test]
async fn an_idle_session_expires_and_the_page_goes_to_login() {
    let f = fixture();
    let cookie = f.login().await;
    f.clock.fetch_add(IDLE_SECS - 1, Ordering::SeqCst);
    assert_eq!(
        f.get("/console/", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    // Each request pushes the idle expiry back.
    f.clock.fetch_add(IDLE_SECS - 1, Ordering::SeqCst);
    assert_eq!(
        f.get("/console/", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    f.clock.fetch_add(IDLE_SECS, Ordering::SeqCst);
    let r = f.get("/console/", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/console/login"));
}

#[test]
fn a_busy_session_still_ends_at_its_maximum_age() {
    let sessions = Sessions::default();
    let id = sessions.open(T0).unwrap();
    let mut now = T0;
    while now + IDLE_SECS / 2 < T0 + MAX_AGE_SECS {
        now += IDLE_SECS / 2;
        assert!(sessions.touch(&id, now).is_some(), "live at {}", now - T0);
    }
    assert!(sessions.touch(&id, T0 + MAX_AGE_SECS).is_none());
    assert!(sessions.touch("f".repeat(64).as_str(), T0).is_none());
}

#[tokio::test]
async fn a_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let f = fixture();
    let cookie = f.login().await;
    let refused = f
        .post_form("/console/groups", Some(&cookie), "name=g1")
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let wrong = f
        .post_form(
            "/console/groups",
            Some(&cookie),
            &format!("name=g1&_csrf={}", "0".repeat(64)),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let api = f
        .call(
            Request::get("/thing-groups/g1")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND, "no group was made");

    let csrf = f.csrf(&cookie, "/console/groups").await;
    let made = f
        .post_form(
            "/console/groups",
            Some(&cookie),
            &format!("name=g1&_csrf={csrf}"),
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&made), "/console/groups/g1");
}

#[tokio::test]
async fn data_from_the_api_is_escaped_in_pages() {
    let f = fixture();
    let create = f
        .call(
            Request::builder()
                .method(Method::PUT)
                .uri("/jobs/xss")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::from(
                    r#"{"targets":["dev1"],"document":"{\"k\":\"</pre><script>alert(2)</script>\"}","description":"<script>alert(1)</script>"}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(create.status(), StatusCode::OK);
    let cookie = f.login().await;
    let page = text(f.get("/console/jobs/xss", Some(&cookie)).await).await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("</pre><script>"), "{page}");
}

#[tokio::test]
async fn an_api_refusal_is_shown_and_the_form_keeps_its_values() {
    let f = fixture();
    let cookie = f.login().await;
    let csrf = f
        .csrf(
            &cookie,
            "/console/jobs/new?kind=managed&template=AWS-Reboot",
        )
        .await;
    let r = f
        .post_form(
            "/console/jobs/new",
            Some(&cookie),
            &format!(
                "_csrf={csrf}&template=AWS-Reboot&kind=managed&job_id=bad+id&description=keep+me&thing=ghost&action=create"
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = text(r).await;
    assert!(page.contains("role=\"alert\""), "{page}");
    assert!(page.contains("InvalidRequestException"), "{page}");
    assert!(
        page.contains("value=\"keep me\""),
        "the description is kept: {page}"
    );
    assert!(
        page.contains("value=\"bad id\""),
        "the job id is kept: {page}"
    );
}

#[tokio::test]
async fn a_login_link_opens_one_session_once_before_it_expires() {
    let f = fixture();
    let link = super::login_link("http://fleet.test/", TOKEN, T0).unwrap();
    let path = link.strip_prefix("http://fleet.test").unwrap().to_owned();
    let first = f.get(&path, None).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        f.get("/console/", Some(&cookie_of(&first))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        f.get(&path, None).await.status(),
        StatusCode::UNAUTHORIZED,
        "used twice"
    );

    let other = super::login_link("http://fleet.test", "another-token", T0).unwrap();
    let other = other.strip_prefix("http://fleet.test").unwrap();
    assert_eq!(f.get(other, None).await.status(), StatusCode::UNAUTHORIZED);

    let late = super::login_link("http://fleet.test", TOKEN, T0).unwrap();
    f.clock
        .fetch_add(super::link::LINK_TTL_SECS, Ordering::SeqCst);
    let late = late.strip_prefix("http://fleet.test").unwrap();
    assert_eq!(f.get(late, None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let f = fixture();
    let cookie = f.login().await;
    let csrf = f.csrf(&cookie, "/console/").await;
    let r = f
        .post_form("/console/logout", Some(&cookie), &format!("_csrf={csrf}"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        f.get("/console/", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[test]
fn login_redirects_stay_inside_the_console() {
    use super::pages::login::safe_next;
    assert_eq!(
        safe_next("/console/jobs?status=X"),
        "/console/jobs?status=X"
    );
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/console//evil",
        "/other",
        "/console\\x",
    ] {
        assert_eq!(safe_next(evil), "/console/", "{evil}");
    }
}

#[test]
fn a_custom_documents_parameters_are_its_placeholders() {
    let doc = r#"{"a":"${aws:iot:parameter:url}","b":"${aws:iot:parameter:mode}-${aws:iot:parameter:url}","c":"${aws:iot:s3-presigned-url:x}"}"#;
    assert_eq!(placeholders(doc), ["url", "mode"]);
}

#[test]
fn the_plot_counts_each_status_at_each_change() {
    let e = |queued, started, ended| Execution {
        queued_at: queued,
        started_at: started,
        ended,
    };
    let points = series(&[
        e(10, Some(12), Some((15, Group::Succeeded))),
        e(10, Some(13), Some((20, Group::Failed))),
        e(11, None, None),
    ]);
    // queued, in progress, succeeded, failed, other
    assert_eq!(
        points,
        [
            (10, [2, 0, 0, 0, 0]),
            (11, [3, 0, 0, 0, 0]),
            (12, [2, 1, 0, 0, 0]),
            (13, [1, 2, 0, 0, 0]),
            (15, [1, 1, 1, 0, 0]),
            (20, [1, 0, 1, 1, 0]),
        ]
    );
}

#[tokio::test]
async fn the_overviews_failures_come_from_the_ten_newest_jobs_only() {
    let f = fixture();
    let cookie = f.login().await;
    let job = |id: &str| crate::store::CreateJob {
        job_id: id.into(),
        targets: vec!["dev-1".into()],
        document: serde_json::json!({"operation": "echo"}).into(),
        ..Default::default()
    };
    {
        let mut store = f.store.lock().unwrap();
        store.create_thing("dev-1", None, T0).unwrap();
        store.create_job(&job("old-fail"), T0).unwrap();
        let mut failed = jobhost_protocol::requests::UpdateRequest::new(
            jobhost_protocol::JobExecutionStatus::Failed,
        );
        failed.status_details = Some([("reason".to_owned(), "disk full".to_owned())].into());
        store.update("dev-1", "old-fail", &failed, T0).unwrap();
    }
    let page = text(f.get("/console/", Some(&cookie)).await).await;
    assert!(page.contains("disk full"), "the newest job's failure");

    // Ten newer jobs: the failure is no longer among the newest, and the
    // overview does not read further back.
    for i in 0..10 {
        let mut store = f.store.lock().unwrap();
        store
            .create_job(&job(&format!("newer-{i}")), T0 + 1 + i)
            .unwrap();
    }
    let page = text(f.get("/console/", Some(&cookie)).await).await;
    assert!(!page.contains("disk full"), "an older job's failure");
    assert!(page.contains("None among the 10 newest jobs."));
}
