//! The broker's access policy as pure functions, so that the rules that
//! isolate devices from each other (docs/fleet.md, "Broker choices")
//! can be unit-tested without a network. `hooks.rs` feeds
//! rmqtt's connect/subscribe/publish events in here.
//!
//! The rules mirror a typical AWS IoT policy for Jobs:
//! * a device ("thing") may only use topics under `$aws/things/<its name>/`;
//! * the jobs service may use anything under `$aws/things/+/jobs/#`, and
//!   publish the jobs events (`$aws/events/job/…`,
//!   `$aws/events/jobExecution/…`);
//! * the operator identity, when configured, may subscribe to the events
//!   under `$aws/events/`, and do nothing else: a monitoring application.

/// Longest thing name AWS IoT accepts.
const MAX_THING_NAME_LEN: usize = 128;

/// Whether `name` is a valid AWS IoT thing name (`[a-zA-Z0-9:_-]{1,128}`).
///
/// A device's identity becomes a topic level, so it must never contain the
/// MQTT wildcards `+`/`#` or the level separator `/`: a device called `+`
/// would otherwise be granted `$aws/things/+/...`, i.e. every thing's topics.
/// Using AWS's own character set rules that out and keeps us compatible.
pub fn is_valid_thing_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_THING_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Whether device `thing` may subscribe to `filter` or publish to `topic`
/// (the same test serves both: a filter is allowed only if everything it
/// can match lies under `$aws/things/<thing>/`).
///
/// The thing level must equal `thing` exactly; `+`/`#` there, `#` alone or a
/// shorter filter such as `$aws/things/#` are refused. Wildcards *after* the
/// thing level stay inside the device's own namespace and are allowed.
pub fn device_may_use(thing: &str, topic_or_filter: &str) -> bool {
    let mut levels = topic_or_filter.split('/');
    levels.next() == Some("$aws")
        && levels.next() == Some("things")
        && levels.next() == Some(thing)
        && levels.next().is_some()
        && is_valid_thing_name(thing)
}

/// Whether the jobs service may subscribe to `filter` or publish to `topic`:
/// anything matched by `$aws/things/+/jobs/#`, i.e. `$aws/things/<T>/jobs...`
/// where `<T>` is a thing name or the single-level wildcard `+`.
pub fn service_may_use(topic_or_filter: &str) -> bool {
    let mut levels = topic_or_filter.split('/');
    levels.next() == Some("$aws")
        && levels.next() == Some("things")
        && levels
            .next()
            .is_some_and(|thing| thing == "+" || is_valid_thing_name(thing))
        && levels.next() == Some("jobs")
}

/// Whether the jobs service may publish to `topic`: its jobs topics
/// ([`service_may_use`]) and the jobs events,
/// `$aws/events/job/<jobId>/<operation>` and
/// `$aws/events/jobExecution/<jobId>/<operation>`
/// (<https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>).
/// It has no reason to subscribe to the events, so
/// [`service_may_use`] does not grant them.
pub fn service_may_publish(topic: &str) -> bool {
    service_may_use(topic) || is_jobs_event(topic)
}

/// `$aws/events/job|jobExecution/<job id>/<operation>`, the operation
/// being lower-case words joined by `_` (`completed`, `timed_out`, ...).
fn is_jobs_event(topic: &str) -> bool {
    let levels: Vec<&str> = topic.split('/').collect();
    match levels.as_slice() {
        ["$aws", "events", "job" | "jobExecution", job_id, operation] => {
            jobhost_protocol::topics::is_valid_job_id(job_id)
                && !operation.is_empty()
                && operation
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
        }
        _ => false,
    }
}

/// Whether the operator identity (a monitoring application) may subscribe
/// to `filter`: anything under `$aws/events/`, where AWS publishes its
/// events, `$aws/events/#` included. It may publish nothing.
pub fn operator_may_subscribe(filter: &str) -> bool {
    let mut levels = filter.split('/');
    levels.next() == Some("$aws")
        && levels.next() == Some("events")
        && levels.next().is_some_and(|l| !l.is_empty())
}

