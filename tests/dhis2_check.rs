//! `uic dhis2 check` as an operator runs it, against the fake DHIS2: the
//! report when all is right, one line naming the variable and the UID for
//! each problem. And the client the check and the outbox share, on both API
//! generations: search, import, retries and the answers that confirm nothing.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use uic::config::{Dhis2Auth, Dhis2Config, Secret};
use uic::core::dhis2::{AttributeValue, RegistrationJob, Target};
use uic::integrations::dhis2::{ApiError, Dhis2Client, ImportError, ImportOutcome};

use crate::support::dhis2::{
    FakeDhis2, Fault, GENDER_ATTRIBUTE, MetadataKind, ORG_UNIT, OTHER_ORG_UNIT, PASSWORD, PROGRAM, TOKEN,
    TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, USERNAME,
};

struct Run {
    stdout: String,
    stderr: String,
    ok: bool,
}

/// The DHIS2 variables of a deployment registering into the fake.
fn variables(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DHIS2_BASE_URL", base.to_string()),
        ("DHIS2_API_TOKEN", TOKEN.to_string()),
        ("DHIS2_PROGRAM", PROGRAM.to_string()),
        ("DHIS2_ORG_UNIT", ORG_UNIT.to_string()),
        ("DHIS2_TRACKED_ENTITY_TYPE", TRACKED_ENTITY_TYPE.to_string()),
        ("DHIS2_UIC_ATTRIBUTE", UIC_ATTRIBUTE.to_string()),
    ]
}

