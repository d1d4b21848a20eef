//! A fake DHIS2 on a loopback port: what the app reaches as `DHIS2_BASE_URL`.
//! It speaks the Web API a registration client uses, as DHIS2 documents it:
//! authentication by personal access token or Basic, `system/info`, `me`, the
//! metadata of one tracker program, the tracked entity search of both
//! generations (before and from 2.41), and the tracker import, synchronous
//! or as a job, with DHIS2's validation codes and its report.
//!
//! Every import body is checked against DHIS2's own schema
//! ([`super::dhis2_schema`]); a body DHIS2 would refuse, and any request the
//! fake answers 400, is kept as a violation, so a test that only looks at the
//! conversation still fails on [`FakeDhis2::assert_no_violations`]. Imports
//! and searches can be scripted to fail ([`Fault`]), and every request is
//! kept for the assertions.

mod http;
mod import;
mod metadata;
mod search;
mod tracker;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use http::Route;
use metadata::Metadata;
pub use metadata::MetadataKind;
use tracker::{Tracker, holds, now};

/// The tracker program the app registers people into (with registration).
pub const PROGRAM: &str = "UicRegProg1";
/// The org unit the program and the user are assigned to.
pub const ORG_UNIT: &str = "KinshasaHC1";
/// An org unit that exists but is not assigned to the program.
pub const OTHER_ORG_UNIT: &str = "LubumbaHC02";
/// The program's tracked entity type, "Person".
pub const TRACKED_ENTITY_TYPE: &str = "PersonTet01";
/// The attribute holding the UIC: unique, `TEXT`, of the type and the program.
pub const UIC_ATTRIBUTE: &str = "UicCodeAtt1";
/// A program attribute that is not unique, `TEXT`.
pub const GENDER_ATTRIBUTE: &str = "GenderAttr1";
/// The personal access token accepted as `Authorization: ApiToken <TOKEN>`,
/// shaped as DHIS2 makes them: `d2pat_`, 32 characters, then 10 digits
/// (DHIS2's CRC32 checksum, which the fake does not check).
pub const TOKEN: &str = "d2pat_Xk4pQ9vLm2Rt7Wn1Zc8Yb3Hd6Gf0Js5A2841075963";
/// The user, for `Authorization: Basic`.
pub const USERNAME: &str = "uic-bot";
pub const PASSWORD: &str = "Uic-Bot-2026!";
/// The user's UID, as `/api/me` shows it.
pub const USER_ID: &str = "UicBotUser1";
/// The version [`FakeDhis2::start`] reports.
pub const VERSION: &str = "2.42.1";

/// One request the fake received, and what it answered.
#[derive(Debug, Clone)]
pub struct Dhis2Request {
    pub method: String,
    /// The path as sent, context path included, e.g. `/api/tracker`.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, e.g. `ApiToken d2pat_...`.
    pub authorization: Option<String>,
    /// The body, when it is JSON.
    pub body: Option<Value>,
    /// The status answered; 0 when the fake never answered ([`Fault::DropAfterCommit`]).
    pub status: u16,
    /// The answer: JSON, or a JSON string for a text or HTML body, or null.
    pub answer: Value,
    route: Route,
}

impl Dhis2Request {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// What the next imports or searches get instead of the normal answer.
/// Queued with [`FakeDhis2::fail_next_import`] or [`FakeDhis2::fail_next_search`];
/// each is used by the next request to that endpoint, whatever it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// This status with DHIS2's JSON error; 502, 503 and 504 come as a proxy
    /// in front of DHIS2 sends them, in plain text. Nothing is committed.
    Status(u16),
    /// This status with nginx's HTML error page. Nothing is committed.
    Html(u16),
    /// This status and no body at all. Nothing is committed.
    EmptyBody(u16),
    /// A slow DHIS2: the normal answer, after this long. The work is done
    /// when the delay ends, whether the client still waits or not.
    Delay(Duration),
    /// The request is carried out (an import is committed), then never
    /// answered: the client times out, the data stays.
    DropAfterCommit,
    /// An import answered 200 whose report says `status: ERROR` (E1000, no
    /// capture access); nothing is committed. Searches ignore it.
    OkWithError,
    /// An import committed, whose report names other UIDs than the objects
    /// sent. Searches ignore it.
    ReportForOtherUid,
}

