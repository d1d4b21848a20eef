//! What a turn adds to the privacy-safe counters of the staff dashboard
//! (issue 11): conversations started and completed, and per question how
//! many reached it, answered it wrongly, or ended there. Only the flow's and
//! the step's ids and the kind of event are counted, never an answer; the
//! store adds them up per UTC day.
//!
//! Derived from the session before the turn and the [`Turn`] after it, so
//! the engine itself stays as it is: a pure function of what it returned.

use super::{Outcome, Session, Turn};

/// A kind of event, the `outcome` column of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// A conversation began: first contact, after RESTART (or NON at a
    /// confirmation), after a session expired, or when a new version of its
    /// flow replaced it. Flow-level (step `""`).
    Started,
    /// The person was asked this step for the first time in this
    /// conversation: re-asking after an invalid answer, HELP or a language
    /// switch is not an arrival, nor is going BACK to a step already reached.
    Reached,
    /// An answer refused at this step: invalid, empty or too long, or a reply
    /// to a confirmation that was neither yes nor no (step
    /// [`super::CONFIRM_STEP`]). The answer that reaches the attempt cap counts too.
    Invalid,
    /// The person started again (RESTART, or NON at a confirmation) while at this step.
    Restarted,
    /// The session expired at this step: found by the cleanup, or by the
    /// person's next message if that came first.
    Expired,
    /// Too many invalid answers at this step: the person was told where to
    /// get help and the conversation ended.
    Escalated,
    /// A conversation reached its code, new or not (a code issued, the same
    /// answers again, or a possible collision). Flow-level (step `""`).
    Completed,
}

impl Event {
    /// Every event, in the order of [`Event::as_str`]'s words.
    pub const ALL: [Event; 7] = [
        Event::Started,
        Event::Reached,
        Event::Invalid,
        Event::Restarted,
        Event::Expired,
        Event::Escalated,
        Event::Completed,
    ];

    /// The word stored in the counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Started => "started",
            Event::Reached => "reached",
            Event::Invalid => "invalid",
            Event::Restarted => "restarted",
            Event::Expired => "expired",
            Event::Escalated => "escalated",
            Event::Completed => "completed",
        }
    }

    /// The event a stored word names.
    pub fn parse(word: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|event| event.as_str() == word)
    }
}

/// One count to add: an event of a flow, at a step (`""` for the whole conversation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counted {
    pub flow_id: String,
    pub step_id: String,
    pub event: Event,
}

impl Counted {
    fn new(flow_id: &str, step_id: &str, event: Event) -> Counted {
        Counted { flow_id: flow_id.to_string(), step_id: step_id.to_string(), event }
    }
}

/// Where a session stood before a turn: all [`counts`] needs of it (the
/// answers themselves stay behind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub flow_id: String,
    pub step_id: String,
    /// The current step holds an answer already: the person went BACK to it,
    /// so the step after it was reached before.
    pub answered: bool,
}

impl Place {
    pub fn of(session: &Session) -> Place {
        Place {
            flow_id: session.flow_id.clone(),
            step_id: session.current_step.clone(),
            answered: session.answers.contains_key(&session.current_step),
        }
    }
}

