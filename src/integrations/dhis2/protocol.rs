//! DHIS2's tracker and metadata API as data, without I/O: the generation a
//! server's version calls for, the URLs and bodies we send, and every answer
//! read into a typed result or an [`ApiError`] saying whether to try again.
//!
//! Field names are DHIS2's own (`dhis2-tracker-openapi-v42.json`: the import
//! body `Body`, its `TrackerTrackedEntity` and `TrackerEnrollment`; the
//! `TrackerImportReport`). Answers are read leniently (DHIS2 versions add and
//! move fields) but a registration counts as done only when the report says
//! so for the UIDs we sent. What an error keeps of an answer is DHIS2's own
//! message, cut to [`MESSAGE_LIMIT`] characters: never a whole body.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::dhis2::RegistrationJob;

/// The most characters of a DHIS2 message an error keeps.
pub const MESSAGE_LIMIT: usize = 200;

/// Search results asked for at once: a code is unique, so more than one
/// match is already a finding, not a page to walk.
pub const SEARCH_PAGE_SIZE: u32 = 50;

/// The tracker API a server speaks, chosen from `/api/system/info`'s version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// 2.41 and later: search results under `trackedEntities`, org unit
    /// scope in `orgUnits`/`orgUnitMode`.
    Tracker241,
    /// 2.38 to 2.40: results under `instances`, scope in `orgUnit`/`ouMode`.
    Tracker238,
}

impl Generation {
    /// The generation of a DHIS2 version as `/api/system/info` gives it
    /// (`2.42.1`, `2.41-SNAPSHOT`, `2.39.2.1`, `v2.40`, `42.0`); older than
    /// 2.38 is refused.
    pub fn from_version(version: &str) -> Result<Generation, ApiError> {
        let text = version.trim().trim_start_matches(['v', 'V']);
        let dotted: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let numbers: Vec<u32> = dotted.split('.').map_while(|part| part.parse().ok()).collect();
        let release = match numbers.as_slice() {
            [2, minor, ..] => Some(*minor),
            // Releases may drop the "2." (DHIS2 calls 2.42 "v42").
            [major, ..] if (38..100).contains(major) => Some(*major),
            _ => None,
        };
        match release {
            Some(release) if release >= 41 => Ok(Generation::Tracker241),
            Some(release) if release >= 38 => Ok(Generation::Tracker238),
            Some(release) => Err(ApiError::Unsupported(format!("DHIS2 2.{release} is not supported (2.38 or later)"))),
            None => Err(ApiError::Unsupported(format!(
                "DHIS2 version `{}` is not understood (2.38 or later expected)",
                cut(version, 40)
            ))),
        }
    }

    /// The key of the search results' list.
    pub fn results_key(self) -> &'static str {
        match self {
            Generation::Tracker241 => "trackedEntities",
            Generation::Tracker238 => "instances",
        }
    }

    /// The parameter of the org unit selection mode.
    pub fn org_unit_mode_parameter(self) -> &'static str {
        match self {
            Generation::Tracker241 => "orgUnitMode",
            Generation::Tracker238 => "ouMode",
        }
    }

    /// For reports: which API this is.
    pub fn describe(self) -> &'static str {
        match self {
            Generation::Tracker241 => "tracker API of 2.41 and later",
            Generation::Tracker238 => "tracker API of 2.38 to 2.40",
        }
    }
}

/// Why a DHIS2 request did not give what was asked, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401 or 403: the token (or user name and password) was refused.
    /// Retrying will not help until an operator changes it.
    #[error("DHIS2 refused the credentials (HTTP {status})")]
    TokenRefused { status: u16 },
    /// Worth retrying later: 429, 5xx, a timeout, no connection, an answer
    /// that cannot be read or that does not confirm what was sent. The text
    /// says which, briefly.
    #[error("DHIS2: {0}")]
    Transient(String),
    /// Any other 4xx: DHIS2 refused this request, and will refuse it again.
    #[error("DHIS2 refused the request (HTTP {status}){}", colon(.message))]
    Rejected { status: u16, message: String },
    /// The server is older than this client speaks to (or says a version we
    /// cannot read).
    #[error("{0}")]
    Unsupported(String),
}

fn colon(message: &str) -> String {
    if message.is_empty() { String::new() } else { format!(": {message}") }
}

/// What became of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// DHIS2 holds the tracked entity and its enrollment under our UIDs.
    Imported,
    /// DHIS2 validated the payload and refused it; nothing was written
    /// (`atomicMode=ALL`). `E1064` means another tracked entity holds the code.
    Refused(Vec<ImportError>),
}

/// One error of an import's validation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// DHIS2's code, e.g. `E1064`.
    pub code: String,
    /// DHIS2's message, cut to [`MESSAGE_LIMIT`]; it may quote the code (not
    /// personal) and UIDs.
    pub message: String,
}

impl ImportError {
    /// The code DHIS2 gives a value that another tracked entity already holds
    /// for a unique attribute.
    pub const NON_UNIQUE: &'static str = "E1064";
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() { f.write_str(&self.code) } else { write!(f, "{}: {}", self.code, self.message) }
    }
}

