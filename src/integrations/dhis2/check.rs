//! `uic dhis2 check`: connect, authenticate, and confirm that each place
//! codes are registered exists in DHIS2 and fits together — the program is
//! a tracker program of the tracked entity type, the UIC attribute is unique
//! and belongs to the type (codes are searched by type), each org unit is assigned to the
//! program, each mapped attribute exists.
//!
//! Every problem is one line that names what set the value (a `DHIS2_*`
//! variable, or the flow whose `dhis2:` block did) and the UID, so an
//! operator knows what to change. Nothing here prints: the caller does.

use std::collections::HashMap;
use std::fmt;

use super::client::Dhis2Client;
use super::protocol::{ApiError, Attribute, OrgUnit, Program, TrackedEntityType};
use crate::config::{Dhis2Auth, Dhis2Config};
use crate::core::dhis2::Target;

/// What set a UID, as a problem line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A `DHIS2_*` variable (the deployment's defaults).
    Variable(&'static str),
    /// The `dhis2:` block of the flow with this id.
    Flow(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Variable(name) => f.write_str(name),
            Origin::Flow(id) => write!(f, "flow {id}"),
        }
    }
}

/// A UID and what set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    pub uid: String,
    pub origin: Origin,
}

impl Sourced {
    pub fn new(uid: &str, origin: Origin) -> Sourced {
        Sourced { uid: uid.to_string(), origin }
    }
}

/// One place codes are registered: the deployment's defaults, or a flow's
/// target (its own `dhis2:` block over the defaults), each part with what set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTarget {
    /// The flow, or `None` for the `DHIS2_*` defaults.
    pub flow: Option<String>,
    pub program: Option<Sourced>,
    pub tracked_entity_type: Option<Sourced>,
    pub uic_attribute: Option<Sourced>,
    /// Where codes may be registered: the fixed org unit, or each one a
    /// flow's lookup may choose.
    pub org_units: Vec<Sourced>,
    /// The attributes a flow maps besides the code.
    pub attributes: Vec<Sourced>,
}

impl CheckTarget {
    /// The `DHIS2_*` defaults alone.
    pub fn defaults(defaults: &Target) -> CheckTarget {
        CheckTarget::flow_or_defaults(None, &Target::default(), defaults)
    }

    /// A flow's target: what its own `dhis2:` block names (`own`), its gaps
    /// filled from `defaults`; problems with a part name the flow when the
    /// flow set it, the variable otherwise. Add the org units of a lookup
    /// and the mapped attributes to the fields.
    pub fn flow(flow: &str, own: &Target, defaults: &Target) -> CheckTarget {
        CheckTarget::flow_or_defaults(Some(flow), own, defaults)
    }

    fn flow_or_defaults(flow: Option<&str>, own: &Target, defaults: &Target) -> CheckTarget {
        let part = |own: &Option<String>, default: &Option<String>, variable: &'static str| match (own, flow) {
            (Some(uid), Some(flow)) => Some(Sourced::new(uid, Origin::Flow(flow.to_string()))),
            _ => default.as_deref().map(|uid| Sourced::new(uid, Origin::Variable(variable))),
        };
        CheckTarget {
            flow: flow.map(str::to_string),
            program: part(&own.program, &defaults.program, "DHIS2_PROGRAM"),
            tracked_entity_type: part(
                &own.tracked_entity_type,
                &defaults.tracked_entity_type,
                "DHIS2_TRACKED_ENTITY_TYPE",
            ),
            uic_attribute: part(&own.uic_attribute, &defaults.uic_attribute, "DHIS2_UIC_ATTRIBUTE"),
            org_units: part(&own.org_unit, &defaults.org_unit, "DHIS2_ORG_UNIT").into_iter().collect(),
            attributes: Vec::new(),
        }
    }

    /// For the report: `DHIS2_* defaults` or `flow drc-fr`.
    pub fn who(&self) -> String {
        match &self.flow {
            Some(flow) => format!("flow {flow}"),
            None => "DHIS2_* defaults".to_string(),
        }
    }
}

/// What `uic dhis2 check` found: the lines of a report (server, version,
/// user, each object with its name), and one line per problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub lines: Vec<String>,
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, problem: String) {
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }
}

