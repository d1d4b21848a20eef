//! Everything `uic lint` checks (SPEC §5); a [`Catalog`] of flows and texts
//! is only ever made here, of the flows whose checks pass. The server and `uic chat`
//! load through here too, so a flow that fails lint never runs (the others do).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::load::{LoadedFlow, load_flows};
use super::source::Sources;
use crate::core::catalog::{Catalog, FailedFlow, Loaded};
use crate::core::diagnostic::{Diagnostic, Diagnostics, Origin, Wording};
use crate::core::flow::{Expected, Flow, Role};
use crate::core::formula::{self, FormulaError, Formulas};
use crate::core::i18n::Texts;
use crate::core::salt::Salt;
use crate::core::whatsapp::{CHOICES_PER_PAGE, MAX_BUTTON_TITLE, MAX_BUTTONS, MAX_LIST_ROW_TITLE, MAX_LIST_ROWS};

impl Catalog {
    /// Loads and checks; fails with every error found. Warnings come back with
    /// the catalog.
    pub fn load(sources: &Sources, current_year: i32) -> Result<(Catalog, Vec<Diagnostic>), Diagnostics> {
        let (catalog, diagnostics) = check(sources, current_year);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(Diagnostics(diagnostics.into_iter().filter(Diagnostic::is_error).collect()));
        }
        Ok((catalog, diagnostics))
    }

    /// Loads and checks, keeping the flows that pass: one broken draft flow
    /// does not stop the others (`uic serve`, `uic chat`). The diagnostics are
    /// exactly those of `uic lint`; the flows they fail are left out.
    pub fn load_passing(sources: &Sources, current_year: i32) -> Loaded {
        let Checked { mut catalog, diagnostics, failed } = checked(sources, current_year);
        // By file, not id: of two files with one id, the second fails and the first runs.
        let failed_files: BTreeSet<&str> = failed.iter().map(|f| f.file.as_str()).collect();
        let dropped: Vec<String> = catalog
            .origins
            .iter()
            .filter(|(_, origin)| failed_files.contains(origin.file()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in dropped {
            catalog.flows.remove(&id);
            catalog.origins.remove(&id);
        }
        Loaded { catalog, failed, diagnostics }
    }
}

/// Runs every check; returns what loaded and all diagnostics, in file order.
pub fn check(sources: &Sources, current_year: i32) -> (Catalog, Vec<Diagnostic>) {
    let Checked { catalog, diagnostics, .. } = checked(sources, current_year);
    (catalog, diagnostics)
}

struct Checked {
    /// Every flow that loaded, failing checks or not.
    catalog: Catalog,
    diagnostics: Vec<Diagnostic>,
    failed: Vec<FailedFlow>,
}

fn checked(sources: &Sources, current_year: i32) -> Checked {
    let (loaded, mut diagnostics) = load_flows(&sources.flows, &sources.tables);
    let mut runnable = Vec::new();
    for LoadedFlow { flow, origin } in loaded {
        let problems = formula::check(&flow);
        if problems.is_empty() {
            runnable.push((flow, origin));
        } else {
            diagnostics.extend(problems.into_iter().map(|p| origin.diagnostic(&p.pointer, p.message)));
        }
    }
    // Each error so far left a flow out, and with it the messages it uses.
    let every_flow_loaded = !diagnostics.iter().any(Diagnostic::is_error);
    let (texts, text_problems) = Texts::load(&sources.locales);
    diagnostics.extend(text_problems);

    let formulas = Formulas::new(runnable.iter().map(|(flow, _)| flow), Salt::for_tests()).ok();
    // The checks of one flow, told apart so that their errors fail that flow only.
    let mut failing_ids = BTreeSet::new();
    let mut messages = MessageChecks::default();
    for (flow, origin) in &runnable {
        let mut own = Vec::new();
        messages.check_flow(flow, origin, &texts, &mut own);
        check_whatsapp_limits(flow, origin, &texts, &mut own);
        check_unused_steps(flow, origin, &mut own);
        if let Some(formulas) = &formulas {
            check_examples(flow, origin, formulas, current_year, &mut own);
        }
        if own.iter().any(Diagnostic::is_error) {
            failing_ids.insert(flow.id.clone());
        }
        diagnostics.extend(own);
    }
    diagnostics.extend(messages.finish(&texts, every_flow_loaded));

    // An error in a locale file fails every flow that shows a message written
    // in that file, in the file's language: a syntax error drops the message
    // it is in, and can swallow the lines after it, so no text of that file
    // is trusted for the flows that read it. Flows that read nothing from the
    // file (another language, another flow's own texts) never show its
    // messages, so they keep running. The errors found across flows
    // (variables, the list button) sit in locale files too and follow the
    // same rule. A shared file (`common.ftl`) with an error therefore fails
    // every flow of its language, the default one included: as strict as
    // `uic lint` where it protects people.
    for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
        let Some((language, ids)) = texts.written_in(&diagnostic.file) else { continue };
        for (flow, _) in &runnable {
            let reads_it = flow.supports(language) && flow.messages().iter().any(|usage| ids.contains(usage.id));
            if reads_it {
                failing_ids.insert(flow.id.clone());
            }
        }
    }

    diagnostics.sort_by(|a, b| (&a.file, a.line, a.severity).cmp(&(&b.file, b.line, b.severity)));
    diagnostics.dedup();

    // Files that made no runnable flow (YAML, schema, `extends`, a duplicate id,
    // the formula) fail, then the flows that loaded but failed a later check.
    let runnable_files: BTreeSet<&str> = runnable.iter().map(|(_, origin)| origin.file()).collect();
    let mut failed: Vec<FailedFlow> = sources
        .flows
        .iter()
        .filter(|file| !runnable_files.contains(file.path.as_str()))
        .map(|file| FailedFlow { file: file.path.clone(), id: declared_id(&file.text) })
        .collect();
    failed.extend(
        runnable
            .iter()
            .filter(|(flow, _)| failing_ids.contains(&flow.id))
            .map(|(flow, origin)| FailedFlow { file: origin.file().to_string(), id: Some(flow.id.clone()) }),
    );
    failed.sort_by(|a, b| a.file.cmp(&b.file));

    let origins = runnable.iter().map(|(flow, origin)| (flow.id.clone(), origin.clone())).collect();
    let flows = runnable.into_iter().map(|(flow, _)| (flow.id.clone(), Arc::new(flow))).collect();
    Checked { catalog: Catalog { flows, texts: Arc::new(texts), origins }, diagnostics, failed }
}

