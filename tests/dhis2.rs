//! Registration in DHIS2 Tracker end to end: `uic serve` with Twilio
//! conversations, the outbox, and a fake DHIS2 ([`FakeDhis2`]) that speaks
//! the documented API and checks every import against DHIS2's own schema.
//! What a program's staff would check: one tracked entity per code, enrolled
//! where it should be, never a duplicate, never a name; the code's state in
//! the database; `/health` when the token is refused.

use std::time::Duration;

use serde_json::Value;
use uic::core::dhis2::{RegistrationState, is_uid};
use uic::store::{JobFilter, JobStatus, UicFilter, UicRecord};

use crate::support::dhis2::{
    self, FakeDhis2, Fault, GENDER_ATTRIBUTE, ORG_UNIT, OTHER_ORG_UNIT, PROGRAM, TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE,
};
use crate::support::server::{TestServer, phone};

const WAIT: Duration = Duration::from_secs(20);

/// The answers of a person; their code is `MBEIBR7DA1` with `gender` 1.
fn answers(gender: &str) -> Vec<&str> {
    vec!["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", gender]
}

/// The variables that turn registration on against `fake`.
fn dhis2_vars(fake: &FakeDhis2) -> Vec<(&'static str, String)> {
    vec![
        ("DHIS2_BASE_URL", fake.base.clone()),
        ("DHIS2_API_TOKEN", dhis2::TOKEN.to_string()),
        ("DHIS2_PROGRAM", PROGRAM.to_string()),
        ("DHIS2_ORG_UNIT", ORG_UNIT.to_string()),
        ("DHIS2_TRACKED_ENTITY_TYPE", TRACKED_ENTITY_TYPE.to_string()),
        ("DHIS2_UIC_ATTRIBUTE", UIC_ATTRIBUTE.to_string()),
        ("DHIS2_TIMEOUT_SECONDS", "2".to_string()),
    ]
}

async fn server(fake: &FakeDhis2, extra: &[(&str, &str)]) -> TestServer {
    let vars = dhis2_vars(fake);
    let mut all: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
    all.extend_from_slice(extra);
    TestServer::start_with(&all).await
}

/// The code's record, as `uic uics list` reads it.
async fn record(server: &TestServer, uic: &str) -> UicRecord {
    let records = server.state.conversations.store().list_uics(&UicFilter::default(), 1000).await.unwrap();
    records.into_iter().find(|record| record.uic_code == uic).unwrap_or_else(|| panic!("no record of {uic}"))
}

/// Waits until the code's registration is no longer pending.
async fn settled(server: &TestServer, uic: &str) -> RegistrationState {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match record(server, uic).await.registration {
            Some(RegistrationState::Pending) | None if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(state) => return state,
            None => panic!("{uic} has no registration state"),
        }
    }
}

/// The code a conversation ends with, from the last reply.
fn code_in(text: &str) -> String {
    let found = text.split(|c: char| !c.is_ascii_alphanumeric()).find(|word| {
        word.len() == 10 && word.chars().take(6).all(|c| c.is_ascii_uppercase()) && word.ends_with(char::is_numeric)
    });
    found.unwrap_or_else(|| panic!("no code in {text:?}")).to_string()
}

fn attribute(entity: &Value, uid: &str) -> Option<String> {
    entity["attributes"].as_array()?.iter().find(|a| a["attribute"] == uid).map(|a| a["value"].as_str().unwrap().into())
}

/// Nothing a person typed reached DHIS2, in any request.
fn assert_no_answer_sent(fake: &FakeDhis2) {
    for request in fake.requests() {
        let sent = format!("{} {:?} {}", request.path, request.query, request.body.clone().unwrap_or_default());
        let sent = sent.to_uppercase();
        for typed in ["MBENGUE", "IBRAHIMA", "DAKAR", "1997", "+243"] {
            assert!(!sent.contains(typed), "{typed} sent to DHIS2: {sent}");
        }
    }
}

