//! The bearer token on management routes.

use super::*;

#[tokio::test]
async fn management_routes_require_the_token() {
    let mut s = Server::start(Some(TOKEN)).await;
    let (http, base) = (s.http.clone(), s.base.clone());
    let bare = move |m: Method, p: &str| http.request(m, format!("{base}{p}"));
    let routes = [
        (Method::PUT, "/jobs/j"),
        (Method::GET, "/jobs/j"),
        (Method::GET, "/jobs"),
        (Method::GET, "/jobs/j/job-document"),
        (Method::PUT, "/jobs/j/cancel"),
        (Method::DELETE, "/jobs/j"),
        (Method::GET, "/jobs/j/things"),
        (Method::GET, "/things/t/jobs"),
        (Method::GET, "/things/t/jobs/j"),
        (Method::PUT, "/things/t/jobs/j/cancel"),
        (Method::PUT, "/artifacts/a.bin"),
    ];
    for (m, p) in routes {
        let got = s.call(bare(m.clone(), p)).await;
        assert_error(got, StatusCode::UNAUTHORIZED, "UnauthorizedException");
        let got = s.call(bare(m.clone(), p).bearer_auth("wrong")).await;
        assert_error(got, StatusCode::UNAUTHORIZED, "UnauthorizedException");
    }
    let resp = bare(Method::GET, "/jobs").send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    s.no_changes();

    let (status, _, _) = s.call(bare(Method::GET, "/jobs").bearer_auth(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    s.create("j", &["t"]).await;
    assert_eq!(s.changed(), ["t"]);
    let resp = bare(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
