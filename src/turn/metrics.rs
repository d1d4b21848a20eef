//! Prometheus metrics through `prometheus-client`, the Prometheus project's
//! Rust client: a few counters, one histogram and two gauges, rendered as
//! OpenMetrics text for `GET /metrics` ([`CONTENT_TYPE`]).
//!
//! The hot path is cheap: unlabelled counters and the histogram's buckets are
//! atomics; a counter labelled by channel, error kind or outcome is a
//! `Family`, a read lock and a hash lookup once its label value was seen (a
//! write lock the first time). Label values are `&'static str`: they come from
//! the server's code, never from what a person sent, so their number stays
//! small and counting allocates nothing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::core::engine::{Outcome, Registration};

/// The media type of [`Metrics::render`]'s text: OpenMetrics 1.0, which
/// Prometheus negotiates and prefers.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric's name starts with `uic_`.
const PREFIX: &str = "uic";

/// Upper bounds of the turn-duration buckets in nanoseconds (inclusive, as
/// `le` says); `+Inf` follows them. In seconds: 0.0005, 0.001, 0.0025, 0.005,
/// 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5.
const BUCKETS: [u64; 12] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// One label and its value.
type Label = [(&'static str, &'static str); 1];

/// Counters with one label; a series exists once its label value is seen.
type Labelled = Family<Label, Counter>;

/// The server's metrics; share one through an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    /// Every metric but the active sessions, which [`Metrics::render`] is given.
    registry: Registry,
    messages_received: Labelled,
    replies_sent: Labelled,
    errors: Labelled,
    turns: Labelled,
    turns_grouped: Counter,
    codes_issued: Counter,
    same_answers: Counter,
    same_code: Counter,
    validation_errors: Counter,
    turn_duration: TurnDuration,
    flows_failing: Gauge,
    active_sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let messages_received = Labelled::default();
        let replies_sent = Labelled::default();
        let errors = Labelled::default();
        let turns = Labelled::default();
        let turns_grouped = Counter::default();
        let codes_issued = Counter::default();
        let duplicates = Labelled::default();
        // Both kinds from the start, so an alert on collisions has a series to watch.
        let same_answers = duplicates.get_or_create_owned(&[("kind", "same_answers")]);
        let same_code = duplicates.get_or_create_owned(&[("kind", "same_code")]);
        let validation_errors = Counter::default();
        let turn_duration = TurnDuration::default();
        let flows_failing = Gauge::default();
        let active_sessions = Gauge::default();

        // Registered in alphabetical order, the order they are shown in.
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register(
            "active_sessions",
            "Conversations in progress (sessions active within the session timeout), counted by the server \
             every 15 seconds; -1 when the last count failed",
            active_sessions.clone(),
        );
        registry.register("codes_issued", "New codes registered", codes_issued.clone());
        registry.register(
            "duplicates",
            "Completions whose code already existed: same_answers (the same person again) or same_code \
             (different answers, a possible collision)",
            Described(duplicates),
        );
        registry.register("errors", "Errors by kind", Described(errors.clone()));
        registry.register(
            "flows_failing",
            "Flow files that fail `uic lint` and are not served (the others are)",
            flows_failing.clone(),
        );
        registry.register("messages_received", "Messages received, by channel", Described(messages_received.clone()));
        registry.register("replies_sent", "Reply messages sent, by channel", Described(replies_sent.clone()));
        registry.register_with_unit(
            "turn_duration",
            "Time to handle one turn, in seconds",
            Unit::Seconds,
            turn_duration.clone(),
        );
        registry.register("turns", "Turns handled, by outcome", Described(turns.clone()));
        registry.register(
            "turns_grouped",
            "Turns committed in one transaction with other people's turns (SQLite's group commit under load)",
            turns_grouped.clone(),
        );
        registry.register(
            "validation_errors",
            "Answers refused: empty, too long or invalid (turns with outcome refused or escalated)",
            validation_errors.clone(),
        );

        Metrics {
            registry,
            messages_received,
            replies_sent,
            errors,
            turns,
            turns_grouped,
            codes_issued,
            same_answers,
            same_code,
            validation_errors,
            turn_duration,
            flows_failing,
            active_sessions,
        }
    }

    /// The conversations in progress, as the server's periodic count found
    /// them: `/metrics` reads this, never the database, so a scrape costs no
    /// turn (issue #14). `-1` says the last count failed.
    pub fn set_active_sessions(&self, count: i64) {
        self.active_sessions.set(count);
    }

    /// How many flow files the last (re)load left out for failing lint.
    pub fn set_flows_failing(&self, count: usize) {
        self.flows_failing.set(count as i64);
    }

    /// A message arrived on a channel ("twilio", "meta", ...).
    pub fn message_received(&self, channel: &'static str) {
        self.messages_received.get_or_create(&[("channel", channel)]).inc();
    }

    /// Replies sent back (count of messages) on a channel.
    pub fn replies_sent(&self, channel: &'static str, count: usize) {
        self.replies_sent.get_or_create(&[("channel", channel)]).inc_by(count as u64);
    }

    /// A turn finished: its outcome, the registration if a code was made, and its latency.
    pub fn turn(&self, outcome: Outcome, registration: Option<Registration>, latency: Duration) {
        self.turns.get_or_create(&[("outcome", outcome.as_str())]).inc();
        // The answer that reaches the attempt cap was refused too.
        if matches!(outcome, Outcome::Refused | Outcome::Escalated) {
            self.validation_errors.inc();
        }
        if let Some(registration) = registration {
            let counter = match registration {
                Registration::New => &self.codes_issued,
                Registration::SameAnswers => &self.same_answers,
                Registration::SameCode => &self.same_code,
            };
            counter.inc();
        }
        self.turn_duration.observe(latency);
    }

    /// An error by kind ("database", "signature", "bad_request", "internal", ...).
    /// A turn committed together with `others` other people's turns.
    pub fn committed_with(&self, others: usize) {
        if others > 0 {
            self.turns_grouped.inc();
        }
    }

    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&[("kind", kind)]).inc();
    }

    /// The OpenMetrics text ([`CONTENT_TYPE`]): atomics read, nothing asked
    /// of the database.
    ///
    /// Families come in alphabetical order and each is described (`HELP`,
    /// `TYPE`) even before it has a series.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        encode_registry(&mut out, &self.registry).expect("metrics encode");
        encode_eof(&mut out).expect("metrics encode");
        out
    }
}