#[tokio::test]
async fn a_new_code_is_one_tracked_entity_enrolled_in_the_program_and_the_same_answers_add_nothing() {
    let fake = FakeDhis2::start();
    let server = server(&fake, &[]).await;
    let reply = server.conversation(&phone(1), &answers("1")).await;
    let uic = code_in(&reply.text());
    assert_eq!(uic, "MBEIBR7DA1");

    let RegistrationState::Registered { tracked_entity } = settled(&server, &uic).await else {
        panic!("{uic} not registered: {:?}", record(&server, &uic).await.registration)
    };
    assert!(is_uid(&tracked_entity), "{tracked_entity}");
    let entities = fake.tracked_entity_with(UIC_ATTRIBUTE, &uic);
    assert_eq!(entities.len(), 1, "{entities:?}");
    let entity = &entities[0];
    assert_eq!(entity["trackedEntity"], tracked_entity.as_str());
    assert_eq!(entity["trackedEntityType"], TRACKED_ENTITY_TYPE);
    assert_eq!(entity["orgUnit"], ORG_UNIT);
    assert_eq!(entity["attributes"].as_array().unwrap().len(), 1, "the code alone: {entity}");
    let enrollments = entity["enrollments"].as_array().expect("enrolled");
    assert_eq!(enrollments.len(), 1);
    assert_eq!((&enrollments[0]["program"], &enrollments[0]["orgUnit"]), (&PROGRAM.into(), &ORG_UNIT.into()));

    // The same answers again, from another phone: the same code, nothing new in DHIS2.
    let imports = fake.imports().len();
    let again = server.conversation(&phone(2), &answers("homme")).await;
    assert_eq!(code_in(&again.text()), uic);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.imports().len(), imports, "no second import");
    assert_eq!(fake.tracked_entity_with(UIC_ATTRIBUTE, &uic).len(), 1);
    let jobs = server.state.conversations.store().list_jobs(JobFilter::All, 100).await.unwrap();
    assert_eq!(jobs.iter().filter(|job| job.kind == "dhis2").count(), 1, "one registration job: {jobs:?}");
    fake.assert_no_violations();
    assert_no_answer_sent(&fake);

    // Each request authenticated with the token, as DHIS2 documents it.
    assert!(fake.requests().iter().all(|r| r.authorization.as_deref() == Some(&format!("ApiToken {}", dhis2::TOKEN))));
}

#[tokio::test]
async fn dhis2_down_does_not_delay_the_code_and_registration_follows_when_it_returns() {
    let fake = FakeDhis2::start();
    fake.fail_next_search(2, Fault::Status(503));
    fake.fail_next_search(1, Fault::Html(502));
    fake.fail_next_search(1, Fault::EmptyBody(500));
    fake.fail_next_import(1, Fault::Status(429));
    fake.fail_next_import(1, Fault::Html(504));
    let server = server(&fake, &[]).await;
    let started = std::time::Instant::now();
    let reply = server.conversation(&phone(3), &answers("2")).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the person waited {:?}", started.elapsed());
    let uic = code_in(&reply.text());
    assert!(matches!(settled(&server, &uic).await, RegistrationState::Registered { .. }));
    assert_eq!(fake.tracked_entity_with(UIC_ATTRIBUTE, &uic).len(), 1);
    let job = server.state.conversations.store().list_jobs(JobFilter::All, 10).await.unwrap();
    assert!(job.iter().any(|job| job.kind == "dhis2" && job.status == JobStatus::Done && job.attempts >= 5), "{job:?}");
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_response_lost_after_commit_is_retried_as_an_update_never_a_duplicate() {
    let fake = FakeDhis2::start();
    fake.fail_next_import(1, Fault::DropAfterCommit);
    let server = server(&fake, &[("DHIS2_TIMEOUT_SECONDS", "1")]).await;
    let uic = code_in(&server.conversation(&phone(4), &answers("1")).await.text());
    let RegistrationState::Registered { tracked_entity } = settled(&server, &uic).await else { panic!() };
    let entities = fake.tracked_entity_with(UIC_ATTRIBUTE, &uic);
    assert_eq!(entities.len(), 1, "{entities:?}");
    assert_eq!(entities[0]["trackedEntity"], tracked_entity.as_str());
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_report_naming_another_record_is_not_taken_for_success() {
    let fake = FakeDhis2::start();
    fake.fail_next_import(1, Fault::ReportForOtherUid);
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(5), &answers("1")).await.text());
    let RegistrationState::Registered { tracked_entity } = settled(&server, &uic).await else { panic!() };
    let entities = fake.tracked_entity_with(UIC_ATTRIBUTE, &uic);
    assert_eq!(entities.len(), 1);
    assert_eq!(entities[0]["trackedEntity"], tracked_entity.as_str(), "found again by the search");
}

