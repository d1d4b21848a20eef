//! `uic analyze`: how unique a flow's codes are. Each part of the code (cut
//! by the flow's output pattern) gets its spread of values, from the codes a
//! database issued or, without a database, from the flow's examples or a
//! distribution file staff provide; from those, the chance that two people
//! share a code and what it means at a given number of people (see
//! [`crate::core::uniqueness`]). Prints codes' parts and counts, never an
//! answer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Datelike, Utc};
use clap::Args;
use serde_json::json;

use super::db::{block_on, open_existing, redact_url};
use super::figures::{grouped, one_in, pairs_text, percent};
use crate::config::{DatabaseArgs, SourceArgs};
use crate::core::flow::Flow;
use crate::core::formula::Formulas;
use crate::core::salt::Salt;
use crate::core::uniqueness::{
    Distribution, Shape, code_of, example_codes, expected_pairs, new_person_probability, pair_probability,
    read_distribution,
};

/// Values of a part shown, most frequent first.
const TOP: usize = 3;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The flow whose codes to analyse.
    #[arg(long, value_name = "ID", env = "DEFAULT_FLOW", default_value = "drc-fr")]
    pub flow: String,
    /// Count the codes this database issued. Without URL: the database `uic serve` uses
    /// (DATABASE_URL, else sqlite://DATA_DIR/uic.db). Without --db: the flow alone, from its
    /// examples or --distribution.
    #[arg(long = "db", value_name = "URL", num_args = 0..=1)]
    pub db: Option<Option<String>>,
    /// Numbers of people to give the figures for (repeat the flag or separate with commas).
    #[arg(long, value_name = "N", value_delimiter = ',', default_values_t = [10_000u64, 100_000])]
    pub population: Vec<u64>,
    /// Without --db: a CSV file of sample answers, a header naming the flow's steps and one person
    /// per line (e.g. from a register), made into codes by the flow's formula instead of its
    /// examples: the same file compares two formulas on the same people. Never printed.
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    pub answers: Option<PathBuf>,
    /// Without --db: a CSV file `part,value,weight` giving the spread of values of some parts
    /// (part by number or name); the other parts are spread as in the examples or --answers.
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    pub distribution: Option<PathBuf>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sources: SourceArgs,
}

/// Where a part's spread of values comes from.
fn source_words(source: &Source) -> String {
    match source {
        Source::Database => "the database".to_string(),
        Source::Examples(n) => format!("{n} example(s)"),
        Source::Answers(n, path) => format!("{n} people in {path}"),
        Source::File(path) => path.clone(),
    }
}

#[derive(Debug, Clone)]
enum Source {
    Database,
    Examples(usize),
    Answers(usize, String),
    File(String),
}

/// What the database says beyond the spread of parts.
struct Recorded {
    shown_url: String,
    codes: usize,
    people: u64,
    /// Codes held by more than one answer set, the people holding them, the pairs among them.
    shared_codes: usize,
    shared_people: u64,
    shared_pairs: u64,
    /// Codes that do not have the flow's current form (left out).
    unfit: usize,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let catalog = super::flows::load(&args.sources, Some(&args.flow))?;
    let flow = catalog.flows.get(&args.flow).expect("load checked the flow").clone();
    let shape = Shape::of(&flow);
    let mut distributions: Vec<Distribution> = vec![Distribution::default(); shape.parts.len()];
    let mut sources: Vec<Source> = vec![Source::Database; shape.parts.len()];
    let database = match &args.db {
        None => None,
        Some(Some(url)) => Some(url.clone()),
        Some(None) => Some(DatabaseArgs::from_env()?.url()),
    };
    // Lines of --answers the flow refuses.
    let mut left_out = 0;
    let recorded = match &database {
        Some(url) => Some(from_database(&flow, &shape, url, &mut distributions)?),
        None => {
            left_out = from_flow(&flow, &shape, &args, &mut distributions, &mut sources)?;
            None
        }
    };