/// The `id:` a flow file declares, if it reads as YAML at all.
fn declared_id(text: &str) -> Option<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    value.get("id")?.as_str().map(str::to_string)
}

/// Message checks that look across flows and languages.
#[derive(Default)]
struct MessageChecks {
    used: BTreeSet<String>,
    /// Message id → variables some flow gives it (the union of all uses).
    provided: BTreeMap<String, BTreeSet<&'static str>>,
    /// Message id → languages where some flow needs it.
    needed_in: BTreeMap<String, BTreeSet<String>>,
}

impl MessageChecks {
    fn check_flow(&mut self, flow: &Flow, origin: &Origin, texts: &Texts, diagnostics: &mut Vec<Diagnostic>) {
        for language in &flow.languages {
            if texts.messages(language).next().is_none() {
                diagnostics.push(origin.diagnostic(
                    "/languages",
                    Wording::new("flow-language-without-texts").text("flow", &flow.id).text("language", language),
                ));
            }
        }
        for usage in flow.messages() {
            self.used.insert(usage.id.to_string());
            self.provided.entry(usage.id.to_string()).or_default().extend(usage.variables.iter().copied());
            self.needed_in.entry(usage.id.to_string()).or_default().extend(flow.languages.iter().cloned());
            for (index, language) in flow.languages.iter().enumerate() {
                if texts.message(language, usage.id).is_none()
                    && !texts.is_broken(language, usage.id)
                    && texts.messages(language).next().is_some()
                {
                    // A shared message the flow does not name: point at the language.
                    let pointer = usage.pointer.clone().unwrap_or_else(|| format!("/languages/{index}"));
                    let (file, line) = origin.locate(&pointer);
                    diagnostics.push(Diagnostic::error(
                        file,
                        line,
                        Wording::new("message-missing")
                            .text("id", usage.id)
                            .text("language", language)
                            .text("flow", &flow.id)
                            .text("file", ftl_file_for(texts, flow, language, usage.id)),
                    ));
                }
            }
        }
    }

