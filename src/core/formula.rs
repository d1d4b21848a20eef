//! UIC formulas: minijinja templates over the normalised answers, with the
//! project's filters, and the keyed duplicate-detection hash (SPEC §5, §7).

use std::collections::{BTreeMap, BTreeSet};

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use sha2::{Digest, Sha256};

use crate::core::check_character;
use crate::core::dhis2::{AttributeValue, MappedValues};
use crate::core::diagnostic::Wording;
use crate::core::flow::{Flow, FlowProblem};
use crate::core::salt::Salt;

/// Filters a formula may use besides minijinja's built-in ones.
pub const FILTERS: &[&str] =
    &["first", "last", "pad", "lpad", "letters", "digits", "sha256", "salted_sha256", "hmac", "check_character"];

/// Why a code could not be made; the person gets a polite error, staff the detail.
#[derive(Debug, thiserror::Error)]
pub enum FormulaError {
    #[error("flow `{0}` has no formula loaded")]
    Missing(String),
    #[error("formula of flow `{flow}` failed: {detail}")]
    Render { flow: String, detail: String },
    #[error("formula of flow `{flow}` made a code that does not match its output pattern")]
    /// The code is kept for `uic lint`, which shows it for an example; the
    /// message leaves it out, since a real code quotes a person's answers.
    Pattern { flow: String, code: String },
}

/// The compiled formulas of a set of flows, bound to one salt.
pub struct Formulas {
    env: Environment<'static>,
    salt: Salt,
}

impl std::fmt::Debug for Formulas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Formulas")
    }
}

fn key_template(flow: &Flow) -> String {
    flow.uic.duplicate_key.iter().map(|expr| format!("{{{{ {expr} }}}}")).collect::<Vec<_>>().join("\u{1f}")
}

fn environment(salt: Salt) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("first", |value: String, positional: Rest<Value>, kwargs: Kwargs| {
        let [n] = arguments("first", &["n"], &positional, &kwargs)?;
        let n = count("first", "n", n)?.unwrap_or(1);
        Ok::<_, Error>(value.chars().take(n).collect::<String>())
    });
    env.add_filter("last", |value: String, positional: Rest<Value>, kwargs: Kwargs| {
        let [n] = arguments("last", &["n"], &positional, &kwargs)?;
        let n = count("last", "n", n)?.unwrap_or(1);
        let chars: Vec<char> = value.chars().collect();
        Ok::<_, Error>(chars[chars.len().saturating_sub(n)..].iter().collect::<String>())
    });
    env.add_filter("pad", |value: String, positional: Rest<Value>, kwargs: Kwargs| {
        padded("pad", &value, &positional, &kwargs, "X", false)
    });
    env.add_filter("lpad", |value: String, positional: Rest<Value>, kwargs: Kwargs| {
        padded("lpad", &value, &positional, &kwargs, "0", true)
    });
    env.add_filter("letters", |value: String| value.chars().filter(|c| c.is_alphabetic()).collect::<String>());
    env.add_filter("digits", |value: String| value.chars().filter(|c| c.is_ascii_digit()).collect::<String>());
    env.add_filter("sha256", |value: String| hex::encode(Sha256::digest(value.as_bytes())));
    env.add_filter(check_character::FILTER, |value: String| check_character::check_character(&value).to_string());
    let salted = salt.clone();
    env.add_filter("salted_sha256", move |value: String| salted.salted_sha256_hex(&value));
    env.add_filter("hmac", move |value: String| salt.hmac_hex(&value));
    env
}

/// `pad` and `lpad`: `n` required, `fill` optional, each by position or by name.
fn padded(
    filter: &str,
    value: &str,
    positional: &[Value],
    kwargs: &Kwargs,
    default_fill: &str,
    left: bool,
) -> Result<String, Error> {
    let [n, fill] = arguments(filter, &["n", "fill"], positional, kwargs)?;
    let Some(n) = count(filter, "n", n)? else {
        return Err(filter_error(Wording::new("filter-needs-length").text("filter", filter)));
    };
    let fill = match fill {
        None => default_fill.to_string(),
        Some(fill) => match fill.as_str() {
            Some(text) if !text.is_empty() => text.to_string(),
            _ => {
                return Err(filter_error(
                    Wording::new("filter-fill").text("filter", filter).number("n", n).text("fill", default_fill),
                ));
            }
        },
    };
    Ok(pad(value, n, &fill, left))
}

