//! The staff dashboard's counters (`Store::flow_statistics`), on both
//! backends: real conversations through `Conversations::handle` and the
//! cleanup, then the counters must say exactly what happened, agree with
//! `uic report`, and hold no answer.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uic::core::engine::Content;
use uic::core::engine::stats::Event;
use uic::store::{ConversationCounts, FlowDay, StepCounts, Store};
use uic::turn::conversation::Conversations;

use crate::support::both;
use crate::support::{self, t0};

/// The people of the day, each with what they typed after "Bonjour" in the
/// DRC flow (last name, first name, birth year, birth city, gender).
const COMPLETE: [(&str, &[&str]); 3] = [
    ("+243810000001", &["Mbengue", "Ibrahima", "1997", "Dakar", "Homme"]),
    ("+243810000002", &["Kabongo", "Solange", "1988", "Kinshasa", "Femme"]),
    // The first person's answers again: the same code, a repeat request.
    ("+243810000003", &["Mbengue", "Ibrahima", "1997", "Dakar", "Homme"]),
];
/// An invalid birth year twice (not a number, then too early), then done.
const INVALID_TWICE: (&str, &[&str]) =
    ("+243810000004", &["Tshisekedi", "Fortunat", "19x7", "1850", "1979", "Lubumbashi", "Homme"]);
/// Starts again at the birth city, and goes no further.
const RESTARTS: (&str, &[&str]) = ("+243810000005", &["Lukusa", "Berthilde", "2001", "RESTART"]);
/// Stops at the first name; the cleanup finds the session expired.
const STOPS: (&str, &[&str]) = ("+243810000006", &["Ngalula"]);

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// "Bonjour" then `messages`, ten seconds apart from `start`.
async fn converse(conversations: &Conversations, (phone, messages): (&str, &[&str]), start: DateTime<Utc>) {
    let mut at = start;
    for message in std::iter::once(&"Bonjour").chain(messages) {
        at += Duration::seconds(10);
        conversations.handle(phone, &Content::Text(message.to_string()), at).await.expect("turn succeeds");
    }
}

/// Everyone's conversations on 2026-03-14 from 09:00, then the cleanup
/// just after midnight.
async fn the_day(store: &Store) {
    let conversations = Conversations::new(support::engine("drc-fr", None), store.clone());
    let mut start = t0();
    for person in COMPLETE.into_iter().chain([INVALID_TWICE, RESTARTS, STOPS]) {
        converse(&conversations, person, start).await;
        start += Duration::minutes(5);
    }
    let night = day("2026-03-15").and_hms_opt(0, 30, 0).unwrap().and_utc();
    assert_eq!(store.cleanup_sessions(night - Duration::minutes(30), night).await.unwrap(), 2, "two sessions idle");
}