/// A labelled counter family described from the start: `prometheus-client`
/// leaves out a family with no series at all, and then a metric that exists
/// would be missing from `/metrics` until its first label value is seen.
#[derive(Debug)]
struct Described(Labelled);

impl EncodeMetric for Described {
    fn encode(&self, encoder: MetricEncoder) -> fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// The turn-duration histogram with the fixed [`BUCKETS`], all atomics:
/// `prometheus-client`'s own histogram takes a lock per observation.
#[derive(Debug, Default, Clone)]
struct TurnDuration(Arc<HistogramCells>);

#[derive(Debug, Default)]
struct HistogramCells {
    /// One per bound of [`BUCKETS`], then `+Inf`; not cumulative (the encoder sums them).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl TurnDuration {
    fn observe(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // Bounds are inclusive (`le`); past the last one is `+Inf`.
        let slot = BUCKETS.iter().position(|&bound| nanos <= bound).unwrap_or(BUCKETS.len());
        self.0.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl EncodeMetric for TurnDuration {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        let mut buckets = [(f64::INFINITY, 0); BUCKETS.len() + 1];
        for (slot, (bound, count)) in buckets.iter_mut().enumerate() {
            if let Some(&nanos) = BUCKETS.get(slot) {
                *bound = nanos as f64 / 1e9;
            }
            *count = self.0.buckets[slot].load(Ordering::Relaxed);
        }
        // The count is the buckets' total, so it always equals the `+Inf`
        // bucket even while observations arrive during rendering.
        let count = buckets.iter().map(|&(_, count)| count).sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Read with the Prometheus project's parser (see the file).
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../tests/support/prometheus.rs"]
mod prometheus;

#[cfg(test)]
mod tests {
    use super::prometheus::Scrape;
    use super::*;

    /// Every outcome; the match makes a new one impossible to forget here.
    const OUTCOMES: [Outcome; 10] = [
        Outcome::Started,
        Outcome::Answered,
        Outcome::Refused,
        Outcome::Escalated,
        Outcome::Command,
        Outcome::Restarted,
        Outcome::NonText,
        Outcome::TimedOut,
        Outcome::Completed,
        Outcome::Failed,
    ];

    #[test]
    fn every_outcome_is_listed() {
        for outcome in OUTCOMES {
            match outcome {
                Outcome::Started
                | Outcome::Answered
                | Outcome::Refused
                | Outcome::Escalated
                | Outcome::Command
                | Outcome::Restarted
                | Outcome::NonText
                | Outcome::TimedOut
                | Outcome::Completed
                | Outcome::Failed => {}
            }
        }
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn a_fresh_registry_shows_unlabelled_series_at_zero_and_no_labelled_ones() {
        let scrape = Scrape::parse(&Metrics::new().render());
        for series in ["uic_codes_issued_total", "uic_validation_errors_total", "uic_active_sessions"] {
            assert_eq!(scrape.value(series), 0.0, "{series}");
        }
        for name in ["uic_messages_received", "uic_replies_sent", "uic_turns", "uic_errors"] {
            let family = scrape.family(name);
            assert_eq!(family.kind, "counter", "{name}");
            assert!(family.samples.is_empty(), "{name} has no series before use");
            assert!(!family.help.is_empty(), "{name} is still described");
        }
        for kind in ["same_answers", "same_code"] {
            assert_eq!(scrape.value(&format!("uic_duplicates_total{{kind=\"{kind}\"}}")), 0.0, "{kind} shown at 0");
        }
        assert_eq!(scrape.value("uic_turn_duration_seconds_count"), 0.0);
        assert_eq!(scrape.value("uic_turn_duration_seconds_sum"), 0.0);
        assert_eq!(scrape.value("uic_turn_duration_seconds_bucket{le=\"+Inf\"}"), 0.0);
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

        metrics.set_active_sessions(7);
        let scrape = Scrape::parse(&metrics.render());
        assert_eq!(scrape.value("uic_messages_received_total{channel=\"twilio\"}"), 2.0);
        assert_eq!(scrape.value("uic_messages_received_total{channel=\"meta\"}"), 1.0);
        assert_eq!(scrape.sample("uic_messages_received_total{channel=\"chat\"}"), None);
        assert_eq!(scrape.value("uic_replies_sent_total{channel=\"twilio\"}"), 5.0);
        assert_eq!(scrape.sample("uic_replies_sent_total{channel=\"meta\"}"), None);
        assert_eq!(scrape.value("uic_errors_total{kind=\"database\"}"), 2.0);
        assert_eq!(scrape.value("uic_errors_total{kind=\"signature\"}"), 1.0);
        assert_eq!(scrape.value("uic_turns_total{outcome=\"started\"}"), 1.0);
        assert_eq!(scrape.value("uic_turns_total{outcome=\"refused\"}"), 2.0);
        assert_eq!(scrape.value("uic_turns_total{outcome=\"completed\"}"), 4.0);
        assert_eq!(scrape.sample("uic_turns_total{outcome=\"answered\"}"), None);
        assert_eq!(scrape.value("uic_validation_errors_total"), 2.0);
        assert_eq!(scrape.value("uic_codes_issued_total"), 1.0);
        assert_eq!(scrape.value("uic_duplicates_total{kind=\"same_answers\"}"), 2.0);
        assert_eq!(scrape.value("uic_duplicates_total{kind=\"same_code\"}"), 1.0);
        assert_eq!(scrape.value("uic_active_sessions"), 7.0);
        assert_eq!(scrape.value("uic_turn_duration_seconds_count"), 7.0);
    }

    #[test]
    fn every_outcome_has_its_own_series() {
        let metrics = Metrics::new();
        for outcome in OUTCOMES {
            metrics.turn(outcome, None, ms(1));
        }
        let scrape = Scrape::parse(&metrics.render());
        for outcome in OUTCOMES {
            let series = format!("uic_turns_total{{outcome=\"{}\"}}", outcome.as_str());
            assert_eq!(scrape.value(&series), 1.0, "{outcome:?}");
        }
        assert_eq!(scrape.family("uic_turns").samples.len(), OUTCOMES.len(), "one series per outcome");
        assert_eq!(scrape.value("uic_validation_errors_total"), 2.0, "Refused and Escalated count");
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
        let scrape = Scrape::parse(&metrics.render());
        let family = scrape.family("uic_turn_duration_seconds");
        assert_eq!((family.kind.as_str(), family.unit.as_str()), ("histogram", "seconds"));
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
            ("1.0", 7.0),
            ("2.5", 7.0),
            ("+Inf", 8.0),
        ];
        for (le, count) in expected {
            assert_eq!(scrape.value(&format!("uic_turn_duration_seconds_bucket{{le=\"{le}\"}}")), count, "le={le}");
        }
        let buckets = family.samples.iter().filter(|sample| sample.name == "uic_turn_duration_seconds_bucket");
        assert_eq!(buckets.count(), expected.len());
        assert_eq!(scrape.value("uic_turn_duration_seconds_count"), 8.0);
        let sum = scrape.value("uic_turn_duration_seconds_sum");
        assert!((sum - 4.0643).abs() < 1e-9, "sum {sum}");
    }

    #[test]
    fn output_is_openmetrics_in_alphabetical_order_and_deterministic() {
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
        metrics.set_active_sessions(-1);
        let text = metrics.render();
        assert_eq!(text, metrics.render());
        assert!(text.ends_with("\n# EOF\n"), "{text}");

        let scrape = Scrape::parse(&text);
        let families: Vec<(&str, &str)> =
            scrape.families.iter().map(|family| (family.name.as_str(), family.kind.as_str())).collect();
        assert_eq!(
            families,
            [
                ("uic_active_sessions", "gauge"),
                ("uic_codes_issued", "counter"),
                ("uic_duplicates", "counter"),
                ("uic_errors", "counter"),
                ("uic_flows_failing", "gauge"),
                ("uic_messages_received", "counter"),
                ("uic_replies_sent", "counter"),
                ("uic_turn_duration_seconds", "histogram"),
                ("uic_turns", "counter"),
                ("uic_turns_grouped", "counter"),
                ("uic_validation_errors", "counter"),
            ]
        );
        assert!(scrape.families.iter().all(|family| !family.help.is_empty()), "every family is described");
        for name in ["uic_messages_received", "uic_replies_sent", "uic_errors", "uic_turns"] {
            assert_eq!(scrape.family(name).samples.len(), 3, "{name}");
        }
        assert_eq!(scrape.value("uic_active_sessions"), -1.0);
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        let awkward = "we\"ird\\chan\nnel}, x=\"";
        metrics.message_received(awkward);
        metrics.error("é\n");
        let text = metrics.render();
        assert!(text.contains(r#"uic_messages_received_total{channel="we\"ird\\chan\nnel}, x=\""} 1"#), "{text}");
        let scrape = Scrape::parse(&text);
        assert_eq!(scrape.get("uic_messages_received_total", &[("channel", awkward)]), Some(1.0));
        assert_eq!(scrape.get("uic_errors_total", &[("kind", "é\n")]), Some(1.0));
    }

    #[test]
    fn the_parser_rejects_what_is_not_openmetrics() {
        let good = Metrics::new().render();
        assert!(Scrape::try_parse(&good).is_ok());
        for (what, bad) in [
            ("no # EOF", good.replace("# EOF\n", "")),
            ("a counter sample without _total", good.replace("uic_codes_issued_total 0", "uic_codes_issued 0")),
            ("a value that is not a number", good.replace("uic_codes_issued_total 0", "uic_codes_issued_total x")),
            ("an unescaped quote", good.replace("kind=\"same_code\"", "kind=\"same\"code\"")),
            ("buckets out of order", good.replace("le=\"0.001\"", "le=\"0.0001\"")),
            (
                "a count that is not the +Inf bucket",
                good.replace("uic_turn_duration_seconds_count 0", "uic_turn_duration_seconds_count 1"),
            ),
        ] {
            assert_ne!(bad, good, "{what}: the test changes the text");
            assert!(Scrape::try_parse(&bad).is_err(), "{what} should be rejected:\n{bad}");
        }
    }

    #[test]
    #[should_panic(expected = "no metric `uic_code_issued_total` in /metrics; there are: uic_active_sessions")]
    fn a_metric_that_does_not_exist_fails_the_lookup() {
        Scrape::parse(&Metrics::new().render()).value("uic_code_issued_total");
    }

    #[test]
    #[should_panic(expected = "no series `uic_errors_total{kind=\"database\"}`")]
    fn a_series_that_does_not_exist_fails_the_lookup() {
        Scrape::parse(&Metrics::new().render()).value("uic_errors_total{kind=\"database\"}");
    }

    #[test]
    fn metrics_are_shared_across_threads() {
        let metrics = Arc::new(Metrics::new());
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
        let scrape = Scrape::parse(&metrics.render());
        assert_eq!(scrape.value("uic_messages_received_total{channel=\"meta\"}"), 4000.0);
        assert_eq!(scrape.value("uic_turn_duration_seconds_count"), 4000.0);
        assert_eq!(scrape.value("uic_turn_duration_seconds_bucket{le=\"0.0005\"}"), 4000.0);
    }
}