    let q = pair_probability(shape.parts.iter().zip(&distributions));
    let mut populations: Vec<(u64, bool)> = Vec::new();
    if let Some(recorded) = &recorded {
        populations.push((recorded.people, true));
    }
    populations.extend(args.population.iter().map(|n| (*n, false)));
    let figures: Vec<(u64, bool, f64, f64)> = populations
        .iter()
        .map(|(n, now)| (*n, *now, new_person_probability(q, *n as f64), expected_pairs(q, *n as f64)))
        .collect();
    let mut assumptions = vec![
        "the parts of a code are independent of each other (a first name says nothing of the last name or the gender)"
            .to_string(),
        "new people are like the people the spread of values was taken from".to_string(),
    ];
    match &recorded {
        Some(recorded) => {
            assumptions.push(
                "each person holding a code counts once: its owner and each different set of answers that made it"
                    .to_string(),
            );
            if recorded.people < 1_000 {
                assumptions.push(format!(
                    "with only {} people so far, each part's spread is rough and the figures pessimistic",
                    recorded.people
                ));
            }
        }
        None => {
            assumptions.push(
                "each part's values are spread as in the flow's examples or the --answers file, or the distribution file where it gives the part"
                    .to_string(),
            );
            if sources.iter().any(|source| matches!(source, Source::Examples(n) | Source::Answers(n, _) if *n < 100)) {
                assumptions.push(
                    "a handful of examples gives a rough, pessimistic estimate: give --answers FILE (the answers of a few hundred people) or --distribution FILE for figures worth comparing"
                        .to_string(),
                );
            }
        }
    }

