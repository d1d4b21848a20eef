//! Flow loading: any text in place of a shipped flow file (the first byte
//! picks which) is read as YAML, checked against the schema, built and linted
//! without a panic: a broken flow is a diagnostic, never a crash.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use uic::lint::source::Sources;

static SOURCES: LazyLock<Sources> = LazyLock::new(Sources::embedded);

fuzz_target!(|data: &[u8]| {
    let Some((&which, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let mut sources = SOURCES.clone();
    let index = usize::from(which) % sources.flows.len();
    sources.flows[index].text = text.to_string();
    let _ = uic::lint::checks::check(&sources, 2026);
});
