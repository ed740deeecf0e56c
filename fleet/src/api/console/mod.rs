//! The web console at `/console`: pages an operator opens in a browser to
//! watch and drive the fleet (overview, jobs, a job's live executions,
//! devices, groups, artifacts, creating a job from a template).
//!
//! # Why this shape
//!
//! - **Server-rendered HTML** (maud templates, checked at compile time, every
//!   interpolated value escaped unless explicitly marked), a small embedded
//!   stylesheet and one vanilla script: no Node, no bundler, no build step,
//!   nothing fetched from a CDN. A fresh clone builds the console with
//!   `cargo build`, and it keeps working as long as browsers render HTML.
//! - **Through the HTTP API, never around it.** Every page reads and every
//!   form writes by sending the JSON API's own request to the API's own
//!   router, in-process ([`dispatch`]): the same validation, the same error
//!   messages (shown in the page), the same notifications to devices. The
//!   console holds no store handle.
//! - **Same authentication.** The login page takes the service's bearer
//!   token or its AWS access key pair, the credentials the JSON API takes,
//!   and opens a session ([`session`]): a random 256-bit id in an HttpOnly,
//!   SameSite=Strict cookie, with an idle and an absolute expiry. Every
//!   change is a POST carrying the session's CSRF token ([`csrf`]).
//! - **Live updates are pushed.** A job's page listens to
//!   `GET /execution-changes` (Server-Sent Events, through [`dispatch`]),
//!   every committed change of the job's executions, and applies each to
//!   its row of the table (the event carries status and statusDetails):
//!   no polling loop, and no re-reading of the table per change.
//! - **Pages, not everything.** A list a large fleet makes long (the jobs,
//!   a job's executions, the overview's things) is shown a page at a time
//!   through the API's own pagination, with links back and forth; a count
//!   comes from a request that counts (GetBucketsAggregation for things
//!   online) or is bounded (`maxResults`), so a page costs a bounded number
//!   of API requests.
//!
//! # Layout
//!
//! - `routes`: the route table and the security headers (CSP without
//!   inline scripts, no framing, no caching).
//! - `session`: sessions, the cookie, and the [`session::Operator`]
//!   extractor every page takes.
//! - `csrf`: the [`csrf::Change`] extractor every POST takes.
//! - `link`: one-time login links (`jobhost-fleet demo` prints one).
//! - `dispatch`: the in-process API client.
//! - `bundle`: the snapshot in a device's diagnostics bundle, read with
//!   bounds (the bundle comes from the device).
//! - `html`: the page layout and the small pieces pages share.
//! - `pages`: one module per page.
//! - `assets`: the embedded stylesheet and script.

mod assets;
mod bundle;
mod csrf;
mod dispatch;
mod html;
mod link;
mod pages;
mod routes;
mod session;

#[cfg(test)]
mod tests;

pub use link::login_link;
pub(super) use routes::router;
