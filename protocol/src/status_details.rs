//! The statusDetails map of a job execution, always within AWS's limits.
//!
//! AWS rejects a whole UpdateJobExecution when one key or value breaks a rule
//! (keys 1–128 chars of `[a-zA-Z0-9:_-]`, values 1–1024 chars with no
//! `\p{C}` character: the `statusDetails` of
//! <https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_UpdateJobExecution.html>
//! and `JobExecutionState`). A device that loses its
//! terminal status because a plugin printed a tab is a device stuck
//! IN_PROGRESS, so this type can only hold entries that pass those rules:
//! every way in goes through the sanitiser.

use crate::limits::{STATUS_DETAIL_KEY_MAX, STATUS_DETAIL_VALUE_MAX};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use unicode_general_category::{get_general_category, GeneralCategory};

/// A statusDetails map whose every entry satisfies the AWS limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StatusDetails(BTreeMap<String, String>);

/// What [`StatusDetails::insert`] had to do to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitised {
    /// Stored exactly as given.
    Unchanged,
    /// Stored after replacing forbidden characters or truncating.
    Adjusted,
    /// Not stored: the key or the value was empty.
    Dropped,
}

impl StatusDetails {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from pairs, sanitising each; a later pair with the same
    /// (sanitised) key replaces an earlier one. Returns how many entries had
    /// to be adjusted or dropped, so the caller can say so in its log.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> (Self, usize)
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut details = Self::new();
        let mut changed = 0;
        for (k, v) in pairs {
            if details.insert(k.as_ref(), v.as_ref()) != Sanitised::Unchanged {
                changed += 1;
            }
        }
        (details, changed)
    }

    /// Inserts one entry after sanitising it:
    /// - key: every character outside `[a-zA-Z0-9:_-]` becomes `_`, then it is
    ///   cut to 128 characters;
    /// - value: whitespace controls (`\n`, `\t`, ...) become a space, any
    ///   other `\p{C}` character becomes U+FFFD, and a value over 1024
    ///   characters keeps its first 1023 followed by `…`;
    /// - an entry whose key or value is empty is dropped (AWS requires ≥ 1).
    pub fn insert(&mut self, key: &str, value: &str) -> Sanitised {
        let (key, key_changed) = sanitise_key(key);
        let (value, value_changed) = sanitise_value(value);
        if key.is_empty() || value.is_empty() {
            return Sanitised::Dropped;
        }
        self.0.insert(key, value);
        if key_changed || value_changed {
            Sanitised::Adjusted
        } else {
            Sanitised::Unchanged
        }
    }

    /// Checks details a client sent, without repairing them: the service
    /// answers invalid details with `InvalidRequest`, as AWS does. The error
    /// names the first offending key.
    pub fn validate<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, String>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut details = Self::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            if details.insert(k, v) != Sanitised::Unchanged {
                return Err(format!(
                    "statusDetails entry {k:?} breaks the limits: keys are 1-{STATUS_DETAIL_KEY_MAX} characters of [a-zA-Z0-9:_-], values 1-{STATUS_DETAIL_VALUE_MAX} characters without control characters"
                ));
            }
        }
        Ok(details)
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Size of the map as compact JSON, in bytes: what it adds to an
    /// update's MQTT payload (escapes aside, which sanitised values rarely
    /// need).
    pub fn json_len(&self) -> usize {
        2 + self
            .0
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>()
            .saturating_sub(usize::from(!self.0.is_empty()))
    }

    /// Drops entries until the map is at most `max_bytes` of JSON, keeping
    /// the `keep` keys first and then the others in key order, and records
    /// how many were dropped under [`TRUNCATED_KEY`]. Returns that number.
    /// A plugin cannot grow an update past the 128 KiB MQTT limit this way
    /// and lose its terminal status.
    pub fn fit(&mut self, max_bytes: usize, keep: &[&str]) -> usize {
        if self.json_len() <= max_bytes {
            return 0;
        }
        let marker_len = TRUNCATED_KEY.len() + 6 + 20;
        let budget = max_bytes.saturating_sub(2 + marker_len);
        let mut entries = std::mem::take(&mut self.0);
        let total = entries.len();
        let mut used = 0;
        let mut take = |k: String, v: String, out: &mut BTreeMap<String, String>| {
            let cost = k.len() + v.len() + 6;
            if used + cost <= budget {
                used += cost;
                out.insert(k, v);
            }
        };
        for key in keep {
            if let Some((k, v)) = entries.remove_entry(*key) {
                take(k, v, &mut self.0);
            }
        }
        for (k, v) in entries {
            take(k, v, &mut self.0);
        }
        let dropped = total - self.0.len();
        self.0.insert(
            TRUNCATED_KEY.to_owned(),
            format!("{dropped} entries dropped (statusDetails limit {max_bytes} bytes)"),
        );
        dropped
    }
}

