//! The fake DHIS2 itself ([`crate::support::dhis2`]), over real HTTP: that it
//! authenticates, searches, imports and fails as DHIS2 does, so that tests of
//! the app against it mean something. And the import schema
//! ([`crate::support::dhis2_schema`]): real bodies pass, mistakes fail.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::dhis2::{
    FakeDhis2, Fault, GENDER_ATTRIBUTE, MetadataKind, ORG_UNIT, OTHER_ORG_UNIT, PASSWORD, PROGRAM, TOKEN,
    TRACKED_ENTITY_TYPE, UIC_ATTRIBUTE, USERNAME,
};
use crate::support::dhis2_schema::{validate_import, validate_import_as_shipped};

/// A person as the app registers them: a tracked entity holding the UIC,
/// enrolled in the program with the gender as a program attribute.
fn person(entity: &str, enrollment: &str, uic: &str) -> Value {
    json!({"trackedEntities": [{
        "trackedEntity": entity,
        "trackedEntityType": TRACKED_ENTITY_TYPE,
        "orgUnit": ORG_UNIT,
        "attributes": [{"attribute": UIC_ATTRIBUTE, "value": uic}],
        "enrollments": [{
            "enrollment": enrollment,
            "program": PROGRAM,
            "orgUnit": ORG_UNIT,
            "enrolledAt": "2026-03-14T09:00:00.000",
            "occurredAt": "2026-03-14",
            "trackedEntity": entity,
            "attributes": [{"attribute": GENDER_ATTRIBUTE, "value": "F"}],
        }],
    }]})
}

mod schema {
    use super::*;

    #[test]
    fn a_registration_passes_and_needs_the_repairs() {
        assert_eq!(validate_import(&person("Pe000000001", "En000000001", "MBEIBR7DA1")), Ok(()));
        // As shipped, `valueType` and `status` are required: no real import passes.
        let errors = validate_import_as_shipped(&person("Pe000000001", "En000000001", "MBEIBR7DA1")).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("/trackedEntities/0/attributes/0") && e.contains("valueType")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("/trackedEntities/0/enrollments/0") && e.contains("status")),
            "{errors:?}"
        );
    }

    #[test]
    fn misspelled_fields_fail_at_their_path() {
        let mut body = person("Pe000000001", "En000000001", "MBEIBR7DA1");
        let entity = body["trackedEntities"][0].as_object_mut().unwrap();
        let unit = entity.remove("orgUnit").unwrap();
        entity.insert("orgUnt".into(), unit);
        let errors = validate_import(&body).unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("/trackedEntities/0: ") && e.contains("orgUnt")), "{errors:?}");
        // DHIS2 would ignore it, as the description leaves every object open.
        assert!(validate_import_as_shipped(&body).unwrap_err().iter().all(|e| !e.contains("orgUnt")));

        let nested = json!({"trackedEntities": [{"trackedEntty": "Pe000000001"}]});
        assert!(validate_import(&nested).unwrap_err()[0].contains("trackedEntty"));
        let top = json!({"trackedEntites": []});
        assert!(validate_import(&top).unwrap_err()[0].starts_with("/: "));
    }

    #[test]
    fn wrong_types_and_uids_fail() {
        let mut body = person("Pe000000001", "En000000001", "MBEIBR7DA1");
        body["trackedEntities"][0]["attributes"][0]["value"] = json!(42);
        let errors = validate_import(&body).unwrap_err();
        assert!(errors[0].starts_with("/trackedEntities/0/attributes/0/value: "), "{errors:?}");

        let attributes = json!({"trackedEntities": [{"attributes": {"attribute": UIC_ATTRIBUTE}}]});
        assert!(validate_import(&attributes).unwrap_err()[0].starts_with("/trackedEntities/0/attributes: "));
        // A UID starts with a letter.
        let errors = validate_import(&person("1e000000001", "En000000001", "MBEIBR7DA1")).unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("/trackedEntities/0/trackedEntity: ")), "{errors:?}");
    }
}

fn client() -> reqwest::Client {
    crate::support::http_client().timeout(Duration::from_secs(10)).build().expect("HTTP client builds")
}

