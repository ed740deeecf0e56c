//! The web console in a real browser: Debian's headless Chromium driven
//! over WebDriver (chromedriver, fantoccini), against the real service
//! (HTTP API, embedded broker, store) and simulated devices on MQTT.
//!
//! Chromium and chromedriver are required, not optional: without them
//! these tests fail with the command that installs them (`scripts/test`
//! does). Screenshots of the main pages land in
//! `target/console-screenshots/`; every page checked is run through
//! axe-core (third_party/axe-core) in the same browser.

mod artifacts;
mod browser;
mod device;
mod diagnostics;
mod fleet;
mod flows;
mod keyboard;
mod rollout;
mod scale;