/// An HTTP failure (not 2xx) as an [`ApiError`]: 401/403 refused
/// credentials; 429 and 5xx passing; other 4xx refused for good.
pub fn classify(status: u16, body: &[u8]) -> ApiError {
    let message = summary(body);
    match status {
        401 | 403 => ApiError::TokenRefused { status },
        429 | 500..=599 => ApiError::Transient(format!("HTTP {status}{}", colon(&message))),
        400..=499 => ApiError::Rejected { status, message },
        // Redirects are not followed: one to a login page, or from http to
        // https, would lose the credentials or turn the import into a GET.
        300..=399 => ApiError::Transient(format!(
            "a redirect (HTTP {status}): is DHIS2_BASE_URL the server's own address, with https and its context path?"
        )),
        _ => ApiError::Transient(format!("unexpected HTTP {status}{}", colon(&message))),
    }
}

/// A few words about a body, for an error: DHIS2's `message` when it is one
/// of its JSON messages, what kind of thing it is otherwise; never the body.
fn summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    if looks_like_html(text) {
        return "an HTML page".into();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => value.get("message").and_then(Value::as_str).map(|m| cut(m, MESSAGE_LIMIT)).unwrap_or_default(),
        Err(_) => "an answer that is not JSON".into(),
    }
}

fn looks_like_html(text: &str) -> bool {
    text.starts_with('<')
}

/// The JSON of a 2xx answer (or of a 409 that carries an import report),
/// or why it cannot be read.
fn json_of(status: u16, body: &[u8]) -> Result<Value, ApiError> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::Transient(format!("an empty answer (HTTP {status})")));
    }
    if looks_like_html(text) {
        return Err(ApiError::Transient(format!("an HTML page instead of JSON (HTTP {status})")));
    }
    // serde's message says where reading stopped, never what it read.
    serde_json::from_str(text).map_err(|error| ApiError::Transient(format!("unreadable JSON (HTTP {status}): {error}")))
}

/// `text` on one line, at most `max` characters (an ellipsis marks a cut).
pub fn cut(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// A value in an attribute filter (`ATTR:eq:VALUE`), escaped as DHIS2
/// documents: `:`, `,` and `/` each preceded by `/`.
pub fn escape_filter_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ':' | ',' | '/') {
            escaped.push('/');
        }
        escaped.push(c);
    }
    escaped
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// The search for the tracked entities of type `tracked_entity_type` whose
/// `uic_attribute` holds `code`, in every org unit the user may search. By
/// type rather than program: a clinic may have registered the code without
/// enrolling it in this program, and the attribute is unique across the type
/// (an import would meet `E1064` that a program search could never resolve).
pub fn search_url(
    base: &str,
    generation: Generation,
    tracked_entity_type: &str,
    uic_attribute: &str,
    code: &str,
) -> String {
    let filter = format!("{uic_attribute}:eq:{}", escape_filter_value(code));
    let page_size = SEARCH_PAGE_SIZE.to_string();
    let query = query(&[
        ("trackedEntityType", tracked_entity_type),
        ("filter", &filter),
        (generation.org_unit_mode_parameter(), "ACCESSIBLE"),
        ("fields", "trackedEntity,orgUnit,attributes[attribute,value]"),
        ("pageSize", &page_size),
    ]);
    format!("{base}/api/tracker/trackedEntities?{query}")
}

/// The tracked entities a search found whose `uic_attribute` really is
/// `code` (DHIS2 compares case-insensitively; so do we), in DHIS2's order.
pub fn read_search(
    generation: Generation,
    status: u16,
    body: &[u8],
    uic_attribute: &str,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let answer = json_of(status, body)?;
    // The other generation's key too: a server may say one version and answer like another.
    let other = match generation {
        Generation::Tracker241 => Generation::Tracker238,
        Generation::Tracker238 => Generation::Tracker241,
    };
    let Some(results) = [generation, other].iter().find_map(|g| answer.get(g.results_key()).and_then(Value::as_array))
    else {
        return Err(ApiError::Transient(format!(
            "the search answer has no `{}` list (HTTP {status})",
            generation.results_key()
        )));
    };
    let wanted = code.trim().to_lowercase();
    let mut found: Vec<String> = Vec::new();
    for entity in results {
        let Some(uid) = entity.get("trackedEntity").and_then(Value::as_str) else { continue };
        let holds_code = entity.get("attributes").and_then(Value::as_array).is_some_and(|attributes| {
            attributes.iter().any(|attribute| {
                attribute.get("attribute").and_then(Value::as_str) == Some(uic_attribute)
                    && attribute.get("value").and_then(Value::as_str).is_some_and(|v| v.trim().to_lowercase() == wanted)
            })
        });
        if holds_code && crate::core::dhis2::is_uid(uid) && !found.iter().any(|f| f == uid) {
            found.push(uid.to_string());
        }
    }
    Ok(found)
}

/// The synchronous import: the whole payload or nothing, created the first
/// time and updated by a retry (our UIDs are in the body), the report in
/// the answer with its errors only.
pub fn import_url(base: &str) -> String {
    let query = query(&[
        ("async", "false"),
        ("importStrategy", "CREATE_AND_UPDATE"),
        ("atomicMode", "ALL"),
        ("reportMode", "ERRORS"),
    ]);
    format!("{base}/api/tracker?{query}")
}

/// The import body of a job: one tracked entity with the code and the
/// mapped attributes, and its enrollment (nested, so that it names its
/// tracked entity by the UID chosen with the job).
pub fn import_body(job: &RegistrationJob) -> Value {
    let day = job.enrolled_at.format("%Y-%m-%d").to_string();
    let mut attributes = vec![json!({ "attribute": job.uic_attribute, "value": job.uic })];
    attributes.extend(job.attributes.iter().map(|a| json!({ "attribute": a.attribute, "value": a.value })));
    json!({
        "trackedEntities": [{
            "trackedEntity": job.tracked_entity,
            "trackedEntityType": job.tracked_entity_type,
            "orgUnit": job.org_unit,
            "attributes": attributes,
            "enrollments": [{
                "enrollment": job.enrollment,
                "program": job.program,
                "orgUnit": job.org_unit,
                "trackedEntity": job.tracked_entity,
                "enrolledAt": day,
                "occurredAt": day,
                "status": "ACTIVE",
            }],
        }],
    })
}