/// `GET` with the PAT; (status, JSON or null).
async fn get(dhis2: &FakeDhis2, path: &str) -> (u16, Value) {
    let request = client().get(format!("{}{path}", dhis2.base)).header("Authorization", format!("ApiToken {TOKEN}"));
    answer(request.send().await.expect("GET")).await
}

/// `POST /api/tracker?<query>` with the PAT.
async fn import(dhis2: &FakeDhis2, query: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}/api/tracker?{query}", dhis2.base);
    let request = client().post(url).header("Authorization", format!("ApiToken {TOKEN}")).json(body);
    answer(request.send().await.expect("POST")).await
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn codes(report: &Value) -> Vec<&str> {
    let errors = report["validationReport"]["errorReports"].as_array().expect("error reports");
    errors.iter().map(|error| error["errorCode"].as_str().expect("a code")).collect()
}

#[tokio::test]
async fn a_token_or_basic_is_required() {
    let dhis2 = FakeDhis2::start();
    assert_eq!(TOKEN.len(), 6 + 32 + 10);
    assert_eq!(get(&dhis2, "/api/me").await.1["organisationUnits"], json!([{"id": ORG_UNIT}]));
    let basic = client().get(format!("{}/api/me/", dhis2.base)).basic_auth(USERNAME, Some(PASSWORD));
    let (status, me) = answer(basic.send().await.unwrap()).await;
    assert_eq!((status, me["username"].as_str()), (200, Some(USERNAME)));

    let unauthorized =
        json!({"httpStatus": "Unauthorized", "httpStatusCode": 401, "status": "ERROR", "message": "Unauthorized"});
    let bearer = client().get(format!("{}/api/me", dhis2.base)).bearer_auth(TOKEN);
    assert_eq!(answer(bearer.send().await.unwrap()).await, (401, unauthorized.clone()));
    let wrong = client().get(format!("{}/api/me", dhis2.base)).basic_auth(USERNAME, Some("district"));
    assert_eq!(answer(wrong.send().await.unwrap()).await, (401, unauthorized.clone()));
    dhis2.set_token("d2pat_revoked");
    assert_eq!(get(&dhis2, "/api/me").await, (401, unauthorized));

    // Ping answers anyone, in text.
    let ping = client().get(format!("{}/api/system/ping", dhis2.base)).send().await.unwrap();
    assert_eq!(ping.text().await.unwrap(), "pong");
    let recorded = dhis2.requests();
    assert_eq!(recorded[0].authorization.as_deref(), Some(format!("ApiToken {TOKEN}").as_str()));
    assert_eq!(recorded.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200, 401, 401, 401, 200]);
}

