//! A harness for driving the `glossa` binary as a user does (after ripgrep's `TestCommand`):
//! arguments (paths as they are, no `to_str().unwrap()`), standard input, and one way to
//! check success or a clear failure.

#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod server;

#[allow(unused_imports)] // not every test binary talks to a server
pub use server::*;

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// `glossa` with `args`; add more with [`TestCommand::arg`].
pub fn glossa<I, S>(args: I) -> TestCommand
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glossa"));
    cmd.args(args).env("GLOSSA_LOG", "warn");
    TestCommand {
        cmd,
        stdin: Vec::new(),
    }
}

pub struct TestCommand {
    cmd: Command,
    stdin: Vec<u8>,
}

impl TestCommand {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// What the command reads on standard input (nothing by default).
    pub fn stdin(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.stdin = bytes.as_ref().to_vec();
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Starts the command with no input and its output discarded, for tests that stop it
    /// midway (a full pipe nobody reads would stall it).
    pub fn spawn(mut self) -> Child {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("glossa runs")
    }

    /// Runs the command to the end.
    pub fn output(mut self) -> Output {
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("glossa runs");
        // A command that fails early closes its stdin: a broken pipe here is not the test's
        // failure.
        let _ = child.stdin.take().unwrap().write_all(&self.stdin);
        child.wait_with_output().unwrap()
    }

    /// Runs the command and fails the test, with its stderr, unless it succeeds.
    pub fn ok(self) -> Output {
        let out = self.output();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    }

    /// Runs the command and fails the test unless it fails cleanly with every one of `want`
    /// in its stderr; returns that stderr.
    pub fn fails_with(self, want: &[&str]) -> String {
        let out = self.output();
        assert_fails_with(&out, want);
        stderr(&out)
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with the message, and never with a panic.
pub fn assert_fails_with(o: &Output, want: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    for w in want {
        assert!(err.contains(w), "stderr lacks {w:?}: {err}");
    }
}
