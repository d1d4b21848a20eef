//! Load test for `uic serve` over Twilio or Meta webhooks: virtual people
//! complete the DRC flow with signed form posts, exactly as Twilio sends them
//! (or signed JSON, as Meta does), and the program reports turns per second,
//! codes per second, latency percentiles and errors. Loopback only: point it
//! at a server you run on this machine.
//!
//! ```sh
//! TWILIO_AUTH_TOKEN=load-token UIC_SALT=Load-Test-Salt-0123 DATABASE_URL=sqlite:///tmp/load.db \
//!     LOG_LEVEL=warn cargo run --release -- serve &
//! cargo run --release --example loadtest -- --token load-token --concurrency 64 --seconds 20
//! cargo run --release --example loadtest -- --token load-token --rate 1000 --seconds 20   # latency at a fixed rate
//! ```
//!
//! Options: `--url` (default http://127.0.0.1:8000/whatsapp/webhook), `--token`
//! (TWILIO_AUTH_TOKEN of the server; omit if it checks no signatures),
//! `--concurrency N` (virtual people at once, default 32), `--seconds S`
//! (default 10), `--rate R` (turns per second in total, open loop; default: as
//! fast as the people can go), `--server-pid PID` (report the server's memory
//! and CPU), `--no-codes` (do not check the codes: for `examples/bare_route.rs`,
//! which answers every message alike).
//!
//! Meta: `--meta-secret SECRET` posts Meta's JSON signed with the server's
//! `META_APP_SECRET`; the webhook answers before the replies leave, so
//! `--graph-sink 127.0.0.1:PORT` also runs a stand-in Graph API there (start
//! the server with `META_API_BASE_URL=http://127.0.0.1:PORT`) that accepts
//! every request and counts the messages and QR codes that reach it; with
//! `--statuses` it also posts Meta's `sent`, `delivered` and `read` status
//! webhooks back to the server for every message, as production traffic has.
//!
//! ```sh
//! META_ACCESS_TOKEN=load META_PHONE_NUMBER_ID=1 META_APP_SECRET=load-secret \
//!     META_API_BASE_URL=http://127.0.0.1:9900 UIC_SALT=Load-Test-Salt-0123 LOG_LEVEL=warn \
//!     cargo run --release -- serve &
//! cargo run --release --example loadtest -- --meta-secret load-secret --graph-sink 127.0.0.1:9900 --rate 500
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

struct Options {
    url: String,
    token: Option<String>,
    concurrency: usize,
    seconds: u64,
    rate: Option<u64>,
    server_pid: Option<u32>,
    meta_secret: Option<String>,
    graph_sink: Option<String>,
    statuses: bool,
    check_codes: bool,
}

fn options() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:8000/whatsapp/webhook".into(),
        token: std::env::var("TWILIO_AUTH_TOKEN").ok(),
        concurrency: 32,
        seconds: 10,
        rate: None,
        server_pid: None,
        meta_secret: None,
        graph_sink: None,
        statuses: false,
        check_codes: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => options.url = value(),
            "--token" => options.token = Some(value()),
            "--concurrency" => options.concurrency = value().parse().expect("--concurrency N"),
            "--seconds" => options.seconds = value().parse().expect("--seconds S"),
            "--rate" => options.rate = Some(value().parse().expect("--rate R")),
            "--server-pid" => options.server_pid = Some(value().parse().expect("--server-pid PID")),
            "--meta-secret" => options.meta_secret = Some(value()),
            "--graph-sink" => options.graph_sink = Some(value()),
            "--statuses" => options.statuses = true,
            "--no-codes" => options.check_codes = false,
            other => panic!("unknown option {other}; see the comment at the top of examples/loadtest.rs"),
        }
    }
    options
}

#[derive(Default)]
struct Totals {
    turns: AtomicU64,
    codes: AtomicU64,
    errors: AtomicU64,
    wrong_codes: AtomicU64,
}

/// Last-name letters for person `n`: distinct answers, so each makes a new code.
fn letters(mut n: u64) -> String {
    let mut out = String::new();
    for _ in 0..3 {
        out.push((b'A' + (n % 26) as u8) as char);
        n /= 26;
    }
    out
}

/// What reached the stand-in Graph API.
#[derive(Default)]
struct Sink {
    messages: AtomicU64,
    qr_codes: AtomicU64,
    last_at: std::sync::Mutex<Option<Instant>>,
    /// With `--statuses`: where to report `sent`, `delivered` and `read` for
    /// each message, as Meta does: (client, webhook URL, app secret).
    statuses: Option<(reqwest::Client, String, String)>,
    statuses_posted: AtomicU64,
    status_errors: AtomicU64,
}