/// The counts of one turn, from where the session stood before it
/// (`None`: no session, or one that could not be read) and the turn.
/// Usually one or two; at most three (an ended conversation and a new one).
pub fn counts(before: Option<&Place>, turn: &Turn) -> Vec<Counted> {
    let mut counts = Vec::new();
    let after = turn.session.as_ref();
    // Where the conversation that was going on ended, if it did.
    let ended = match turn.outcome {
        Outcome::Restarted => Some(Event::Restarted),
        Outcome::TimedOut => Some(Event::Expired),
        Outcome::Escalated => Some(Event::Escalated),
        _ => None,
    };
    if matches!(turn.outcome, Outcome::Refused | Outcome::Escalated)
        && let Some(before) = before
    {
        counts.push(Counted::new(&before.flow_id, &before.step_id, Event::Invalid));
    }
    if let (Some(event), Some(before)) = (ended, before) {
        counts.push(Counted::new(&before.flow_id, &before.step_id, event));
    }
    match turn.outcome {
        // A new conversation, asked its first step.
        Outcome::Started | Outcome::Restarted | Outcome::TimedOut => {
            if let Some(after) = after {
                counts.push(Counted::new(&after.flow_id, "", Event::Started));
                counts.push(Counted::new(&after.flow_id, &after.current_step, Event::Reached));
            }
        }
        // On to the next step (or the confirmation), unless it was reached
        // before this conversation went BACK.
        Outcome::Answered => {
            if let (Some(after), Some(before)) = (after, before)
                && after.current_step != before.step_id
                && !before.answered
            {
                counts.push(Counted::new(&after.flow_id, &after.current_step, Event::Reached));
            }
        }
        Outcome::Completed => {
            if let Some(completion) = &turn.completion {
                counts.push(Counted::new(&completion.flow_id, "", Event::Completed));
            }
        }
        Outcome::Refused | Outcome::Escalated | Outcome::Command | Outcome::NonText | Outcome::Failed => {}
    }
    counts
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::*;
    use crate::core::catalog::Catalog;
    use crate::core::engine::{Content, Engine, EngineConfig};
    use crate::core::salt::Salt;
    use crate::lint::source::Sources;

    fn engine() -> Engine {
        let (catalog, _) = Catalog::load(&Sources::embedded(), 2026).expect("embedded flows pass lint");
        let config = EngineConfig {
            default_flow: "drc-fr".into(),
            default_language: None,
            session_timeout_minutes: 30,
            qr_codes: false,
        };
        Engine::new(&catalog, Salt::for_tests(), config).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()
    }

    /// Runs `messages` from no session, each a minute after the last, and
    /// gives each turn's counts as `event step` words (`event` alone for a
    /// flow-level one).
    fn run(engine: &Engine, messages: &[&str]) -> Vec<Vec<String>> {
        run_from(engine, None, messages, now())
    }

    fn run_from(
        engine: &Engine,
        mut session: Option<Session>,
        messages: &[&str],
        start: DateTime<Utc>,
    ) -> Vec<Vec<String>> {
        let mut at = start;
        let mut all = Vec::new();
        for message in messages {
            at += Duration::minutes(1);
            let before = session.as_ref().map(Place::of);
            let turn = engine.turn(session.take(), &Content::Text(message.to_string()), at);
            all.push(counts(before.as_ref(), &turn).iter().map(words).collect());
            session = turn.session;
        }
        all
    }

    fn words(counted: &Counted) -> String {
        assert_eq!(counted.flow_id, "drc-fr");
        if counted.step_id.is_empty() {
            counted.event.as_str().to_string()
        } else {
            format!("{} {}", counted.event.as_str(), counted.step_id)
        }
    }

    fn turns(expected: &[&[&str]]) -> Vec<Vec<String>> {
        expected.iter().map(|turn| turn.iter().map(|w| w.to_string()).collect()).collect()
    }

    #[test]
    fn a_whole_conversation_starts_reaches_each_step_once_and_completes() {
        let counted = run(&engine(), &["Bonjour", "Mbengue", "Ibrahima", "19x7", "1997", "Dakar", "Homme"]);
        assert_eq!(
            counted,
            turns(&[
                &["started", "reached last_name"],
                &["reached first_name"],
                &["reached birth_year"],
                &["invalid birth_year"],
                &["reached birth_city"],
                &["reached gender"],
                &["completed"],
            ])
        );
    }

    #[test]
    fn help_and_a_language_switch_count_nothing_back_counts_no_new_arrival() {
        let counted = run(&engine(), &["Bonjour", "MBE", "aide", "english", "back", "MBE", "IBR"]);
        assert_eq!(
            counted,
            turns(&[
                &["started", "reached last_name"],
                &["reached first_name"],
                &[],
                &[],
                &[],
                // last_name again: first_name was reached already.
                &[],
                &["reached birth_year"],
            ])
        );
    }

    #[test]
    fn restart_ends_a_conversation_at_its_step_and_starts_another() {
        let counted = run(&engine(), &["Bonjour", "MBE", "IBR", "7", "RESTART"]);
        assert_eq!(counted[4], ["restarted birth_city", "started", "reached last_name"]);
    }

    #[test]
    fn an_expired_session_ends_where_it_stood() {
        let engine = engine();
        let mut session = None;
        for message in ["Bonjour", "MBE"] {
            session = engine.turn(session, &Content::Text(message.into()), now()).session;
        }
        let counted = run_from(&engine, session, &["IBR"], now() + Duration::hours(2));
        assert_eq!(counted[0], ["expired first_name", "started", "reached last_name"]);
    }

    #[test]
    fn the_attempt_cap_counts_the_last_invalid_answer_and_where_it_ended() {
        let counted = run(&engine(), &["Bonjour", "1", "2", "3", "4", "5"]);
        assert_eq!(counted[4], ["invalid last_name"]);
        assert_eq!(counted[5], ["invalid last_name", "escalated last_name"]);
    }

    #[test]
    fn every_event_has_its_word() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
        assert_eq!(Event::parse("answered"), None);
    }
}
