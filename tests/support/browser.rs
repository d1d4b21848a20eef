//! A real headless Chromium driven through `chromedriver` (WebDriver), for the
//! end-to-end tests of pages: each [`Browser`] starts its own `chromedriver` on
//! a free loopback port and one Chromium session with a fresh profile, both
//! ended on drop, even when the test panics. One chromedriver per browser
//! rather than one shared by the test binary: it starts in milliseconds beside
//! Chromium's second, keeps each test's log apart, and a shared one (a static)
//! would never be dropped, so never stopped.
//!
//! Every helper fails the test with what a person needs to fix it (the page's
//! URL and the start of its HTML, or how to install the browser): browser
//! tests never skip, so CI cannot pass without having run them.
//!
//! Paths: `CHROMEDRIVER` (default `/usr/bin/chromedriver`) and `CHROMIUM`
//! (default `/usr/bin/chromium`), Debian's `chromium-driver` and `chromium`.
//! Screenshots go to `<target dir>/browser-screenshots/<name>.png`, where the
//! target dir is `CARGO_TARGET_DIR` when set, else `target/` in the repository.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// What every "cannot start" failure says.
const INSTALL: &str = "the browser tests need Debian's `chromium` and `chromium-driver` \
                       (apt-get install -y chromium chromium-driver), or CHROMIUM and CHROMEDRIVER \
                       naming a Chromium and its matching chromedriver";

/// Bounds starting chromedriver and opening a session (Chromium's first start
/// on a busy machine takes a few seconds).
const START: Duration = Duration::from_secs(30);

/// Bounds each WebDriver command, so a hung browser fails the test instead of
/// stalling it.
const COMMAND: Duration = Duration::from_secs(30);

/// [`Browser::wait_for`]'s polling period.
const POLL: Duration = Duration::from_millis(50);

/// The window's size: a small laptop's screen, what staff have. Pages (and
/// screenshots) get its full width and somewhat less height, the room of a
/// window's toolbars (1280 × 657 with Chromium 156).
pub const WINDOW: (u32, u32) = (1280, 800);

/// A cookie as the browser holds it, flags as WebDriver reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, as the browser applies it.
    pub same_site: Option<String>,
    /// Unix seconds; `None` for a session cookie.
    pub expiry: Option<i64>,
}

pub struct Browser {
    client: Client,
    driver: Child,
    /// Chromium's main process while the session is open: drop waits for it
    /// to exit before removing its profile.
    chromium_pid: Option<u32>,
    /// chromedriver's output and log, Chromium's profile and temporary
    /// files: removed with the browser, kept when the test fails.
    dir: Option<tempfile::TempDir>,
}

impl Browser {
    /// A headless Chromium speaking French (`Accept-Language: fr`), the
    /// project's default language.
    pub async fn start() -> Browser {
        Browser::start_in("fr").await
    }