/// The key [`StatusDetails::fit`] leaves to say entries were dropped.
pub const TRUNCATED_KEY: &str = "detailsTruncated";

/// statusDetails keys the jobhost agent writes itself, with a meaning it
/// (or an operator) relies on: the failure `reason`, the resume
/// `checkpoint`, the reboot's `bootId` and `rebootReason` (a wiped device
/// decides "rebooted, resume" or "did not reboot" from them), the agent's
/// notes on a run that went wrong (`pluginError`, `lastError`), a download's
/// progress, the key that verified a code-signed download
/// (`codesignKeyId`), and [`TRUNCATED_KEY`]. A plugin's own progress, outcome and
/// failure maps lose them ([`StatusDetails::strip_agent_keys`]), so what the
/// cloud holds under these keys always comes from the agent.
pub const AGENT_KEYS: &[&str] = &[
    "reason",
    "checkpoint",
    "bootId",
    "rebootReason",
    "pluginError",
    "lastError",
    "downloadProgress",
    "downloadedBytes",
    "codesignKeyId",
    TRUNCATED_KEY,
];

/// `step` is shared: plugins report their own steps under it (first-party
/// plugins do), but the value `rebooting` is the agent's announcement of a
/// reboot, which a wiped device reads back; only that value is refused.
pub const AGENT_STEP: (&str, &str) = ("step", "rebooting");

impl StatusDetails {
    /// Removes the entries only the agent may write ([`AGENT_KEYS`] and
    /// [`AGENT_STEP`]) from a map a plugin supplied; returns the keys
    /// removed, for the caller's log.
    pub fn strip_agent_keys(&mut self) -> Vec<String> {
        let mut removed: Vec<String> = AGENT_KEYS
            .iter()
            .filter_map(|k| self.0.remove_entry(*k).map(|(k, _)| k))
            .collect();
        let (step, rebooting) = AGENT_STEP;
        if self.get(step) == Some(rebooting) {
            self.0.remove(step);
            removed.push(step.to_owned());
        }
        removed
    }
}

/// Deserialising sanitises too, so details read back from the cloud or a
/// journal can never smuggle an invalid entry past the type.
impl<'de> Deserialize<'de> for StatusDetails {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        Ok(Self::from_pairs(raw).0)
    }
}

fn sanitise_key(key: &str) -> (String, bool) {
    let mut changed = false;
    let mut out = String::with_capacity(key.len().min(STATUS_DETAIL_KEY_MAX));
    for (i, c) in key.chars().enumerate() {
        if i == STATUS_DETAIL_KEY_MAX {
            changed = true;
            break;
        }
        if c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-') {
            out.push(c);
        } else {
            out.push('_');
            changed = true;
        }
    }
    (out, changed)
}

fn sanitise_value(value: &str) -> (String, bool) {
    let mut changed = false;
    let mut out = String::with_capacity(value.len().min(4 * STATUS_DETAIL_VALUE_MAX));
    let total = value.chars().count();
    for (i, c) in value.chars().enumerate() {
        if total > STATUS_DETAIL_VALUE_MAX && i == STATUS_DETAIL_VALUE_MAX - 1 {
            out.push('…');
            changed = true;
            break;
        }
        if is_other(c) {
            out.push(if c.is_whitespace() { ' ' } else { '\u{FFFD}' });
            changed = true;
        } else {
            out.push(c);
        }
    }
    (out, changed)
}