/// A DHIS2 version, e.g. `2.42.1`, and what changes with it.
#[derive(Debug, Clone)]
struct Version {
    text: String,
    minor: u32,
}

impl Version {
    fn parse(text: &str) -> Version {
        let minor = text.split('.').nth(1).and_then(|minor| minor.parse().ok());
        let minor = minor.unwrap_or_else(|| panic!("a DHIS2 version like 2.42.1, not {text:?}"));
        Version { text: text.to_string(), minor }
    }

    /// From 2.41 the search takes `orgUnits`/`orgUnitMode` and answers `trackedEntities`.
    fn new_search(&self) -> bool {
        self.minor >= 41
    }
}

pub struct FakeDhis2 {
    /// `http://127.0.0.1:<port>` and the context path, if any: the app's `DHIS2_BASE_URL`.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

struct Shared {
    version: Version,
    base: String,
    context_path: String,
    /// The personal access token accepted.
    token: String,
    metadata: Metadata,
    tracker: Tracker,
    /// Import jobs by UID: the report, once the job is done.
    jobs: HashMap<String, Option<Value>>,
    /// How long an asynchronous import takes before it commits.
    job_duration: Duration,
    import_faults: VecDeque<Fault>,
    search_faults: VecDeque<Fault>,
    requests: Vec<Dhis2Request>,
    violations: Vec<String>,
}

impl FakeDhis2 {
    /// DHIS2 [`VERSION`] at the root of a free loopback port; must be called
    /// inside a Tokio runtime.
    pub fn start() -> FakeDhis2 {
        FakeDhis2::start_under(VERSION, "")
    }

    /// DHIS2 `version` (e.g. `2.39.2`), at the root.
    pub fn start_version(version: &str) -> FakeDhis2 {
        FakeDhis2::start_under(version, "")
    }

    /// DHIS2 `version` under `context_path` (e.g. `/dhis`), as DHIS2 is
    /// often deployed: `base` ends with it, and paths outside it are 404.
    pub fn start_under(version: &str, context_path: &str) -> FakeDhis2 {
        assert!(
            context_path.is_empty() || (context_path.starts_with('/') && !context_path.ends_with('/')),
            "a context path like /dhis, not {context_path:?}"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking socket");
        let port = listener.local_addr().expect("a bound port").port();
        let listener = tokio::net::TcpListener::from_std(listener).expect("inside a Tokio runtime");
        let base = format!("http://127.0.0.1:{port}{context_path}");
        let shared = Arc::new(Mutex::new(Shared {
            version: Version::parse(version),
            base: base.clone(),
            context_path: context_path.to_string(),
            token: TOKEN.to_string(),
            metadata: Metadata::seeded(),
            tracker: Tracker::default(),
            jobs: HashMap::new(),
            job_duration: Duration::ZERO,
            import_faults: VecDeque::new(),
            search_faults: VecDeque::new(),
            requests: Vec::new(),
            violations: Vec::new(),
        }));
        let router = Router::new().fallback(http::handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the fake DHIS2 serves");
        });
        FakeDhis2 { base, shared, task }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// From now on only `token` is accepted as a PAT, as when the app's is revoked.
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.to_string();
    }

