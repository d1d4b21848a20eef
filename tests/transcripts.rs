//! Golden conversations: `tests/transcripts/<flow>/<name>.txt` hold the
//! messages a person sends (`> ...`) and the bot's replies beneath each one,
//! exactly as the person reads them. `UIC_REWRITE_GOLDEN_FILES=1 cargo test
//! transcripts` rewrites the replies from the inputs (never under `CI`);
//! review the diff like any change.
//!
//! File syntax:
//! - `# ...` comments and `@key value` settings before the first message:
//!   `@flow ID` (required), `@language LANG` (start language), `@from PHONE`.
//! - `> text` a message; `> [image]` (or another media kind) a non-text
//!   message; `> [choice VALUE]` a reply button; `> [wait 31m]` lets time pass.
//! - Several replies to one message are separated by a line `~~~`.
//! - A reply's choices follow it on one line, as WhatsApp shows them:
//!   `[buttons] id: title · …` (up to three) or `[list «button»] id: title · …`.

use std::path::{Path, PathBuf};

use chrono::Duration;
use uic::core::engine::{Content, Reply, ReplyOption};
use uic::core::whatsapp::MAX_BUTTONS;

use crate::support;

struct Script {
    header: Vec<String>,
    flow: String,
    language: Option<String>,
    from: String,
    inputs: Vec<String>,
}

fn parse(text: &str) -> Script {
    let mut header = Vec::new();
    let mut inputs = Vec::new();
    let mut flow = None;
    let mut language = None;
    let mut from = "+243810000001".to_string();
    for line in text.lines() {
        if let Some(input) = line.strip_prefix("> ").or_else(|| (line == ">").then_some("")) {
            inputs.push(input.to_string());
        } else if inputs.is_empty() {
            if let Some(value) = line.strip_prefix("@flow ") {
                flow = Some(value.trim().to_string());
            } else if let Some(value) = line.strip_prefix("@language ") {
                language = Some(value.trim().to_string());
            } else if let Some(value) = line.strip_prefix("@from ") {
                from = value.trim().to_string();
            }
            if !line.trim().is_empty() {
                header.push(line.to_string());
            }
        }
    }
    Script { header, flow: flow.expect("a transcript names its @flow"), language, from, inputs }
}

/// Runs a script against a fresh in-memory database and renders the transcript.
async fn run(script: &Script) -> String {
    let conversations = support::conversations(&script.flow, script.language.as_deref()).await;
    let mut now = support::t0();
    let mut out = script.header.join("\n");
    out.push_str("\n\n");
    for input in &script.inputs {
        out.push_str(&format!("> {input}\n"));
        let content = if let Some(wait) = input.strip_prefix("[wait ").and_then(|w| w.strip_suffix("m]")) {
            now += Duration::minutes(wait.parse().expect("[wait Nm]"));
            out.push('\n');
            continue;
        } else if let Some(value) = input.strip_prefix("[choice ").and_then(|c| c.strip_suffix(']')) {
            Content::Choice { id: value.to_string() }
        } else if let Some(kind) = input.strip_prefix('[').and_then(|m| m.strip_suffix(']')) {
            Content::Media { kind: kind.to_string() }
        } else {
            Content::Text(input.clone())
        };
        now += Duration::seconds(20);
        let handled = conversations.handle(&script.from, &content, now).await.expect("turn succeeds");
        let replies: Vec<String> = handled
            .replies
            .iter()
            .map(|reply| match reply {
                Reply::Text { text, options, list_button, .. } => {
                    text.clone() + &choices(options, list_button.as_deref())
                }
                Reply::QrCode { uic, caption } => format!("[QR code {uic}] {caption}"),
            })
            .collect();
        out.push_str(&replies.join("\n~~~\n"));
        out.push_str("\n\n");
    }
    out.trim_end().to_string() + "\n"
}

/// The choices a reply carries, as WhatsApp shows them: up to three reply
/// buttons, else a list opened by its button; each `id: title`.
fn choices(options: &[ReplyOption], list_button: Option<&str>) -> String {
    if options.is_empty() {
        return String::new();
    }
    let items: Vec<String> = options.iter().map(|option| format!("{}: {}", option.id, option.title)).collect();
    let kind = if options.len() <= MAX_BUTTONS {
        "[buttons]".to_string()
    } else {
        format!("[list «{}»]", list_button.unwrap_or(""))
    };
    format!("\n{kind} {}", items.join(" · "))
}

fn transcript_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files = Vec::new();
    for flow_dir in std::fs::read_dir(&root).expect("tests/transcripts exists") {
        let flow_dir = flow_dir.unwrap().path();
        for file in std::fs::read_dir(&flow_dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "txt") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn golden_transcripts_hold() {
    let update = support::rewrite_golden_files();
    let files = transcript_files();
    assert!(files.len() >= 20, "expected the full set of transcripts, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let expected = std::fs::read_to_string(file).unwrap();
        let actual = run(&parse(&expected)).await;
        if actual == expected {
            continue;
        }
        if update {
            std::fs::write(file, &actual).unwrap();
            continue;
        }
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        failures.push(format!(
            "{}:{}\n  expected: {:?}\n  actual:   {:?}",
            file.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>"),
        ));
    }
    assert!(
        failures.is_empty(),
        "transcripts differ ({} rewrites them):\n{}",
        support::REWRITE_VAR,
        failures.join("\n")
    );
}

/// The codes the transcripts show are the ones SPEC §3 requires; checked here
/// directly so a careless rewrite cannot bless a wrong code.
#[test]
fn transcripts_show_the_required_codes() {
    let read = |name: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts").join(name)).unwrap()
    };
    for name in [
        "drc-fr/happy-path.txt",
        "drc-fr/full-answers.txt",
        "drc-ln/happy-path.txt",
        "drc-ln/full-answers.txt",
        "drc-en/happy-path.txt",
    ] {
        assert!(read(name).contains("=====\nMBEIBR7DA1\n====="), "{name} issues MBEIBR7DA1");
    }
    assert!(read("drc-fr/other-code.txt").contains("=====\nMOBMAR3KI2\n====="));
    // SHA-256 of the answers and the test salt, computed outside the project:
    // printf '%s' 1985KINSHASAJEAN15KABILATest-Salt-For-Examples-0123 | sha256sum
    // → 386b3d844d4a7beafccbdba221ddd7c9058f7db19b03bfc3d05fd82bd07c86d1
    assert!(read("legacy-fr/happy-path.txt").contains("=====\n985-KINS-15-JEA-KABI-386B3\n====="));
}