/// Unicode category C ("Other": control, format, surrogate, private use,
/// unassigned), the class AWS's `[^\p{C}]` pattern forbids.
fn is_other(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_keys_are_stripped_from_plugin_maps_but_plugin_steps_stay() {
        let (mut d, _) = StatusDetails::from_pairs([
            ("step", "rebooting"),
            ("bootId", "forged"),
            ("checkpoint", "forged"),
            ("reason", "forged"),
            ("downloadProgress", "100%"),
            ("mine", "kept"),
        ]);
        let mut removed = d.strip_agent_keys();
        removed.sort();
        assert_eq!(
            removed,
            ["bootId", "checkpoint", "downloadProgress", "reason", "step"]
        );
        assert_eq!(d.iter().collect::<Vec<_>>(), [("mine", "kept")]);
        let (mut d, _) = StatusDetails::from_pairs([("step", "downloading")]);
        assert!(d.strip_agent_keys().is_empty());
        assert_eq!(d.get("step"), Some("downloading"));
    }

    #[test]
    fn valid_entries_are_kept_verbatim() {
        let mut d = StatusDetails::new();
        assert_eq!(
            d.insert("step:download-1_a", "42 % done — ok"),
            Sanitised::Unchanged
        );
        assert_eq!(d.get("step:download-1_a"), Some("42 % done — ok"));
    }

    #[test]
    fn forbidden_key_characters_become_underscores() {
        let mut d = StatusDetails::new();
        assert_eq!(d.insert("exit code/ä", "1"), Sanitised::Adjusted);
        assert_eq!(d.get("exit_code__"), Some("1"));
    }

    #[test]
    fn keys_are_cut_to_128_chars() {
        let mut d = StatusDetails::new();
        d.insert(&"k".repeat(300), "v");
        let (key, _) = d.iter().next().expect("one entry");
        assert_eq!(key.chars().count(), STATUS_DETAIL_KEY_MAX);
    }

    #[test]
    fn control_characters_never_reach_a_value() {
        let mut d = StatusDetails::new();
        let adjusted = d.insert("out", "line1\nline2\tend\u{0007}\u{200B}\u{E000}");
        assert_eq!(adjusted, Sanitised::Adjusted);
        assert_eq!(
            d.get("out"),
            Some("line1 line2 end\u{FFFD}\u{FFFD}\u{FFFD}")
        );
    }

    #[test]
    fn long_values_are_cut_to_1024_chars_with_an_ellipsis() {
        let mut d = StatusDetails::new();
        d.insert("v", &"é".repeat(5000));
        let v = d.get("v").expect("kept");
        assert_eq!(v.chars().count(), STATUS_DETAIL_VALUE_MAX);
        assert!(v.ends_with('…'));
        // Exactly at the limit: untouched.
        let exact = "x".repeat(STATUS_DETAIL_VALUE_MAX);
        assert_eq!(d.insert("w", &exact), Sanitised::Unchanged);
    }

    #[test]
    fn empty_keys_and_values_are_dropped() {
        let (d, changed) = StatusDetails::from_pairs([("", "v"), ("k", ""), ("ok", "1")]);
        assert_eq!(changed, 2);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn validate_refuses_instead_of_repairing() {
        assert!(StatusDetails::validate([("ok", "fine")]).is_ok());
        let err = StatusDetails::validate([("ok", "fine"), ("bad key", "v")]).unwrap_err();
        assert!(err.contains("\"bad key\""), "{err}");
        assert!(StatusDetails::validate([("k", "")]).is_err());
        assert!(StatusDetails::validate([("k", "a\tb")]).is_err());
    }

    #[test]
    fn deserialising_sanitises() {
        let d: StatusDetails = serde_json::from_str(r#"{"a b":"x\ny"}"#).expect("parses");
        assert_eq!(d.get("a_b"), Some("x y"));
    }

    #[test]
    fn json_len_is_the_serialized_size() {
        let (d, _) = StatusDetails::from_pairs([("a", "1"), ("key", "value")]);
        assert_eq!(d.json_len(), serde_json::to_string(&d).unwrap().len());
        assert_eq!(StatusDetails::new().json_len(), 2);
    }

    #[test]
    fn fit_keeps_the_important_keys_and_says_what_it_dropped() {
        let big = "v".repeat(1000);
        let mut d = StatusDetails::new();
        for i in 0..100 {
            d.insert(&format!("d{i:03}"), &big);
        }
        d.insert("reason", "why it failed");
        assert_eq!(
            d.fit(1 << 20, &["reason"]),
            0,
            "within the limit: untouched"
        );
        let dropped = d.fit(8192, &["reason"]);
        assert!(d.json_len() <= 8192, "{}", d.json_len());
        assert_eq!(d.get("reason"), Some("why it failed"));
        assert!(dropped >= 90, "{dropped}");
        assert_eq!(
            d.get(TRUNCATED_KEY),
            Some(format!("{dropped} entries dropped (statusDetails limit 8192 bytes)").as_str())
        );
        assert!(d.get("d000").is_some(), "the rest in key order");
    }
}
