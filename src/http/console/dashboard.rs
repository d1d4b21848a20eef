//! `/console/dashboard`: how the program is doing, from the same figures as
//! `uic report` — codes issued per day (an inline SVG chart over 30 or 90
//! days), repeats and possible collisions, DHIS2 registrations and their
//! errors, the outbox's backlog, and the providers' token states. Counts and
//! codes only: no phone number, no answer.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use chrono::{Duration, NaiveDate, Utc};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::auth::Staff;
use super::{AddIf, PageQuery, language_of, page, signed_in_context};
use crate::core::engine::CONFIRM_STEP;
use crate::http::AppState;
use crate::store::{JobStatus, Report, StoreError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/dashboard", get(show))
}

#[derive(Debug, Default, Deserialize)]
struct DashboardQuery {
    days: Option<u32>,
}

/// The periods offered.
const PERIODS: [u32; 2] = [30, 90];

/// `GET /console/dashboard?days=30|90`.
async fn show(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    Query(period): Query<DashboardQuery>,
    jar: CookieJar,
    headers: HeaderMap,
    staff: Staff,
) -> Response {
    let (lang, remember) = language_of(&query, &jar, &headers);
    let days = period.days.filter(|days| PERIODS.contains(days)).unwrap_or(PERIODS[0]);
    let until = Utc::now().date_naive() + Duration::days(1);
    let from = until - Duration::days(i64::from(days));
    let figures = match figures(&state, from, until).await {
        Ok(figures) => figures,
        Err(error) => {
            tracing::error!(error = %error, "dashboard: the database did not answer");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let base = signed_in_context(&staff, lang, "dashboard");
    let context = context! { days, periods => Value::from(Serde(PERIODS.to_vec())), figures => Value::from(Serde(&figures)), ..base };
    (jar.add_if(remember), page(&state, "dashboard.html", context)).into_response()
}

/// Everything the page shows.
#[derive(Debug, Serialize)]
struct Figures {
    from: NaiveDate,
    /// The last day shown (the period is `[from, until)`).
    to: NaiveDate,
    codes: i64,
    unique_phones: i64,
    repeat_requests: i64,
    collisions: i64,
    chart: Chart,
    dhis2_on: bool,
    dhis2_token_refused: Option<String>,
    registered: i64,
    registration_pending: i64,
    registration_failed: i64,
    not_registered: i64,
    failures: Vec<Labelled>,
    collided: Vec<Labelled>,
    outbox: Vec<Backlog>,
    meta_on: bool,
    meta_token_error: Option<String>,
    started: i64,
    completed: i64,
    gave_up: i64,
    funnels: Vec<Funnel>,
}

/// One flow's questions in order: how many reached each, the invalid
/// answers each drew, and how many gave up there.
#[derive(Debug, Serialize)]
struct Funnel {
    flow: String,
    started: i64,
    completed: i64,
    steps: Vec<FunnelStep>,
}

#[derive(Debug, Serialize)]
struct FunnelStep {
    step: String,
    reached: i64,
    invalid: i64,
    gave_up: i64,
    /// `reached` as a share of the conversations started, for the bar (0–100).
    percent: i64,
}

#[derive(Debug, Serialize)]
struct Labelled {
    label: String,
    count: i64,
}

/// Undelivered jobs of one kind and status.
#[derive(Debug, Serialize)]
struct Backlog {
    kind: String,
    dead: bool,
    jobs: i64,
    /// Minutes the oldest has waited.
    oldest_minutes: i64,
}

async fn figures(state: &AppState, from: NaiveDate, until: NaiveDate) -> Result<Figures, StoreError> {
    let store = state.conversations.store();
    let report = store.report(from, until).await?;
    let since = from.and_time(chrono::NaiveTime::MIN).and_utc();
    let now = Utc::now();
    let outbox = store
        .job_counts()
        .await?
        .into_iter()
        .map(|count| Backlog {
            kind: count.kind,
            dead: count.status == JobStatus::Dead,
            jobs: count.jobs,
            oldest_minutes: (now - count.oldest).num_minutes().max(0),
        })
        .collect();
    let statistics = store.flow_statistics(from, until).await?;
    let engine = state.conversations.engine();
    let funnels: Vec<Funnel> = statistics
        .flows()
        .into_iter()
        .map(|flow_id| {
            let conversations = statistics.conversations(flow_id);
            // The flow's own order; steps of an older version that only the counters know, after.
            let flow = engine.flow(flow_id);
            let mut order: Vec<String> =
                flow.map(|flow| flow.steps.iter().map(|step| step.id.clone()).collect()).unwrap_or_default();
            if flow.is_some_and(|flow| flow.completion.confirm) {
                order.push(CONFIRM_STEP.to_string());
            }
            for step in statistics.steps.iter().filter(|step| step.flow_id == flow_id) {
                if !order.contains(&step.step_id) {
                    order.push(step.step_id.clone());
                }
            }
            let steps = order
                .into_iter()
                .map(|step| {
                    let counts = statistics.step(flow_id, &step);
                    let percent = (counts.reached * 100).checked_div(conversations.started).unwrap_or(0).min(100);
                    FunnelStep {
                        step,
                        reached: counts.reached,
                        invalid: counts.invalid,
                        gave_up: counts.gave_up(),
                        percent,
                    }
                })
                .collect();
            Funnel {
                flow: flow_id.to_string(),
                started: conversations.started,
                completed: conversations.completed,
                steps,
            }
        })
        .collect();
    let labelled =
        |rows: Vec<(String, i64)>| rows.into_iter().map(|(label, count)| Labelled { label, count }).collect();
    Ok(Figures {
        from,
        to: until - Duration::days(1),
        codes: report.total.codes,
        unique_phones: report.total.unique_phones,
        repeat_requests: report.total.repeat_requests,
        collisions: report.total.collisions,
        chart: Chart::of(&report, from, until),
        dhis2_on: state.config.dhis2.is_some(),
        dhis2_token_refused: state.dhis2_health.token_refused(),
        registered: report.registrations.registered,
        registration_pending: report.registrations.pending,
        registration_failed: report.registrations.failed,
        not_registered: report.registrations.not_registered,
        failures: labelled(store.registration_failures().await?),
        collided: labelled(store.collided_codes(since).await?),
        outbox,
        meta_on: state.config.meta.is_some(),
        meta_token_error: state.meta_health.token_error(),
        started: funnels.iter().map(|funnel| funnel.started).sum(),
        completed: funnels.iter().map(|funnel| funnel.completed).sum(),
        gave_up: statistics.flows().iter().map(|flow| statistics.conversations(flow).gave_up()).sum(),
        funnels,
    })
}

/// Codes per day as the bars of an SVG chart, drawn on the server: no
/// script, nothing fetched, readable on a slow connection.
#[derive(Debug, Serialize)]
struct Chart {
    width: u32,
    height: u32,
    /// The highest day's count (the top of the scale).
    max: i64,
    bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
struct Bar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    date: NaiveDate,
    codes: i64,
}

impl Chart {
    const WIDTH: u32 = 900;
    const HEIGHT: u32 = 180;

    fn of(report: &Report, from: NaiveDate, until: NaiveDate) -> Chart {
        let days: Vec<NaiveDate> = from.iter_days().take_while(|day| *day < until).collect();
        let count =
            |day: &NaiveDate| report.days.iter().find(|(date, _)| date == day).map_or(0, |(_, figures)| figures.codes);
        let max = days.iter().map(count).max().unwrap_or(0).max(1);
        let slot = f64::from(Chart::WIDTH) / days.len().max(1) as f64;
        let bars = days
            .iter()
            .enumerate()
            .map(|(i, day)| {
                let codes = count(day);
                let height = f64::from(Chart::HEIGHT) * codes as f64 / max as f64;
                Bar {
                    x: i as f64 * slot + slot * 0.1,
                    y: f64::from(Chart::HEIGHT) - height,
                    width: slot * 0.8,
                    height,
                    date: *day,
                    codes,
                }
            })
            .collect();
        Chart { width: Chart::WIDTH, height: Chart::HEIGHT, max, bars }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RegistrationCounts, ReportFigures};

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let figures = |codes| ReportFigures { codes, ..ReportFigures::default() };
        let report = Report {
            days: vec![(day(2), figures(4)), (day(4), figures(2))],
            total: figures(6),
            registrations: RegistrationCounts::default(),
        };
        let chart = Chart::of(&report, day(1), day(5));
        assert_eq!(chart.bars.len(), 4);
        assert_eq!(chart.max, 4);
        let heights: Vec<f64> = chart.bars.iter().map(|bar| bar.height).collect();
        assert_eq!(heights, [0.0, 180.0, 0.0, 90.0]);
        assert!(chart.bars.iter().all(|bar| bar.y + bar.height == 180.0));
        let empty =
            Chart::of(&Report { days: vec![], total: figures(0), registrations: Default::default() }, day(1), day(2));
        assert_eq!((empty.max, empty.bars[0].height), (1, 0.0));
    }
}
