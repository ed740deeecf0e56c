//! The console with the keyboard alone: Tab to move, Enter to follow a
//! link or press a button, Space to tick a checkbox, typing into fields.
//! An operator logs in, goes to "New job" through the navigation, creates
//! a job from a template for a thing, and cancels it with a reason, and
//! every element Tab lands on on the way shows that it has the focus (a
//! visible outline, on screen: the skip link comes into view).

use super::browser::Browser;
use super::fleet::{Fleet, TOKEN};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{json, Value};

/// Bound on the Tab presses to reach one control (a page has fewer
/// focusable elements than this).
const MAX_TABS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_creates_and_cancels_a_job_with_the_keyboard_only() {
    let fleet = Fleet::start().await;
    fleet.template().await;
    fleet.thing("kb-away").await; // never connects: the job stays cancellable
    let b = Browser::start(1280, 900).await;

    b.goto(&format!("{}/console/", fleet.base)).await;
    b.wait_for("#token").await;
    tab_to(&b, "#token").await;
    type_text(&b, TOKEN).await;
    press(&b, Key::Enter).await;
    b.wait_for("nav[aria-label=Console]").await;
    assert_eq!(b.path().await, "/console/");

    // The first stop is the skip link, shown while it has the focus.
    tab_to(&b, "a.skip").await;
    tab_to(&b, "nav a[href='/console/jobs/new']").await;
    press(&b, Key::Enter).await;
    b.wait_for("a[href='/console/jobs/new?kind=custom&template=greet']")
        .await;
    assert_eq!(b.path().await, "/console/jobs/new");
    tab_to(&b, "a[href='/console/jobs/new?kind=custom&template=greet']").await;
    press(&b, Key::Enter).await;
    b.wait_for("#job_id").await;

    tab_to(&b, "#job_id").await;
    type_text(&b, "kb-1").await;
    tab_to(&b, "#param-message").await;
    type_text(&b, "typed, not clicked").await;
    tab_to(&b, "input[name=thing][value='kb-away']").await;
    press(&b, Key::Space).await;
    let ticked = b
        .client
        .execute(
            "return document.querySelector(\"input[name=thing][value='kb-away']\").checked;",
            vec![],
        )
        .await
        .expect("read the checkbox");
    assert_eq!(ticked, json!(true), "Space ticks the focused checkbox");
    tab_to(&b, "button[value=create]").await;
    press(&b, Key::Enter).await;
    b.wait_for("#live").await;
    assert_eq!(b.path().await, "/console/jobs/kb-1");

    tab_to(&b, "#reason_code").await;
    type_text(&b, "KEYBOARD_STOP").await;
    tab_to(&b, "button.danger").await;
    press(&b, Key::Enter).await;
    b.wait_for("div.notice").await;
    let facts = b.text("dl.facts").await;
    assert!(facts.contains("CANCELED"), "{facts}");
    assert!(facts.contains("KEYBOARD_STOP"), "{facts}");
}

/// Presses and releases `key`, sent to whatever has the focus.
async fn press(b: &Browser, key: impl Into<char>) {
    let key = key.into();
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    b.client
        .perform_actions(actions)
        .await
        .expect("press a key");
}

async fn type_text(b: &Browser, text: &str) {
    for c in text.chars() {
        press(b, c).await;
    }
}

/// Presses Tab until the focused element matches `css`; every element
/// focused on the way must show its focus.
async fn tab_to(b: &Browser, css: &str) {
    for _ in 0..MAX_TABS {
        press(b, Key::Tab).await;
        let focus = b
            .client
            .execute(
                "const e = document.activeElement;
                 if (!e || e === document.body) return { matches: false, shown: true, what: 'body' };
                 const s = getComputedStyle(e);
                 const r = e.getBoundingClientRect();
                 const outlined = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
                 const onScreen = r.right > 0 && r.bottom > 0 && r.width > 0 && r.height > 0;
                 return { matches: e.matches(arguments[0]), shown: outlined && onScreen,
                          what: e.outerHTML.slice(0, 120) };",
                vec![json!(css)],
            )
            .await
            .expect("read the focus");
        let what = focus["what"].as_str().unwrap_or_default();
        assert_eq!(
            focus["shown"],
            Value::Bool(true),
            "the focused element shows no focus: {what}"
        );
        if focus["matches"] == Value::Bool(true) {
            return;
        }
    }
    panic!("{css} not reached in {MAX_TABS} Tab presses");
}