    /// Variables must be the same in every language and given by the engine;
    /// messages no flow uses are warnings, once every flow loaded (a flow left
    /// out for its errors would make the messages it uses look unused).
    fn finish(self, texts: &Texts, every_flow_loaded: bool) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        let languages: Vec<&str> = texts.languages().collect();
        let reference = if languages.contains(&"fr") { Some("fr") } else { languages.first().copied() };
        for id in &self.used {
            let given = &self.provided[id];
            for language in &languages {
                let Some(info) = texts.message(language, id) else { continue };
                for variable in &info.variables {
                    if !given.contains(variable.as_str()) {
                        let offered = if given.is_empty() {
                            Wording::new("message-given-nothing")
                        } else {
                            let names = given.iter().map(|v| format!("${v}")).collect::<Vec<_>>().join(", ");
                            Wording::new("message-given").text("variables", names)
                        };
                        diagnostics.push(Diagnostic::error(
                            &info.file,
                            Some(info.line),
                            Wording::new("message-unknown-variable")
                                .text("id", id)
                                .text("variable", variable)
                                .wording("offered", offered),
                        ));
                    }
                }
                if let Some(reference) = reference.filter(|r| r != language)
                    && let Some(base) = texts.message(reference, id)
                    && base.variables != info.variables
                {
                    diagnostics.push(Diagnostic::error(
                        &info.file,
                        Some(info.line),
                        with_variables(
                            with_variables(Wording::new("message-variables-differ"), "variables", &info.variables),
                            "reference-variables",
                            &base.variables,
                        )
                        .text("id", id)
                        .text("language", language)
                        .text("reference", reference)
                        .text("place", format!("{}:{}", base.file, base.line)),
                    ));
                }
            }
        }
        for language in languages.iter().filter(|_| every_flow_loaded) {
            for (id, info) in texts.messages(language) {
                // A shared moment's message may wait for a flow that needs it
                // (`choices-more` for a flow with a long list of choices).
                if !self.used.contains(id) && !Role::names().contains(&id.as_str()) {
                    diagnostics.push(Diagnostic::warning(
                        &info.file,
                        Some(info.line),
                        Wording::new("message-unused").text("id", id),
                    ));
                }
            }
        }
        diagnostics
    }
}

/// A step whose answer makes no part of the code nor of the duplicate key is
/// asked for nothing, or its id is misspelt in the formula. A warning, not an
/// error: a question may be asked on purpose without entering the code (a
/// consent), and a warning does not stop the flow from running.
fn check_unused_steps(flow: &Flow, origin: &Origin, diagnostics: &mut Vec<Diagnostic>) {
    for id in formula::unused_steps(flow) {
        let index = flow.steps.iter().position(|step| step.id == id).unwrap_or_default();
        let (file, line) = origin.locate(&format!("/steps/{index}/id"));
        diagnostics.push(Diagnostic::warning(file, line, Wording::new("step-unused").text("step", id)));
    }
}