#[tokio::test]
async fn system_info_and_metadata_as_dhis2_shows_them() {
    let dhis2 = FakeDhis2::start_under("2.40.3", "/dhis");
    assert!(dhis2.base.ends_with("/dhis"));
    let (_, info) = get(&dhis2, "/api/system/info").await;
    assert_eq!((info["version"].as_str(), info["contextPath"].as_str()), (Some("2.40.3"), Some(dhis2.base.as_str())));
    let root = dhis2.base.trim_end_matches("/dhis").to_string();
    let outside = client().get(format!("{root}/api/system/info")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(outside.status(), 404);

    let (status, program) = get(&dhis2, &format!("/api/programs/{PROGRAM}?fields=id,name,programType")).await;
    assert_eq!((status, &program["programType"]), (200, &json!("WITH_REGISTRATION")));
    assert_eq!(program["trackedEntityType"]["id"], TRACKED_ENTITY_TYPE);
    assert_eq!(program["organisationUnits"], json!([{"id": ORG_UNIT}]));
    let (_, kind) = get(&dhis2, &format!("/api/trackedEntityTypes/{TRACKED_ENTITY_TYPE}.json")).await;
    assert_eq!(kind["trackedEntityTypeAttributes"][0]["trackedEntityAttribute"]["id"], UIC_ATTRIBUTE);
    let (_, uic) = get(&dhis2, &format!("/api/42/trackedEntityAttributes/{UIC_ATTRIBUTE}")).await;
    assert_eq!((&uic["unique"], &uic["valueType"]), (&json!(true), &json!("TEXT")));
    let (_, unit) = get(&dhis2, &format!("/api/organisationUnits/{OTHER_ORG_UNIT}")).await;
    assert_eq!(unit["path"], format!("/{OTHER_ORG_UNIT}"));

    let (status, missing) = get(&dhis2, "/api/programs/XYZ00000000").await;
    assert_eq!(status, 404);
    assert_eq!(missing["message"], "Program with id XYZ00000000 could not be found.");
    let (_, missing) = get(&dhis2, "/api/organisationUnits/XYZ00000000").await;
    assert_eq!(missing["message"], "OrganisationUnit with id XYZ00000000 could not be found.");
}

#[tokio::test]
async fn the_search_of_2_41_and_later() {
    let dhis2 = FakeDhis2::start();
    dhis2.seed_tracked_entity("Clinic00001", "MBEIBR7DA1");
    let query = format!("program={PROGRAM}&orgUnitMode=ACCESSIBLE&filter={UIC_ATTRIBUTE}:eq:mbeibr7da1");
    let (status, found) = get(&dhis2, &format!("/api/tracker/trackedEntities?{query}")).await;
    assert_eq!(status, 200);
    assert_eq!(found["pager"], json!({"page": 1, "pageSize": 50}));
    let entity = &found["trackedEntities"][0];
    assert_eq!((&entity["trackedEntity"], &entity["orgUnit"]), (&json!("Clinic00001"), &json!(ORG_UNIT)));
    assert_eq!(entity["attributes"][0]["value"], "MBEIBR7DA1");
    assert!(entity.get("enrollments").is_none(), "enrollments only when fields asks");
    let with = format!("/api/tracker/trackedEntities/?{query}&fields=trackedEntity,enrollments[enrollment,program]");
    assert_eq!(get(&dhis2, &with).await.1["trackedEntities"][0]["enrollments"][0]["program"], PROGRAM);

    // Selected org units; another one finds nobody; 2.42 defaults to ACCESSIBLE.
    let other = format!("trackedEntityType={TRACKED_ENTITY_TYPE}&orgUnits={OTHER_ORG_UNIT}");
    assert_eq!(get(&dhis2, &format!("/api/tracker/trackedEntities?{other}")).await.1["trackedEntities"], json!([]));
    let default = format!("/api/tracker/trackedEntities?program={PROGRAM}&filter={UIC_ATTRIBUTE}:eq:MBEIBR7DA1");
    assert_eq!(get(&dhis2, &default).await.1["trackedEntities"].as_array().unwrap().len(), 1);
    assert_eq!(get(&dhis2, "/api/tracker/trackedEntities/Clinic00001").await.1["trackedEntity"], "Clinic00001");
    assert_eq!(dhis2.searches(), 4);
    dhis2.assert_no_violations();

    // The older generation's names are refused, and kept as violations.
    let old = format!("/api/tracker/trackedEntities?program={PROGRAM}&ouMode=ACCESSIBLE");
    let (status, error) = get(&dhis2, &old).await;
    assert_eq!((status, &error["httpStatusCode"]), (400, &json!(400)));
    assert!(error["message"].as_str().unwrap().contains("ouMode"), "{error}");
    let (status, _) = get(&dhis2, "/api/tracker/trackedEntities?orgUnitMode=ACCESSIBLE").await;
    assert_eq!(status, 400, "program or trackedEntityType is required");
    assert_eq!(dhis2.violations().len(), 2);
}

#[tokio::test]
async fn the_search_before_2_41() {
    let dhis2 = FakeDhis2::start_version("2.39.2");
    dhis2.seed_tracked_entity("Clinic00001", "AB:C,D/E");
    // `:` `,` and `/` in a value are escaped with `/`.
    let filter = format!("{UIC_ATTRIBUTE}:eq:ab/:c/,d//e");
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("program", PROGRAM), ("ouMode", "ACCESSIBLE"), ("filter", filter.as_str())])
        .finish();
    let (status, found) = get(&dhis2, &format!("/api/tracker/trackedEntities?{query}")).await;
    assert_eq!((status, &found["page"], &found["pageSize"]), (200, &json!(1), &json!(50)));
    assert_eq!(found["instances"][0]["trackedEntity"], "Clinic00001");
    assert!(found.get("trackedEntities").is_none());

    let (status, _) = get(&dhis2, &format!("/api/tracker/trackedEntities?program={PROGRAM}&orgUnit={ORG_UNIT}")).await;
    assert_eq!(status, 200);
    for wrong in ["orgUnitMode=ACCESSIBLE", &format!("orgUnits={ORG_UNIT}"), "filter=x"] {
        let (status, _) = get(&dhis2, &format!("/api/tracker/trackedEntities?program={PROGRAM}&{wrong}")).await;
        assert_eq!(status, 400, "{wrong}");
    }
}