/// Compares two secrets in time that depends only on their lengths, so that
/// a wrong password's response time does not reveal how much of it matched.
pub fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    let diff = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_names_follow_aws_rules() {
        assert!(is_valid_thing_name("t1"));
        assert!(is_valid_thing_name("Pump-7:east_wing"));
        for bad in ["", "+", "#", "a/b", "t 1", "tü", &"x".repeat(129)] {
            assert!(!is_valid_thing_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn device_is_confined_to_its_own_thing() {
        for ok in [
            "$aws/things/t1/jobs/notify-next",
            "$aws/things/t1/jobs/#",
            "$aws/things/t1/#",
            "$aws/things/t1/jobs/+/get",
            "$aws/things/t1/shadow/update",
        ] {
            assert!(device_may_use("t1", ok), "{ok}");
        }
        for bad in [
            "#",
            "+/things/t1/jobs/get",
            "$aws/#",
            "$aws/things/#",
            "$aws/things/+/jobs/#",
            "$aws/things/t2/jobs/notify-next",
            "$aws/things/t1",
            "$aws/things/t10/jobs/get",
            "aws/things/t1/jobs/get",
            "$share/g/$aws/things/t2/jobs/#",
        ] {
            assert!(!device_may_use("t1", bad), "{bad}");
        }
        // A wildcard identity never gets anyone's topics.
        assert!(!device_may_use("+", "$aws/things/+/jobs/get"));
        assert!(!device_may_use("#", "$aws/things/#/x"));
    }

    #[test]
    fn service_is_confined_to_jobs_topics() {
        for ok in [
            "$aws/things/+/jobs/#",
            "$aws/things/t1/jobs/notify-next",
            "$aws/things/t1/jobs/j1/update/accepted",
            "$aws/things/+/jobs/+/update",
        ] {
            assert!(service_may_use(ok), "{ok}");
        }
        for bad in [
            "#",
            "$aws/#",
            "$aws/things/#",
            "$aws/things/+/shadow/#",
            "$aws/things/#/jobs",
            "$aws/things//jobs/get",
            "things/t1/jobs/get",
        ] {
            assert!(!service_may_use(bad), "{bad}");
        }
    }

    #[test]
    fn service_publishes_jobs_events_but_does_not_subscribe_to_them() {
        for ok in [
            "$aws/events/job/j1/completed",
            "$aws/events/job/j-1_x/canceled",
            "$aws/events/jobExecution/j1/timed_out",
            "$aws/things/t1/jobs/notify",
        ] {
            assert!(service_may_publish(ok), "{ok}");
        }
        for bad in [
            "$aws/events/job/j1",
            "$aws/events/job/j1/completed/x",
            "$aws/events/thing/t1/created",
            "$aws/events/job/+/completed",
            "$aws/events/job/j1/Completed",
            "$aws/events/job//completed",
            "$aws/events/presence/connected/t1",
        ] {
            assert!(!service_may_publish(bad), "{bad}");
        }
        assert!(!service_may_use("$aws/events/#"));
        assert!(!service_may_use("$aws/events/job/j1/completed"));
    }

    #[test]
    fn operator_subscribes_to_events_only() {
        for ok in [
            "$aws/events/#",
            "$aws/events/job/#",
            "$aws/events/jobExecution/+/succeeded",
            "$aws/events/job/j1/completed",
        ] {
            assert!(operator_may_subscribe(ok), "{ok}");
        }
        for bad in [
            "#",
            "$aws/#",
            "$aws/events",
            "$aws/events/",
            "$aws/things/t1/jobs/#",
            "$aws/things/+/jobs/#",
            "$share/g/$aws/events/#",
            "aws/events/#",
        ] {
            assert!(!operator_may_subscribe(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_equal(b"s3cret", b"s3cret"));
        assert!(!secrets_equal(b"s3cres", b"s3cret"));
        assert!(!secrets_equal(b"s3cret!", b"s3cret"));
        assert!(!secrets_equal(b"", b"s3cret"));
    }
}
