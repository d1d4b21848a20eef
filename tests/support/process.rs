//! The real `uic serve` binary as an operator starts it: a child process on
//! a free loopback port, configured by environment variables only, its whole
//! output (standard output and error) kept in a file the test can read.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::server::AUTH_TOKEN;

/// Bounds starting and stopping.
const BOUND: Duration = Duration::from_secs(40);

pub struct ServerProcess {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Everything the process wrote.
    pub log: PathBuf,
}

impl ServerProcess {
    /// `uic serve` in `dir` on `database_url` with the test salt, Twilio's
    /// test token and the project's flows, at log level `warn`.
    pub async fn start(dir: &Path, database_url: &str) -> ServerProcess {
        ServerProcess::start_with(dir, database_url, &[]).await
    }

    /// The same, with `vars` added or replacing the defaults.
    pub async fn start_with(dir: &Path, database_url: &str, vars: &[(&str, String)]) -> ServerProcess {
        ServerProcess::launch(dir, database_url, vars, None).await
    }

    /// The same under an open-file limit (`prlimit --nofile`), as systemd's
    /// `LimitNOFILE` or `ulimit -n` sets it.
    pub async fn start_with_open_files(
        dir: &Path,
        database_url: &str,
        vars: &[(&str, String)],
        open_files: u64,
    ) -> ServerProcess {
        ServerProcess::launch(dir, database_url, vars, Some(open_files)).await
    }

    async fn launch(dir: &Path, database_url: &str, vars: &[(&str, String)], open_files: Option<u64>) -> ServerProcess {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let defaults: Vec<(&str, String)> = vec![
            ("HOST", "127.0.0.1".into()),
            ("DATA_DIR", dir.display().to_string()),
            ("DATABASE_URL", database_url.into()),
            ("UIC_SALT", uic::core::salt::TEST_SALT.into()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
            ("FLOWS_DIR", root.join("flows").display().to_string()),
            ("LOCALES_DIR", root.join("locales").display().to_string()),
            ("LOG_LEVEL", "warn".into()),
        ];
        for attempt in 1..=3 {
            // A port free a moment ago; another process may take it first, hence the attempts.
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let log = dir.join(format!("serve-{port}.log"));
            let output = std::fs::File::create(&log).expect("log file");
            let mut command = match open_files {
                Some(limit) => {
                    let mut command = tokio::process::Command::new("prlimit");
                    command.arg(format!("--nofile={limit}:{limit}")).arg("--").arg(env!("CARGO_BIN_EXE_uic"));
                    command
                }
                None => tokio::process::Command::new(env!("CARGO_BIN_EXE_uic")),
            };
            command.arg("serve").current_dir(dir).env_clear().env("PORT", port.to_string());
            for (name, value) in &defaults {
                if !vars.iter().any(|(var, _)| var == name) {
                    command.env(name, value);
                }
            }
            for (name, value) in vars {
                command.env(name, value);
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(output.try_clone().expect("log file"))
                .stderr(output)
                .kill_on_drop(true)
                .spawn()
                .expect("uic serve starts");
            let base = format!("http://127.0.0.1:{port}");
            let client = super::http_client().timeout(Duration::from_secs(2)).build().expect("a client");
            let deadline = Instant::now() + BOUND;
            loop {
                if let Some(status) = child.try_wait().expect("server status") {
                    let text = read(&log);
                    if text.contains("cannot listen") && attempt < 3 {
                        break;
                    }
                    panic!("uic serve stopped ({status}) before answering /health:\n{text}");
                }
                if let Ok(response) = client.get(format!("{base}/health")).send().await
                    && response.status() == 200
                {
                    return ServerProcess { child, base, log };
                }
                if Instant::now() > deadline {
                    panic!("uic serve did not answer /health within {BOUND:?}:\n{}", read(&log));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        unreachable!("the last attempt panics or returns")
    }

    /// The resident memory of the process, in bytes (`VmRSS`).
    pub fn resident_bytes(&self) -> u64 {
        let pid = self.child.id().expect("a running server");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS");
        let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB");
        kib * 1024
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) {
        tokio::time::timeout(BOUND, self.child.kill()).await.expect("the killed server is reaped").expect("SIGKILL");
    }

    /// SIGTERM, as systemd stops it; waits for a clean exit and returns the log.
    pub async fn stop(mut self) -> String {
        let pid = self.child.id().expect("a running server");
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("kill");
        assert!(status.success(), "SIGTERM sent");
        let exit = tokio::time::timeout(BOUND, self.child.wait()).await.expect("the server stops").expect("exit");
        let log = read(&self.log);
        assert!(exit.success(), "uic serve ended with {exit}:\n{log}");
        log
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
