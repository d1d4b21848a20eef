//! How unique a flow's codes are (`uic analyze`): a code cut into its parts
//! by the flow's output pattern, how the values of each part are spread, and
//! from that the chance that two people get the same code.
//!
//! The model: parts are taken as independent, so two people share a code
//! with probability q = Π over parts of Σ p(value)², p(value) being the share
//! of people whose part has that value. Among N people about N(N−1)/2 · q
//! pairs share a code, and a new person joining N people gets a code one of
//! them holds with probability 1 − (1 − q)^N. Parts are not quite independent
//! (a first name says something of the gender), so these are estimates; the
//! collisions a database recorded show how far off they are. A check
//! character is decided by the rest of the code: it adds nothing.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use regex_syntax::ast::Ast;

use crate::core::check_character;
use crate::core::flow::Flow;
use crate::core::formula::Formulas;

/// One part of a code: a piece of the output pattern that is not a fixed
/// character (such as a dash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Part {
    /// Counted from 1, left to right.
    pub number: usize,
    /// The steps whose answers make it (`last_name`, `birth_year`, several
    /// joined with `+`), or `part N` when the formula does not say.
    pub name: String,
    /// Its piece of the output pattern, e.g. `[A-Z]{3}`.
    pub pattern: String,
    /// The check character, decided by the rest of the code.
    pub check_character: bool,
}

/// How a flow's codes are cut into parts.
#[derive(Debug, Clone)]
pub struct Shape {
    pub parts: Vec<Part>,
    cut: Regex,
    /// Each part's pattern alone, anchored: which values it can take.
    alone: Vec<Regex>,
}

fn group(number: usize) -> String {
    format!("uicpart{number}")
}

impl Shape {
    /// The parts of `flow`'s codes, from the top-level pieces of its output
    /// pattern (`[A-Z]{3}[A-Z]{3}[0-9][A-Z]{2}[1-4]`: five parts), named
    /// after the steps of the formula's `{{ … }}` expressions when there are
    /// as many of those as parts.
    pub fn of(flow: &Flow) -> Shape {
        let source = flow.uic.pattern.as_str();
        let inner = source.strip_prefix("^(?:").and_then(|p| p.strip_suffix(")$")).unwrap_or(source);
        // The pattern's own text of each top-level piece (its syntax tree's
        // spans), so a part reads as the flow file writes it.
        let parsed = regex_syntax::ast::parse::Parser::new().parse(inner);
        let pieces: Vec<(bool, &str)> = match &parsed {
            Ok(Ast::Concat(concat)) => concat
                .asts
                .iter()
                .map(|ast| (is_part(ast), &inner[ast.span().start.offset..ast.span().end.offset]))
                .collect(),
            Ok(_) => vec![(true, inner)],
            // The flow passed lint, so its pattern parses; one part if not.
            Err(_) => Vec::new(),
        };
        let mut cut = String::from("^");
        let mut patterns: Vec<String> = Vec::new();
        for (part, piece) in pieces {
            if part {
                patterns.push(piece.to_string());
                cut.push_str(&format!("(?P<{}>{piece})", group(patterns.len())));
            } else {
                cut.push_str(piece);
            }
        }
        if patterns.is_empty() {
            patterns = vec![inner.to_string()];
            cut = format!("^(?P<{}>{inner})", group(1));
        }
        cut.push('$');
        let check = check_character::has_check_character(flow);
        let counted = patterns.len() - usize::from(check && patterns.len() > 1);
        let names = part_names(flow, counted);
        let parts: Vec<Part> = patterns
            .iter()
            .enumerate()
            .map(|(i, pattern)| {
                let check_character = check && patterns.len() > 1 && i == patterns.len() - 1;
                let name = match &names {
                    _ if check_character => "check character".to_string(),
                    Some(names) => names[i].clone(),
                    None => format!("part {}", i + 1),
                };
                Part { number: i + 1, name, pattern: pattern.clone(), check_character }
            })
            .collect();
        let anchored = |pattern: &str| Regex::new(&format!("^(?:{pattern})$"));
        let alone = parts.iter().map(|part| anchored(&part.pattern).unwrap_or_else(|_| match_all())).collect();
        let cut = Regex::new(&cut).unwrap_or_else(|_| match_all());
        Shape { parts, cut, alone }
    }