/// Connects to the server `config` names, authenticates, and checks each
/// target (a program or attribute several targets share is asked for once).
pub async fn check(config: &Dhis2Config, targets: &[CheckTarget]) -> CheckReport {
    let mut report = CheckReport::default();
    let client = match Dhis2Client::new(config) {
        Ok(client) => client,
        Err(error) => {
            report.problem(error.to_string());
            return report;
        }
    };
    let shown = shown_url(&config.base_url);
    let info = match client.system_info().await {
        Ok(info) => info,
        Err(error) => {
            report.problem(connection_problem(&error, config, &shown));
            return report;
        }
    };
    let generation = match client.generation().await {
        Ok(generation) => generation.describe(),
        Err(_) => "",
    };
    report.lines.push(format!("server {shown}: DHIS2 {} ({generation})", info.version));
    match client.me().await {
        Ok(me) => report.lines.push(format!("user {}", named(&me.username, &me.display_name))),
        Err(error) => {
            report.problem(connection_problem(&error, config, &shown));
            return report;
        }
    }
    let mut metadata = Lookups::new(&client, &config.auth);
    for target in targets {
        check_target(&mut metadata, target, &mut report).await;
    }
    report
}

/// A problem met before any metadata: no server, the wrong server, the
/// credentials refused, a version too old.
fn connection_problem(error: &ApiError, config: &Dhis2Config, shown: &str) -> String {
    match error {
        ApiError::TokenRefused { status } => credentials_refused(&config.auth, *status),
        ApiError::Transient(description) => format!("DHIS2_BASE_URL: cannot reach {shown}: {description}"),
        ApiError::Rejected { status: 404, .. } => {
            format!("DHIS2_BASE_URL: {shown} has no DHIS2 API (HTTP 404): is its context path part of the URL?")
        }
        ApiError::Rejected { status, message } => {
            let message = if message.is_empty() { String::new() } else { format!(": {message}") };
            format!("DHIS2_BASE_URL: {shown} refused the request (HTTP {status}){message}")
        }
        ApiError::Unsupported(description) => format!("DHIS2_BASE_URL: {description}"),
    }
}

fn credentials_refused(auth: &Dhis2Auth, status: u16) -> String {
    match auth {
        Dhis2Auth::Token(_) => format!("DHIS2_API_TOKEN: token refused (HTTP {status})"),
        Dhis2Auth::Basic { .. } => format!("DHIS2_API_USERNAME: user name or password refused (HTTP {status})"),
    }
}

/// The URL without user name or password, should the URL carry them.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string().trim_end_matches('/').to_string()
        }
        _ => url.to_string(),
    }
}

/// `uid (name)`, or the UID alone when DHIS2 gives no name.
fn named(uid: &str, name: &str) -> String {
    if name.is_empty() { uid.to_string() } else { format!("{uid} ({name})") }
}

/// Each metadata object asked for once.
struct Lookups<'a> {
    client: &'a Dhis2Client,
    auth: &'a Dhis2Auth,
    programs: HashMap<String, Result<Option<Program>, ApiError>>,
    types: HashMap<String, Result<Option<TrackedEntityType>, ApiError>>,
    attributes: HashMap<String, Result<Option<Attribute>, ApiError>>,
    org_units: HashMap<String, Result<Option<OrgUnit>, ApiError>>,
}

impl<'a> Lookups<'a> {
    fn new(client: &'a Dhis2Client, auth: &'a Dhis2Auth) -> Lookups<'a> {
        Lookups {
            client,
            auth,
            programs: HashMap::new(),
            types: HashMap::new(),
            attributes: HashMap::new(),
            org_units: HashMap::new(),
        }
    }

    async fn program(&mut self, uid: &str) -> Result<Option<Program>, ApiError> {
        if !self.programs.contains_key(uid) {
            let found = self.client.program(uid).await;
            self.programs.insert(uid.to_string(), found);
        }
        self.programs[uid].clone()
    }

    async fn tracked_entity_type(&mut self, uid: &str) -> Result<Option<TrackedEntityType>, ApiError> {
        if !self.types.contains_key(uid) {
            let found = self.client.tracked_entity_type(uid).await;
            self.types.insert(uid.to_string(), found);
        }
        self.types[uid].clone()
    }

    async fn attribute(&mut self, uid: &str) -> Result<Option<Attribute>, ApiError> {
        if !self.attributes.contains_key(uid) {
            let found = self.client.attribute(uid).await;
            self.attributes.insert(uid.to_string(), found);
        }
        self.attributes[uid].clone()
    }

    async fn org_unit(&mut self, uid: &str) -> Result<Option<OrgUnit>, ApiError> {
        if !self.org_units.contains_key(uid) {
            let found = self.client.org_unit(uid).await;
            self.org_units.insert(uid.to_string(), found);
        }
        self.org_units[uid].clone()
    }
}

