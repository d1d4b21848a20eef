//! Prometheus metrics, kept by hand: a few counters, one histogram and one
//! gauge, rendered in the text exposition format 0.0.4 for `GET /metrics`.
//!
//! The hot path is cheap: unlabelled counters, turn outcomes and histogram
//! buckets are atomics; counters labelled by channel or error kind sit in a
//! `Mutex<BTreeMap>` that only allocates the first time a label is seen.
//! Label values come from the server's code (channel names, error kinds),
//! never from what a person sent, so their number stays small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::core::engine::{Outcome, Registration};

/// Upper bounds of the turn-duration buckets in nanoseconds, with their `le`
/// label as written in the output; `+Inf` follows them.
const BUCKETS: [(u64, &str); 12] = [
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
];

/// Every outcome, in the order of [`outcome_index`].
const OUTCOMES: [Outcome; 9] = [
    Outcome::Started,
    Outcome::Answered,
    Outcome::Refused,
    Outcome::Escalated,
    Outcome::Command,
    Outcome::NonText,
    Outcome::TimedOut,
    Outcome::Completed,
    Outcome::Failed,
];

/// The slot of an outcome in [`OUTCOMES`]; the match is exhaustive so that a
/// new outcome cannot be forgotten here.
fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Started => 0,
        Outcome::Answered => 1,
        Outcome::Refused => 2,
        Outcome::Escalated => 3,
        Outcome::Command => 4,
        Outcome::NonText => 5,
        Outcome::TimedOut => 6,
        Outcome::Completed => 7,
        Outcome::Failed => 8,
    }
}