/// A filter's arguments in the order of `names`, each given by position
/// (`pad(3, "0")`) or by name (`pad(n=3, fill="0")`), as the README documents.
fn arguments<const N: usize>(
    filter: &str,
    names: &[&str; N],
    positional: &[Value],
    kwargs: &Kwargs,
) -> Result<[Option<Value>; N], Error> {
    let list = || names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    if positional.len() > N {
        return Err(filter_error(
            Wording::new("filter-too-many-arguments")
                .text("filter", filter)
                .number("max", N)
                .text("names", list())
                .number("given", positional.len()),
        ));
    }
    if let Some(unknown) = kwargs.args().find(|key| !names.contains(key)) {
        return Err(filter_error(
            Wording::new("filter-unknown-argument").text("filter", filter).text("name", unknown).text("names", list()),
        ));
    }
    let mut values: [Option<Value>; N] = std::array::from_fn(|_| None);
    for (i, name) in names.iter().enumerate() {
        let named: Option<Value> = kwargs.get(name)?;
        values[i] = match (positional.get(i), named) {
            (Some(_), Some(_)) => {
                return Err(filter_error(
                    Wording::new("filter-argument-twice").text("filter", filter).text("name", name),
                ));
            }
            (Some(value), None) => Some(value.clone()),
            (None, named) => named.filter(|value| !value.is_none() && !value.is_undefined()),
        };
    }
    Ok(values)
}

/// A count argument: a whole number, zero or more.
fn count(filter: &str, name: &str, value: Option<Value>) -> Result<Option<usize>, Error> {
    match value {
        None => Ok(None),
        Some(value) => value.as_usize().map(Some).ok_or_else(|| {
            filter_error(
                Wording::new("filter-whole-number").text("filter", filter).text("name", name).text("value", &value),
            )
        }),
    }
}

/// An error raised by one of the project's filters, naming it. Its wording
/// rides along as the error's source, so that lint can write it in French.
fn filter_error(wording: Wording) -> Error {
    Error::new(ErrorKind::InvalidOperation, wording.to_string()).with_source(FilterMisuse(wording))
}

/// How a formula misuses one of the project's filters.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct FilterMisuse(Wording);

/// Pads to at least `n` characters with the first character of `fill`.
fn pad(value: &str, n: usize, fill: &str, left: bool) -> String {
    let fill = fill.chars().next().unwrap_or('X');
    let missing = n.saturating_sub(value.chars().count());
    let padding: String = std::iter::repeat_n(fill, missing).collect();
    if left { padding + value } else { value.to_string() + &padding }
}