/// The object looked up, or the problem of looking it up (`what`: "program", …).
fn found<T>(auth: &Dhis2Auth, result: Result<Option<T>, ApiError>, part: &Sourced, what: &str) -> Result<T, String> {
    {
        let Sourced { uid, origin } = part;
        match result {
            Ok(Some(object)) => Ok(object),
            Ok(None) => Err(format!("{origin}: no {what} with id {uid}")),
            Err(ApiError::TokenRefused { status: 403 }) => {
                Err(format!("{origin}: the DHIS2 user may not read {what} {uid} (HTTP 403)"))
            }
            Err(ApiError::TokenRefused { status }) => Err(credentials_refused(auth, status)),
            Err(ApiError::Transient(description)) => {
                Err(format!("{origin}: cannot look up {what} {uid}: {description}"))
            }
            Err(error @ (ApiError::Rejected { .. } | ApiError::Unsupported(_))) => {
                Err(format!("{origin}: cannot look up {what} {uid}: {error}"))
            }
        }
    }
}

async fn check_target(metadata: &mut Lookups<'_>, target: &CheckTarget, report: &mut CheckReport) {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let missing = |variable: &str, what: &str| match &target.flow {
        Some(flow) => format!("{variable}: not set, and flow {flow} names no {what}"),
        None => format!("{variable}: not set"),
    };

    let program = match &target.program {
        Some(part) => match found(metadata.auth, metadata.program(&part.uid).await, part, "program") {
            Ok(program) => {
                if program.program_type == "WITH_REGISTRATION" {
                    lines.push(format!("program {}, a tracker program", named(&program.id, &program.name)));
                } else {
                    problems.push(format!(
                        "{}: program {} is not a tracker program (programType {}): enrollments need WITH_REGISTRATION",
                        part.origin,
                        named(&part.uid, &program.name),
                        if program.program_type.is_empty() { "not given" } else { &program.program_type }
                    ));
                }
                Some(program)
            }
            Err(problem) => {
                problems.push(problem);
                None
            }
        },
        None => {
            problems.push(missing("DHIS2_PROGRAM", "program"));
            None
        }
    };

    let tracked_entity_type = match &target.tracked_entity_type {
        Some(part) => {
            match found(metadata.auth, metadata.tracked_entity_type(&part.uid).await, part, "tracked entity type") {
                Ok(tracked_entity_type) => {
                    lines.push(format!(
                        "tracked entity type {}",
                        named(&tracked_entity_type.id, &tracked_entity_type.name)
                    ));
                    if let Some(program) = &program
                        && program.tracked_entity_type.as_deref() != Some(part.uid.as_str())
                    {
                        let enrolled = match &program.tracked_entity_type {
                            Some(other) => format!("tracked entity type {other}"),
                            None => "no tracked entity type".to_string(),
                        };
                        problems.push(format!(
                            "{}: program {} enrolls {enrolled}, not {}",
                            part.origin,
                            named(&program.id, &program.name),
                            named(&part.uid, &tracked_entity_type.name)
                        ));
                    }
                    Some(tracked_entity_type)
                }
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            }
        }
        None => {
            problems.push(missing("DHIS2_TRACKED_ENTITY_TYPE", "tracked entity type"));
            None
        }
    };

    const OF_PROGRAM: &str = "of the program";
    // Where an attribute may be given: the type's attributes or the program's.
    let belongs = |part: &Sourced, attribute: &Attribute| -> Result<&'static str, String> {
        let of_type = tracked_entity_type.as_ref().map(|t| t.attributes.contains(&part.uid));
        let of_program = program.as_ref().map(|p| p.attributes.contains(&part.uid));
        match (of_type, of_program) {
            (Some(true), _) => Ok("of the tracked entity type"),
            (_, Some(true)) => Ok(OF_PROGRAM),
            (None, None) => Ok(""),
            _ => {
                let mut owners = Vec::new();
                if let Some(t) = &tracked_entity_type {
                    owners.push(format!("tracked entity type {}", named(&t.id, &t.name)));
                }
                if let Some(p) = &program {
                    owners.push(format!("program {}", named(&p.id, &p.name)));
                }
                let owners = match owners.as_slice() {
                    [one] => format!("does not belong to {one}"),
                    _ => format!("belongs neither to {}", owners.join(" nor to ")),
                };
                Err(format!("{}: attribute {} {owners}", part.origin, named(&part.uid, &attribute.name)))
            }
        }
    };
    let with_place = |line: String, place: &str| if place.is_empty() { line } else { format!("{line}, {place}") };

    match &target.uic_attribute {
        Some(part) => match found(metadata.auth, metadata.attribute(&part.uid).await, part, "tracked entity attribute")
        {
            Ok(attribute) => {
                let shown = named(&part.uid, &attribute.name);
                let mut fine = true;
                if !attribute.unique {
                    problems.push(format!(
                        "{}: attribute {shown} is not unique: DHIS2 would let two clients share a code",
                        part.origin
                    ));
                    fine = false;
                } else if attribute.orgunit_scope {
                    problems.push(format!(
                        "{}: attribute {shown} is unique only within each org unit: DHIS2 would let clients of two org units share a code",
                        part.origin
                    ));
                    fine = false;
                }
                if !matches!(attribute.value_type.as_str(), "" | "TEXT" | "LONG_TEXT") {
                    problems.push(format!(
                        "{}: attribute {shown} holds {} values: a code needs TEXT",
                        part.origin, attribute.value_type
                    ));
                    fine = false;
                }
                match belongs(part, &attribute) {
                    // Codes are searched by type: an attribute of the program alone is not searched that way.
                    Ok(place) if place == OF_PROGRAM && tracked_entity_type.is_some() => problems.push(format!(
                        "{}: attribute {shown} belongs to the program only: codes are searched by tracked entity type, so it must be an attribute of the type",
                        part.origin
                    )),
                    Ok(place) if fine => lines.push(with_place(format!("UIC attribute {shown}, unique"), place)),
                    Ok(_) => {}
                    Err(problem) => problems.push(problem),
                }
            }
            Err(problem) => problems.push(problem),
        },
        None => problems.push(missing("DHIS2_UIC_ATTRIBUTE", "UIC attribute")),
    }

    if target.org_units.is_empty() {
        problems.push(missing("DHIS2_ORG_UNIT", "org unit"));
    }
    for part in &target.org_units {
        match found(metadata.auth, metadata.org_unit(&part.uid).await, part, "org unit") {
            Ok(org_unit) => {
                let shown = named(&part.uid, &org_unit.name);
                match &program {
                    Some(program) if !program.org_units.contains(&part.uid) => problems.push(format!(
                        "{}: org unit {shown} is not assigned to program {}",
                        part.origin,
                        named(&program.id, &program.name)
                    )),
                    Some(_) => lines.push(format!("org unit {shown}, assigned to the program")),
                    None => lines.push(format!("org unit {shown}")),
                }
            }
            Err(problem) => problems.push(problem),
        }
    }

    for part in &target.attributes {
        match found(metadata.auth, metadata.attribute(&part.uid).await, part, "tracked entity attribute") {
            Ok(attribute) => match belongs(part, &attribute) {
                Ok(place) => lines.push(with_place(format!("attribute {}", named(&part.uid, &attribute.name)), place)),
                Err(problem) => problems.push(problem),
            },
            Err(problem) => problems.push(problem),
        }
    }

    report.lines.push(format!("{}:", target.who()));
    report.lines.extend(lines.into_iter().map(|line| format!("  {line}")));
    for problem in problems {
        report.problem(problem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_names_the_parts_it_sets_and_the_variables_name_the_rest() {
        let defaults = Target {
            program: Some("IpHINAT79UW".into()),
            org_unit: Some("DiszpKrYNg8".into()),
            tracked_entity_type: Some("nEenWmSyUEp".into()),
            uic_attribute: None,
        };
        let own = Target { program: Some("ur1Edk5Oe2n".into()), ..Target::default() };
        let target = CheckTarget::flow("drc-fr", &own, &defaults);
        assert_eq!(target.who(), "flow drc-fr");
        assert_eq!(target.program, Some(Sourced::new("ur1Edk5Oe2n", Origin::Flow("drc-fr".into()))));
        assert_eq!(target.org_units, [Sourced::new("DiszpKrYNg8", Origin::Variable("DHIS2_ORG_UNIT"))]);
        assert_eq!(target.uic_attribute, None);
        assert_eq!(target.program.as_ref().unwrap().origin.to_string(), "flow drc-fr");
        let defaults = CheckTarget::defaults(&defaults);
        assert_eq!(defaults.who(), "DHIS2_* defaults");
        assert_eq!(defaults.program.unwrap().origin.to_string(), "DHIS2_PROGRAM");
    }

    #[test]
    fn urls_are_shown_without_their_credentials() {
        assert_eq!(shown_url("https://admin:district@dhis2.example.org/hmis"), "https://dhis2.example.org/hmis");
        assert_eq!(shown_url("https://dhis2.example.org/hmis"), "https://dhis2.example.org/hmis");
    }
}