/// Reads the answer to an import of `tracked_entity` with `enrollment`.
///
/// 200 with `status: OK` (or `WARNING`) is [`ImportOutcome::Imported`] only
/// if the report, when it lists the objects it wrote, lists ours; a 409 (or
/// a 200 with `status: ERROR`) with error reports is
/// [`ImportOutcome::Refused`]. Everything else that cannot confirm the import
/// (an empty body, HTML, unreadable JSON, a job reference, an `ERROR` without
/// errors, a report about other UIDs) is [`ApiError::Transient`]: the next
/// attempt searches again before importing.
pub fn read_import(
    status: u16,
    body: &[u8],
    tracked_entity: &str,
    enrollment: &str,
) -> Result<ImportOutcome, ApiError> {
    if !(200..300).contains(&status) && status != 409 {
        return Err(classify(status, body));
    }
    let answer = json_of(status, body)?;
    let report = report_in(&answer);
    let errors = error_reports(report);
    if !errors.is_empty() {
        return Ok(ImportOutcome::Refused(errors));
    }
    let overall = report.get("status").and_then(Value::as_str);
    let message = report.get("message").and_then(Value::as_str).map(|m| cut(m, MESSAGE_LIMIT)).unwrap_or_default();
    if status == 409 || overall == Some("ERROR") {
        return Err(ApiError::Transient(format!(
            "the import failed without an error report (HTTP {status}){}",
            colon(&message)
        )));
    }
    let is_report = ["bundleReport", "validationReport", "stats"].iter().any(|key| report.get(key).is_some());
    if !is_report {
        let job = answer.pointer("/response/location").or_else(|| answer.pointer("/response/id")).is_some();
        let what = if job { "a job reference instead of an import report" } else { "no import report" };
        return Err(ApiError::Transient(format!("{what} (HTTP {status})")));
    }
    if !matches!(overall, Some("OK" | "WARNING")) {
        return Err(ApiError::Transient(format!(
            "an import report with status {} (HTTP {status})",
            overall.map(|s| cut(s, 20)).unwrap_or_else(|| "missing".into())
        )));
    }
    for (tracker_type, uid) in [("TRACKED_ENTITY", tracked_entity), ("ENROLLMENT", enrollment)] {
        let listed = object_reports(report, tracker_type);
        if !listed.is_empty() && !listed.contains(&uid) {
            let other = listed.first().map(|other| cut(other, 20)).unwrap_or_default();
            return Err(ApiError::Transient(format!(
                "the import report names {} {other}, not {uid}",
                tracker_type.to_lowercase().replace('_', " ")
            )));
        }
    }
    Ok(ImportOutcome::Imported)
}

/// The import report in an answer: the answer itself, or, when DHIS2 wraps
/// it in a web message, its `response`.
fn report_in(answer: &Value) -> &Value {
    let has_report =
        |value: &Value| ["bundleReport", "validationReport", "stats"].iter().any(|k| value.get(k).is_some());
    match answer.get("response") {
        Some(inner) if !has_report(answer) && has_report(inner) => inner,
        _ => answer,
    }
}

/// Every error the report gives, from its validation report and from its
/// objects' reports, each once.
fn error_reports(report: &Value) -> Vec<ImportError> {
    let mut lists: Vec<&Value> = Vec::new();
    if let Some(list) = report.pointer("/validationReport/errorReports") {
        lists.push(list);
    }
    if let Some(types) = report.pointer("/bundleReport/typeReportMap").and_then(Value::as_object) {
        for type_report in types.values() {
            for object in type_report.get("objectReports").and_then(Value::as_array).into_iter().flatten() {
                if let Some(list) = object.get("errorReports") {
                    lists.push(list);
                }
            }
        }
    }
    let mut errors: Vec<ImportError> = Vec::new();
    for error in lists.into_iter().filter_map(Value::as_array).flatten() {
        let code = error.get("errorCode").and_then(Value::as_str).unwrap_or("unknown");
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        let error = ImportError { code: cut(code, 20), message: cut(message, MESSAGE_LIMIT) };
        if !errors.contains(&error) {
            errors.push(error);
        }
    }
    errors
}

/// The UIDs of the objects of one tracker type the report says it wrote.
fn object_reports<'a>(report: &'a Value, tracker_type: &str) -> Vec<&'a str> {
    report
        .pointer(&format!("/bundleReport/typeReportMap/{tracker_type}/objectReports"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|object| object.get("uid").and_then(Value::as_str))
        .collect()
}

// ---- Metadata -------------------------------------------------------------

/// What `/api/system/info` says of the server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub revision: Option<String>,
}

pub const SYSTEM_INFO_PATH: &str = "/api/system/info";

/// Who the credentials are, from `/api/me`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub username: String,
    pub display_name: String,
}

pub const ME_PATH: &str = "/api/me?fields=username,displayName,userCredentials[username]";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMe {
    username: Option<String>,
    display_name: Option<String>,
    name: Option<String>,
    /// Where versions before 2.36 kept the user name, and some later still echo it.
    user_credentials: Option<RawCredentials>,
}