#[tokio::test]
async fn a_second_import_of_the_same_uids_updates() {
    let dhis2 = FakeDhis2::start();
    let body = person("Pe000000001", "En000000001", "MBEIBR7DA1");
    let (status, report) = import(&dhis2, "async=false", &body).await;
    assert_eq!((status, &report["status"]), (200, &json!("OK")), "{report}");
    assert_eq!(report["stats"], json!({"created": 2, "updated": 0, "deleted": 0, "ignored": 0, "total": 2}));
    let entities = &report["bundleReport"]["typeReportMap"]["TRACKED_ENTITY"];
    assert_eq!(
        entities["objectReports"],
        json!([{"trackerType": "TRACKED_ENTITY", "uid": "Pe000000001", "errorReports": []}])
    );
    assert_eq!(report["bundleReport"]["typeReportMap"]["ENROLLMENT"]["stats"]["created"], 1);

    let (status, report) = import(&dhis2, "async=false&importStrategy=CREATE_AND_UPDATE", &body).await;
    assert_eq!((status, &report["stats"]["updated"], &report["stats"]["created"]), (200, &json!(2), &json!(0)));
    let stored = dhis2.tracked_entities();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["enrollments"].as_array().unwrap().len(), 1);
    // Attribute values belong to the person, whichever object carried them.
    let held: Vec<&Value> = stored[0]["attributes"].as_array().unwrap().iter().map(|a| &a["attribute"]).collect();
    assert_eq!(held, [UIC_ATTRIBUTE, GENDER_ATTRIBUTE]);
    assert_eq!(dhis2.tracked_entity_with(UIC_ATTRIBUTE, "mbeibr7da1").len(), 1);
    assert_eq!(dhis2.imports(), [body.clone(), body]);
    dhis2.assert_no_violations();
}

#[tokio::test]
async fn a_code_held_by_another_person_is_refused_with_e1064() {
    let dhis2 = FakeDhis2::start();
    dhis2.seed_tracked_entity("Clinic00001", "MBEIBR7DA1");
    let (status, report) = import(&dhis2, "async=false", &person("Pe000000001", "En000000001", "mbeibr7da1")).await;
    assert_eq!((status, &report["status"]), (409, &json!("ERROR")));
    let error = &report["validationReport"]["errorReports"][0];
    assert_eq!(
        *error,
        json!({
            "message": format!("Non-unique attribute value `mbeibr7da1` for attribute `{UIC_ATTRIBUTE}`."),
            "errorCode": "E1064",
            "trackerType": "TRACKED_ENTITY",
            "uid": "Pe000000001",
            "args": ["mbeibr7da1", UIC_ATTRIBUTE],
        })
    );
    // All or nothing: the enrollment is not imported either.
    assert_eq!(codes(&report), ["E1064", "E5000"]);
    assert_eq!(report["stats"], json!({"created": 0, "updated": 0, "deleted": 0, "ignored": 2, "total": 2}));
    assert_eq!(dhis2.tracked_entities().len(), 1);

    // Not unique any more: the same code goes through.
    dhis2.set_attribute_unique(UIC_ATTRIBUTE, false);
    let (status, _) = import(&dhis2, "async=false", &person("Pe000000001", "En000000001", "mbeibr7da1")).await;
    assert_eq!(status, 200);
    dhis2.assert_no_violations();
}

