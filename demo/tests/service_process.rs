//! The demo service (package `ai-audit-demo`, built and started as a child process) under abuse:
//! thousands of idle partial-header connections do not keep a real request out, a connection
//! that never finishes its headers is closed, and a SIGTERM (graceful drain) or a SIGKILL
//! during load leaves every decision answered 200 with all three of its receipts in the store.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ai_audit::TenantId;
use ai_audit::store::SqliteStore;
use serde_json::Value;

/// The tests here start servers and load them: one at a time, so that their timings hold.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The demo service's binary.
fn service_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ai-audit-demo"))
}

/// A running service.
struct Service {
    child: Child,
    addr: String,
    db: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Service {
    /// Starts the service on an ephemeral port with its data in `dir`, under `envs`, with at
    /// most `nofile` descriptors.
    fn start(dir: &Path, envs: &[(&str, &str)], nofile: u32) -> Self {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -n {nofile} && exec \"$0\"")])
            .arg(service_binary())
            .env("AI_AUDIT_DATA_DIR", dir)
            .env("AI_AUDIT_SERVICE_ADDR", "127.0.0.1:0")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("ANTHROPIC_BASE_URL")
            .env_remove("AI_AUDIT_SIGNING_KEY")
            .env_remove("AI_AUDIT_TENANTS")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if line.starts_with("serving on ") {
                    let _ = tx.send(line.clone());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                String::new()
            });
        assert!(
            !line.is_empty(),
            "the service did not start: {}",
            stderr.lock().unwrap()
        );
        // serving on http://ADDR · store PATH · signing key HEX
        let mut parts = line.split(" · ");
        let addr = parts
            .next()
            .unwrap()
            .trim_start_matches("serving on http://");
        let db = parts.next().unwrap().trim_start_matches("store ");
        Self {
            child,
            addr: addr.to_owned(),
            db: PathBuf::from(db),
            stderr,
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-s", name, &pid]).status();
        assert!(status.unwrap().success());
    }

    /// Waits for the process to end (at most a minute).
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the service did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Half a request head: the request line and one header, never the blank line.
const PARTIAL: &[u8] = b"GET /metrics HTTP/1.1\r\nhost: flood\r\n";

/// Whether the server closed `s` (read gives end of file or an error), without waiting.
fn closed_by_server(mut s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0; 64];
    !matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

async fn decide(http: &reqwest::Client, addr: &str, trace: &str) -> Result<u16, reqwest::Error> {
    let r = http
        .post(format!("http://{addr}/v1/decide"))
        .header("x-tenant-id", "bank-eu")
        .header("x-trace-id", trace)
        .json(&serde_json::json!({
            "application": "Loan application: income 52000 EUR, asking 18000 EUR",
            "provider": "openai",
        }))
        .send()
        .await?;
    let status = r.status().as_u16();
    r.bytes().await?;
    Ok(status)
}

#[test]
fn five_thousand_idle_partial_header_connections_do_not_keep_a_request_out() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    // Fewer descriptors than the flood has connections: without a cap that sheds idle
    // connections, the service could not even accept the real request.
    let svc = Service::start(dir.path(), &[("AI_AUDIT_MAX_CONNECTIONS", "1000")], 2048);
    let mut flood = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let mut s =
            TcpStream::connect_timeout(&svc.addr.parse().unwrap(), Duration::from_secs(5)).unwrap();
        s.write_all(PARTIAL).unwrap();
        flood.push(s);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let status = rt
        .block_on(decide(&http, &svc.addr, "real-client"))
        .unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    // The cap held: the oldest idle connections were shed, at most 1,000 are open.
    let closed = flood.iter().filter(|s| closed_by_server(s)).count();
    assert!(
        closed >= 4000,
        "only {closed} of 5000 idle connections were closed"
    );
    drop(flood);
    svc.signal("TERM");
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed_after_the_header_read_timeout() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(
        dir.path(),
        &[("AI_AUDIT_HEADER_READ_TIMEOUT_MS", "500")],
        1024,
    );
    let mut s = TcpStream::connect(&svc.addr).unwrap();
    let started = Instant::now();
    s.write_all(PARTIAL).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    // Whatever the server says before closing, the read ends with the connection.
    let _ = s.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(450)..Duration::from_secs(3)).contains(&took),
        "closed after {took:?}"
    );
}

/// Sends decisions from 8 clients until the service stops answering, sends `signal` after
/// `after`; returns the trace ids of the decisions answered 200.
fn load_and_signal(svc: &Service, signal: &str, after: Duration) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let addr = svc.addr.clone();
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut ok = Vec::new();
                    let mut failures = 0;
                    for i in 0.. {
                        let trace = format!("load-{c}-{i}");
                        match decide(&http, &addr, &trace).await {
                            Ok(200) => ok.push(trace),
                            Ok(_) => {}
                            // Refused or reset: the service is going away.
                            Err(_) => failures += 1,
                        }
                        if failures >= 3 {
                            break;
                        }
                    }
                    ok
                })
            })
            .collect();
        tokio::time::sleep(after).await;
        svc.signal(signal);
        let mut ok = Vec::new();
        for c in clients {
            ok.extend(c.await.unwrap());
        }
        ok
    })
}

/// The receipts of tenant `bank-eu` in the service's store, by trace id: their first reason
/// codes (`decision:…`).
fn decisions_by_trace(db: &Path) -> HashMap<String, Vec<String>> {
    let store = SqliteStore::open(db).unwrap();
    let mut by_trace: HashMap<String, Vec<String>> = HashMap::new();
    for e in ai_audit::store::receipts(&store, &TenantId::new("bank-eu"), 0..u64::MAX) {
        let r: Value = serde_json::from_slice(&e.unwrap().line).unwrap();
        by_trace
            .entry(r["trace_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(r["reason_codes"][0].as_str().unwrap().to_owned());
    }
    by_trace
}

fn assert_every_answered_decision_has_its_receipts(answered: &[String], db: &Path) {
    assert!(
        answered.len() >= 20,
        "only {} decisions answered",
        answered.len()
    );
    let stored = decisions_by_trace(db);
    for trace in answered {
        let mut kinds = stored.get(trace).cloned().unwrap_or_default();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                "decision:http",
                "decision:loan_policy",
                "decision:openai.chat_completions"
            ],
            "decision {trace} was answered 200"
        );
    }
}

#[test]
fn a_sigterm_during_load_drains_and_leaves_every_answered_decision_with_its_receipts() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::start(dir.path(), &[], 1024);
    let answered = load_and_signal(&svc, "TERM", Duration::from_millis(1500));
    let status = svc.wait();
    let log = svc.stderr.lock().unwrap().clone();
    assert!(status.success(), "exit {status:?}: {log}");
    assert!(log.contains("drained and shut down"), "{log}");
    assert_every_answered_decision_has_its_receipts(&answered, &svc.db);
}

#[test]
fn a_sigkill_during_load_leaves_every_answered_decision_with_its_receipts() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::start(dir.path(), &[], 1024);
    let answered = load_and_signal(&svc, "KILL", Duration::from_millis(1500));
    assert!(!svc.wait().success());
    assert_every_answered_decision_has_its_receipts(&answered, &svc.db);
}