    /// The next `n` imports (`POST /api/tracker`) get `fault`.
    pub fn fail_next_import(&self, n: usize, fault: Fault) {
        self.lock().import_faults.extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` searches (`GET /api/tracker/trackedEntities` and `/{uid}`) get `fault`.
    pub fn fail_next_search(&self, n: usize, fault: Fault) {
        self.lock().search_faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Asynchronous imports commit, and their report appears, this long after
    /// they are accepted; until then the report is 404. Zero by default.
    pub fn set_job_duration(&self, duration: Duration) {
        self.lock().job_duration = duration;
    }

    /// Makes attribute `uid` unique or not.
    pub fn set_attribute_unique(&self, uid: &str, unique: bool) {
        let mut shared = self.lock();
        let attribute = shared.metadata.get_mut(MetadataKind::TrackedEntityAttribute, uid);
        attribute.unwrap_or_else(|| panic!("no attribute {uid}"))["unique"] = json!(unique);
    }

    /// Takes `org_unit` out of [`PROGRAM`]: enrollments there fail with E1041.
    pub fn remove_org_unit_from_program(&self, org_unit: &str) {
        let mut shared = self.lock();
        let program = shared.metadata.get_mut(MetadataKind::Program, PROGRAM).expect("the program is seeded");
        if let Some(units) = program["organisationUnits"].as_array_mut() {
            units.retain(|unit| unit["id"] != org_unit);
        }
    }

    /// Adds a metadata object, or replaces the one with its `id`.
    pub fn put_metadata(&self, kind: MetadataKind, object: Value) {
        self.lock().metadata.put(kind, object);
    }

    /// A person a clinic registered: tracked entity `uid` at [`ORG_UNIT`],
    /// holding `uic` in [`UIC_ATTRIBUTE`], enrolled in [`PROGRAM`].
    pub fn seed_tracked_entity(&self, uid: &str, uic: &str) {
        let now = now();
        let attributes = json!([{"attribute": UIC_ATTRIBUTE, "value": uic}]);
        let enrollment = json!({
            "enrollment": new_uid("Sed"),
            "program": PROGRAM,
            "orgUnit": ORG_UNIT,
            "trackedEntity": uid,
            "enrolledAt": now,
            "occurredAt": now,
            "status": "ACTIVE",
            "attributes": attributes,
            "createdAt": now,
            "updatedAt": now,
        });
        self.lock().tracker.insert(json!({
            "trackedEntity": uid,
            "trackedEntityType": TRACKED_ENTITY_TYPE,
            "orgUnit": ORG_UNIT,
            "attributes": attributes,
            "enrollments": [enrollment],
            "createdAt": now,
            "updatedAt": now,
        }));
    }

    /// Every tracked entity, as stored (enrollments nested), in creation order.
    pub fn tracked_entities(&self) -> Vec<Value> {
        self.lock().tracker.entities().to_vec()
    }

    /// The tracked entities holding `value` for `attribute`, ignoring case.
    pub fn tracked_entity_with(&self, attribute: &str, value: &str) -> Vec<Value> {
        self.lock().tracker.entities().iter().filter(|entity| holds(entity, attribute, value)).cloned().collect()
    }

    /// At least `n` tracked entities, waiting up to `timeout` for them: the
    /// app registers from its outbox, after the conversation has moved on.
    pub async fn wait_for_tracked_entities(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let entities = self.tracked_entities();
            if entities.len() >= n {
                return entities;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "expected {n} tracked entities in DHIS2 within {timeout:?}, got {}: {entities:#?}",
                    entities.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every request, in arrival order; one the fake never answers is kept with status 0.
    pub fn requests(&self) -> Vec<Dhis2Request> {
        self.lock().requests.clone()
    }

    /// The body of every import, whatever it was answered.
    pub fn imports(&self) -> Vec<Value> {
        let shared = self.lock();
        let imports = shared.requests.iter().filter(|request| request.route == Route::Import);
        imports.filter_map(|request| request.body.clone()).collect()
    }

    /// How many searches (`GET /api/tracker/trackedEntities`) were made.
    pub fn searches(&self) -> usize {
        self.lock().requests.iter().filter(|request| request.route == Route::Search).count()
    }

    /// What DHIS2 would refuse, and why: import bodies its schema does not
    /// allow, and every request the fake answered 400 or 415.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "the app sent what DHIS2 refuses:\n{}", violations.join("\n"));
    }
}

impl Drop for FakeDhis2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().expect("no test panicked holding the fake's lock")
}

/// A fresh UID: `prefix` (three letters) and a counter, so a letter then 10
/// letters or digits.
fn new_uid(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}{:08}", NEXT.fetch_add(1, Ordering::Relaxed))
}