/// A Graph API that accepts everything: a wamid for each message, an id for each upload.
async fn run_sink(address: &str, sink: Arc<Sink>) {
    use axum::extract::{Request, State};
    async fn answer(State(sink): State<Arc<Sink>>, request: Request) -> axum::Json<serde_json::Value> {
        let media = request.uri().path().ends_with("/media");
        let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
        *sink.last_at.lock().unwrap() = Some(Instant::now());
        if media {
            return axum::Json(serde_json::json!({ "id": "1" }));
        }
        let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if message["status"] == "read" {
            return axum::Json(serde_json::json!({ "success": true }));
        }
        let n = sink.messages.fetch_add(1, Ordering::Relaxed);
        if message["type"] == "image" {
            sink.qr_codes.fetch_add(1, Ordering::Relaxed);
        }
        let id = format!("wamid.load{n}");
        if sink.statuses.is_some() {
            let (sink, id, to) = (sink.clone(), id.clone(), message["to"].as_str().unwrap_or("").to_string());
            tokio::spawn(async move { post_statuses(&sink, &id, &to).await });
        }
        axum::Json(serde_json::json!({ "messages": [{ "id": id }] }))
    }
    let listener = tokio::net::TcpListener::bind(address).await.expect("--graph-sink: a free loopback address");
    let router = axum::Router::new().fallback(answer).with_state(sink);
    tokio::spawn(async move { axum::serve(listener, router).await.expect("the sink serves") });
}

/// Meta's status webhooks for message `id`, one after the other.
async fn post_statuses(sink: &Sink, id: &str, to: &str) {
    let Some((client, url, secret)) = &sink.statuses else { return };
    for status in ["sent", "delivered", "read"] {
        let body = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "0", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550783881", "phone_number_id": "1" },
                "statuses": [{ "id": id, "status": status, "timestamp": "1750000000", "recipient_id": to }],
            } }] }],
        });
        let bytes = serde_json::to_vec(&body).expect("JSON");
        let signature = uic::channels::meta::signature(secret, &bytes);
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(bytes)
            .send()
            .await;
        let counter = match response {
            Ok(response) if response.status().is_success() => &sink.statuses_posted,
            _ => &sink.status_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A text message from `phone` as Meta posts it, signed with `secret`: (body, signature).
fn meta_request(secret: &str, phone: &str, id: &str, text: &str) -> (Vec<u8>, String) {
    let from = phone.trim_start_matches('+');
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "0", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "1" },
            "contacts": [{ "profile": { "name": "Load" }, "wa_id": from }],
            "messages": [{ "from": from, "id": id, "timestamp": "1750000000", "type": "text", "text": { "body": text } }],
        } }] }],
    });
    let bytes = serde_json::to_vec(&body).expect("JSON");
    let signature = uic::channels::meta::signature(secret, &bytes);
    (bytes, signature)
}