#[tokio::test]
async fn dhis2_refuses_what_its_metadata_does_not_allow() {
    let dhis2 = FakeDhis2::start();
    let (_, report) =
        import(&dhis2, "async=false&importStrategy=CREATE", &person("Pe000000001", "En000000001", "A")).await;
    assert_eq!(report["status"], "OK");
    let (status, report) =
        import(&dhis2, "async=false&importStrategy=CREATE", &person("Pe000000001", "En000000002", "A")).await;
    assert_eq!(status, 409);
    assert_eq!(codes(&report), ["E1002", "E1015", "E5000"]);
    assert_eq!(
        report["validationReport"]["errorReports"][0]["message"],
        "TrackedEntity: `Pe000000001`, already exists."
    );

    let mut body = person("Pe000000002", "En000000003", "B");
    body["trackedEntities"][0]["trackedEntityType"] = json!("Unknown0001");
    body["trackedEntities"][0]["enrollments"][0]["orgUnit"] = json!(OTHER_ORG_UNIT);
    body["trackedEntities"][0]["enrollments"][0]["program"] = json!("Unknown0002");
    assert_eq!(codes(&import(&dhis2, "async=false", &body).await.1), ["E1005", "E1069", "E5000"]);

    body["trackedEntities"][0]["trackedEntityType"] = json!(TRACKED_ENTITY_TYPE);
    body["trackedEntities"][0]["enrollments"][0]["program"] = json!(PROGRAM);
    assert_eq!(codes(&import(&dhis2, "async=false", &body).await.1), ["E1041"]);
    dhis2.remove_org_unit_from_program(ORG_UNIT);
    assert_eq!(codes(&import(&dhis2, "async=false", &person("Pe000000003", "En000000004", "C")).await.1), ["E1041"]);

    // Atomic per object: the tracked entity goes in without its enrollment.
    let (status, report) =
        import(&dhis2, "async=false&atomicMode=OBJECT", &person("Pe000000003", "En000000004", "C")).await;
    assert_eq!((status, &report["stats"]["created"], &report["stats"]["ignored"]), (409, &json!(1), &json!(1)));
    assert_eq!(dhis2.tracked_entities().len(), 2);
    dhis2.put_metadata(
        MetadataKind::OrganisationUnit,
        json!({"id": "NewUnit0001", "name": "New", "path": "/NewUnit0001"}),
    );
    assert_eq!(get(&dhis2, "/api/organisationUnits/NewUnit0001").await.0, 200);
    dhis2.assert_no_violations();
}

#[tokio::test]
async fn an_asynchronous_import_is_a_job_with_a_report() {
    let dhis2 = FakeDhis2::start();
    let (status, accepted) = import(&dhis2, "", &person("Pe000000001", "En000000001", "MBEIBR7DA1")).await;
    assert_eq!((status, &accepted["message"]), (200, &json!("Tracker job added")));
    let location = accepted["response"]["location"].as_str().unwrap();
    let job = accepted["response"]["id"].as_str().unwrap();
    assert_eq!(location, format!("{}/api/tracker/jobs/{job}", dhis2.base));
    let (status, report) = get(&dhis2, &format!("/api/tracker/jobs/{job}/report")).await;
    assert_eq!((status, &report["status"], &report["stats"]["created"]), (200, &json!("OK"), &json!(2)));
    let (_, notifications) = get(&dhis2, &format!("/api/tracker/jobs/{job}")).await;
    assert_eq!(notifications[0]["completed"], true);

    // A slow job: no report until it is done, and nothing committed.
    dhis2.set_job_duration(Duration::from_secs(1));
    let (_, accepted) = import(&dhis2, "async=true", &person("Pe000000002", "En000000002", "XYZ")).await;
    let job = accepted["response"]["id"].as_str().unwrap();
    assert_eq!(get(&dhis2, &format!("/api/tracker/jobs/{job}/report")).await.0, 404);
    assert_eq!(dhis2.tracked_entities().len(), 1);
    dhis2.wait_for_tracked_entities(2, Duration::from_secs(5)).await;
    assert_eq!(get(&dhis2, &format!("/api/tracker/jobs/{job}/report")).await.1["status"], "OK");
    assert_eq!(get(&dhis2, "/api/tracker/jobs/NoSuchJob01/report").await.0, 404);
}

