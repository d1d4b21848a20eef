//! The import schema ([`crate::support::dhis2_schema`]): DHIS2's own
//! description, repaired, lets real bodies pass and makes mistakes fail.

use serde_json::{Value, json};

use crate::support::dhis2_schema::{validate_import, validate_import_as_shipped};

const PROGRAM: &str = "UicRegProg1";
const ORG_UNIT: &str = "KinshasaHC1";
const TRACKED_ENTITY_TYPE: &str = "PersonTet01";
const UIC_ATTRIBUTE: &str = "UicCodeAtt1";
const GENDER_ATTRIBUTE: &str = "GenderAttr1";

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