impl Formulas {
    /// Compiles the formula and duplicate key of every flow. Flows must have
    /// passed [`check`].
    pub fn new<'a>(flows: impl IntoIterator<Item = &'a Flow>, salt: Salt) -> Result<Formulas, FormulaError> {
        let mut env = environment(salt.clone());
        for flow in flows {
            let compile = |env: &mut Environment<'static>, name: String, source: String| {
                env.add_template_owned(name, source)
                    .map_err(|error| FormulaError::Render { flow: flow.id.clone(), detail: error.to_string() })
            };
            compile(&mut env, flow.id.clone(), flow.uic.formula.clone())?;
            compile(&mut env, format!("{}#key", flow.id), key_template(flow))?;
            for (attribute, expression) in &flow.dhis2.attributes {
                compile(&mut env, dhis2_template(flow, attribute), format!("{{{{ {expression} }}}}"))?;
            }
        }
        Ok(Formulas { env, salt })
    }

    /// The code these answers make, checked against the flow's output pattern.
    pub fn uic(&self, flow: &Flow, answers: &BTreeMap<String, String>) -> Result<String, FormulaError> {
        let code = self.render(flow, &flow.id, answers)?;
        if !flow.uic.pattern.is_match(&code) {
            return Err(FormulaError::Pattern { flow: flow.id.clone(), code });
        }
        Ok(code)
    }

    /// The duplicate-detection key: HMAC-SHA-256 with the salt over the formula's
    /// fingerprint and the key parts, so answers are never stored in clear.
    pub fn duplicate_key(&self, flow: &Flow, answers: &BTreeMap<String, String>) -> Result<String, FormulaError> {
        let parts = self.render(flow, &format!("{}#key", flow.id), answers)?;
        Ok(self.salt.hmac_hex(&format!("{}\u{1f}{parts}", flow.uic.fingerprint)))
    }

    /// What the flow sends to DHIS2 for `uic` made from `answers`: the org
    /// unit an answer chooses and the attributes it maps (computed now: the
    /// answers are forgotten once the code is issued).
    pub fn dhis2_values(
        &self,
        flow: &Flow,
        answers: &BTreeMap<String, String>,
        uic: &str,
    ) -> Result<MappedValues, FormulaError> {
        let mut context = answers.clone();
        context.insert(UIC_VARIABLE.to_string(), uic.to_string());
        let mut attributes = Vec::new();
        for (attribute, _) in &flow.dhis2.attributes {
            let value = self.render(flow, &dhis2_template(flow, attribute), &context)?;
            // An empty value is no value: DHIS2 would refuse it, and it says nothing.
            if !value.is_empty() {
                attributes.push(AttributeValue { attribute: attribute.clone(), value });
            }
        }
        let org_unit = flow.dhis2.org_unit_from.as_ref().and_then(|from| from.org_unit(answers)).map(str::to_string);
        Ok(MappedValues { org_unit, attributes })
    }

    fn render(&self, flow: &Flow, name: &str, answers: &BTreeMap<String, String>) -> Result<String, FormulaError> {
        let template = self.env.get_template(name).map_err(|_| FormulaError::Missing(flow.id.clone()))?;
        let rendered = template
            .render(Value::from(answers.clone()))
            .map_err(|error| FormulaError::Render { flow: flow.id.clone(), detail: error.to_string() })?;
        Ok(rendered.trim().to_string())
    }
}

/// The variable that holds the code in a DHIS2 attribute mapping.
pub const UIC_VARIABLE: &str = "uic";

fn dhis2_template(flow: &Flow, attribute: &str) -> String {
    format!("{}#dhis2#{attribute}", flow.id)
}

/// Checks a flow's DHIS2 attribute mappings: each parses, uses known
/// filters, and names only the code and steps answered from a list. An
/// answer typed freely (a name, a place, a year) never leaves for DHIS2:
/// that the names stay on the phone is the point of a UIC.
fn check_dhis2(flow: &Flow, env: &Environment<'static>, problems: &mut Vec<FlowProblem>) {
    let mut sample: BTreeMap<String, String> = flow
        .steps
        .iter()
        .map(|step| (step.id.clone(), step.choices.first().map_or("A1", |c| &c.value).to_string()))
        .collect();
    sample.insert(UIC_VARIABLE.to_string(), "ABC123".to_string());
    for (attribute, expression) in &flow.dhis2.attributes {
        let pointer = format!("/dhis2/attributes/{attribute}");
        let what = Wording::new("formula-what-attribute").text("attribute", attribute);
        let source = format!("{{{{ {expression} }}}}");
        let template = match env.template_from_str(&source) {
            Ok(template) => template,
            Err(error) => {
                problems.push(FlowProblem { pointer, message: does_not_parse(what, &error) });
                continue;
            }
        };
        let mut named: Vec<String> = template.undeclared_variables(false).into_iter().collect();
        named.sort();
        let mut refused = Vec::new();
        for name in &named {
            match flow.steps.iter().find(|step| &step.id == name) {
                _ if name == UIC_VARIABLE => {}
                Some(step) if !step.choices.is_empty() => {}
                Some(_) => refused.push(
                    Wording::new("dhis2-typed-answer")
                        .wording("what", what.clone())
                        .text("step", name)
                        .text("uic", UIC_VARIABLE),
                ),
                None => {
                    let known = flow.steps.iter().map(|step| step.id.as_str()).collect::<Vec<_>>().join(", ");
                    refused.push(
                        Wording::new("dhis2-unknown-variable")
                            .wording("what", what.clone())
                            .text("name", name)
                            .text("uic", UIC_VARIABLE)
                            .text("known", known),
                    );
                }
            }
        }
        if !refused.is_empty() {
            problems.extend(refused.into_iter().map(|message| FlowProblem { pointer: pointer.clone(), message }));
            continue;
        }
        if let Err(error) = template.render(Value::from(sample.clone())) {
            problems.push(FlowProblem { pointer, message: fails(what, &error) });
        }
    }
}

