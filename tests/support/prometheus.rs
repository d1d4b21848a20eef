//! Reads what `GET /metrics` serves with the Prometheus project's own parser:
//! the OpenMetrics parser of its Python client (`prometheus_client`, pinned
//! in `.ci/run`), run by `python3`, which hands the families back as JSON.
//! A text it rejects fails the test, and so does looking up a metric or a
//! series that is not there: the message names what is.
//!
//! The library's unit tests of `src/turn/metrics.rs` include this file too,
//! so it uses nothing but std and serde_json.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Reads OpenMetrics text on standard input; writes its families as JSON.
/// Values go as Python's `repr` of a float (`1.0`, `inf`), which JSON and
/// Rust's float parsing both take.
const PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = [
    {
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "unit": family.unit,
        "samples": [
            {"name": sample.name, "labels": sample.labels, "value": repr(float(sample.value))}
            for sample in family.samples
        ],
    }
    for family in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
"#;

/// The parser's version, as `.ci/run` installs it.
const PARSER_PACKAGE: &str = "prometheus-client==0.26.0";

/// One scrape, as the parser read it.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// In the order of the text.
    pub families: Vec<Family>,
}

/// A metric family: `name` is the family's (`uic_turns` for the series
/// `uic_turns_total`), `kind` its `TYPE`.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub unit: String,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Scrape {
    /// Parses the text; a text the parser rejects fails the test.
    pub fn parse(text: &str) -> Scrape {
        Scrape::try_parse(text).unwrap_or_else(|error| panic!("{error}\n--- the text:\n{text}"))
    }

    /// Parses the text, or says why the parser rejects it.
    pub fn try_parse(text: &str) -> Result<Scrape, String> {
        let mut child = Command::new("python3")
            .args(["-c", PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("python3 reads /metrics with the Prometheus parser; cannot run it: {error}")
            });
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("the text reaches python3");
        let output = child.wait_with_output().expect("python3 ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named 'prometheus_client'") {
            panic!("the Prometheus parser is missing: python3 -m pip install {PARSER_PACKAGE} (as .ci/run does)");
        }
        if !output.status.success() {
            return Err(format!("the Prometheus parser rejects the text: {}", stderr.trim()));
        }
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the parser's JSON");
        let families = json.as_array().expect("a list of families").iter().map(family_of).collect();
        Ok(Scrape { families })
    }

    /// The family named `name` (`uic_turns`, not `uic_turns_total`).
    pub fn family(&self, name: &str) -> &Family {
        self.families.iter().find(|family| family.name == name).unwrap_or_else(|| {
            let names: Vec<&str> = self.families.iter().map(|family| family.name.as_str()).collect();
            panic!("no metric family `{name}` in /metrics; there are: {}", names.join(", "))
        })
    }

    /// The value of the series `name` with exactly `labels`, `None` when there
    /// is no such series. A `name` no family has fails the test.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.family_of_sample(name);
        let labels: BTreeMap<String, String> = labels.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
        family.samples.iter().find(|sample| sample.name == name && sample.labels == labels).map(|sample| sample.value)
    }

    /// [`Scrape::get`] with the series written as in PromQL:
    /// `uic_codes_issued_total` or `uic_messages_received_total{channel="twilio"}`.
    pub fn sample(&self, series: &str) -> Option<f64> {
        let (name, labels) = parse_series(series);
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.get(&name, &labels)
    }

    /// The value of a series that must be there: a missing one fails the test,
    /// naming the series its metric has (or the metrics there are).
    pub fn value(&self, series: &str) -> f64 {
        self.sample(series).unwrap_or_else(|| {
            let (name, _) = parse_series(series);
            let family = self.family_of_sample(&name);
            let present: Vec<String> = family.samples.iter().map(Sample::series).collect();
            panic!("no series `{series}` in /metrics; `{}` has: [{}]", family.name, present.join(", "))
        })
    }

    /// The family a sample name belongs to (`uic_turns_total` → `uic_turns`).
    fn family_of_sample(&self, name: &str) -> &Family {
        self.families.iter().find(|family| family.sample_names().iter().any(|known| known == name)).unwrap_or_else(
            || {
                let names: Vec<String> = self.families.iter().flat_map(Family::sample_names).collect();
                panic!("no metric `{name}` in /metrics; there are: {}", names.join(", "))
            },
        )
    }
}

impl Family {
    /// The names its samples may have, by its type.
    pub fn sample_names(&self) -> Vec<String> {
        let suffixes: &[&str] = match self.kind.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" | "gaugehistogram" => &["_bucket", "_count", "_sum", "_gcount", "_gsum", "_created"],
            "summary" => &["", "_count", "_sum", "_created"],
            "info" => &["_info"],
            _ => &[""],
        };
        suffixes.iter().map(|suffix| format!("{}{suffix}", self.name)).collect()
    }
}

impl Sample {
    /// As a series in PromQL: `name{label="value",...}`.
    pub fn series(&self) -> String {
        let mut out = self.name.clone();
        if !self.labels.is_empty() {
            let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(out, "{{{}}}", labels.join(","));
        }
        out
    }
}

fn family_of(json: &serde_json::Value) -> Family {
    let text = |key: &str| json[key].as_str().unwrap_or_default().to_string();
    let samples = json["samples"].as_array().expect("samples").iter().map(sample_of).collect();
    Family { name: text("name"), kind: text("type"), help: text("help"), unit: text("unit"), samples }
}

fn sample_of(json: &serde_json::Value) -> Sample {
    let labels = json["labels"]
        .as_object()
        .expect("labels")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a label value").to_string()))
        .collect();
    let value = json["value"].as_str().expect("a value");
    let value = value.parse().unwrap_or_else(|_| panic!("the parser's value {value:?}"));
    Sample { name: json["name"].as_str().expect("a name").to_string(), labels, value }
}

/// `name` or `name{label="value",...}` → the name and the labels; values may
/// hold `\\`, `\"` and `\n`.
fn parse_series(series: &str) -> (String, Vec<(String, String)>) {
    let Some((name, rest)) = series.split_once('{') else { return (series.to_string(), Vec::new()) };
    let mut labels = Vec::new();
    let mut rest = rest;
    while !rest.starts_with('}') {
        let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad series {series:?}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((at, '"')) => break at,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => panic!("bad escape in series {series:?}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in series {series:?}"),
            }
        };
        labels.push((label.to_string(), value));
        rest = &after[end + 1..];
        if let Some(next) = rest.strip_prefix(',') {
            rest = next;
        }
        assert!(!rest.is_empty(), "bad series {series:?}");
    }
    assert_eq!(rest, "}", "bad series {series:?}");
    (name.to_string(), labels)
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