#[tokio::test]
async fn a_body_dhis2_would_not_read_is_a_violation() {
    let dhis2 = FakeDhis2::start();
    let (status, error) = import(&dhis2, "async=false", &json!({"trackedEntities": [{"orgUnt": ORG_UNIT}]})).await;
    assert_eq!((status, &error["status"]), (400, &json!("ERROR")));
    let (status, _) = import(&dhis2, "importStrategy=MERGE", &person("Pe000000001", "En000000001", "A")).await;
    assert_eq!(status, 400);
    let text = client().post(format!("{}/api/tracker", dhis2.base)).body("{}");
    assert_eq!(text.header("Authorization", format!("ApiToken {TOKEN}")).send().await.unwrap().status(), 415);
    let violations = dhis2.violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].starts_with("POST /api/tracker: ") && violations[0].contains("orgUnt"), "{violations:?}");
    assert!(dhis2.tracked_entities().is_empty());
}

#[tokio::test]
async fn an_import_dropped_after_its_commit_times_the_client_out() {
    let dhis2 = FakeDhis2::start();
    dhis2.fail_next_import(1, Fault::DropAfterCommit);
    let impatient = crate::support::http_client().timeout(Duration::from_millis(300)).build().unwrap();
    let request = impatient.post(format!("{}/api/tracker?async=false", dhis2.base));
    let request = request.header("Authorization", format!("ApiToken {TOKEN}"));
    let error = request.json(&person("Pe000000001", "En000000001", "MBEIBR7DA1")).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // Committed all the same, and kept as never answered.
    dhis2.wait_for_tracked_entities(1, Duration::from_secs(5)).await;
    assert_eq!(dhis2.requests()[0].status, 0);

    // A slow DHIS2 finishes the import after the client has given up.
    dhis2.fail_next_import(1, Fault::Delay(Duration::from_millis(500)));
    let request = impatient.post(format!("{}/api/tracker?async=false", dhis2.base));
    let request = request.header("Authorization", format!("ApiToken {TOKEN}"));
    let error = request.json(&person("Pe000000002", "En000000002", "XYZ")).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    dhis2.wait_for_tracked_entities(2, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn scripted_faults() {
    let dhis2 = FakeDhis2::start();
    let body = person("Pe000000001", "En000000001", "MBEIBR7DA1");
    dhis2.fail_next_import(1, Fault::Html(502));
    dhis2.fail_next_import(1, Fault::Status(503));
    dhis2.fail_next_import(1, Fault::EmptyBody(500));
    dhis2.fail_next_import(1, Fault::Status(500));
    let url = format!("{}/api/tracker?async=false", dhis2.base);
    for (status, content_type, text) in [
        (502, "text/html", "<center>nginx</center>"),
        (503, "text/plain", "503 Service Unavailable"),
        (500, "", ""),
        (500, "application/json", "\"httpStatusCode\":500"),
    ] {
        let request = client().post(&url).header("Authorization", format!("ApiToken {TOKEN}")).json(&body);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let mime = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(mime.starts_with(content_type), "{mime}");
        assert!(response.text().await.unwrap().contains(text));
    }
    assert!(dhis2.tracked_entities().is_empty());

    dhis2.fail_next_import(1, Fault::OkWithError);
    let (status, report) = import(&dhis2, "async=false", &body).await;
    assert_eq!((status, codes(&report)), (200, vec!["E1000"]));
    assert!(dhis2.tracked_entities().is_empty());

    dhis2.fail_next_import(1, Fault::ReportForOtherUid);
    let (status, report) = import(&dhis2, "async=false", &body).await;
    assert_eq!((status, &report["status"]), (200, &json!("OK")));
    let reported = &report["bundleReport"]["typeReportMap"]["TRACKED_ENTITY"]["objectReports"][0]["uid"];
    assert_ne!(reported, "Pe000000001");
    assert_eq!(dhis2.tracked_entities()[0]["trackedEntity"], "Pe000000001");

    dhis2.fail_next_search(1, Fault::Status(500));
    let search = format!("/api/tracker/trackedEntities?program={PROGRAM}&orgUnitMode=ACCESSIBLE");
    assert_eq!(get(&dhis2, &search).await.0, 500);
    assert_eq!(get(&dhis2, &search).await.0, 200);
    dhis2.assert_no_violations();
}