#[tokio::test]
async fn a_code_a_clinic_registered_already_is_linked_not_imported() {
    let fake = FakeDhis2::start();
    fake.seed_tracked_entity("ClinicTe001", "mbeibr7da1");
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(6), &answers("1")).await.text());
    assert_eq!(settled(&server, &uic).await, RegistrationState::Registered { tracked_entity: "ClinicTe001".into() });
    assert!(fake.imports().is_empty(), "nothing imported");
}

#[tokio::test]
async fn another_record_taking_the_code_between_search_and_import_is_linked() {
    let fake = FakeDhis2::start();
    // The import waits a moment; the test makes a clinic's record meanwhile.
    fake.fail_next_import(1, Fault::Delay(Duration::from_millis(600)));
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(7), &answers("1")).await.text());
    let deadline = tokio::time::Instant::now() + WAIT;
    while fake.searches() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    fake.seed_tracked_entity("ClinicTe002", &uic);
    assert_eq!(settled(&server, &uic).await, RegistrationState::Registered { tracked_entity: "ClinicTe002".into() });
    let refused = fake.requests().into_iter().filter(|r| r.status == 409).count();
    assert_eq!(refused, 1, "the import met E1064");
    assert_eq!(fake.tracked_entity_with(UIC_ATTRIBUTE, &uic).len(), 1);
}

#[tokio::test]
async fn a_refused_token_stops_at_once_and_health_says_so() {
    let fake = FakeDhis2::start();
    fake.set_token("d2pat_someoneelsestokenXXXXXXXXXXXX0000000000");
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(8), &answers("1")).await.text());
    let RegistrationState::Failed { error } = settled(&server, &uic).await else { panic!() };
    assert!(error.starts_with("token refused (HTTP 401)"), "{error}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tried = fake.requests().iter().filter(|r| r.path.contains("/tracker")).count();
    assert!(tried <= 2, "no retry storm: {tried} tracker requests");
    let health: Value = server.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["dhis2"]["status"], "token_refused", "{health}");
    let dead = server.state.conversations.store().list_jobs(JobStatus::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.as_deref().unwrap().contains("token refused"));
}

#[tokio::test]
async fn a_validation_error_is_kept_with_its_code_and_never_retried() {
    let fake = FakeDhis2::start();
    fake.remove_org_unit_from_program(ORG_UNIT);
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(9), &answers("1")).await.text());
    let RegistrationState::Failed { error } = settled(&server, &uic).await else { panic!() };
    assert!(error.starts_with("E1041"), "{error}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.imports().len(), 1, "not retried");
    assert!(fake.tracked_entities().is_empty());
    let health: Value = server.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "healthy", "{health}");
}

#[tokio::test]
async fn a_200_with_an_error_report_is_a_failure_not_a_success() {
    let fake = FakeDhis2::start();
    fake.fail_next_import(1, Fault::OkWithError);
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(10), &answers("1")).await.text());
    let RegistrationState::Failed { error } = settled(&server, &uic).await else { panic!() };
    assert!(error.starts_with("E1000"), "{error}");
}

#[tokio::test]
async fn a_2_39_server_is_searched_and_imported_in_its_own_shape() {
    let fake = FakeDhis2::start_version("2.39.2");
    let server = server(&fake, &[]).await;
    let uic = code_in(&server.conversation(&phone(11), &answers("1")).await.text());
    assert!(matches!(settled(&server, &uic).await, RegistrationState::Registered { .. }));
    let search = fake.requests().into_iter().find(|r| r.path.contains("trackedEntities")).unwrap();
    assert!(search.param("ouMode").is_some() && search.param("orgUnitMode").is_none(), "{:?}", search.query);
    fake.assert_no_violations();
}

#[tokio::test]
async fn basic_authentication_works_as_well() {
    let fake = FakeDhis2::start();
    let server = server(
        &fake,
        &[("DHIS2_API_TOKEN", ""), ("DHIS2_API_USERNAME", dhis2::USERNAME), ("DHIS2_API_PASSWORD", dhis2::PASSWORD)],
    )
    .await;
    let uic = code_in(&server.conversation(&phone(12), &answers("1")).await.text());
    assert!(matches!(settled(&server, &uic).await, RegistrationState::Registered { .. }));
    assert!(fake.requests().iter().all(|r| r.authorization.as_deref().is_some_and(|a| a.starts_with("Basic "))));
}