    /// The value of each part in `code`; `None` when the code does not have the flow's form.
    pub fn cut(&self, code: &str) -> Option<Vec<String>> {
        let captures = self.cut.captures(code)?;
        (1..=self.parts.len()).map(|n| captures.name(&group(n)).map(|m| m.as_str().to_string())).collect()
    }

    /// Whether `value` can be part `number`'s (its pattern matches it whole).
    pub fn fits(&self, number: usize, value: &str) -> bool {
        self.alone.get(number.wrapping_sub(1)).is_some_and(|pattern| pattern.is_match(value))
    }

    /// The part a distribution file names: by its number or its name.
    pub fn part(&self, key: &str) -> Option<&Part> {
        let key = key.trim();
        match key.parse::<usize>() {
            Ok(number) => self.parts.get(number.wrapping_sub(1)),
            Err(_) => self.parts.iter().find(|part| part.name == key),
        }
    }
}

/// Whether a top-level piece of a pattern varies from code to code: fixed
/// characters (a dash), flags and anchors do not.
fn is_part(ast: &Ast) -> bool {
    !matches!(ast, Ast::Literal(_) | Ast::Empty(_) | Ast::Flags(_) | Ast::Assertion(_))
}

fn match_all() -> Regex {
    Regex::new("^(?P<uicpart1>.*)$").expect("a valid regular expression")
}

/// The steps each top-level `{{ … }}` of the formula uses, when there are
/// exactly `count` such expressions (leaving out the check character's).
fn part_names(flow: &Flow, count: usize) -> Option<Vec<String>> {
    static EXPRESSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)\{\{-?(.*?)-?\}\}").expect("a valid regular expression"));
    let env = minijinja::Environment::new();
    let mut names = Vec::new();
    for capture in EXPRESSION.captures_iter(&flow.uic.formula) {
        let expression = capture[1].trim();
        if expression.contains(check_character::FILTER) {
            continue;
        }
        let source = format!("{{{{ {expression} }}}}");
        let used: HashSet<String> = env.template_from_str(&source).ok()?.undeclared_variables(false);
        let steps: Vec<&str> = flow.steps.iter().map(|step| step.id.as_str()).filter(|id| used.contains(*id)).collect();
        // `{{ code }}` after `{% set code %}…{% endset %}` names no step: it is the parts again.
        if !steps.is_empty() {
            names.push(steps.join("+"));
        }
    }
    (names.len() == count).then_some(names)
}

/// How the values of one part are spread: a weight (people) per value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    weights: BTreeMap<String, f64>,
}

impl Distribution {
    pub fn add(&mut self, value: &str, weight: f64) {
        *self.weights.entry(value.to_string()).or_default() += weight;
    }

    pub fn total(&self) -> f64 {
        self.weights.values().sum()
    }

    /// How many different values.
    pub fn distinct(&self) -> usize {
        self.weights.len()
    }

    /// Σ p(value)²: the chance that two people picked at random have the
    /// same value here (1 when nothing is known).
    pub fn sum_of_squares(&self) -> f64 {
        let total = self.total();
        if total <= 0.0 {
            return 1.0;
        }
        self.weights.values().map(|weight| (weight / total).powi(2)).sum()
    }

    /// The `k` most frequent values with their share, most frequent first.
    pub fn top(&self, k: usize) -> Vec<(String, f64)> {
        let total = self.total();
        let mut values: Vec<(&String, &f64)> = self.weights.iter().collect();
        values.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
        values.into_iter().take(k).map(|(value, weight)| (value.clone(), weight / total)).collect()
    }
}

/// The chance that two people get the same code: the product of each
/// counted part's Σ p², check characters left out.
pub fn pair_probability<'a>(parts: impl IntoIterator<Item = (&'a Part, &'a Distribution)>) -> f64 {
    parts.into_iter().filter(|(part, _)| !part.check_character).map(|(_, d)| d.sum_of_squares()).product()
}

/// The chance that a new person gets a code one of `people` others already
/// holds: 1 − (1 − q)^people, computed without losing small values.
pub fn new_person_probability(q: f64, people: f64) -> f64 {
    if q >= 1.0 {
        return if people >= 1.0 { 1.0 } else { 0.0 };
    }
    -(people * (-q).ln_1p()).exp_m1()
}

