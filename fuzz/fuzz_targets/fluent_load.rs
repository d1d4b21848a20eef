//! Fluent loading: any text in place of a shipped locale file (the first byte
//! picks which) loads into texts and diagnostics, and every message that
//! loaded formats, without a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use uic::core::i18n::Texts;
use uic::lint::source::Sources;

static SOURCES: LazyLock<Sources> = LazyLock::new(Sources::embedded);

fuzz_target!(|data: &[u8]| {
    let Some((&which, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let mut locales = SOURCES.locales.clone();
    let index = usize::from(which) % locales.len();
    locales[index].1.text = text.to_string();
    let (texts, _) = Texts::load(&locales);
    let language = locales[index].0.clone();
    let ids: Vec<String> = texts.messages(&language).map(|(id, _)| id.clone()).collect();
    for id in ids {
        let _ = texts.format(&language, &id, &Vec::new());
    }
});
