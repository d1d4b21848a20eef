//! Lookup tables (`lookup: { table: data/….csv }`): each step's table read
//! beside the flow's file, checked, and given to the step. A table's
//! problems are named at their line in the CSV file.

use std::path::Path;

use crate::core::diagnostic::{Diagnostic, Origin, SourceFile, Wording};
use crate::core::flow::Flow;
use crate::core::formula;
use crate::core::lookup::{Table, TableProblem};

/// Reads and checks every table the flow's steps name; false when one is
/// missing or wrong, which fails the flow.
pub fn attach_tables(
    flow: &mut Flow,
    origin: &Origin,
    tables: &[SourceFile],
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let mut ok = true;
    for index in 0..flow.steps.len() {
        let Some(lookup) = &flow.steps[index].lookup else { continue };
        let pointer = format!("/steps/{index}/lookup/table");
        let (flow_file, _) = origin.locate(&pointer);
        let folder = Path::new(&flow_file).parent().unwrap_or(Path::new(""));
        let wanted = folder.join(&lookup.file);
        let Some(file) = tables.iter().find(|table| Path::new(&table.path) == wanted) else {
            let message = Wording::new("lookup-table-missing")
                .text("table", &lookup.file)
                .text("folder", folder.join("data").display());
            diagnostics.push(origin.diagnostic(&pointer, message));
            ok = false;
            continue;
        };
        let step = &flow.steps[index];
        let (table, problems) = match Table::parse(&file.path, &file.text, &|name| step.key(name)) {
            Ok(parsed) => parsed,
            Err(problem) => {
                diagnostics.push(table_problem(&file.path, problem));
                ok = false;
                continue;
            }
        };
        for problem in problems {
            let diagnostic = table_problem(&file.path, problem);
            ok &= !diagnostic.is_error();
            diagnostics.push(diagnostic);
        }
        // Each code goes through the formula as the answer would: it must come out as listed.
        let mut checked: Vec<&str> = Vec::new();
        for entry in &table.entries {
            if checked.contains(&entry.code.as_str()) {
                continue;
            }
            checked.push(&entry.code);
            for (expression, made) in formula::parts_made_of(flow, &step.id, &entry.code) {
                if made != entry.code {
                    let message = Wording::new("lookup-code-changed")
                        .text("code", &entry.code)
                        .text("name", &entry.name)
                        .text("made", made)
                        .text("expression", expression);
                    diagnostics.push(Diagnostic::error(&file.path, Some(entry.line), message));
                    ok = false;
                }
            }
        }
        flow.attach_table(index, table);
    }
    ok
}

fn table_problem(file: &str, problem: TableProblem) -> Diagnostic {
    match problem {
        TableProblem::Unreadable { line, reason } => {
            Diagnostic::error(file, Some(line.max(1)), Wording::new("lookup-unreadable").text("reason", reason))
        }
        TableProblem::Duplicate { line, name, first } => Diagnostic::warning(
            file,
            Some(line),
            Wording::new("lookup-duplicate").text("name", name).number("first", first),
        ),
        TableProblem::Clash { line, name, code, first, first_code } => Diagnostic::error(
            file,
            Some(line),
            Wording::new("lookup-clash")
                .text("name", name)
                .text("code", code)
                .number("first", first)
                .text("first-code", first_code),
        ),
    }
}