#[tokio::main]
async fn main() {
    let options = options();
    // reqwest has no rustls crypto provider of its own: uic's (ring) first.
    uic::support::tls::install_crypto_provider();
    let statuses = match (&options.meta_secret, options.statuses) {
        (Some(secret), true) => Some((reqwest::Client::new(), options.url.clone(), secret.clone())),
        _ => None,
    };
    let sink = Arc::new(Sink { statuses, ..Sink::default() });
    if let Some(address) = &options.graph_sink {
        run_sink(address, sink.clone()).await;
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(options.concurrency).build().expect("client");
    let totals = Arc::new(Totals::default());
    let latencies = Arc::new(Mutex::new(Vec::<u32>::with_capacity(1 << 20)));
    let stop = Arc::new(AtomicBool::new(false));
    let next_person = Arc::new(AtomicU64::new(0));
    let run_id: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 1_000_000;

    // Open-loop pacing: permits released at the chosen rate, in 1 ms slices.
    let permits = options.rate.map(|rate| {
        let semaphore = Arc::new(Semaphore::new(0));
        let pacer = semaphore.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut released = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                if due > released {
                    pacer.add_permits((due - released) as usize);
                    released = due;
                }
            }
        });
        semaphore
    });

    let cpu_before = options.server_pid.map(cpu_seconds);
    let started = Instant::now();
    let check_codes = options.check_codes;
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let client = client.clone();
        let totals = totals.clone();
        let latencies = latencies.clone();
        let stop = stop.clone();
        let next_person = next_person.clone();
        let permits = permits.clone();
        let url = options.url.clone();
        let token = options.token.clone();
        let meta_secret = options.meta_secret.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(1 << 16);
            while !stop.load(Ordering::Relaxed) {
                let person = next_person.fetch_add(1, Ordering::Relaxed);
                let phone = format!("+2438{:03}{person:08}", run_id % 1000);
                let last = letters(person);
                let first = letters(person / 17_576 + run_id);
                let expected = format!("{last}{first}7DA1");
                for (step, body) in ["Bonjour", &last, &first, "1997", "Dakar", "1"].iter().enumerate() {
                    if let Some(permits) = &permits {
                        // Closed when the run ends: stop waiting.
                        match permits.acquire().await {
                            Ok(permit) => permit.forget(),
                            Err(_) => break,
                        }
                    }
                    let sid = format!("SM{run_id:06}{person:016x}{step:010}");
                    let request = if let Some(secret) = &meta_secret {
                        let (bytes, signature) = meta_request(secret, &phone, &format!("wamid.{sid}"), body);
                        client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("X-Hub-Signature-256", signature)
                            .body(bytes)
                    } else {
                        twilio_request(&client, &url, token.as_deref(), &phone, &sid, body)
                    };
                    let sent = Instant::now();
                    let response = request.send().await;
                    let elapsed = sent.elapsed();
                    match response {
                        Ok(response) if response.status().is_success() => {
                            let text = response.text().await.unwrap_or_default();
                            mine.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
                            totals.turns.fetch_add(1, Ordering::Relaxed);
                            // Meta's answer is only "ok": its codes are counted at the sink.
                            if step == 5 && meta_secret.is_none() && check_codes {
                                if text.contains(&expected) {
                                    totals.codes.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    totals.wrong_codes.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        _ => {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    if let Some(permits) = &permits {
        permits.close();
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_used = options.server_pid.map(cpu_seconds).zip(cpu_before).map(|(after, before)| after - before);
    let mut latencies = latencies.lock().await.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index] as f64 / 1000.0
    };
    let turns = totals.turns.load(Ordering::Relaxed);
    let codes = totals.codes.load(Ordering::Relaxed);
    println!(
        "duration      {elapsed:.1} s, {} people at once{}",
        options.concurrency,
        options.rate.map(|r| format!(", paced at {r} turns/s")).unwrap_or_default()
    );
    println!("turns         {turns} ({:.0} turns/s)", turns as f64 / elapsed);
    println!("codes         {codes} ({:.0} codes/s)", codes as f64 / elapsed);
    println!(
        "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(0.999),
        percentile(1.0)
    );
    // `--no-codes` checked none: "0 wrong codes" would claim what was not looked at.
    let wrong_codes =
        if check_codes { totals.wrong_codes.load(Ordering::Relaxed).to_string() } else { "unchecked".to_string() };
    println!("errors        {} failed requests, {wrong_codes} wrong codes", totals.errors.load(Ordering::Relaxed));
    if options.graph_sink.is_some() {
        // Replies leave through the outbox after the webhook answered: wait
        // until the sink has heard nothing for a second.
        let ended = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let last = *sink.last_at.lock().unwrap();
            let quiet = last.is_none_or(|at| at.elapsed() > Duration::from_secs(1));
            let reported = sink.statuses_posted.load(Ordering::Relaxed) + sink.status_errors.load(Ordering::Relaxed);
            let statuses_done = sink.statuses.is_none() || reported >= 3 * sink.messages.load(Ordering::Relaxed);
            if (quiet && statuses_done) || ended.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        let drained = sink.last_at.lock().unwrap().map_or(0.0, |at| at.saturating_duration_since(ended).as_secs_f64());
        println!(
            "graph api     {} messages, {} QR codes received; the last {drained:.2} s after the load stopped",
            sink.messages.load(Ordering::Relaxed),
            sink.qr_codes.load(Ordering::Relaxed)
        );
        if sink.statuses.is_some() {
            println!(
                "statuses      {} status webhooks accepted, {} refused or failed",
                sink.statuses_posted.load(Ordering::Relaxed),
                sink.status_errors.load(Ordering::Relaxed)
            );
        }
    }
    if let Some(pid) = options.server_pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        for line in status.lines().filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM")) {
            println!("server        {line}");
        }
        if let Some(cpu) = cpu_used {
            println!("server        CPU {cpu:.2} s over {elapsed:.1} s ({:.0}% of one core)", 100.0 * cpu / elapsed);
        }
    }
}

/// CPU seconds (user and system) a process has used, from `/proc/PID/stat`;
/// 0 when it cannot be read.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 14th and 15th fields of the line, in clock ticks.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok()).unwrap_or(0.0);
    // Linux reports clock ticks at USER_HZ, 100 per second on every architecture it runs on.
    (ticks(11) + ticks(12)) / 100.0
}

/// A message from `phone` as Twilio posts it, signed when the server checks signatures.
fn twilio_request(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    phone: &str,
    sid: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    let params = vec![
        ("AccountSid".to_string(), "AC00000000000000000000000000000000".to_string()),
        ("ApiVersion".to_string(), "2010-04-01".to_string()),
        ("Body".to_string(), body.to_string()),
        ("From".to_string(), format!("whatsapp:{phone}")),
        ("MessageSid".to_string(), sid.to_string()),
        ("NumMedia".to_string(), "0".to_string()),
        ("To".to_string(), "whatsapp:+14155238886".to_string()),
        ("WaId".to_string(), phone.trim_start_matches('+').to_string()),
    ];
    let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let request = client.post(url).header("content-type", "application/x-www-form-urlencoded").body(form);
    match token {
        Some(token) => request.header("X-Twilio-Signature", uic::channels::twilio::signature(token, url, &params)),
        None => request,
    }
}