#[tokio::test]
async fn thirty_people_at_once_each_code_registered_exactly_once() {
    let fake = FakeDhis2::start();
    let server = std::sync::Arc::new(server(&fake, &[]).await);
    let surnames = ["Mbengue", "Kabila", "Tshisekedi", "Lumumba", "Mobutu", "Kasavubu"];
    let firsts = ["Ibrahima", "Marie", "Joseph", "Patrice", "Grace"];
    let mut people = Vec::new();
    for (i, (last, first)) in surnames.iter().flat_map(|l| firsts.iter().map(move |f| (l, f))).enumerate() {
        let server = server.clone();
        let texts =
            ["Bonjour".to_string(), last.to_string(), first.to_string(), "1990".into(), "Kinshasa".into(), "1".into()];
        people.push(tokio::spawn(async move {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            code_in(&server.conversation(&phone(100 + i as u32), &texts).await.text())
        }));
    }
    let mut codes = Vec::new();
    for person in people {
        codes.push(person.await.unwrap());
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 30, "thirty different codes");
    fake.wait_for_tracked_entities(30, WAIT).await;
    for code in &codes {
        assert!(matches!(settled(&server, code).await, RegistrationState::Registered { .. }));
        assert_eq!(fake.tracked_entity_with(UIC_ATTRIBUTE, code).len(), 1, "{code}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.tracked_entities().len(), 30);
    fake.assert_no_violations();
}

/// The DRC flow with a `dhis2:` block: the gender choice mapped, the org unit chosen by it.
fn flows_with_mapping(dir: &std::path::Path) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    for name in ["drc-ln.yaml", "legacy.yaml"] {
        std::fs::copy(root.join("flows").join(name), flows.join(name)).unwrap();
    }
    let drc = std::fs::read_to_string(root.join("flows/drc-fr.yaml")).unwrap();
    let block = format!(
        "\ndhis2:\n  org_unit:\n    from: gender\n    lookup:\n      \"1\": {ORG_UNIT}\n    default: {OTHER_ORG_UNIT}\n  attributes:\n    {GENDER_ATTRIBUTE}: '{{\"1\": \"M\", \"2\": \"F\"}}[gender] | default(\"X\")'\n"
    );
    std::fs::write(flows.join("drc-fr.yaml"), drc + &block).unwrap();
    flows
}

#[tokio::test]
async fn a_flows_mapping_sends_the_gender_choice_and_picks_the_org_unit() {
    let fake = FakeDhis2::start();
    // The org unit of women: in the program too, for this test.
    let dir = tempfile::tempdir().unwrap();
    let flows = flows_with_mapping(dir.path());
    let flows = flows.display().to_string();
    let server = server(&fake, &[("FLOWS_DIR", &flows)]).await;
    let uic = code_in(&server.conversation(&phone(13), &answers("1")).await.text());
    assert!(matches!(settled(&server, &uic).await, RegistrationState::Registered { .. }));
    let entity = &fake.tracked_entity_with(UIC_ATTRIBUTE, &uic)[0];
    assert_eq!(attribute(entity, GENDER_ATTRIBUTE).as_deref(), Some("M"));
    assert_eq!(entity["orgUnit"], ORG_UNIT);

    // A woman's org unit is the lookup's default, which is not in the program: DHIS2 says so.
    let uic = code_in(&server.conversation(&phone(14), &answers("2")).await.text());
    let RegistrationState::Failed { error } = settled(&server, &uic).await else { panic!() };
    assert!(error.contains("E1041"), "{error}");
    let sent = fake.imports().last().cloned().unwrap();
    assert_eq!(sent["trackedEntities"][0]["orgUnit"], OTHER_ORG_UNIT);
    assert_no_answer_sent(&fake);
}

/// `uic` run as an operator runs it, in `dir`, with only `vars` set.
fn uic_command(dir: &std::path::Path, vars: &[(&str, String)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_uic"));
    command.args(["dhis2", "resync"]).current_dir(dir).env_clear();
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("uic runs")
}

#[tokio::test]
async fn resync_queues_codes_issued_before_dhis2_and_revives_refused_ones() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("shared.db").display());
    // A code issued while registration was off.
    let before = TestServer::start_with(&[("DATABASE_URL", &database_url)]).await;
    let early = code_in(&before.conversation(&phone(20), &answers("1")).await.text());
    before.stop().await.unwrap();

    // Registration on, with a token DHIS2 refuses: the next code fails.
    let fake = FakeDhis2::start();
    fake.set_token("d2pat_revokedtokenXXXXXXXXXXXXXXXXXXX0000000000");
    let server = server(&fake, &[("DATABASE_URL", &database_url)]).await;
    assert_eq!(record(&server, &early).await.registration, None, "issued while registration was off");
    let refused = code_in(&server.conversation(&phone(21), &answers("2")).await.text());
    assert!(matches!(settled(&server, &refused).await, RegistrationState::Failed { .. }));

    // The token is mended; the operator resyncs from the server's folder.
    fake.set_token(dhis2::TOKEN);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut vars = dhis2_vars(&fake);
    vars.push(("DATABASE_URL", database_url.clone()));
    vars.push(("FLOWS_DIR", root.join("flows").display().to_string()));
    vars.push(("LOCALES_DIR", root.join("locales").display().to_string()));
    let output = uic_command(dir.path(), &vars);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("1 revived, 1 queued anew, 0 already on their way"), "{stdout}");

    for uic in [&early, &refused] {
        assert!(matches!(settled(&server, uic).await, RegistrationState::Registered { .. }), "{uic}");
        assert_eq!(fake.tracked_entity_with(UIC_ATTRIBUTE, uic).len(), 1, "{uic}");
    }
    // Again: nothing left to do.
    let again = uic_command(dir.path(), &vars);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("0 revived, 0 queued anew"));
    fake.assert_no_violations();
}