/// Checks a flow's formula and duplicate key: they parse, name only its steps,
/// and use only known filters; and its DHIS2 mappings ([`check_dhis2`]).
pub fn check(flow: &Flow) -> Vec<FlowProblem> {
    let env = environment(Salt::for_tests());
    let steps: BTreeSet<&str> = flow.steps.iter().map(|step| step.id.as_str()).collect();
    let sample: BTreeMap<String, String> = flow.steps.iter().map(|step| (step.id.clone(), "A1".to_string())).collect();
    let mut problems = Vec::new();
    let parts = std::iter::once(("/uic/formula".to_string(), flow.uic.formula.clone())).chain(
        flow.uic
            .duplicate_key
            .iter()
            .enumerate()
            .map(|(i, expr)| (format!("/uic/duplicate_key/{i}"), format!("{{{{ {expr} }}}}"))),
    );
    for (pointer, source) in parts {
        let what = Wording::new(if pointer == "/uic/formula" { "formula-what-formula" } else { "formula-what-key" });
        let template = match env.template_from_str(&source) {
            Ok(template) => template,
            Err(error) => {
                problems.push(FlowProblem { pointer, message: does_not_parse(what, &error) });
                continue;
            }
        };
        let mut unknown: Vec<String> =
            template.undeclared_variables(false).into_iter().filter(|name| !steps.contains(name.as_str())).collect();
        unknown.sort();
        if !unknown.is_empty() {
            let names = unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let known = flow.steps.iter().map(|step| step.id.as_str()).collect::<Vec<_>>().join(", ");
            let message = Wording::new("formula-unknown-steps")
                .wording("what", what)
                .number("count", unknown.len())
                .text("names", names)
                .text("known", known);
            problems.push(FlowProblem { pointer, message });
            continue;
        }
        if let Err(error) = template.render(Value::from(sample.clone())) {
            problems.push(FlowProblem { pointer, message: fails(what, &error) });
        }
    }
    check_dhis2(flow, &env, &mut problems);
    problems
}

/// What the formula makes of `value` as the answer to `step` alone: each
/// top-level `{{ … }}` of the formula that uses that step and no other,
/// rendered (under the public test salt). A lookup table's code must come out
/// as it went in, or the table would not give the codes it lists.
pub fn parts_made_of(flow: &Flow, step: &str, value: &str) -> Vec<(String, String)> {
    let env = environment(Salt::for_tests());
    let mut made = Vec::new();
    let mut rest = flow.uic.formula.as_str();
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else { break };
        let source = &rest[start..start + end + 2];
        rest = &rest[start + end + 2..];
        let Ok(template) = env.template_from_str(source) else { continue };
        let used = template.undeclared_variables(false);
        if used.len() != 1 || !used.contains(step) {
            continue;
        }
        let answers = BTreeMap::from([(step.to_string(), value.to_string())]);
        if let Ok(output) = template.render(Value::from(answers)) {
            made.push((source.to_string(), output.trim().to_string()));
        }
    }
    made
}