/// The `.ftl` file a message missing in `language` belongs in: the file of
/// the same name as where another language has it, else the flow's own.
fn ftl_file_for(texts: &Texts, flow: &Flow, language: &str, id: &str) -> String {
    let elsewhere = flow.languages.iter().filter(|other| *other != language).find_map(|other| texts.message(other, id));
    match elsewhere.map(|info| std::path::Path::new(&info.file)) {
        Some(path) => match (path.parent().and_then(|dir| dir.parent()), path.file_name()) {
            (Some(locales), Some(name)) => locales.join(language).join(name).display().to_string(),
            _ => format!("locales/{language}/{}.ftl", flow.id),
        },
        None => format!("locales/{language}/{}.ftl", flow.id),
    }
}

/// Gives `$name` the variables as `$a, $b`, or the words "no variables".
fn with_variables(wording: Wording, name: &'static str, variables: &BTreeSet<String>) -> Wording {
    if variables.is_empty() {
        wording.wording(name, Wording::new("variables-none"))
    } else {
        wording.text(name, variables.iter().map(|v| format!("${v}")).collect::<Vec<_>>().join(", "))
    }
}

/// Each example goes through the steps (normalisation, validation, choices)
/// and the formula, under the public test salt, like a doctest.
fn check_examples(flow: &Flow, origin: &Origin, formulas: &Formulas, year: i32, diagnostics: &mut Vec<Diagnostic>) {
    for (index, example) in flow.examples.iter().enumerate() {
        let pointer = format!("/examples/{index}");
        let number = index + 1;
        let mut answers = BTreeMap::new();
        let mut refused = false;
        for step in &flow.steps {
            let Some(typed) = example.answers.get(&step.id) else {
                diagnostics.push(origin.diagnostic(
                    &pointer,
                    Wording::new("example-missing-answer").number("number", number).text("step", &step.id),
                ));
                refused = true;
                continue;
            };
            match step.evaluate(typed, year) {
                Ok(value) => {
                    answers.insert(step.id.clone(), value);
                }
                Err(refusal) => {
                    diagnostics.push(
                        origin.diagnostic(
                            &format!("{pointer}/answers/{}", step.id),
                            Wording::new("example-refused")
                                .number("number", number)
                                .text("typed", typed)
                                .text("step", &step.id)
                                .text("reason", &refusal.message),
                        ),
                    );
                    refused = true;
                }
            }
        }
        if refused {
            continue;
        }
        let made = match formulas.uic(flow, &answers) {
            Ok(code) => code,
            // An example's answers are no one's: its code may be shown.
            Err(FormulaError::Pattern { code, .. }) => {
                let source = flow.uic.pattern.as_str();
                let pattern = source.strip_prefix("^(?:").and_then(|p| p.strip_suffix(")$")).unwrap_or(source);
                diagnostics.push(
                    origin.diagnostic(
                        &pointer,
                        Wording::new("example-off-pattern")
                            .number("number", number)
                            .text("code", code)
                            .text("pattern", pattern),
                    ),
                );
                continue;
            }
            Err(error) => {
                let message = Wording::new("example-fails").number("number", number).text("detail", error);
                diagnostics.push(origin.diagnostic(&pointer, message));
                continue;
            }
        };
        let holds = match &example.expected {
            Expected::Uic(expected) => &made == expected,
            Expected::Pattern(pattern) => pattern.is_match(&made),
        };
        if !holds {
            let expected = match &example.expected {
                Expected::Uic(expected) => Wording::new("example-expected-code").text("code", expected),
                Expected::Pattern(pattern) => {
                    Wording::new("example-expected-pattern").text("pattern", pattern.as_str())
                }
            };
            let message =
                Wording::new("example-gives").number("number", number).text("made", made).wording("expected", expected);
            diagnostics.push(origin.diagnostic(&pointer, message));
        }
    }
}