#[tokio::test]
async fn two_servers_on_one_postgres_register_each_code_once() {
    use crate::support::db::{Backend, TestDb};
    use crate::support::process::ServerProcess;
    use crate::support::server::{AUTH_TOKEN, Message, form};
    use uic::channels::twilio::signature;

    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let fake = FakeDhis2::start();
    let dir = tempfile::tempdir().unwrap();
    let vars = dhis2_vars(&fake);
    let first = ServerProcess::start_with(dir.path(), &db.url, &vars).await;
    let second = ServerProcess::start_with(dir.path(), &db.url, &vars).await;
    let client = crate::support::http_client().timeout(Duration::from_secs(10)).build().unwrap();
    let say = move |base: String, phone: String, text: String| {
        let client = client.clone();
        async move {
            let params = Message::text(&phone, &text).params();
            let url = format!("{base}/whatsapp/webhook");
            let response = client
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", signature(AUTH_TOKEN, &url, &params))
                .body(form(&params))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    // Twelve people, each answering through both servers in turn; every two of
    // them give the same answers, so six codes, each asked for twice.
    let mut people = Vec::new();
    for person in 0..12u32 {
        let bases = [first.base.clone(), second.base.clone()];
        let say = say.clone();
        let surname = ["Mbengue", "Kabila", "Lumumba", "Mobutu", "Kasavubu", "Tshombe"][(person / 2) as usize];
        people.push(tokio::spawn(async move {
            let mut last = String::new();
            for (i, text) in ["Bonjour", surname, "Marie", "1990", "Kinshasa", "2"].iter().enumerate() {
                last = say(bases[(i + person as usize) % 2].clone(), phone(300 + person), text.to_string()).await;
            }
            code_in(&last)
        }));
    }
    let mut codes = Vec::new();
    for person in people {
        codes.push(person.await.unwrap());
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 6, "{codes:?}");
    fake.wait_for_tracked_entities(6, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for code in &codes {
        assert_eq!(fake.tracked_entity_with(UIC_ATTRIBUTE, code).len(), 1, "{code}");
    }
    assert_eq!(fake.tracked_entities().len(), 6);
    assert_eq!(fake.imports().len(), 6, "one import per code, by one of the servers");
    let states = db.text_rows("SELECT dhis2_status FROM uic_records").await;
    assert_eq!(states.len(), 6);
    assert!(format!("{states:?}").matches("registered").count() == 6, "{states:?}");
    fake.assert_no_violations();
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn serve_refuses_to_start_when_nothing_gives_a_flow_its_program() {
    let fake = FakeDhis2::start();
    let mut vars: std::collections::HashMap<String, String> =
        dhis2_vars(&fake).into_iter().map(|(name, value)| (name.to_string(), value)).collect();
    vars.remove("DHIS2_PROGRAM");
    let dir = tempfile::tempdir().unwrap();
    vars.insert("DATA_DIR".into(), dir.path().display().to_string());
    vars.insert("PORT".into(), "0".into());
    let config = uic::config::Config::from_vars(|name| vars.get(name).cloned()).unwrap();
    let Err(error) = uic::app::startup::Application::build(config).await else { panic!("the server started") };
    let error = format!("{error:#}");
    assert!(error.starts_with("DHIS2_BASE_URL is set, but:\nflow `drc-fr` registers its codes in DHIS2 but nothing gives its DHIS2_PROGRAM"), "{error}");
}