fn with(mut vars: Vec<(&'static str, String)>, name: &'static str, value: Option<&str>) -> Vec<(&'static str, String)> {
    vars.retain(|(var, _)| *var != name);
    if let Some(value) = value {
        vars.push((name, value.to_string()));
    }
    vars
}

/// `uic dhis2 check` with only `vars` (and the project's flows) in its
/// environment, in an empty folder (no `.env`).
async fn check(vars: &[(&'static str, String)]) -> Run {
    check_flows(vars, &Path::new(env!("CARGO_MANIFEST_DIR")).join("flows")).await
}

/// [`check`] with the flows of `flows`.
async fn check_flows(vars: &[(&'static str, String)], flows: &Path) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uic"));
    command
        .args(["dhis2", "check"])
        .current_dir(dir.path())
        .env_clear()
        .env("FLOWS_DIR", flows)
        .env("LOCALES_DIR", root.join("locales"));
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("uic dhis2 check ends")
        .expect("uic runs");
    let run = Run {
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        ok: output.status.success(),
    };
    for secret in [TOKEN, PASSWORD] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret printed:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// The problem lines (stderr without its count).
fn problems(run: &Run) -> Vec<&str> {
    assert!(!run.ok, "expected problems:\n{}", run.stdout);
    run.stderr.lines().filter(|line| !line.ends_with("problem(s)")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn all_right_is_a_short_report_naming_each_object() {
    let dhis2 = FakeDhis2::start();
    let run = check(&variables(&dhis2.base)).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, "");
    let expected = format!(
        "server {}: DHIS2 2.42.1 (tracker API of 2.41 and later)\n\
         user uic-bot (UIC Bot)\n\
         DHIS2_* defaults:\n  \
         program UicRegProg1 (UIC registration), a tracker program\n  \
         tracked entity type PersonTet01 (Person)\n  \
         UIC attribute UicCodeAtt1 (Unique Identifier Code), unique, of the tracked entity type\n  \
         org unit KinshasaHC1 (Kinshasa Health Centre), assigned to the program\n\
         ok: DHIS2 is ready to register codes\n",
        dhis2.base
    );
    assert_eq!(run.stdout, expected);
    // Each request carried the token; none wrote anything.
    let requests = dhis2.requests();
    assert!(
        requests.iter().all(|r| r.method == "GET" && r.authorization.as_deref() == Some(&format!("ApiToken {TOKEN}")))
    );
    dhis2.assert_no_violations();
}

/// A draft that fails lint is not served, so it registers nothing: the
/// served flows are checked, and the draft is named as left out.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_draft_flow_is_left_out_and_the_others_are_checked() {
    let dhis2 = FakeDhis2::start();
    let flows = tempfile::tempdir().unwrap();
    crate::support::copy_shipped_flows(flows.path());
    std::fs::write(flows.path().join("draft.yaml"), "id: draft\nversion: one\n").unwrap();
    let run = check_flows(&variables(&dhis2.base), flows.path()).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("draft.yaml is left out: it does not pass `uic lint`"), "{}", run.stderr);
    assert!(run.stdout.ends_with("ok: DHIS2 is ready to register codes\n"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2_39_server_and_basic_authentication_work_too() {
    let dhis2 = FakeDhis2::start_version("2.39.2");
    let vars = with(variables(&dhis2.base), "DHIS2_API_TOKEN", None);
    let vars = with(with(vars, "DHIS2_API_USERNAME", Some(USERNAME)), "DHIS2_API_PASSWORD", Some(PASSWORD));
    let run = check(&vars).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(": DHIS2 2.39.2 (tracker API of 2.38 to 2.40)\n"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_name_their_variable() {
    let dhis2 = FakeDhis2::start();
    let wrong = with(variables(&dhis2.base), "DHIS2_API_TOKEN", Some("d2pat_wrongwrongwrong0000000000001234567890"));
    assert_eq!(problems(&check(&wrong).await), ["DHIS2_API_TOKEN: token refused (HTTP 401)"]);
    let basic = with(variables(&dhis2.base), "DHIS2_API_TOKEN", None);
    let basic = with(with(basic, "DHIS2_API_USERNAME", Some(USERNAME)), "DHIS2_API_PASSWORD", Some("not-it"));
    assert_eq!(problems(&check(&basic).await), ["DHIS2_API_USERNAME: user name or password refused (HTTP 401)"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_program_is_named_with_its_uid() {
    let dhis2 = FakeDhis2::start();
    let run = check(&with(variables(&dhis2.base), "DHIS2_PROGRAM", Some("XXXXXXXXXXX"))).await;
    assert_eq!(problems(&run), ["DHIS2_PROGRAM: no program with id XXXXXXXXXXX"]);
    // What could be confirmed still is.
    assert!(run.stdout.contains("tracked entity type PersonTet01 (Person)"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attribute_that_is_not_unique_is_refused() {
    let dhis2 = FakeDhis2::start();
    dhis2.set_attribute_unique(UIC_ATTRIBUTE, false);
    let run = check(&variables(&dhis2.base)).await;
    assert_eq!(
        problems(&run),
        [
            "DHIS2_UIC_ATTRIBUTE: attribute UicCodeAtt1 (Unique Identifier Code) is not unique: DHIS2 would let two clients share a code"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_unit_outside_the_program_is_refused() {
    let dhis2 = FakeDhis2::start();
    let run = check(&with(variables(&dhis2.base), "DHIS2_ORG_UNIT", Some(OTHER_ORG_UNIT))).await;
    assert_eq!(
        problems(&run),
        [
            "DHIS2_ORG_UNIT: org unit LubumbaHC02 (Lubumbashi Health Centre) is not assigned to program UicRegProg1 (UIC registration)"
        ]
    );
    dhis2.remove_org_unit_from_program(ORG_UNIT);
    let run = check(&variables(&dhis2.base)).await;
    assert_eq!(
        problems(&run),
        [
            "DHIS2_ORG_UNIT: org unit KinshasaHC1 (Kinshasa Health Centre) is not assigned to program UicRegProg1 (UIC registration)"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_that_do_not_fit_together_are_each_one_line() {
    let dhis2 = FakeDhis2::start();
    // An attribute of neither the type nor the program, and an event program.
    let stray = serde_json::json!({"id": "StrayAttr01", "name": "Stray", "unique": true, "valueType": "TEXT"});
    dhis2.put_metadata(MetadataKind::TrackedEntityAttribute, stray);
    let events = serde_json::json!({"id": "EventProg01", "name": "Events", "programType": "WITHOUT_REGISTRATION",
        "organisationUnits": [{"id": ORG_UNIT}]});
    dhis2.put_metadata(MetadataKind::Program, events);
    let vars = with(variables(&dhis2.base), "DHIS2_UIC_ATTRIBUTE", Some("StrayAttr01"));
    let vars = with(vars, "DHIS2_PROGRAM", Some("EventProg01"));
    let vars = with(vars, "DHIS2_TRACKED_ENTITY_TYPE", Some("NoSuchTet01"));
    assert_eq!(
        problems(&check(&vars).await),
        [
            "DHIS2_PROGRAM: program EventProg01 (Events) is not a tracker program (programType WITHOUT_REGISTRATION): enrollments need WITH_REGISTRATION",
            "DHIS2_TRACKED_ENTITY_TYPE: no tracked entity type with id NoSuchTet01",
            "DHIS2_UIC_ATTRIBUTE: attribute StrayAttr01 (Stray) does not belong to program EventProg01 (Events)",
        ]
    );
    // The gender attribute is the program's: fine as a mapped attribute, not as the code's,
    // which is searched by tracked entity type.
    let run = check(&with(variables(&dhis2.base), "DHIS2_UIC_ATTRIBUTE", Some(GENDER_ATTRIBUTE))).await;
    assert_eq!(
        problems(&run),
        [
            "DHIS2_UIC_ATTRIBUTE: attribute GenderAttr1 (Gender) is not unique: DHIS2 would let two clients share a code",
            "DHIS2_UIC_ATTRIBUTE: attribute GenderAttr1 (Gender) belongs to the program only: codes are searched by tracked entity type, so it must be an attribute of the type",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_part_is_named() {
    let dhis2 = FakeDhis2::start();
    let run = check(&with(variables(&dhis2.base), "DHIS2_TRACKED_ENTITY_TYPE", None)).await;
    assert_eq!(problems(&run), ["DHIS2_TRACKED_ENTITY_TYPE: not set"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_named_with_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let run = check(&variables(&base)).await;
    assert_eq!(problems(&run), [format!("DHIS2_BASE_URL: cannot reach {base}: connection refused")]);
    assert_eq!(run.stdout, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wrong_address_or_an_old_version_is_named() {
    // DHIS2 under /dhis, the variable without it.
    let dhis2 = FakeDhis2::start_under("2.42.1", "/dhis");
    let root = dhis2.base.trim_end_matches("/dhis").to_string();
    assert_eq!(
        problems(&check(&variables(&root)).await),
        [format!("DHIS2_BASE_URL: {root} has no DHIS2 API (HTTP 404): is its context path part of the URL?")]
    );
    assert!(check(&variables(&dhis2.base)).await.ok, "with the context path it works");
    let old = FakeDhis2::start_version("2.37.9");
    assert_eq!(
        problems(&check(&variables(&old.base)).await),
        ["DHIS2_BASE_URL: DHIS2 2.37 is not supported (2.38 or later)"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_base_url_there_is_nothing_to_check() {
    let run = check(&with(variables("http://unused"), "DHIS2_BASE_URL", None)).await;
    assert!(!run.ok);
    assert!(run.stderr.contains("DHIS2_BASE_URL is not set"), "{}", run.stderr);
}

// ---- The client ------------------------------------------------------------

fn config(base: &str, timeout_seconds: u32) -> Dhis2Config {
    Dhis2Config {
        base_url: base.to_string(),
        auth: Dhis2Auth::Token(Secret::from(TOKEN.to_string())),
        defaults: Target::default(),
        timeout_seconds,
    }
}

fn job(uic: &str, tracked_entity: &str, enrollment: &str) -> RegistrationJob {
    RegistrationJob {
        uic: uic.to_string(),
        tracked_entity: tracked_entity.to_string(),
        enrollment: enrollment.to_string(),
        program: PROGRAM.to_string(),
        org_unit: ORG_UNIT.to_string(),
        tracked_entity_type: TRACKED_ENTITY_TYPE.to_string(),
        uic_attribute: UIC_ATTRIBUTE.to_string(),
        attributes: vec![AttributeValue { attribute: GENDER_ATTRIBUTE.to_string(), value: "F".to_string() }],
        enrolled_at: NaiveDate::from_ymd_opt(2026, 3, 14).unwrap(),
    }
}

fn transient<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
    match result {
        Err(ApiError::Transient(description)) => description,
        other => panic!("not transient: {other:?}"),
    }
}

#[tokio::test]
async fn the_client_searches_and_imports_on_both_generations() {
    for version in ["2.42.1", "2.40.3", "2.39.2", "2.38.0"] {
        let dhis2 = FakeDhis2::start_version(version);
        let client = Dhis2Client::new(&config(&dhis2.base, 5)).unwrap();
        dhis2.seed_tracked_entity("ClinicTe001", "mbeibr7da1");
        assert_eq!(
            client.find_by_code(TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, "MBEIBR7DA1").await,
            Ok(vec!["ClinicTe001".to_string()])
        );
        assert_eq!(client.find_by_code(TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, "NOTHERE").await, Ok(vec![]));
        // A code with the characters a filter must escape.
        assert_eq!(client.find_by_code(TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, "A:B,C/D").await, Ok(vec![]));

        let first = job("KAB1985F", "OurTe000001", "OurEnr00001");
        assert_eq!(client.import(&first).await, Ok(ImportOutcome::Imported), "{version}");
        // A retry (the answer lost, say) updates the same objects.
        assert_eq!(client.import(&first).await, Ok(ImportOutcome::Imported), "{version}");
        assert_eq!(dhis2.tracked_entity_with(UIC_ATTRIBUTE, "KAB1985F").len(), 1);
        assert_eq!(
            client.find_by_code(TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, "kab1985f").await,
            Ok(vec!["OurTe000001".to_string()])
        );

        // Another tracked entity with the same code: DHIS2 refuses it, E1064.
        let Ok(ImportOutcome::Refused(errors)) = client.import(&job("KAB1985F", "OtherTe0001", "OtherEn0001")).await
        else {
            panic!("{version}: a second holder of the code is refused");
        };
        // With E5000 for the enrollment, which falls with its tracked entity.
        let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
        assert!(codes.contains(&ImportError::NON_UNIQUE), "{version}: {codes:?}");

        let generation = client.generation().await.unwrap();
        let mode = if version.starts_with("2.42") { "orgUnitMode" } else { "ouMode" };
        assert_eq!(generation.org_unit_mode_parameter(), mode);
        let searches: Vec<_> = dhis2.requests().into_iter().filter(|r| r.path.ends_with("/trackedEntities")).collect();
        assert!(searches.iter().all(|r| r.param(mode) == Some("ACCESSIBLE")), "{version}");
        assert!(searches.iter().any(|r| r.param("filter") == Some("UicCodeAtt1:eq:A/:B/,C//D")), "{version}");
        // system/info once: the generation is remembered.
        assert_eq!(dhis2.requests().iter().filter(|r| r.path.ends_with("/system/info")).count(), 1);
        dhis2.assert_no_violations();
    }
}

#[tokio::test]
async fn answers_that_confirm_nothing_are_transient_and_a_retry_does_not_duplicate() {
    let dhis2 = FakeDhis2::start();
    let client = Dhis2Client::new(&config(&dhis2.base, 1)).unwrap();
    let ours = job("MBEIBR7DA1", "OurTe000001", "OurEnr00001");

    dhis2.fail_next_import(1, Fault::Html(502));
    assert_eq!(transient(client.import(&ours).await), "HTTP 502: an HTML page");
    dhis2.fail_next_import(1, Fault::Status(503));
    assert_eq!(transient(client.import(&ours).await), "HTTP 503: an answer that is not JSON");
    dhis2.fail_next_import(1, Fault::EmptyBody(200));
    assert_eq!(transient(client.import(&ours).await), "an empty answer (HTTP 200)");
    dhis2.fail_next_import(1, Fault::Status(429));
    assert_eq!(transient(client.import(&ours).await), "HTTP 429: Too Many Requests");
    dhis2.fail_next_search(1, Fault::Html(504));
    assert_eq!(
        transient(client.find_by_code(TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, "MBEIBR7DA1").await),
        "HTTP 504: an HTML page"
    );
    assert!(dhis2.tracked_entities().is_empty());

    // Committed, then the report names other UIDs: not a confirmation.
    dhis2.fail_next_import(1, Fault::ReportForOtherUid);
    let other = transient(client.import(&ours).await);
    assert!(
        other.starts_with("the import report names tracked entity ") && other.ends_with(", not OurTe000001"),
        "{other}"
    );
    // Committed, then no answer: the client gives up; the retry updates.
    dhis2.fail_next_import(1, Fault::DropAfterCommit);
    assert_eq!(transient(client.import(&ours).await), "no answer within 1 s");
    assert_eq!(client.import(&ours).await, Ok(ImportOutcome::Imported));
    assert_eq!(dhis2.tracked_entities().len(), 1, "one tracked entity whatever happened");

    // A 200 whose report says ERROR is a refusal with DHIS2's code.
    dhis2.fail_next_import(1, Fault::OkWithError);
    let Ok(ImportOutcome::Refused(errors)) = client.import(&job("OTHER1", "OtherTe0001", "OtherEn0001")).await else {
        panic!("a 200 with status ERROR is a refusal");
    };
    assert_eq!(errors[0].code, "E1000");

    dhis2.set_token("d2pat_rotated");
    assert_eq!(client.import(&ours).await, Err(ApiError::TokenRefused { status: 401 }));
    assert_eq!(
        client.find_by_code(TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, "MBEIBR7DA1").await,
        Err(ApiError::TokenRefused { status: 401 })
    );
    dhis2.assert_no_violations();
}