/// The server's metrics; share one through an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    messages_received: LabelledCounter,
    replies_sent: LabelledCounter,
    errors: LabelledCounter,
    turns: [AtomicU64; OUTCOMES.len()],
    codes_issued: AtomicU64,
    same_answers: AtomicU64,
    same_code: AtomicU64,
    validation_errors: AtomicU64,
    turn_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// A message arrived on a channel ("twilio", "meta", "chat", ...).
    pub fn message_received(&self, channel: &str) {
        self.messages_received.add(channel, 1);
    }

    /// Replies sent back (count of messages) on a channel.
    pub fn replies_sent(&self, channel: &str, count: usize) {
        self.replies_sent.add(channel, count as u64);
    }

    /// A turn finished: its outcome, the registration if a code was made, and its latency.
    pub fn turn(&self, outcome: Outcome, registration: Option<Registration>, latency: Duration) {
        self.turns[outcome_index(outcome)].fetch_add(1, Ordering::Relaxed);
        // The answer that reaches the attempt cap was refused too.
        if matches!(outcome, Outcome::Refused | Outcome::Escalated) {
            self.validation_errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(registration) = registration {
            let counter = match registration {
                Registration::New => &self.codes_issued,
                Registration::SameAnswers => &self.same_answers,
                Registration::SameCode => &self.same_code,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.turn_duration.observe(latency);
    }

    /// An error by kind ("database", "signature", "bad_request", "internal", ...).
    pub fn error(&self, kind: &str) {
        self.errors.add(kind, 1);
    }

    /// The Prometheus text exposition (format 0.0.4); `active_sessions` is read by the caller from the store.
    ///
    /// Families come in alphabetical order, the series of a family sorted by
    /// label value (histogram buckets by bound), so the output is deterministic.
    pub fn render(&self, active_sessions: i64) -> String {
        let mut out = String::with_capacity(4096);

        header(&mut out, "uic_active_sessions", "Conversations in progress (sessions in the store).", "gauge");
        sample(&mut out, "uic_active_sessions", "", active_sessions);

        header(&mut out, "uic_codes_issued_total", "New codes registered.", "counter");
        sample(&mut out, "uic_codes_issued_total", "", load(&self.codes_issued));

        header(
            &mut out,
            "uic_duplicates_total",
            "Completions whose code already existed: same_answers (the same person again) or same_code \
             (different answers, a possible collision).",
            "counter",
        );
        for (kind, counter) in [("same_answers", &self.same_answers), ("same_code", &self.same_code)] {
            // Both kinds from the start, so an alert on collisions has a series to watch.
            sample(&mut out, "uic_duplicates_total", &labels("kind", kind), load(counter));
        }

        header(&mut out, "uic_errors_total", "Errors by kind.", "counter");
        self.errors.render(&mut out, "uic_errors_total", "kind");

        header(&mut out, "uic_messages_received_total", "Messages received, by channel.", "counter");
        self.messages_received.render(&mut out, "uic_messages_received_total", "channel");

        header(&mut out, "uic_replies_sent_total", "Reply messages sent, by channel.", "counter");
        self.replies_sent.render(&mut out, "uic_replies_sent_total", "channel");

        header(&mut out, "uic_turn_duration_seconds", "Time to handle one turn, in seconds.", "histogram");
        self.turn_duration.render(&mut out, "uic_turn_duration_seconds");

        header(&mut out, "uic_turns_total", "Turns handled, by outcome.", "counter");
        let mut outcomes: Vec<(&str, u64)> = OUTCOMES
            .iter()
            .map(|&outcome| (outcome.as_str(), load(&self.turns[outcome_index(outcome)])))
            .filter(|&(_, value)| value > 0)
            .collect();
        outcomes.sort_unstable();
        for (outcome, value) in outcomes {
            sample(&mut out, "uic_turns_total", &labels("outcome", outcome), value);
        }

        header(
            &mut out,
            "uic_validation_errors_total",
            "Answers refused: empty, too long or invalid (turns with outcome refused).",
            "counter",
        );
        sample(&mut out, "uic_validation_errors_total", "", load(&self.validation_errors));

        out
    }
}

/// A counter with one label; a series exists once its label value is seen.
#[derive(Debug, Default)]
struct LabelledCounter(Mutex<BTreeMap<String, u64>>);

impl LabelledCounter {
    fn add(&self, label: &str, by: u64) {
        // A panic elsewhere while holding the lock leaves the map intact.
        let mut map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match map.get_mut(label) {
            Some(value) => *value = value.saturating_add(by),
            None => {
                map.insert(label.to_string(), by);
            }
        }
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        let snapshot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        for (value, count) in &snapshot {
            sample(out, name, &labels(label, value), count);
        }
    }
}

/// A histogram with the fixed [`BUCKETS`]: one atomic per bucket (not
/// cumulative; summed when rendered) and the sum in nanoseconds.
#[derive(Debug, Default)]
struct Histogram {
    /// One per bound of [`BUCKETS`], then `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // Bounds are inclusive (`le`); past the last one is `+Inf`.
        let slot = BUCKETS.iter().position(|&(bound, _)| nanos <= bound).unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (slot, counter) in self.buckets.iter().enumerate() {
            cumulative += load(counter);
            let le = BUCKETS.get(slot).map_or("+Inf", |&(_, le)| le);
            sample(out, &bucket, &labels("le", le), cumulative);
        }
        // The count is the `+Inf` bucket, so the two always agree even while
        // observations arrive during rendering.
        let sum = load(&self.sum_nanos) as f64 / 1e9;
        sample(out, &format!("{name}_sum"), "", sum);
        sample(out, &format!("{name}_count"), "", cumulative);
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    // Help texts are constants here, without backslashes or newlines to escape.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `name{labels} value`, or `name value` when `labels` is empty.
fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

/// `{name="value"}` with the value escaped.
fn labels(name: &str, value: &str) -> String {
    format!("{{{name}=\"{}\"}}", escape_label_value(value))
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed sample line.
    #[derive(Debug, PartialEq)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    }

    /// Checks the text exposition format line by line and returns the samples.
    /// Comments are `# HELP name text` or `# TYPE name kind`, at most once per
    /// family and before its samples; every other line is `name value` or
    /// `name{label="value",...} value` with a float value; a family's samples
    /// are contiguous.
    fn parse(text: &str) -> Vec<Sample> {
        assert!(text.ends_with('\n'), "the exposition ends with a newline");
        let mut samples = Vec::new();
        let mut typed: BTreeMap<String, String> = BTreeMap::new();
        let mut helped: Vec<String> = Vec::new();
        let mut finished: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for (number, line) in text.lines().enumerate() {
            let at = format!("line {}: {line:?}", number + 1);
            assert!(!line.is_empty(), "{at}: empty line");
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let keyword = parts.next().unwrap();
                let name = parts.next().unwrap_or_else(|| panic!("{at}: comment without a name"));
                let rest = parts.next().unwrap_or_else(|| panic!("{at}: comment without text"));
                assert!(valid_name(name), "{at}: bad metric name");
                assert!(!finished.contains(&name.to_string()), "{at}: family {name} already ended");
                match keyword {
                    "HELP" => {
                        assert!(!helped.contains(&name.to_string()), "{at}: second HELP");
                        helped.push(name.to_string());
                    }
                    "TYPE" => {
                        let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                        assert!(kinds.contains(&rest), "{at}: unknown type");
                        assert!(typed.insert(name.to_string(), rest.to_string()).is_none(), "{at}: second TYPE");
                    }
                    _ => panic!("{at}: unknown comment"),
                }
                if current.as_deref() != Some(name) {
                    finished.extend(current.replace(name.to_string()));
                }
                continue;
            }
            assert!(!line.starts_with('#'), "{at}: comment without a space");
            let sample = parse_sample(line).unwrap_or_else(|error| panic!("{at}: {error}"));
            let family = family_of(&sample.name, &typed);
            assert_eq!(current.as_deref(), Some(family.as_str()), "{at}: sample outside its family");
            samples.push(sample);
        }
        samples
    }

    /// The family of a sample name: itself, or a histogram's name for its
    /// `_bucket`, `_sum` and `_count` series.
    fn family_of(name: &str, typed: &BTreeMap<String, String>) -> String {
        if let Some(kind) = typed.get(name) {
            assert_ne!(kind, "histogram", "{name}: a histogram has no plain series");
            return name.to_string();
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && typed.get(base).map(String::as_str) == Some("histogram")
            {
                return base.to_string();
            }
        }
        panic!("{name}: sample without a TYPE line")
    }

    fn parse_sample(line: &str) -> Result<Sample, String> {
        let name_end = line.find(['{', ' ']).ok_or("no value")?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(mut inside) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = inside.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let eq = inside.find('=').ok_or("label without '='")?;
                let label = &inside[..eq];
                if !valid_label_name(label) {
                    return Err(format!("bad label name {label:?}"));
                }
                let quoted = inside[eq + 1..].strip_prefix('"').ok_or("label value without quotes")?;
                let (value, after) = unescape_label_value(quoted)?;
                if labels.iter().any(|(name, _): &(String, String)| name == label) {
                    return Err(format!("label {label} twice"));
                }
                labels.push((label.to_string(), value));
                inside = match after.strip_prefix(',') {
                    Some(next) => next,
                    None if after.starts_with('}') => after,
                    None => return Err("expected ',' or '}' after a label".into()),
                };
            }
        }
        let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
        // No timestamps here: the value is the whole rest of the line.
        let value: f64 = value.parse().map_err(|_| format!("bad value {value:?}"))?;
        Ok(Sample { name: name.to_string(), labels, value })
    }

    /// Reads an escaped label value up to its closing quote; returns it
    /// unescaped with what follows the quote.
    fn unescape_label_value(quoted: &str) -> Result<(String, &str), String> {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return Ok((value, &quoted[at + 1..])),
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                '\n' => return Err("raw newline in a label value".into()),
                c => value.push(c),
            }
        }
        Err("unterminated label value".into())
    }

    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    fn valid_label_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// The value of the series `name` with exactly `labels`, if present.
    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|sample| {
                sample.name == name
                    && sample.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| sample.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|sample| sample.value)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn a_fresh_registry_shows_unlabelled_series_at_zero_and_no_labelled_ones() {
        let text = Metrics::new().render(0);
        let samples = parse(&text);
        for name in ["uic_codes_issued_total", "uic_validation_errors_total", "uic_active_sessions"] {
            assert_eq!(value(&samples, name, &[]), Some(0.0), "{name}");
        }
        for name in ["uic_messages_received_total", "uic_replies_sent_total", "uic_turns_total", "uic_errors_total"] {
            assert!(samples.iter().all(|sample| sample.name != name), "{name} has no series before use");
            assert!(text.contains(&format!("# TYPE {name} counter\n")), "{name} is still described");
        }
        for kind in ["same_answers", "same_code"] {
            assert_eq!(value(&samples, "uic_duplicates_total", &[("kind", kind)]), Some(0.0), "{kind} shown at 0");
        }
        assert_eq!(value(&samples, "uic_turn_duration_seconds_count", &[]), Some(0.0));
        assert_eq!(value(&samples, "uic_turn_duration_seconds_sum", &[]), Some(0.0));
        assert_eq!(value(&samples, "uic_turn_duration_seconds_bucket", &[("le", "+Inf")]), Some(0.0));
    }

    #[test]
    fn counters_move() {
        let metrics = Metrics::new();
        metrics.message_received("twilio");
        metrics.message_received("twilio");
        metrics.message_received("meta");
        metrics.replies_sent("twilio", 3);
        metrics.replies_sent("twilio", 2);
        metrics.error("database");
        metrics.error("signature");
        metrics.error("database");
        metrics.turn(Outcome::Started, None, ms(1));
        metrics.turn(Outcome::Refused, None, ms(1));
        metrics.turn(Outcome::Refused, None, ms(1));
        metrics.turn(Outcome::Completed, Some(Registration::New), ms(1));
        metrics.turn(Outcome::Completed, Some(Registration::SameAnswers), ms(1));
        metrics.turn(Outcome::Completed, Some(Registration::SameAnswers), ms(1));
        metrics.turn(Outcome::Completed, Some(Registration::SameCode), ms(1));

        let samples = parse(&metrics.render(7));
        let get = |name, labels: &[(&str, &str)]| value(&samples, name, labels);
        assert_eq!(get("uic_messages_received_total", &[("channel", "twilio")]), Some(2.0));
        assert_eq!(get("uic_messages_received_total", &[("channel", "meta")]), Some(1.0));
        assert_eq!(get("uic_messages_received_total", &[("channel", "chat")]), None);
        assert_eq!(get("uic_replies_sent_total", &[("channel", "twilio")]), Some(5.0));
        assert_eq!(get("uic_replies_sent_total", &[("channel", "meta")]), None);
        assert_eq!(get("uic_errors_total", &[("kind", "database")]), Some(2.0));
        assert_eq!(get("uic_errors_total", &[("kind", "signature")]), Some(1.0));
        assert_eq!(get("uic_turns_total", &[("outcome", "started")]), Some(1.0));
        assert_eq!(get("uic_turns_total", &[("outcome", "refused")]), Some(2.0));
        assert_eq!(get("uic_turns_total", &[("outcome", "completed")]), Some(4.0));
        assert_eq!(get("uic_turns_total", &[("outcome", "answered")]), None);
        assert_eq!(get("uic_validation_errors_total", &[]), Some(2.0));
        assert_eq!(get("uic_codes_issued_total", &[]), Some(1.0));
        assert_eq!(get("uic_duplicates_total", &[("kind", "same_answers")]), Some(2.0));
        assert_eq!(get("uic_duplicates_total", &[("kind", "same_code")]), Some(1.0));
        assert_eq!(get("uic_active_sessions", &[]), Some(7.0));
        assert_eq!(get("uic_turn_duration_seconds_count", &[]), Some(7.0));
    }

    #[test]
    fn every_outcome_has_its_own_series() {
        for (index, outcome) in OUTCOMES.iter().enumerate() {
            assert_eq!(outcome_index(*outcome), index, "{outcome:?}");
        }
        let metrics = Metrics::new();
        for outcome in OUTCOMES {
            metrics.turn(outcome, None, ms(1));
        }
        let samples = parse(&metrics.render(0));
        for outcome in OUTCOMES {
            assert_eq!(value(&samples, "uic_turns_total", &[("outcome", outcome.as_str())]), Some(1.0), "{outcome:?}");
        }
        assert_eq!(value(&samples, "uic_validation_errors_total", &[]), Some(2.0), "Refused and Escalated count");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_observations() {
        let metrics = Metrics::new();
        let latencies = [
            Duration::from_micros(100), // 0.0005
            Duration::from_micros(500), // exactly 0.0005: bounds are inclusive
            Duration::from_micros(700), // 0.001
            ms(3),                      // 0.005
            ms(30),                     // 0.05
            ms(30),                     // 0.05
            ms(1_000),                  // 1
            ms(3_000),                  // +Inf
        ];
        for latency in latencies {
            metrics.turn(Outcome::Answered, None, latency);
        }
        let samples = parse(&metrics.render(0));
        let bucket = |le| value(&samples, "uic_turn_duration_seconds_bucket", &[("le", le)]).unwrap();
        let expected = [
            ("0.0005", 2.0),
            ("0.001", 3.0),
            ("0.0025", 3.0),
            ("0.005", 4.0),
            ("0.01", 4.0),
            ("0.025", 4.0),
            ("0.05", 6.0),
            ("0.1", 6.0),
            ("0.25", 6.0),
            ("0.5", 6.0),
            ("1", 7.0),
            ("2.5", 7.0),
            ("+Inf", 8.0),
        ];
        for (le, count) in expected {
            assert_eq!(bucket(le), count, "le={le}");
        }
        let buckets: Vec<&Sample> =
            samples.iter().filter(|sample| sample.name == "uic_turn_duration_seconds_bucket").collect();
        assert_eq!(buckets.len(), expected.len());
        let bounds: Vec<f64> = buckets.iter().map(|sample| sample.labels[0].1.parse().unwrap()).collect();
        assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]), "bounds ascend: {bounds:?}");
        assert!(buckets.windows(2).all(|pair| pair[0].value <= pair[1].value), "cumulative");
        assert_eq!(value(&samples, "uic_turn_duration_seconds_count", &[]), Some(8.0));
        let sum = value(&samples, "uic_turn_duration_seconds_sum", &[]).unwrap();
        assert!((sum - 4.0643).abs() < 1e-9, "sum {sum}");
    }

    #[test]
    fn output_is_valid_exposition_format_and_deterministic() {
        let metrics = Metrics::new();
        for channel in ["twilio", "chat", "meta"] {
            metrics.message_received(channel);
            metrics.replies_sent(channel, 2);
        }
        for kind in ["internal", "bad_request", "database"] {
            metrics.error(kind);
        }
        metrics.turn(Outcome::TimedOut, None, ms(2));
        metrics.turn(Outcome::Completed, Some(Registration::SameCode), ms(20));
        metrics.turn(Outcome::Answered, None, ms(200));
        let text = metrics.render(-1);
        let samples = parse(&text);
        assert_eq!(text, metrics.render(-1));

        let families: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("# TYPE ")).collect();
        assert_eq!(
            families,
            [
                "uic_active_sessions gauge",
                "uic_codes_issued_total counter",
                "uic_duplicates_total counter",
                "uic_errors_total counter",
                "uic_messages_received_total counter",
                "uic_replies_sent_total counter",
                "uic_turn_duration_seconds histogram",
                "uic_turns_total counter",
                "uic_validation_errors_total counter",
            ]
        );
        let helps = text.lines().filter(|line| line.starts_with("# HELP ")).count();
        assert_eq!(helps, families.len());
        // Within a labelled counter family, series are sorted by label value.
        for name in ["uic_messages_received_total", "uic_errors_total", "uic_turns_total"] {
            let values: Vec<&str> = samples.iter().filter(|s| s.name == name).map(|s| s.labels[0].1.as_str()).collect();
            assert!(values.len() >= 3 && values.is_sorted(), "{name}: {values:?}");
        }
        assert_eq!(value(&samples, "uic_active_sessions", &[]), Some(-1.0));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("line\nbreak"), r"line\nbreak");
        assert_eq!(escape_label_value("plain, {é}="), "plain, {é}=");

        let metrics = Metrics::new();
        let awkward = "we\"ird\\chan\nnel}, x=\"";
        metrics.message_received(awkward);
        metrics.error("é\n");
        let text = metrics.render(0);
        assert!(text.contains(r#"uic_messages_received_total{channel="we\"ird\\chan\nnel}, x=\""} 1"#), "{text}");
        let samples = parse(&text);
        assert_eq!(value(&samples, "uic_messages_received_total", &[("channel", awkward)]), Some(1.0));
        assert_eq!(value(&samples, "uic_errors_total", &[("kind", "é\n")]), Some(1.0));
    }

    #[test]
    fn the_checker_rejects_malformed_lines() {
        for line in [
            "uic_x",
            "uic_x 1 2",
            "uic_x abc",
            "uic x 1",
            "1uic 1",
            "uic_x{a=\"b} 1",
            "uic_x{a=b} 1",
            "uic_x{a=\"b\"c=\"d\"} 1",
            "uic_x{a=\"\\t\"} 1",
            "uic_x{a=\"b\"}1",
            "uic_x{a=\"b\",a=\"c\"} 1",
        ] {
            assert!(parse_sample(line).is_err(), "{line:?} should be rejected");
        }
        let ok = parse_sample("uic_x{a=\"b\",c=\"\\\"\"} +Inf").unwrap();
        assert_eq!(ok.labels, [("a".to_string(), "b".to_string()), ("c".to_string(), "\"".to_string())]);
        assert!(ok.value.is_infinite());
    }

    #[test]
    fn metrics_are_shared_across_threads() {
        let metrics = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        metrics.message_received("meta");
                        metrics.turn(Outcome::Answered, None, Duration::from_micros(10));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let samples = parse(&metrics.render(0));
        assert_eq!(value(&samples, "uic_messages_received_total", &[("channel", "meta")]), Some(4000.0));
        assert_eq!(value(&samples, "uic_turn_duration_seconds_count", &[]), Some(4000.0));
        assert_eq!(value(&samples, "uic_turn_duration_seconds_bucket", &[("le", "0.0005")]), Some(4000.0));
    }
}