/// The expected number of pairs sharing a code among `people`: people(people − 1)/2 · q.
pub fn expected_pairs(q: f64, people: f64) -> f64 {
    people * (people - 1.0).max(0.0) / 2.0 * q
}

/// The codes of a flow's examples, made as `uic lint` makes them (each
/// answer through its step, the formula under the public test salt);
/// examples whose answers are refused are left out (lint reports them).
/// Each code counts once: examples that make the same code show one person
/// typing the same facts in several ways, not several people.
pub fn example_codes(flow: &Flow, formulas: &Formulas, year: i32) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for code in flow.examples.iter().filter_map(|example| code_of(flow, formulas, year, &example.answers)) {
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// The code a person typing `typed` (an answer per step id) would get, or
/// `None` when a step refuses an answer (or one is missing).
pub fn code_of(flow: &Flow, formulas: &Formulas, year: i32, typed: &BTreeMap<String, String>) -> Option<String> {
    let answers = flow
        .steps
        .iter()
        .map(|step| {
            let typed = typed.get(&step.id)?;
            step.evaluate(typed, year).ok().map(|value| (step.id.clone(), value))
        })
        .collect::<Option<BTreeMap<_, _>>>()?;
    formulas.uic(flow, &answers).ok()
}

/// A line of a distribution file: part, value, weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    /// The line in the file, for messages.
    pub line: u64,
    pub part: String,
    pub value: String,
    pub weight: f64,
}

/// Reads a distribution file: CSV with the header `part,value,weight`, one
/// line per value of a part (`1,MBE,412` or `last_name,MBE,412`); weights are
/// counts or shares, only their ratios within a part matter.
pub fn read_distribution(text: &str) -> Result<Vec<Weight>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|error| format!("not CSV: {error}"))?.clone();
    if header.iter().collect::<Vec<_>>() != ["part", "value", "weight"] {
        return Err(format!(
            "line 1: the header must be `part,value,weight`, not `{}`",
            header.iter().collect::<Vec<_>>().join(",")
        ));
    }
    let mut weights = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| format!("not CSV: {error}"))?;
        let line = record.position().map_or(0, |position| position.line());
        let [part, value, weight] = [0, 1, 2].map(|i| record.get(i).unwrap_or_default().to_string());
        let weight: f64 = match weight.parse() {
            Ok(weight) if f64::is_finite(weight) && weight >= 0.0 => weight,
            _ => return Err(format!("line {line}: the weight `{weight}` is not a number of zero or more")),
        };
        weights.push(Weight { line, part, value, weight });
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_of_squares_is_the_chance_two_share_a_value() {
        let mut d = Distribution::default();
        d.add("A", 3.0);
        d.add("B", 1.0);
        // (3/4)² + (1/4)² = 10/16
        assert!((d.sum_of_squares() - 0.625).abs() < 1e-12);
        assert_eq!(d.top(1), vec![("A".to_string(), 0.75)]);
        assert_eq!(Distribution::default().sum_of_squares(), 1.0);
    }

    #[test]
    fn small_probabilities_keep_their_precision() {
        let q = 1e-12;
        // 1 − (1 − q)^N ≈ N·q when N·q is small.
        assert!((new_person_probability(q, 1000.0) / 1e-9 - 1.0).abs() < 1e-6);
        assert!((expected_pairs(0.5, 4.0) - 3.0).abs() < 1e-12);
        assert_eq!(new_person_probability(1.0, 2.0), 1.0);
    }

    #[test]
    fn distribution_files_are_checked_line_by_line() {
        let rows = read_distribution("part,value,weight\n1,MBE,3\n# a comment\nlast_name,KAB,1.5\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].part.as_str(), rows[1].value.as_str(), rows[1].weight), ("last_name", "KAB", 1.5));
        assert_eq!(
            read_distribution("part,value\n").unwrap_err(),
            "line 1: the header must be `part,value,weight`, not `part,value`"
        );
        assert_eq!(
            read_distribution("part,value,weight\n1,MBE,many\n").unwrap_err(),
            "line 2: the weight `many` is not a number of zero or more"
        );
    }
}