/// The steps whose answer neither the formula nor the duplicate key (nor a
/// DHIS2 mapping) uses: asked for nothing, unless on purpose (a consent
/// question), which is why lint only warns.
pub fn unused_steps(flow: &Flow) -> Vec<&str> {
    let env = environment(Salt::for_tests());
    let mut sources = vec![flow.uic.formula.clone()];
    sources.extend(flow.uic.duplicate_key.iter().map(|expr| format!("{{{{ {expr} }}}}")));
    sources.extend(flow.dhis2.attributes.iter().map(|(_, expr)| format!("{{{{ {expr} }}}}")));
    let mut used: BTreeSet<String> = BTreeSet::new();
    for source in &sources {
        match env.template_from_str(source) {
            Ok(template) => used.extend(template.undeclared_variables(false)),
            // A formula that does not parse is an error already; say nothing more.
            Err(_) => return Vec::new(),
        }
    }
    let org_unit = flow.dhis2.org_unit_from.as_ref().map(|from| from.step.as_str());
    flow.steps.iter().map(|step| step.id.as_str()).filter(|id| !used.contains(*id) && org_unit != Some(*id)).collect()
}

/// `what` (the formula, the duplicate key, an attribute) does not parse;
/// minijinja's reason is given as it says it.
fn does_not_parse(what: Wording, error: &minijinja::Error) -> Wording {
    Wording::new("formula-does-not-parse").wording("what", what).text("detail", error_text(error))
}

/// `what` fails on sample answers: a filter misused (in the reader's
/// language), an unknown filter, or minijinja's reason.
fn fails(what: Wording, error: &minijinja::Error) -> Wording {
    if error.kind() == ErrorKind::UnknownFilter {
        return unknown_filter(what, error);
    }
    let wording = Wording::new("formula-fails").wording("what", what);
    let misuse = std::error::Error::source(error).and_then(|source| source.downcast_ref::<FilterMisuse>());
    match misuse {
        Some(FilterMisuse(detail)) => wording.wording("detail", detail.clone()),
        None => wording.text("detail", error_text(error)),
    }
}

/// Names the unknown filter and the one probably meant, or lists those there are.
fn unknown_filter(what: Wording, error: &minijinja::Error) -> Wording {
    let detail = error_text(error);
    let Some(name) = detail.strip_prefix("filter ").and_then(|rest| rest.strip_suffix(" is unknown")) else {
        return Wording::new("formula-unknown-filter-other")
            .wording("what", what)
            .text("detail", &detail)
            .text("filters", FILTERS.join(", "));
    };
    let known: BTreeSet<String> = FILTERS.iter().chain(BUILTIN_FILTERS).map(|f| f.to_string()).collect();
    match crate::core::suggest::closest(name, &known) {
        Some(meant) => {
            Wording::new("formula-unknown-filter-hint").wording("what", what).text("name", name).text("meant", meant)
        }
        None => Wording::new("formula-unknown-filter")
            .wording("what", what)
            .text("name", name)
            .text("filters", FILTERS.join(", "))
            .text("builtin", BUILTIN_FILTERS.join(", ")),
    }
}

/// Built-in minijinja filters a formula is likely to use, for "did you mean".
const BUILTIN_FILTERS: &[&str] = &["upper", "lower", "trim", "replace", "default"];

