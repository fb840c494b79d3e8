//! aimock (`@copilotkit/aimock`, a third-party OpenAI- and Anthropic-compatible mock server),
//! installed with npm into `target/aimock` (once, under a file lock; `.ci/run` does it first) and
//! started per test on a free port with the fixtures in `../shared/llm/aimock-fixtures.json`.
//! Its `llmock` script runs as one `node` process, stopped on drop.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned aimock package.
pub(crate) const PACKAGE: &str = "@copilotkit/aimock@1.43.0";

/// A running aimock; stopped on drop.
pub(crate) struct Aimock {
    child: Child,
    port: u16,
}

fn fixtures() -> PathBuf {
    std::env::var_os("AIMOCK_FIXTURES").map_or_else(
        || super::workspace().join("../shared/llm/aimock-fixtures.json"),
        PathBuf::from,
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("\"ok\"")
}

/// `target/aimock/node_modules/.bin/llmock` (or `AIMOCK_BIN`), installed if missing. `None`
/// when npm is missing or fails — unless `CI` is set, where that is a failure.
fn llmock() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AIMOCK_BIN") {
        return Some(PathBuf::from(p));
    }
    let prefix = super::workspace().join("target/aimock");
    let bin = prefix.join("node_modules/.bin/llmock");
    std::fs::create_dir_all(&prefix).unwrap();
    let lock = std::fs::File::create(prefix.join("install.lock")).unwrap();
    lock.lock().unwrap();
    if !bin.exists() {
        let installed = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(PACKAGE)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed || !bin.exists() {
            let _ = lock.unlock();
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs node and npm to install aimock ({PACKAGE})"
            );
            eprintln!("SKIP: cannot install aimock ({PACKAGE}) with npm");
            return None;
        }
    }
    let _ = lock.unlock();
    Some(bin)
}

impl Aimock {
    /// Starts aimock; with `api_key`, it answers 401 unless the request carries that key.
    /// `None` when aimock cannot be installed — unless `CI` is set, where that is a failure.
    pub(crate) fn start(api_key: Option<&str>) -> Option<Self> {
        let bin = llmock()?;
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg("-f")
            .arg(fixtures())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match api_key {
            Some(k) => cmd.env("AIMOCK_API_KEYS", k),
            None => cmd.env_remove("AIMOCK_API_KEYS"),
        };
        let child = cmd.spawn().unwrap();
        let mut mock = Self { child, port };
        let started = Instant::now();
        while !healthy(port) {
            let exited = mock.child.try_wait().ok().flatten();
            assert!(
                exited.is_none(),
                "aimock exited with {exited:?} before it served"
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "aimock did not come up on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(mock)
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Aimock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
