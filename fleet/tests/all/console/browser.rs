//! Chromium under chromedriver, one per test, and what the tests ask of it.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Bound on any wait for the page (a condition checked until it holds).
pub const PAGE_WAIT: Duration = Duration::from_secs(30);

const INSTALL: &str = "the console's browser tests need Debian's chromium and chromium-driver: \
     `apt-get install chromium chromium-driver` (scripts/test installs them)";

/// A browser session; chromedriver (and Chromium with it) ends when dropped.
pub struct Browser {
    pub client: Client,
    _driver: Child,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .chain([
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/lib/chromium"),
            ])
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session
    /// with a window of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let driver =
            find(&["chromedriver"]).unwrap_or_else(|| panic!("no chromedriver: {INSTALL}"));
        let chromium = find(&["chromium", "chromium-browser"])
            .unwrap_or_else(|| panic!("no chromium: {INSTALL}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}): {INSTALL}"));
        // chromedriver says when it listens: wait for that line.
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::time::timeout(PAGE_WAIT, async {
            while let Some(line) = lines.next_line().await.expect("chromedriver output") {
                if line.contains("started successfully") {
                    return;
                }
            }
            panic!("chromedriver exited before it listened");
        })
        .await
        .expect("chromedriver started in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session ({e}): {INSTALL}"));
        Browser {
            client,
            _driver: child,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits (bounded) until an element matches `css`.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_until(Locator::Css(css), css).await
    }

    /// Waits (bounded) until an element matches the XPath `xpath` (which,
    /// unlike CSS, can match on text).
    pub async fn wait_for_xpath(&self, xpath: &str) -> fantoccini::elements::Element {
        self.wait_until(Locator::XPath(xpath), xpath).await
    }

    async fn wait_until(&self, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("no {what} within {PAGE_WAIT:?}: {e}"))
    }

    /// The status of a `fetch(path, {method, body})` from the page: its
    /// origin and cookies, nothing else (no CSRF token).
    pub async fn fetch_status(&self, method: &str, path: &str, form: bool, body: &str) -> u16 {
        let status = self
            .client
            .execute_async(
                "const [method, path, form, body, done] = arguments;
                 fetch(path, { method, body: form ? new URLSearchParams(body) : body })
                   .then(r => done(r.status), e => done(String(e)));",
                vec![method.into(), path.into(), form.into(), body.into()],
            )
            .await
            .expect("run fetch");
        status
            .as_u64()
            .unwrap_or_else(|| panic!("fetch failed: {status}")) as u16
    }

    /// Marks the page, so that a reload (which would lose the mark) cannot
    /// pass for an update in place; [`Browser::assert_not_reloaded`]
    /// checks it.
    pub async fn mark_page(&self) {
        self.client
            .execute("window.__notReloaded = true;", vec![])
            .await
            .expect("mark the page");
    }

    /// Fails if the page marked by [`Browser::mark_page`] was reloaded.
    pub async fn assert_not_reloaded(&self, what: &str) {
        let same = self
            .client
            .execute("return window.__notReloaded === true;", vec![])
            .await
            .expect("read the mark");
        assert_eq!(same, serde_json::json!(true), "{what} without a reload");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("text")
    }

    /// Saves a screenshot as target/console-screenshots/`name`.png.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Runs axe-core on the page; fails listing each WCAG 2 A/AA violation.
    pub async fn assert_accessible(&self, page: &str) {
        const AXE: &str = include_str!("../../../../third_party/axe-core/axe.min.js");
        self.client
            .execute(AXE, vec![])
            .await
            .expect("inject axe-core");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                    .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("run axe-core");
        let violations: Vec<String> = serde_json::from_value(result).expect("a list");
        assert!(
            violations.is_empty(),
            "{page}: accessibility violations:\n{}",
            violations.join("\n")
        );
    }
}
