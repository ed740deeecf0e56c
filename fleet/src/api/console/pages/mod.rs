//! One module per console page. Each reads through
//! [`super::dispatch`] and renders with [`super::html`].

pub(super) mod artifacts;
pub(super) mod create;
pub(super) mod device;
mod diagnostics;
mod executions;
pub(super) mod groups;
pub(super) mod job;
pub(super) mod jobs;
pub(super) mod login;
pub(super) mod overview;
mod pager;
pub(super) mod plot;
mod progress;
mod rollout;