/// minijinja's message without the template name and line it appends.
fn error_text(error: &minijinja::Error) -> String {
    error.detail().map(str::to_string).unwrap_or_else(|| error.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, answers: &[(&str, &str)]) -> String {
        let env = environment(Salt::for_tests());
        let answers: BTreeMap<String, String> = answers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.template_from_str(source).unwrap().render(Value::from(answers)).unwrap()
    }

    #[test]
    fn first_and_last_take_characters() {
        assert_eq!(render("{{ a | first(3) }}", &[("a", "MBENGUE")]), "MBE");
        assert_eq!(render("{{ a | first }}", &[("a", "MBENGUE")]), "M");
        assert_eq!(render("{{ a | first(9) }}", &[("a", "MB")]), "MB");
        assert_eq!(render("{{ a | last(3) }}", &[("a", "1985")]), "985");
        assert_eq!(render("{{ a | last }}", &[("a", "1997")]), "7");
        assert_eq!(render("{{ a | last(5) }}", &[("a", "7")]), "7");
    }

    #[test]
    fn pad_fills_right_and_lpad_fills_left() {
        assert_eq!(render("{{ a | pad(3) }}", &[("a", "LI")]), "LIX");
        assert_eq!(render("{{ a | pad(3, 'Z') }}", &[("a", "L")]), "LZZ");
        assert_eq!(render("{{ a | pad(2) }}", &[("a", "LONG")]), "LONG");
        assert_eq!(render("{{ a | lpad(2) }}", &[("a", "5")]), "05");
        assert_eq!(render("{{ a | lpad(4, '-') }}", &[("a", "15")]), "--15");
    }

    #[test]
    fn arguments_work_by_position_and_by_name_as_documented() {
        assert_eq!(render("{{ a | first(n=3) }}", &[("a", "MBENGUE")]), "MBE");
        assert_eq!(render("{{ a | last(n=2) }}", &[("a", "1985")]), "85");
        assert_eq!(render("{{ a | pad(3, fill=\"Z\") }}", &[("a", "L")]), "LZZ");
        assert_eq!(render("{{ a | pad(n=3, fill=\"Z\") }}", &[("a", "L")]), "LZZ");
        assert_eq!(render("{{ a | pad(n=3) }}", &[("a", "L")]), "LXX");
        assert_eq!(render("{{ a | lpad(4, fill=\"0\") }}", &[("a", "7")]), "0007");
        assert_eq!(render("{{ a | lpad(fill=\"-\", n=3) }}", &[("a", "7")]), "--7");
    }

    fn failure(source: &str) -> String {
        let env = environment(Salt::for_tests());
        let error =
            env.template_from_str(source).unwrap().render(Value::from(BTreeMap::from([("a", "L")]))).unwrap_err();
        error_text(&error)
    }

    #[test]
    fn argument_errors_name_the_filter() {
        assert_eq!(failure("{{ a | pad }}"), "filter `pad` needs the length to pad to, e.g. `pad(3)` or `pad(n=3)`");
        assert_eq!(
            failure("{{ a | pad(3, width=2) }}"),
            "filter `pad` has no argument `width` (its arguments: `n`, `fill`)"
        );
        assert_eq!(failure("{{ a | lpad(3, n=2) }}"), "filter `lpad` is given `n` twice, by position and by name");
        assert_eq!(failure("{{ a | first(1, 2) }}"), "filter `first` takes at most one argument (`n`), not 2");
        assert_eq!(
            failure("{{ a | last('x') }}"),
            "filter `last` wants a whole number for `n`, e.g. `last(3)`, not `x`"
        );
        assert_eq!(
            failure("{{ a | lpad(3, fill=1) }}"),
            "filter `lpad` wants a character in quotes for `fill`, e.g. `lpad(3, fill=\"0\")`"
        );
    }

    #[test]
    fn letters_and_digits_keep_their_kind() {
        assert_eq!(render("{{ a | letters }}", &[("a", "A1B2")]), "AB");
        assert_eq!(render("{{ a | digits }}", &[("a", "A1B2")]), "12");
    }

    #[test]
    fn hashes_are_hex_and_salted_ones_use_the_salt() {
        assert_eq!(
            render("{{ a | sha256 }}", &[("a", "abc")]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Known answers computed outside the project with the test salt:
        // printf '%s' abcTest-Salt-For-Examples-0123 | sha256sum
        // printf '%s' abc | openssl dgst -sha256 -hmac Test-Salt-For-Examples-0123
        assert_eq!(
            render("{{ a | salted_sha256 }}", &[("a", "abc")]),
            "e28f7ccb2cbe2935d1deda2aa52b2601414f8841bcffaa0f519de3a04452a8d7"
        );
        assert_eq!(
            render("{{ a | hmac }}", &[("a", "abc")]),
            "f266868f1c63395d87bacb5e494992eae6066dbb77b763bae8c44cca0699743a"
        );
        assert_eq!(render("{{ a | sha256 | first(5) | upper }}", &[("a", "abc")]), "BA781");
    }

    #[test]
    fn padding_fill_is_one_character() {
        assert_eq!(pad("A", 3, "", false), "AXX");
        assert_eq!(pad("A", 3, "YZ", true), "YYA");
    }
}