#[derive(Deserialize)]
struct RawCredentials {
    username: Option<String>,
}

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributeRef {
    tracked_entity_attribute: Option<IdRef>,
}

/// A program as `uic dhis2 check` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: String,
    pub name: String,
    /// `WITH_REGISTRATION` (a tracker program) or `WITHOUT_REGISTRATION`.
    pub program_type: String,
    /// The tracked entity type it enrolls.
    pub tracked_entity_type: Option<String>,
    /// Its program attributes (`programTrackedEntityAttributes`).
    pub attributes: Vec<String>,
    /// The org units it is assigned to.
    pub org_units: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProgram {
    id: String,
    name: Option<String>,
    program_type: Option<String>,
    tracked_entity_type: Option<IdRef>,
    #[serde(default)]
    program_tracked_entity_attributes: Vec<AttributeRef>,
    #[serde(default)]
    organisation_units: Vec<IdRef>,
}

/// A tracked entity type and its attributes (`trackedEntityTypeAttributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedEntityType {
    pub id: String,
    pub name: String,
    pub attributes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrackedEntityType {
    id: String,
    name: Option<String>,
    #[serde(default)]
    tracked_entity_type_attributes: Vec<AttributeRef>,
}

/// A tracked entity attribute.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Whether DHIS2 refuses a second tracked entity with the same value.
    #[serde(default)]
    pub unique: bool,
    /// Unique only within an org unit (when `unique`).
    #[serde(default)]
    pub orgunit_scope: bool,
    #[serde(default)]
    pub value_type: String,
}

/// An organisation unit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrgUnit {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// The metadata `uic dhis2 check` looks up, and the fields it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    Program,
    TrackedEntityType,
    Attribute,
    OrgUnit,
}

impl Metadata {
    /// `/api/<collection>/<uid>?fields=…`.
    pub fn path(self, uid: &str) -> String {
        let (collection, fields) = match self {
            Metadata::Program => (
                "programs",
                "id,name,programType,trackedEntityType[id],programTrackedEntityAttributes[trackedEntityAttribute[id]],organisationUnits[id]",
            ),
            Metadata::TrackedEntityType => {
                ("trackedEntityTypes", "id,name,trackedEntityTypeAttributes[trackedEntityAttribute[id]]")
            }
            Metadata::Attribute => ("trackedEntityAttributes", "id,name,unique,orgunitScope,valueType"),
            Metadata::OrgUnit => ("organisationUnits", "id,name"),
        };
        // A UID is letters and digits: nothing to escape in the path.
        format!("/api/{collection}/{uid}?{}", query(&[("fields", fields)]))
    }
}

/// The JSON of a 2xx answer as `T`, or why not.
fn read_json<T: serde::de::DeserializeOwned>(status: u16, body: &[u8], what: &str) -> Result<T, ApiError> {
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let value = json_of(status, body)?;
    serde_json::from_value(value).map_err(|error| ApiError::Transient(format!("an unexpected {what}: {error}")))
}

/// A metadata object, `None` when DHIS2 has none with that UID (404).
fn read_metadata<T: serde::de::DeserializeOwned>(status: u16, body: &[u8], what: &str) -> Result<Option<T>, ApiError> {
    if status == 404 {
        return Ok(None);
    }
    read_json(status, body, what).map(Some)
}

pub fn read_system_info(status: u16, body: &[u8]) -> Result<SystemInfo, ApiError> {
    read_json(status, body, "system info")
}

pub fn read_me(status: u16, body: &[u8]) -> Result<Me, ApiError> {
    let raw: RawMe = read_json(status, body, "answer from /api/me")?;
    let username = raw.username.or(raw.user_credentials.and_then(|c| c.username)).unwrap_or_default();
    let display_name = raw.display_name.or(raw.name).unwrap_or_default();
    Ok(Me { username, display_name })
}

fn ids(refs: Vec<AttributeRef>) -> Vec<String> {
    refs.into_iter().filter_map(|r| r.tracked_entity_attribute.map(|a| a.id)).collect()
}

pub fn read_program(status: u16, body: &[u8]) -> Result<Option<Program>, ApiError> {
    let raw: Option<RawProgram> = read_metadata(status, body, "program")?;
    Ok(raw.map(|raw| Program {
        id: raw.id,
        name: raw.name.unwrap_or_default(),
        program_type: raw.program_type.unwrap_or_default(),
        tracked_entity_type: raw.tracked_entity_type.map(|t| t.id),
        attributes: ids(raw.program_tracked_entity_attributes),
        org_units: raw.organisation_units.into_iter().map(|o| o.id).collect(),
    }))
}

pub fn read_tracked_entity_type(status: u16, body: &[u8]) -> Result<Option<TrackedEntityType>, ApiError> {
    let raw: Option<RawTrackedEntityType> = read_metadata(status, body, "tracked entity type")?;
    Ok(raw.map(|raw| TrackedEntityType {
        id: raw.id,
        name: raw.name.unwrap_or_default(),
        attributes: ids(raw.tracked_entity_type_attributes),
    }))
}

pub fn read_attribute(status: u16, body: &[u8]) -> Result<Option<Attribute>, ApiError> {
    read_metadata(status, body, "tracked entity attribute")
}

