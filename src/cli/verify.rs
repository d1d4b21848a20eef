//! `uic verify CODE... [--flow ID]`: whether a code typed from a card has a
//! flow's form and, where the flow ends its codes with a check character,
//! whether that character is right, so a mistyped code is caught before it
//! is searched for in DHIS2. Reads no database.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use chrono::{Datelike, Utc};
use clap::Args;

use crate::config::SourceArgs;
use crate::core::check_character::{self, Verdict};
use crate::core::flow::Flow;
use crate::core::formula::Formulas;
use crate::core::salt::Salt;
use crate::core::uniqueness::example_codes;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The codes to check, as typed from cards (spaces and lower case are fine). Without CODE:
    /// one code per line from standard input (e.g. a column pasted from a spreadsheet).
    #[arg(value_name = "CODE")]
    pub codes: Vec<String>,
    /// The flow the codes come from (default: every flow `uic serve` loads).
    #[arg(long, value_name = "ID")]
    pub flow: Option<String>,
    #[command(flatten)]
    pub sources: SourceArgs,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let codes = if args.codes.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!("Type or paste codes, one per line (Ctrl-D to finish).");
        }
        let mut codes = Vec::new();
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            if !line.trim().is_empty() {
                codes.push(line);
            }
        }
        codes
    } else {
        args.codes.clone()
    };
    if codes.is_empty() {
        anyhow::bail!("no code to check: give codes after `uic verify`, or one per line on standard input");
    }
    let catalog = super::flows::load(&args.sources, args.flow.as_deref())?;
    let flows: Vec<&Flow> = match &args.flow {
        Some(id) => catalog.flows.get(id).map(|flow| flow.as_ref()).into_iter().collect(),
        None => catalog.flows.values().map(|flow| flow.as_ref()).collect(),
    };
    // Examples are made under the public test salt, as `uic lint` makes them.
    let formulas = Formulas::new(flows.iter().copied(), Salt::for_tests())?;
    let year = Utc::now().year();
    // The check character is read as the code's last character: a formula
    // that puts it elsewhere would make every good code look mistyped.
    for flow in flows.iter().filter(|flow| check_character::has_check_character(flow)) {
        if example_codes(flow, &formulas, year).iter().any(|code| !check_character::is_consistent(code)) {
            eprintln!(
                "warning: flow `{}`: its examples' codes do not end with their check character; \
                 write `{{{{ code | check_character }}}}` last in the formula, over the whole code before it",
                flow.id
            );
        }
    }
    let mut wrong = 0;
    for typed in &codes {
        let code = check_character::typed(typed);
        let verdicts: Vec<(&Flow, Verdict)> =
            flows.iter().map(|flow| (*flow, check_character::verify(flow, &code))).collect();
        let ids = |wanted: &dyn Fn(Verdict) -> bool| {
            verdicts.iter().filter(|(_, v)| wanted(*v)).map(|(f, _)| f.id.as_str()).collect::<Vec<_>>().join(", ")
        };
        let consistent = ids(&|v| v == Verdict::Consistent);
        let well_formed = ids(&|v| v == Verdict::WellFormed);
        let inconsistent = ids(&|v| v == Verdict::Inconsistent);
        let line = if !consistent.is_empty() {
            format!("ok: a code of {consistent}, and its check character is right")
        } else if !well_formed.is_empty() {
            format!(
                "ok: a code of {well_formed} (no check character in this flow, so a wrong letter of the right kind cannot be caught: compare with the card)"
            )
        } else if !inconsistent.is_empty() {
            wrong += 1;
            format!(
                "WRONG: the check character does not match ({inconsistent}): a character was mistyped or two were swapped; read the card again"
            )
        } else {
            wrong += 1;
            let shapes: Vec<String> = flows
                .iter()
                .map(|flow| {
                    let example = example_codes(flow, &formulas, year).into_iter().next();
                    let like = example.map(|code| format!(" like {code}")).unwrap_or_default();
                    format!("{}: {}{like}", flow.id, pattern_of(flow))
                })
                .collect();
            format!("WRONG: not the form of a code ({})", shapes.join("; "))
        };
        let shown = if code.is_empty() { "(empty)" } else { code.as_str() };
        println!("{shown}  {line}");
    }
    if wrong > 0 {
        eprintln!("{wrong} of {} code(s) wrong: do not search for them in DHIS2 before checking the card", codes.len());
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// The output pattern as the flow file writes it.
pub(super) fn pattern_of(flow: &Flow) -> &str {
    let source = flow.uic.pattern.as_str();
    source.strip_prefix("^(?:").and_then(|p| p.strip_suffix(")$")).unwrap_or(source)
}
