//! `jobhost-fleet`: a self-hosted jobs service that speaks the AWS IoT Jobs
//! device protocol, so that an unmodified AWS IoT Jobs agent (ours or
//! anyone's) can be driven without AWS: an MQTT broker, the device API on
//! it, AWS's job control-plane routes over HTTP, presigned downloads and
//! uploads, a device CA, and the `jobhost-fleet` command line.
//!
//! # Layout
//!
//! In the order a job flows through them, from the operator to the device:
//!
//! - [`cli`]: the `jobhost-fleet` command line. `serve` and `demo` start a
//!   [`server`]; `job`, `artifact` and `upload` are clients of its HTTP API.
//! - [`server`]: the composition root. [`server::Server::start`] opens the
//!   store and the file stores and starts the broker, the device API and
//!   the HTTP API.
//! - [`api`]: the HTTP API: AWS IoT's job control-plane routes for
//!   operators (bearer token or AWS SigV4, so AWS's SDKs work unchanged),
//!   and the presigned routes devices download, upload and send CSRs
//!   through.
//! - [`templates`]: AWS's managed job templates, which CreateJob fills in,
//!   and which template a `jobTemplateArn` names (custom ones are kept
//!   by the [`store`]).
//! - [`code_signing`]: `${aws:iot:code-sign-signature:…}`, which CreateJob
//!   replaces with the artifact's signature (its `codesign` object).
//! - [`rollout`]: a job's staged rollout, abort rules and schedule (AWS's
//!   three configurations, the rate, maintenance windows), which the store
//!   applies and the server's scheduler task drives.
//! - [`store`]: the SQLite-backed job and job-execution state machine, and
//!   the thing registry and thing groups that jobs target. It
//!   never reads the clock and never does network I/O: every method that
//!   depends on time takes `now`, so the state machine is deterministic
//!   under test.
//! - [`broker`]: the embedded MQTT broker (rmqtt) and the rules that keep
//!   each device to its own topics.
//! - [`device_api`]: the service's MQTT client on `$aws/things/+/jobs/#`:
//!   answers devices' requests and publishes `notify` / `notify-next`.
//! - [`placeholders`]: resolves a document's placeholders into fresh
//!   presigned URLs at every delivery ([`placeholders::Delivery`]).
//! - [`artifacts`]: files jobs download, behind presigned GET URLs, with
//!   the operator's signature of each, if it has one.
//! - [`uploads`]: files devices send back, behind presigned PUT URLs.
//! - [`certificates`]: the device CA that signs CSRs during a certificate
//!   rotation, behind presigned POST URLs.
//! - [`signed_dir`]: what the artifact store and the upload area share:
//!   base URL, owner-only directory, naming rule, signing key.
//! - [`presign`]: signs and verifies presigned URLs (HMAC-SHA256).
//! - [`staged`]: writes a stored file whole or not at all (temporary file,
//!   fsync, rename).
//! - [`events`]: AWS IoT Jobs events (`$aws/events/job/…`,
//!   `$aws/events/jobExecution/…`) for monitoring applications: on the
//!   broker, and as a Server-Sent-Events stream of the HTTP API.
//! - [`query`]: the fleet-indexing query subset of dynamic thing groups.
//! - [`arn`]: the ARNs of jobs, things, thing groups and custom job templates.
//! - [`clock`]: the clock, injectable so that tests can move time.
//!
//! Only [`server`] wires modules together: [`api`] and [`device_api`] never
//! import each other, and [`artifacts`], [`uploads`] and [`certificates`]
//! are siblings with no edges between them, joined only by [`placeholders`].

pub mod api;
pub mod arn;
pub mod artifacts;
pub mod broker;
pub mod certificates;
pub mod cli;
pub mod clock;
pub mod code_signing;
pub mod device_api;
pub mod events;
pub mod placeholders;
pub mod presign;
pub mod query;
pub mod rollout;
pub mod server;
pub mod signed_dir;
pub mod staged;
pub mod store;
pub mod templates;
pub mod uploads;