pub fn read_org_unit(status: u16, body: &[u8]) -> Result<Option<OrgUnit>, ApiError> {
    read_metadata(status, body, "org unit")
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::core::dhis2::AttributeValue;

    const TE: &str = "PQfMcpmXeFE";
    const ENROLLMENT: &str = "Rn4S7QXqkZ9";
    const UIC_ATTRIBUTE: &str = "lZGmxYbs97q";

    fn job() -> RegistrationJob {
        RegistrationJob {
            uic: "MBEIBR7DA1".into(),
            tracked_entity: TE.into(),
            enrollment: ENROLLMENT.into(),
            program: "IpHINAT79UW".into(),
            org_unit: "DiszpKrYNg8".into(),
            tracked_entity_type: "nEenWmSyUEp".into(),
            uic_attribute: UIC_ATTRIBUTE.into(),
            attributes: vec![AttributeValue { attribute: "cejWyOfXge6".into(), value: "Male".into() }],
            enrolled_at: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        }
    }

    fn import(status: u16, body: &Value) -> Result<ImportOutcome, ApiError> {
        read_import(status, body.to_string().as_bytes(), TE, ENROLLMENT)
    }

    fn transient(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result {
            Err(ApiError::Transient(description)) => description,
            other => panic!("not transient: {other:?}"),
        }
    }

    /// A synchronous import report as DHIS2's developer manual shows it.
    fn ok_report(te: &str, enrollment: &str) -> Value {
        let stats = json!({ "created": 1, "updated": 0, "deleted": 0, "ignored": 0, "total": 1 });
        json!({
            "status": "OK",
            "validationReport": { "errorReports": [], "warningReports": [] },
            "stats": { "created": 2, "updated": 0, "deleted": 0, "ignored": 0, "total": 2 },
            "bundleReport": { "typeReportMap": {
                "TRACKED_ENTITY": { "trackerType": "TRACKED_ENTITY", "stats": stats,
                    "objectReports": [{ "trackerType": "TRACKED_ENTITY", "uid": te, "errorReports": [] }] },
                "ENROLLMENT": { "trackerType": "ENROLLMENT", "stats": stats,
                    "objectReports": [{ "trackerType": "ENROLLMENT", "uid": enrollment, "errorReports": [] }] },
                "EVENT": { "trackerType": "EVENT", "stats": stats, "objectReports": [] },
            } },
        })
    }

    fn error_report(code: &str, message: &str) -> Value {
        json!({
            "status": "ERROR",
            "validationReport": { "errorReports": [
                { "message": message, "errorCode": code, "trackerType": "TRACKED_ENTITY", "uid": TE, "args": [] },
            ] },
            "stats": { "created": 0, "updated": 0, "deleted": 0, "ignored": 2, "total": 2 },
            "bundleReport": { "typeReportMap": {} },
        })
    }

    #[test]
    fn versions_choose_the_generation() {
        for version in ["2.42.1", "2.41-SNAPSHOT", "2.41.0", "v2.41", "2.43.0-rc1", "42.0", "v42"] {
            assert_eq!(Generation::from_version(version), Ok(Generation::Tracker241), "{version}");
        }
        for version in ["2.38.0", "2.39.2.1", "v2.40", "2.40.4-EMBARGOED", " 2.38.1 "] {
            assert_eq!(Generation::from_version(version), Ok(Generation::Tracker238), "{version}");
        }
        let too_old = Generation::from_version("2.37.9").unwrap_err();
        assert_eq!(too_old.to_string(), "DHIS2 2.37 is not supported (2.38 or later)");
        assert_eq!(
            Generation::from_version("2.36-SNAPSHOT").unwrap_err().to_string(),
            "DHIS2 2.36 is not supported (2.38 or later)"
        );
        for nonsense in ["", "SNAPSHOT", "2", "1.0", "abc"] {
            let error = Generation::from_version(nonsense).unwrap_err().to_string();
            assert!(error.contains("is not understood"), "{nonsense}: {error}");
        }
        assert_eq!(Generation::Tracker241.results_key(), "trackedEntities");
        assert_eq!(Generation::Tracker238.org_unit_mode_parameter(), "ouMode");
    }

    #[test]
    fn filter_values_are_escaped_as_dhis2_documents() {
        assert_eq!(escape_filter_value("MBEIBR7DA1"), "MBEIBR7DA1");
        assert_eq!(escape_filter_value("985-KINS-15"), "985-KINS-15");
        assert_eq!(escape_filter_value("a:b,c/d"), "a/:b/,c//d");
        assert_eq!(escape_filter_value("//"), "////");
    }

    #[test]
    fn the_search_names_type_filter_and_scope_of_each_generation() {
        let url =
            search_url("https://dhis2.example.org/hmis", Generation::Tracker241, "nEenWmSyUEp", UIC_ATTRIBUTE, "A:1");
        assert_eq!(
            url,
            "https://dhis2.example.org/hmis/api/tracker/trackedEntities?trackedEntityType=nEenWmSyUEp\
             &filter=lZGmxYbs97q%3Aeq%3AA%2F%3A1&orgUnitMode=ACCESSIBLE\
             &fields=trackedEntity%2CorgUnit%2Cattributes%5Battribute%2Cvalue%5D&pageSize=50"
        );
        let old = search_url("http://h", Generation::Tracker238, "nEenWmSyUEp", UIC_ATTRIBUTE, "X");
        assert!(old.contains("&ouMode=ACCESSIBLE&"), "{old}");
        assert!(!old.contains("orgUnitMode"), "{old}");
        // Decoded, the filter is DHIS2's `ATTR:eq:VALUE` with the value escaped.
        let query = url.split_once('?').unwrap().1;
        let filter = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "filter").unwrap().1;
        assert_eq!(filter, "lZGmxYbs97q:eq:A/:1");
    }

    fn entity(uid: &str, attribute: &str, value: &str) -> Value {
        json!({ "trackedEntity": uid, "orgUnit": "DiszpKrYNg8", "attributes": [
            { "attribute": "cejWyOfXge6", "value": "Male" },
            { "attribute": attribute, "value": value },
        ] })
    }

    #[test]
    fn search_answers_of_both_generations_give_the_entities_holding_the_code() {
        let results = json!([
            entity("PQfMcpmXeFE", UIC_ATTRIBUTE, "mbeibr7da1"),
            // Another attribute holds the code; DHIS2's filter would not return it, but a proxy might.
            entity("Xq3nTr7Ccs9", "w75KJ2mc4zz", "MBEIBR7DA1"),
            entity("Yb2mQwErTy1", UIC_ATTRIBUTE, "MBEIBR7DA10"),
            entity("PQfMcpmXeFE", UIC_ATTRIBUTE, "MBEIBR7DA1"),
            json!({ "trackedEntity": "Zz9mQwErTy1" }),
            json!({ "orgUnit": "DiszpKrYNg8" }),
        ]);
        let new = json!({ "page": 1, "pageSize": 50, "trackedEntities": results });
        let old = json!({ "pager": { "page": 1, "pageSize": 50 }, "instances": results });
        for (generation, answer) in [(Generation::Tracker241, &new), (Generation::Tracker238, &old)] {
            let found = read_search(generation, 200, answer.to_string().as_bytes(), UIC_ATTRIBUTE, "MBEIBR7DA1");
            assert_eq!(found, Ok(vec!["PQfMcpmXeFE".to_string()]), "{generation:?}");
        }
        // A server that answers like the other generation is still understood.
        let found = read_search(Generation::Tracker241, 200, old.to_string().as_bytes(), UIC_ATTRIBUTE, "MBEIBR7DA1");
        assert_eq!(found.unwrap().len(), 1);
        let none = json!({ "trackedEntities": [] }).to_string();
        assert_eq!(read_search(Generation::Tracker241, 200, none.as_bytes(), UIC_ATTRIBUTE, "X"), Ok(vec![]));
    }

    #[test]
    fn unreadable_search_answers_are_transient_and_quote_nothing() {
        let search =
            |status: u16, body: &str| read_search(Generation::Tracker241, status, body.as_bytes(), UIC_ATTRIBUTE, "X");
        assert_eq!(transient(search(200, "")), "an empty answer (HTTP 200)");
        assert_eq!(
            transient(search(200, "<html><body>Login</body></html>")),
            "an HTML page instead of JSON (HTTP 200)"
        );
        let unreadable = transient(search(200, "{\"trackedEntities\": [SECRET"));
        assert!(unreadable.starts_with("unreadable JSON (HTTP 200): "), "{unreadable}");
        assert!(!unreadable.contains("SECRET"), "{unreadable}");
        assert_eq!(transient(search(200, "{}")), "the search answer has no `trackedEntities` list (HTTP 200)");
        assert_eq!(search(401, ""), Err(ApiError::TokenRefused { status: 401 }));
        assert_eq!(transient(search(503, "<html>busy</html>")), "HTTP 503: an HTML page");
    }

    #[test]
    fn http_failures_are_classified() {
        let message = json!({ "httpStatus": "Not Found", "httpStatusCode": 404, "status": "ERROR",
            "message": "Program with id XXXXXXXXXXX could not be found." })
        .to_string();
        assert_eq!(classify(401, b""), ApiError::TokenRefused { status: 401 });
        assert_eq!(classify(403, message.as_bytes()), ApiError::TokenRefused { status: 403 });
        assert_eq!(classify(429, b""), ApiError::Transient("HTTP 429".into()));
        assert_eq!(classify(502, b"Bad Gateway"), ApiError::Transient("HTTP 502: an answer that is not JSON".into()));
        assert_eq!(
            classify(404, message.as_bytes()),
            ApiError::Rejected { status: 404, message: "Program with id XXXXXXXXXXX could not be found.".into() }
        );
        assert!(transient(Err::<(), _>(classify(302, b""))).starts_with("a redirect (HTTP 302): is DHIS2_BASE_URL"));
        assert_eq!(classify(100, b""), ApiError::Transient("unexpected HTTP 100".into()));
        let long = json!({ "message": "x".repeat(5000) }).to_string();
        let ApiError::Rejected { message, .. } = classify(400, long.as_bytes()) else { panic!() };
        assert_eq!(message.chars().count(), MESSAGE_LIMIT + 1, "cut, with an ellipsis");
        assert_eq!(
            ApiError::Rejected { status: 400, message: "Bad".into() }.to_string(),
            "DHIS2 refused the request (HTTP 400): Bad"
        );
        assert_eq!(ApiError::TokenRefused { status: 401 }.to_string(), "DHIS2 refused the credentials (HTTP 401)");
    }

    #[test]
    fn the_import_body_uses_dhis2s_field_names_and_our_uids() {
        let body = import_body(&job());
        assert_eq!(
            body,
            json!({ "trackedEntities": [{
                "trackedEntity": TE,
                "trackedEntityType": "nEenWmSyUEp",
                "orgUnit": "DiszpKrYNg8",
                "attributes": [
                    { "attribute": UIC_ATTRIBUTE, "value": "MBEIBR7DA1" },
                    { "attribute": "cejWyOfXge6", "value": "Male" },
                ],
                "enrollments": [{
                    "enrollment": ENROLLMENT,
                    "program": "IpHINAT79UW",
                    "orgUnit": "DiszpKrYNg8",
                    "trackedEntity": TE,
                    "enrolledAt": "2026-11-30",
                    "occurredAt": "2026-11-30",
                    "status": "ACTIVE",
                }],
            }] })
        );
        assert_eq!(
            import_url("https://h/dhis"),
            "https://h/dhis/api/tracker?async=false&importStrategy=CREATE_AND_UPDATE&atomicMode=ALL&reportMode=ERRORS"
        );
    }

    /// Every field the body sends is one the v42 OpenAPI description declares
    /// for its object (`Body`, `TrackerTrackedEntity`, `TrackerAttribute`,
    /// `TrackerEnrollment`), and the enrollment's required `status` is there.
    #[test]
    fn the_import_body_fits_the_v42_schemas() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/dhis2-tracker-openapi-v42.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: {} is not here", path.display());
            return;
        };
        let openapi: Value = serde_json::from_str(&text).unwrap();
        let schema = |name: &str| openapi["components"]["schemas"][name].clone();
        let fits = |object: &Value, name: &str| {
            let schema = schema(name);
            for key in object.as_object().unwrap().keys() {
                assert!(schema["properties"].get(key).is_some(), "{name} has no `{key}`");
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap();
                // The documented flaw: an import does not send `valueType`.
                if name != "TrackerAttribute" {
                    assert!(object.get(required).is_some(), "{name} needs `{required}`");
                }
            }
        };
        let body = import_body(&job());
        fits(&body, "Body");
        let entity = &body["trackedEntities"][0];
        fits(entity, "TrackerTrackedEntity");
        for attribute in entity["attributes"].as_array().unwrap() {
            fits(attribute, "TrackerAttribute");
        }
        fits(&entity["enrollments"][0], "TrackerEnrollment");
    }

    #[test]
    fn an_ok_report_naming_our_uids_is_an_import() {
        assert_eq!(import(200, &ok_report(TE, ENROLLMENT)), Ok(ImportOutcome::Imported));
        let mut warning = ok_report(TE, ENROLLMENT);
        warning["status"] = json!("WARNING");
        assert_eq!(import(200, &warning), Ok(ImportOutcome::Imported));
        // A report that lists no objects (reportMode trims them) does not contradict us.
        let bare =
            json!({ "status": "OK", "stats": { "created": 2, "updated": 0, "deleted": 0, "ignored": 0, "total": 2 } });
        assert_eq!(import(200, &bare), Ok(ImportOutcome::Imported));
        // Wrapped in a web message, as some versions answer.
        let wrapped =
            json!({ "httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "response": ok_report(TE, ENROLLMENT) });
        assert_eq!(import(200, &wrapped), Ok(ImportOutcome::Imported));
    }

    #[test]
    fn a_report_about_other_uids_confirms_nothing() {
        let other = transient(import(200, &ok_report("Xq3nTr7Ccs9", ENROLLMENT)));
        assert_eq!(other, "the import report names tracked entity Xq3nTr7Ccs9, not PQfMcpmXeFE");
        let other = transient(import(200, &ok_report(TE, "Xq3nTr7Ccs9")));
        assert_eq!(other, "the import report names enrollment Xq3nTr7Ccs9, not Rn4S7QXqkZ9");
    }

    #[test]
    fn validation_errors_are_a_refusal_with_dhis2s_codes() {
        let e1064 = error_report("E1064", "Non-unique attribute value `MBEIBR7DA1` for attribute `lZGmxYbs97q`");
        let refused = import(409, &e1064).unwrap();
        assert_eq!(
            refused,
            ImportOutcome::Refused(vec![ImportError {
                code: "E1064".into(),
                message: "Non-unique attribute value `MBEIBR7DA1` for attribute `lZGmxYbs97q`".into(),
            }])
        );
        let ImportOutcome::Refused(errors) = refused else { unreachable!() };
        assert_eq!(errors[0].code, ImportError::NON_UNIQUE);
        assert!(errors[0].to_string().starts_with("E1064: Non-unique"));
        // The same report with HTTP 200, as a proxy or an older version may answer.
        assert!(matches!(import(200, &e1064), Ok(ImportOutcome::Refused(_))));
        // Errors only in the objects' reports; each error once; long messages cut.
        let long = "Attribute: `cejWyOfXge6`, does not exist. ".repeat(20);
        let object_error = json!({ "errorCode": "E1006", "message": long, "trackerType": "TRACKED_ENTITY", "uid": TE });
        let nested = json!({ "status": "ERROR", "bundleReport": { "typeReportMap": { "TRACKED_ENTITY": {
            "trackerType": "TRACKED_ENTITY",
            "objectReports": [{ "trackerType": "TRACKED_ENTITY", "uid": TE, "errorReports": [object_error, object_error] }],
        } } } });
        let Ok(ImportOutcome::Refused(errors)) = import(409, &nested) else { panic!() };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "E1006");
        assert_eq!(errors[0].message.chars().count(), MESSAGE_LIMIT + 1);
    }

    #[test]
    fn answers_that_confirm_nothing_are_transient() {
        assert_eq!(transient(read_import(200, b"", TE, ENROLLMENT)), "an empty answer (HTTP 200)");
        assert_eq!(transient(read_import(409, b"  \n", TE, ENROLLMENT)), "an empty answer (HTTP 409)");
        let html = b"<!DOCTYPE html><html><body>DHIS2 login MBEIBR7DA1</body></html>";
        assert_eq!(transient(read_import(200, html, TE, ENROLLMENT)), "an HTML page instead of JSON (HTTP 200)");
        let unreadable = transient(read_import(200, b"{\"status\":\"OK\",", TE, ENROLLMENT));
        assert!(unreadable.starts_with("unreadable JSON (HTTP 200)"), "{unreadable}");
        let abrupt = json!({ "status": "ERROR", "message": "Import failed: could not obtain lock",
            "validationReport": { "errorReports": [] } });
        assert_eq!(
            transient(import(200, &abrupt)),
            "the import failed without an error report (HTTP 200): Import failed: could not obtain lock"
        );
        let conflict =
            json!({ "httpStatus": "Conflict", "httpStatusCode": 409, "status": "ERROR", "message": "Conflict" });
        assert_eq!(transient(import(409, &conflict)), "the import failed without an error report (HTTP 409): Conflict");
        // `async=false` ignored: DHIS2 queued a job and answered with its reference.
        let job = json!({ "httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "message": "Tracker job added",
            "response": { "id": "cHh2OCTJvRw", "location": "https://h/api/tracker/jobs/cHh2OCTJvRw" } });
        assert_eq!(transient(import(200, &job)), "a job reference instead of an import report (HTTP 200)");
        assert_eq!(transient(import(200, &json!({ "status": "OK" }))), "no import report (HTTP 200)");
        let strange = json!({ "status": "MAYBE", "stats": {} });
        assert_eq!(transient(import(200, &strange)), "an import report with status MAYBE (HTTP 200)");
        assert_eq!(transient(import(200, &json!([1, 2]))), "no import report (HTTP 200)");
    }

    #[test]
    fn other_import_failures_are_classified() {
        assert_eq!(read_import(401, b"", TE, ENROLLMENT), Err(ApiError::TokenRefused { status: 401 }));
        assert_eq!(read_import(403, b"{}", TE, ENROLLMENT), Err(ApiError::TokenRefused { status: 403 }));
        assert_eq!(transient(read_import(500, b"", TE, ENROLLMENT)), "HTTP 500");
        assert_eq!(transient(read_import(429, b"", TE, ENROLLMENT)), "HTTP 429");
        let bad = json!({ "status": "ERROR", "message": "Invalid payload" }).to_string();
        assert_eq!(
            read_import(400, bad.as_bytes(), TE, ENROLLMENT),
            Err(ApiError::Rejected { status: 400, message: "Invalid payload".into() })
        );
    }

    #[test]
    fn metadata_is_read_with_its_references() {
        let program = json!({ "id": "IpHINAT79UW", "name": "Child Programme", "programType": "WITH_REGISTRATION",
            "trackedEntityType": { "id": "nEenWmSyUEp" },
            "programTrackedEntityAttributes": [{ "trackedEntityAttribute": { "id": "lZGmxYbs97q" } }, {}],
            "organisationUnits": [{ "id": "DiszpKrYNg8" }] })
        .to_string();
        let program = read_program(200, program.as_bytes()).unwrap().unwrap();
        assert_eq!(program.tracked_entity_type.as_deref(), Some("nEenWmSyUEp"));
        assert_eq!(program.attributes, ["lZGmxYbs97q"]);
        assert_eq!(program.org_units, ["DiszpKrYNg8"]);
        assert_eq!(read_program(404, b"{\"message\":\"not found\"}"), Ok(None));
        assert_eq!(read_program(403, b""), Err(ApiError::TokenRefused { status: 403 }));
        let tet = json!({ "id": "nEenWmSyUEp", "name": "Person",
            "trackedEntityTypeAttributes": [{ "trackedEntityAttribute": { "id": "cejWyOfXge6" } }] })
        .to_string();
        assert_eq!(read_tracked_entity_type(200, tet.as_bytes()).unwrap().unwrap().attributes, ["cejWyOfXge6"]);
        let attribute = json!({ "id": "lZGmxYbs97q", "name": "UIC", "unique": true, "valueType": "TEXT" }).to_string();
        let attribute = read_attribute(200, attribute.as_bytes()).unwrap().unwrap();
        assert!(attribute.unique && !attribute.orgunit_scope);
        assert_eq!(
            read_org_unit(200, b"{\"id\":\"DiszpKrYNg8\",\"name\":\"Ngelehun CHC\"}").unwrap().unwrap().name,
            "Ngelehun CHC"
        );
        assert!(
            transient(read_org_unit(200, b"{\"name\":\"no id\"}"))
                .starts_with("an unexpected org unit: missing field `id`")
        );
        assert_eq!(
            Metadata::Program.path("IpHINAT79UW"),
            "/api/programs/IpHINAT79UW?fields=id%2Cname%2CprogramType%2CtrackedEntityType%5Bid%5D%2C\
             programTrackedEntityAttributes%5BtrackedEntityAttribute%5Bid%5D%5D%2CorganisationUnits%5Bid%5D"
        );
        let me = read_me(200, br#"{"username":"admin","displayName":"John Traore"}"#).unwrap();
        assert_eq!((me.username.as_str(), me.display_name.as_str()), ("admin", "John Traore"));
        let old = read_me(200, br#"{"name":"John Traore","userCredentials":{"username":"admin"}}"#).unwrap();
        assert_eq!(old, me);
        assert_eq!(read_system_info(200, br#"{"version":"2.39.2","revision":"abc"}"#).unwrap().version, "2.39.2");
    }

    #[test]
    fn cut_keeps_one_line_and_marks_the_cut() {
        assert_eq!(cut("a\n  b\tc", 10), "a b c");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("ééééé", 2), "éé…");
    }
}