both!(the_counters_say_what_the_conversations_did, |db| async move {
    let store = Store::connect(&db.url).await.expect("store opens");
    the_day(&store).await;

    let statistics = store.flow_statistics(day("2026-03-01"), day("2026-04-01")).await.unwrap();
    let conversations = |started, completed, restarted, expired| ConversationCounts {
        started,
        completed,
        restarted,
        expired,
        escalated: 0,
    };
    // Seven conversations: four complete, one restarted (and the one it
    // started stopped), one stopped; the two stopped expire the next day,
    // found by the cleanup.
    assert_eq!(
        statistics.days,
        [
            FlowDay { day: day("2026-03-14"), flow_id: "drc-fr".into(), conversations: conversations(7, 4, 1, 0) },
            FlowDay { day: day("2026-03-15"), flow_id: "drc-fr".into(), conversations: conversations(0, 0, 0, 2) },
        ]
    );
    let total = statistics.conversations("drc-fr");
    assert_eq!(total.started, total.completed + total.gave_up(), "every conversation ended one way");
    assert_eq!(statistics.flows(), ["drc-fr"]);

    let step = |reached, invalid, restarted, expired| StepCounts { reached, invalid, restarted, expired, escalated: 0 };
    let funnel: Vec<(&str, StepCounts)> = ["last_name", "first_name", "birth_year", "birth_city", "gender"]
        .into_iter()
        .map(|id| (id, statistics.step("drc-fr", id)))
        .collect();
    assert_eq!(
        funnel,
        [
            ("last_name", step(7, 0, 0, 1)),
            ("first_name", step(6, 0, 0, 1)),
            ("birth_year", step(5, 2, 0, 0)),
            ("birth_city", step(5, 0, 1, 0)),
            ("gender", step(4, 0, 0, 0)),
        ]
    );
    assert_eq!(statistics.steps.len(), 5, "no other step: {:?}", statistics.steps);
    assert_eq!(statistics.step("drc-fr", "confirm"), StepCounts::default(), "drc-fr asks no confirmation");

    // A period is of whole UTC days, `until` left out.
    let first_day = store.flow_statistics(day("2026-03-14"), day("2026-03-15")).await.unwrap();
    assert_eq!(first_day.conversations("drc-fr"), conversations(7, 4, 1, 0));
    assert_eq!(first_day.step("drc-fr", "last_name"), step(7, 0, 0, 0));
    let before = store.flow_statistics(day("2026-03-01"), day("2026-03-14")).await.unwrap();
    assert_eq!(before, Default::default());

    // "Completed" is a conversation that reached its code, new or not: what
    // `uic report` counts as codes, repeat requests and collisions.
    let report = store.report(day("2026-03-14"), day("2026-03-15")).await.unwrap();
    assert_eq!((report.total.codes, report.total.repeat_requests, report.total.collisions), (3, 1, 0));
    assert_eq!(
        first_day.conversations("drc-fr").completed,
        report.total.codes + report.total.repeat_requests + report.total.collisions
    );
    store.close().await;
});

both!(the_counters_hold_no_answer_and_no_phone_number, |db| async move {
    let store = Store::connect(&db.url).await.expect("store opens");
    the_day(&store).await;
    store.close().await;

    let dump = db.dump().await;
    assert!(dump.contains("flow_statistics: "), "the dump reads the counters:\n{dump}");
    let lower_dump = dump.to_lowercase();
    let typed = COMPLETE.into_iter().chain([INVALID_TWICE, RESTARTS, STOPS]).flat_map(|(_, messages)| messages.iter());
    for answer in typed.filter(|answer| answer.chars().all(char::is_alphabetic) && **answer != "RESTART") {
        assert!(!lower_dump.contains(&answer.to_lowercase()), "the answer `{answer}` is in:\n{dump}");
    }
    // The counters themselves: a day, the flow's words, a count and its shard.
    let words: Vec<&str> = Event::ALL.iter().map(|event| event.as_str()).collect();
    let steps = ["", "last_name", "first_name", "birth_year", "birth_city", "gender"];
    for row in db.text_rows("SELECT * FROM flow_statistics").await {
        let columns: Vec<&str> = row.0.iter().map(|(column, _)| column.as_str()).collect();
        assert_eq!(columns, ["day", "flow_id", "step_id", "outcome", "count", "shard"]);
        assert!(row.get("shard").parse::<u16>().unwrap() < 8, "{row:?}");
        assert!(row.get("day").starts_with("2026-03-1"), "{row:?}");
        assert_eq!(row.get("flow_id"), "drc-fr");
        assert!(steps.contains(&row.get("step_id")), "{row:?}");
        assert!(words.contains(&row.get("outcome")), "{row:?}");
        assert!(row.get("count").parse::<i64>().unwrap() > 0, "{row:?}");
    }
});

both!(a_confirmation_refused_and_a_nonsense_reply_are_counted_at_the_confirmation, |db| async move {
    let store = Store::connect(&db.url).await.expect("store opens");
    let conversations = Conversations::new(support::engine("legacy", None), store.clone());
    let legacy = ["1983", "Mwene-Ditu", "Ozymandias", "17", "Kalambayi", "peut-être", "NON"];
    converse(&conversations, ("+243810000007", &legacy), t0()).await;
    let statistics = store.flow_statistics(day("2026-03-14"), day("2026-03-15")).await.unwrap();
    let confirm = statistics.step("legacy", "confirm");
    assert_eq!((confirm.reached, confirm.invalid, confirm.restarted), (1, 1, 1), "{statistics:?}");
    assert_eq!(statistics.conversations("legacy").started, 2, "NON starts a new conversation");
    store.close().await;
});