    if args.json {
        let parts: Vec<serde_json::Value> = shape
            .parts
            .iter()
            .zip(&distributions)
            .zip(&sources)
            .map(|((part, distribution), source)| {
                let top: Vec<serde_json::Value> = distribution
                    .top(TOP)
                    .into_iter()
                    .map(|(value, share)| json!({ "value": value, "share": share }))
                    .collect();
                json!({
                    "number": part.number,
                    "name": part.name,
                    "pattern": part.pattern,
                    "check_character": part.check_character,
                    "source": source_words(source),
                    "distinct_values": distribution.distinct(),
                    "sum_of_squares": distribution.sum_of_squares(),
                    "most_frequent": top,
                })
            })
            .collect();
        let populations: Vec<serde_json::Value> = figures
            .iter()
            .map(|(n, now, p, pairs)| {
                json!({
                    "people": n,
                    "now": now,
                    "collision_probability_new_person": p,
                    "one_in": if *p > 0.0 { Some(1.0 / p) } else { None },
                    "expected_colliding_pairs": pairs,
                })
            })
            .collect();
        let report = json!({
            "flow": flow.id,
            "flow_version": flow.version,
            "pattern": super::verify::pattern_of(&flow),
            "source": if recorded.is_some() { "database" } else { "flow" },
            "database": recorded.as_ref().map(|r| r.shown_url.clone()),
            "codes": recorded.as_ref().map(|r| r.codes),
            "people": recorded.as_ref().map(|r| r.people),
            "codes_left_out": recorded.as_ref().map(|r| r.unfit),
            "answers_left_out": args.answers.as_ref().map(|_| left_out),
            "parts": parts,
            "pair_probability": q,
            "recorded_collisions": recorded.as_ref().map(|r| json!({
                "codes": r.shared_codes,
                "people": r.shared_people,
                "pairs": r.shared_pairs,
            })),
            "populations": populations,
            "assumptions": assumptions,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }

    println!(
        "Flow {} (version {}): codes shaped {}, in {} part(s).",
        flow.id,
        flow.version,
        super::verify::pattern_of(&flow),
        shape.parts.len()
    );
    if let Some(path) = &args.answers
        && left_out > 0
    {
        println!("{left_out} line(s) of {} left out: the flow refuses one of their answers.", path.display());
    }
    if let Some(recorded) = &recorded {
        println!(
            "From {}: {} code(s) issued by this formula, held by {} people.",
            recorded.shown_url,
            grouped(recorded.codes as f64),
            grouped(recorded.people as f64)
        );
        if recorded.unfit > 0 {
            println!("{} code(s) left out: they do not have the flow's current form.", recorded.unfit);
        }
    }
    println!();
    println!("Each part: how many different values, and the chance that two people have the same value there.");
    let header = ["part", "pattern", "values", "two people share it", "most frequent", "from"];
    let rows: Vec<[String; 6]> = shape
        .parts
        .iter()
        .zip(&distributions)
        .zip(&sources)
        .map(|((part, distribution), source)| {
            let share = if part.check_character {
                "(decided by the rest)".to_string()
            } else {
                one_in(distribution.sum_of_squares())
            };
            let top = distribution
                .top(TOP)
                .into_iter()
                .map(|(value, share)| format!("{value} {}", percent(share)))
                .collect::<Vec<_>>()
                .join(", ");
            [
                format!("{} {}", part.number, part.name),
                part.pattern.clone(),
                distribution.distinct().to_string(),
                share,
                top,
                source_words(source),
            ]
        })
        .collect();
    print!("{}", super::table::table(&header, &rows, &[false, false, true, false, false, false]));
    println!();
    println!("Two people get the same whole code: {}, the product of the parts' chances.", one_in(q));
    println!();
    let header = ["people", "a new person gets a code someone already holds", "expected pairs sharing a code"];
    let rows: Vec<[String; 3]> = figures
        .iter()
        .map(|(n, now, p, pairs)| {
            let people = if *now { format!("{} (now)", grouped(*n as f64)) } else { grouped(*n as f64) };
            [people, one_in(*p), pairs_text(*pairs)]
        })
        .collect();
    print!("{}", super::table::table(&header, &rows, &[false, false, true]));
    println!();
    if let Some(recorded) = &recorded {
        let expected = figures.first().map_or(0.0, |(_, _, _, pairs)| *pairs);
        println!(
            "Recorded possible collisions: {} code(s) held by people with different answers ({} people, {} pair(s)); \
             the estimate above expects {} pair(s) among {} people. Many more recorded than expected means the parts \
             are less independent than assumed. `uic collisions list` shows these codes.",
            grouped(recorded.shared_codes as f64),
            grouped(recorded.shared_people as f64),
            grouped(recorded.shared_pairs as f64),
            pairs_text(expected),
            grouped(recorded.people as f64)
        );
    }
    for (n, now, p, _) in &figures {
        if !now && *p > 0.0 {
            let how_many = if *p >= 0.995 {
                "nearly all".to_string()
            } else if *p >= 0.5 {
                format!("about {} of", percent(*p))
            } else {
                format!("about 1 in {}", grouped((1.0 / p).round()))
            };
            println!(
                "At {} clients, {how_many} new clients will receive a code that already belongs to someone else.",
                grouped(*n as f64),
            );
        }
    }
    println!("Assumed: {}.", assumptions.join("; "));
    Ok(ExitCode::SUCCESS)
}

/// Each part's spread from the codes the database issued with this flow's formula.
fn from_database(
    flow: &Flow,
    shape: &Shape,
    url: &str,
    distributions: &mut [Distribution],
) -> anyhow::Result<Recorded> {
    let shown_url = redact_url(url);
    let codes = block_on(async {
        let store = open_existing(url).await?;
        let codes = store.codes_of_formula(&flow.uic.fingerprint).await;
        store.close().await;
        codes.map_err(|error| anyhow::anyhow!("{shown_url}: {error}"))
    })?;
    if codes.is_empty() {
        anyhow::bail!(
            "{shown_url}: no codes issued by flow `{}`'s formula yet; run without --db to estimate from the flow",
            flow.id
        );
    }
    let mut recorded = Recorded {
        shown_url: shown_url.clone(),
        codes: codes.len(),
        people: 0,
        shared_codes: 0,
        shared_people: 0,
        shared_pairs: 0,
        unfit: 0,
    };
    for (code, people) in &codes {
        let Some(values) = shape.cut(code) else {
            recorded.unfit += 1;
            continue;
        };
        let people = u64::try_from(*people).unwrap_or(0);
        for (distribution, value) in distributions.iter_mut().zip(&values) {
            distribution.add(value, people as f64);
        }
        recorded.people += people;
        if people > 1 {
            recorded.shared_codes += 1;
            recorded.shared_people += people;
            recorded.shared_pairs += people * (people - 1) / 2;
        }
    }
    if recorded.people == 0 {
        anyhow::bail!("{shown_url}: none of the codes of flow `{}` has its current form", flow.id);
    }
    Ok(recorded)
}

/// Each part's spread from the flow's examples or the answers file, and
/// from the distribution file where it gives the part. Returns how many
/// lines of the answers file the flow refuses.
fn from_flow(
    flow: &Flow,
    shape: &Shape,
    args: &AnalyzeArgs,
    distributions: &mut [Distribution],
    sources: &mut [Source],
) -> anyhow::Result<usize> {
    // Salted parts are made under the public test salt: their spread is the same.
    let formulas = Formulas::new([flow], Salt::for_tests())?;
    let year = Utc::now().year();
    let (codes, left_out) = match &args.answers {
        None => {
            let codes = example_codes(flow, &formulas, year);
            sources.fill(Source::Examples(codes.len()));
            (codes, 0)
        }
        Some(path) => {
            let (codes, left_out) = codes_of_answers(flow, &formulas, year, path)?;
            sources.fill(Source::Answers(codes.len(), path.display().to_string()));
            (codes, left_out)
        }
    };
    for code in &codes {
        if let Some(values) = shape.cut(code) {
            for (distribution, value) in distributions.iter_mut().zip(&values) {
                distribution.add(value, 1.0);
            }
        }
    }
    if let Some(path) = &args.distribution {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| anyhow::anyhow!("{shown}: {error}"))?;
        let weights = read_distribution(&text).map_err(|error| anyhow::anyhow!("{shown}: {error}"))?;
        let mut given: Vec<Option<Distribution>> = vec![None; shape.parts.len()];
        for weight in weights {
            let Some(part) = shape.part(&weight.part) else {
                let parts = shape.parts.iter().map(|part| format!("{} {}", part.number, part.name)).collect::<Vec<_>>();
                anyhow::bail!(
                    "{shown}: line {}: no part `{}` in flow `{}` (its parts: {})",
                    weight.line,
                    weight.part,
                    flow.id,
                    parts.join(", ")
                );
            };
            if !shape.fits(part.number, &weight.value) {
                anyhow::bail!(
                    "{shown}: line {}: `{}` cannot be part {} ({}), whose values match {}",
                    weight.line,
                    weight.value,
                    part.number,
                    part.name,
                    part.pattern
                );
            }
            given[part.number - 1].get_or_insert_with(Distribution::default).add(&weight.value, weight.weight);
        }
        for (i, distribution) in given.into_iter().enumerate() {
            if let Some(distribution) = distribution {
                distributions[i] = distribution;
                sources[i] = Source::File(shown.clone());
            }
        }
    }
    if let Some(part) =
        shape.parts.iter().zip(distributions.iter()).find(|(part, d)| !part.check_character && d.total() <= 0.0)
    {
        anyhow::bail!(
            "flow `{}`: nothing tells how part {} ({}) is spread: add examples to the flow or the part to --distribution",
            flow.id,
            part.0.number,
            part.0.name
        );
    }
    Ok(left_out)
}

/// The codes the people of an answers file would get: a CSV whose header
/// names the flow's steps, one person per line. Answers are never shown, not
/// even in an error; lines the flow refuses are counted.
fn codes_of_answers(
    flow: &Flow,
    formulas: &Formulas,
    year: i32,
    path: &PathBuf,
) -> anyhow::Result<(Vec<String>, usize)> {
    let shown = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|error| anyhow::anyhow!("{shown}: {error}"))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|_| anyhow::anyhow!("{shown}: not CSV with a header line"))?
        .iter()
        .map(str::to_string)
        .collect();
    let missing: Vec<&str> =
        flow.steps.iter().map(|step| step.id.as_str()).filter(|id| !header.iter().any(|h| h == id)).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{shown}: line 1 needs a column for each step of flow `{}`; missing: {}",
            flow.id,
            missing.join(", ")
        );
    }
    let mut codes = Vec::new();
    let mut left_out = 0;
    for (i, record) in reader.records().enumerate() {
        // csv's own error could quote the line: say only where it is.
        let record = record.map_err(|_| anyhow::anyhow!("{shown}: line {} is not CSV like line 1", i + 2))?;
        let typed: BTreeMap<String, String> = header.iter().cloned().zip(record.iter().map(str::to_string)).collect();
        match code_of(flow, formulas, year, &typed) {
            Some(code) => codes.push(code),
            None => left_out += 1,
        }
    }
    if codes.is_empty() {
        anyhow::bail!("{shown}: no line makes a code ({left_out} refused by flow `{}`'s questions)", flow.id);
    }
    Ok((codes, left_out))
}
