//! Running a package manager: no shell, a deadline, the C locale, output captured.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::CollectError;

/// What a finished child process printed.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program` with `args`, without a shell, in the C locale, and kills it
/// when it has not finished within `timeout`.
pub fn run(program: &str, args: &[String], timeout: Duration) -> Result<Output, CollectError> {
    let started = Instant::now();
    let command_line = || {
        let mut s = program.to_string();
        for a in args.iter().take(8) {
            s.push(' ');
            s.push_str(a);
        }
        if args.len() > 8 {
            s.push_str(&format!(" … ({} more arguments)", args.len() - 8));
        }
        s
    };
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env_remove("LANGUAGE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CollectError::Spawn {
            program: program.to_string(),
            source,
        })?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    // The readers say when their pipe closes, which is when the child exits
    // (or closes them): the wait below wakes at once, no polling interval.
    let (closed, pipes_closed) = mpsc::channel();
    let closed_err = closed.clone();
    let out_reader = thread::spawn(move || {
        let text = read_all(out.as_mut());
        let _ = closed.send(());
        text
    });
    let err_reader = thread::spawn(move || {
        let text = read_all(err.as_mut());
        let _ = closed_err.send(());
        text
    });
    for _ in 0..2 {
        let left = timeout.saturating_sub(started.elapsed());
        if pipes_closed.recv_timeout(left).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CollectError::Timeout {
                command: command_line(),
                timeout,
            });
        }
    }
    let status = child.wait().map_err(|source| CollectError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    tracing::debug!(command = %command_line(), status = ?status.code(), elapsed_us = started.elapsed().as_micros() as u64, "ran");
    Ok(Output {
        status: status.code().unwrap_or(-1),
        stdout,
        stderr,
    })
}

/// Like [`run`], and a non-zero exit status is an error carrying stderr.
pub fn run_ok(program: &str, args: &[String], timeout: Duration) -> Result<Output, CollectError> {
    let out = run(program, args, timeout)?;
    if out.status != 0 {
        return Err(CollectError::Failed {
            program: program.to_string(),
            status: out.status,
            stderr: last_lines(&out.stderr, 5),
        });
    }
    Ok(out)
}

fn read_all(pipe: Option<&mut impl Read>) -> String {
    let mut buf = Vec::new();
    if let Some(p) = pipe {
        let _ = p.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Whether `program` can be found on `PATH` (or is an existing path itself).
pub fn available(program: &str) -> bool {
    which(program).is_some()
}

/// Where `program` is found on `PATH` (or the path itself, when it is one).
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.into());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_past_its_deadline_is_killed() {
        let started = Instant::now();
        let err = run("sleep", &["30".into()], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, CollectError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn failures_carry_stderr_and_status() {
        let err = run_ok("ls", &["/does/not/exist".into()], Duration::from_secs(10)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("ls exited with status 2"), "{msg}");
        assert!(msg.contains("No such file"), "{msg}");
    }

    #[test]
    fn no_shell_is_involved() {
        let out = run_ok("echo", &["$HOME; true".into()], Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout, "$HOME; true\n");
    }

    #[test]
    fn a_missing_program_is_named() {
        let err = run("pakiti-no-such-program", &[], Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("pakiti-no-such-program"));
        assert!(!available("pakiti-no-such-program"));
        assert!(available("ls"));
    }
}