    /// A headless Chromium whose preferred language is `language` (a BCP 47
    /// tag such as `en` or `fr`), sent as `Accept-Language` and seen by pages
    /// as `navigator.language`.
    pub async fn start_in(language: &str) -> Browser {
        let driver_path = env_path("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium_path = env_path("CHROMIUM", "/usr/bin/chromium");
        if !chromium_path.is_file() {
            panic!("no Chromium at {}: {INSTALL}", chromium_path.display());
        }
        let dir = tempfile::Builder::new().prefix("uic-browser-").tempdir().expect("a temporary directory");
        let out = dir.path().join("chromedriver.out");
        let log = dir.path().join("chromedriver.log");
        let profile = dir.path().join("profile");
        // chromedriver's session directories and Chromium's shared memory
        // (`--disable-dev-shm-usage`) go to TMPDIR: here, not left in /tmp.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("a temporary directory");
        // Port 0: chromedriver picks a free port and prints it, so no other
        // process can take it between our choosing and its binding. It may
        // still pick one another process holds ("port not available"): then
        // it exits at once, and a second start picks another.
        let mut attempts = 0;
        let (mut driver, port) = loop {
            attempts += 1;
            let mut driver = Command::new(&driver_path)
                // Its own process group, which Chromium joins: see `drop`.
                .process_group(0)
                .arg("--port=0")
                .arg(format!("--log-path={}", log.display()))
                .arg("--log-level=INFO")
                // Chromium's own interface language, which `--lang` does not set on Linux.
                .env("LANGUAGE", language)
                .env("TMPDIR", &tmp)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out).expect("chromedriver's output file"))
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!("chromedriver ({}) does not start: {error}: {INSTALL}", driver_path.display())
                });
            match wait_for_port(&mut driver, &out).await {
                Ok(port) => break (driver, port),
                Err(_) if attempts < 3 && read_tail(&out).contains("port not available") => {
                    stop(&mut driver, None);
                }
                Err(problem) => {
                    stop(&mut driver, None);
                    let _kept = dir.keep();
                    panic!("chromedriver ({}) {problem}: {INSTALL}\n{}", driver_path.display(), read_tail(&out));
                }
            }
        };

        let mut capabilities = fantoccini::wd::Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_path,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--lang={language}"),
                    format!("--user-data-dir={}", profile.display()),
                    "--no-first-run",
                    "--no-default-browser-check",
                ],
                "prefs": { "intl.accept_languages": language },
            }),
        );
        capabilities.insert(
            "timeouts".into(),
            json!({ "pageLoad": COMMAND.as_millis() as u64, "script": COMMAND.as_millis() as u64 }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let session = tokio::time::timeout(START, builder.connect(&format!("http://127.0.0.1:{port}"))).await;
        let client = match session {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                stop(&mut driver, None);
                let _kept = dir.keep();
                panic!(
                    "Chromium ({}) does not start under chromedriver: {error}: {INSTALL}\n{}",
                    chromium_path.display(),
                    read_tail(&log)
                );
            }
            Err(_) => {
                stop(&mut driver, None);
                let _kept = dir.keep();
                panic!(
                    "Chromium ({}) did not start within {START:?}: {INSTALL}\n{}",
                    chromium_path.display(),
                    read_tail(&log)
                );
            }
        };
        let chromium_pid = client
            .capabilities()
            .and_then(|capabilities| capabilities.get("goog:processID"))
            .and_then(|pid| pid.as_u64())
            .and_then(|pid| u32::try_from(pid).ok());
        Browser { client, driver, chromium_pid, dir: Some(dir) }
    }

    /// The fantoccini client, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where chromedriver's log (`chromedriver.log`), Chromium's profile and
    /// temporary files are; removed on drop unless the test fails.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("the browser's directory").path()
    }

    /// Opens `url` and waits for its page to load.
    pub async fn goto(&self, url: &str) {
        let result = self.bounded(&format!("opening {url}"), self.client.goto(url)).await;
        if let Err(error) = result {
            panic!("opening {url}: {error}");
        }
    }

    /// The current page's URL.
    pub async fn url(&self) -> String {
        match self.bounded("reading the URL", self.client.current_url()).await {
            Ok(url) => url.to_string(),
            Err(error) => panic!("reading the URL: {error}"),
        }
    }

    /// The current page's HTML, as the browser serialises its DOM now.
    pub async fn html(&self) -> String {
        match self.bounded("reading the page", self.client.source()).await {
            Ok(html) => html,
            Err(error) => panic!("reading the page: {error}"),
        }
    }

    /// The element `css` selects now (the first of several); fails the test
    /// naming the page when there is none.
    pub async fn find(&self, css: &str) -> Element {
        match self.bounded(&format!("finding `{css}`"), self.client.find(Locator::Css(css))).await {
            Ok(element) => element,
            Err(error) => panic!("no element `{css}` ({error}){}", self.describe().await),
        }
    }

    /// Every element `css` selects now, perhaps none.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        match self.bounded(&format!("finding `{css}`"), self.client.find_all(Locator::Css(css))).await {
            Ok(elements) => elements,
            Err(error) => panic!("finding `{css}`: {error}{}", self.describe().await),
        }
    }

    /// Clicks the element `css` selects, as a person would (it must be visible
    /// and not covered).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        if let Err(error) = self.bounded(&format!("clicking `{css}`"), element.click()).await {
            panic!("clicking `{css}`: {error}{}", self.describe().await);
        }
    }

    /// Empties the field `css` selects, then types `text` into it key by key.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        if let Err(error) = self.bounded(&format!("clearing `{css}`"), element.clear()).await {
            panic!("clearing `{css}`: {error}{}", self.describe().await);
        }
        if let Err(error) = self.bounded(&format!("typing into `{css}`"), element.send_keys(text)).await {
            panic!("typing into `{css}`: {error}{}", self.describe().await);
        }
    }

    /// The text `css`'s element shows (rendered: hidden parts left out,
    /// white space collapsed as displayed).
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        match self.bounded(&format!("reading `{css}`"), element.text()).await {
            Ok(text) => text,
            Err(error) => panic!("reading `{css}`: {error}{}", self.describe().await),
        }
    }

    /// Waits until `css` selects an element, polling; fails the test after
    /// `timeout` with the page's URL and the start of its HTML.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.bounded(&format!("finding `{css}`"), self.client.find(Locator::Css(css))).await;
            match found {
                Ok(element) => return element,
                Err(error) if error.is_no_such_element() => {}
                Err(error) => panic!("waiting for `{css}`: {error}{}", self.describe().await),
            }
            if Instant::now() >= deadline {
                panic!("no element `{css}` within {timeout:?}{}", self.describe().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The cookies the browser would send to the current page, HttpOnly ones
    /// included.
    pub async fn cookies(&self) -> Vec<Cookie> {
        let cookies = match self.bounded("reading cookies", self.client.get_all_cookies()).await {
            Ok(cookies) => cookies,
            Err(error) => panic!("reading cookies: {error}{}", self.describe().await),
        };
        cookies
            .iter()
            .map(|cookie| Cookie {
                name: cookie.name().to_string(),
                value: cookie.value().to_string(),
                path: cookie.path().map(str::to_string),
                domain: cookie.domain().map(str::to_string),
                http_only: cookie.http_only().unwrap_or(false),
                secure: cookie.secure().unwrap_or(false),
                same_site: cookie.same_site().map(|same_site| same_site.to_string()),
                expiry: cookie.expires_datetime().map(|expiry| expiry.unix_timestamp()),
            })
            .collect()
    }

    /// The cookie named `name`, if the current page has it.
    pub async fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().await.into_iter().find(|cookie| cookie.name == name)
    }

    /// Saves what the window shows as `<target dir>/browser-screenshots/<name>.png`
    /// (see the module's documentation) and returns its path, for a person to
    /// look at after the run.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.bounded("taking a screenshot", self.client.screenshot()).await {
            Ok(png) => png,
            Err(error) => panic!("taking a screenshot: {error}{}", self.describe().await),
        };
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        path
    }

    /// Ends the session (Chromium quits) and chromedriver.
    pub async fn close(mut self) {
        let result = self.bounded("closing the browser", self.client.clone().close()).await;
        if let Err(error) = result {
            panic!("closing the browser: {error}");
        }
        // Chromium has quit: nothing left for drop to wait for.
        self.chromium_pid = None;
    }

    /// Awaits one WebDriver command, failing the test after [`COMMAND`].
    async fn bounded<T>(&self, what: &str, future: impl Future<Output = T>) -> T {
        match tokio::time::timeout(COMMAND, future).await {
            Ok(value) => value,
            Err(_) => panic!("{what}: no answer from the browser within {COMMAND:?}"),
        }
    }

    /// `\n  at <url>\n<the start of the page's HTML>`, for failure messages;
    /// best effort, since the browser may be what failed.
    async fn describe(&self) -> String {
        const SNIPPET: usize = 2000;
        let url = tokio::time::timeout(Duration::from_secs(5), self.client.current_url()).await;
        let html = tokio::time::timeout(Duration::from_secs(5), self.client.source()).await;
        let url = match url {
            Ok(Ok(url)) => url.to_string(),
            _ => "(unknown URL)".to_string(),
        };
        let html = match html {
            Ok(Ok(html)) if html.chars().count() > SNIPPET => {
                format!("{}… ({} characters)", html.chars().take(SNIPPET).collect::<String>(), html.chars().count())
            }
            Ok(Ok(html)) => html,
            _ => "(page unreadable)".to_string(),
        };
        format!("\n  at {url}\n{html}")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop(&mut self.driver, self.chromium_pid.take());
        let Some(dir) = self.dir.take() else { return };
        let dir = dir.keep();
        if std::thread::panicking() {
            eprintln!("chromedriver's log, kept in {}:\n{}", dir.display(), read_tail(&dir.join("chromedriver.log")));
            return;
        }
        // Chromium's helpers may still be writing to the profile as they exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(error) = std::fs::remove_dir_all(&dir) {
            if error.kind() == std::io::ErrorKind::NotFound || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Ends chromedriver's process group: chromedriver, Chromium (whose main
/// process `chromium`, when known, is given time to exit) and its helpers.
/// chromedriver killed alone would leave Chromium running.
fn stop(driver: &mut Child, chromium: Option<u32>) {
    let group = format!("-{}", driver.id());
    let signal = |name: &str| {
        let _ = Command::new("kill").args([name, "--", &group]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    signal("-TERM");
    if let Some(pid) = chromium {
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_running(pid) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    signal("-KILL");
    let _ = driver.wait();
}

/// Whether `pid` runs: exists and has not exited (a zombie waits for its
/// parent, chromedriver, to collect it).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// `<target dir>/browser-screenshots`: `CARGO_TARGET_DIR` when set, else the
/// repository's `target/`.
pub fn screenshot_dir() -> PathBuf {
    // Cargo gives integration tests `<target dir>/tmp`, wherever the target dir is.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target dir").to_path_buf();
    target.join("browser-screenshots")
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).filter(|value| !value.is_empty()).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Reads the port chromedriver prints once it listens.
async fn wait_for_port(driver: &mut Child, out: &Path) -> Result<u16, String> {
    let deadline = Instant::now() + START;
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .find_map(|line| line.split("started successfully on port ").nth(1))
            .and_then(|rest| rest.trim_end_matches('.').trim().parse().ok())
        {
            return Ok(port);
        }
        if let Some(status) = driver.try_wait().expect("chromedriver's status") {
            return Err(format!("stopped ({status}) before listening"));
        }
        if Instant::now() >= deadline {
            return Err(format!("did not listen within {START:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last lines of a log file, for a failure message.
fn read_tail(path: &Path) -> String {
    const LINES: usize = 40;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LINES);
            format!("--- {} (last {} lines)\n{}", path.display(), lines.len() - start, lines[start..].join("\n"))
        }
        Err(error) => format!("--- {}: {error}", path.display()),
    }
}