fn check_whatsapp_limits(flow: &Flow, origin: &Origin, texts: &Texts, diagnostics: &mut Vec<Diagnostic>) {
    if flow.steps.iter().any(|step| step.choices.len() > MAX_BUTTONS) {
        check_row_message(flow, texts, Role::ChoicesButton, MAX_BUTTON_TITLE, "whatsapp-list-button", diagnostics);
    }
    if flow.steps.iter().any(|step| step.choices.len() > MAX_LIST_ROWS) {
        check_row_message(flow, texts, Role::ChoicesMore, MAX_LIST_ROW_TITLE, "whatsapp-more-row", diagnostics);
    }
    // The yes and no of a lookup table's question are reply buttons.
    if flow.steps.iter().any(|step| step.lookup.is_some()) {
        for role in [Role::LookupYes, Role::LookupNo] {
            check_row_message(flow, texts, role, MAX_BUTTON_TITLE, "whatsapp-reply-button", diagnostics);
        }
    }
    for (index, step) in flow.steps.iter().enumerate() {
        let count = step.choices.len();
        if count == 0 {
            continue;
        }
        if count > MAX_LIST_ROWS {
            // Not a mistake: said so the author knows what people will see.
            diagnostics.push(
                origin.warning(
                    &format!("/steps/{index}/choices"),
                    Wording::new("whatsapp-paged")
                        .text("step", &step.id)
                        .number("count", count)
                        .number("rows", MAX_LIST_ROWS)
                        .number("per-page", CHOICES_PER_PAGE)
                        .text("more", flow.texts.id(Role::ChoicesMore)),
                ),
            );
        }
        // Text channels number the choices and a typed number means the choice
        // at that position; a value that is another number would read as a clash.
        for (choice_index, choice) in step.choices.iter().enumerate() {
            if let Ok(number) = choice.value.parse::<usize>()
                && number != choice_index + 1
                && (1..=count).contains(&number)
            {
                diagnostics.push(
                    origin.warning(
                        &format!("/steps/{index}/choices/{choice_index}/value"),
                        Wording::new("whatsapp-number-order")
                            .number("number", number)
                            .number("position", choice_index + 1)
                            .text("step", &step.id),
                    ),
                );
            }
        }
        let (limit, shown_as) = if count <= MAX_BUTTONS {
            (MAX_BUTTON_TITLE, "whatsapp-reply-buttons")
        } else {
            (MAX_LIST_ROW_TITLE, "whatsapp-list-rows")
        };
        for (choice_index, choice) in step.choices.iter().enumerate() {
            for language in &flow.languages {
                if texts.message(language, &choice.label).is_none() {
                    continue; // reported as missing
                }
                let title = texts.format(language, &choice.label, &Vec::new());
                let length = title.chars().count();
                if length > limit {
                    diagnostics.push(
                        origin.diagnostic(
                            &format!("/steps/{index}/choices/{choice_index}/label"),
                            Wording::new("whatsapp-label-too-long")
                                .text("label", &choice.label)
                                .number("length", length)
                                .text("language", language)
                                .wording("shown", Wording::new(shown_as))
                                .number("limit", limit),
                        ),
                    );
                }
            }
        }
    }
}

/// The button that opens a list (20 characters) and the "more" row of a
/// paged list (24) are shared messages; the error points at the message in
/// its `.ftl` file, where it is fixed.
fn check_row_message(
    flow: &Flow,
    texts: &Texts,
    role: Role,
    limit: usize,
    shown_as: &'static str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let id = flow.texts.id(role);
    for language in &flow.languages {
        let Some(info) = texts.message(language, id) else { continue }; // reported as missing
        let length = texts.format(language, id, &Vec::new()).chars().count();
        if length > limit {
            diagnostics.push(Diagnostic::error(
                &info.file,
                Some(info.line),
                Wording::new("whatsapp-message-too-long")
                    .text("id", id)
                    .number("length", length)
                    .text("language", language)
                    .wording("shown", Wording::new(shown_as))
                    .number("limit", limit),
            ));
        }
    }
}
