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

/// Runs `program` with `args`, without a shell, in the C locale, in a
/// process group of its own, and kills the whole group (apt's methods, dnf's
/// plugins: whatever it started) when it has not finished within `timeout`.
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
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new(program)
        .process_group(0)
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
    let group = child.id() as i32;
    let mut in_time = true;
    for _ in 0..2 {
        let left = timeout.saturating_sub(started.elapsed());
        if pipes_closed.recv_timeout(left).is_err() {
            in_time = false;
            break;
        }
    }
    // The pipes are closed; the child itself may still linger: bounded too.
    let status = if in_time {
        let left = timeout.saturating_sub(started.elapsed());
        child_wait_bounded(&mut child, left).map_err(|source| CollectError::Spawn {
            program: program.to_string(),
            source,
        })?
    } else {
        None
    };
    let Some(status) = status else {
        // Past the deadline the whole group goes, while the child is not yet
        // reaped (so its group id cannot have been reused); the pipes then
        // close and the readers end.
        kill_group(group);
        let _ = child_wait_bounded(&mut child, Duration::from_secs(5));
        let _ = out_reader.join();
        let _ = err_reader.join();
        return Err(CollectError::Timeout {
            command: command_line(),
            timeout,
        });
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    tracing::debug!(command = %command_line(), status = ?status.code(), elapsed_us = started.elapsed().as_micros() as u64, "ran");
    Ok(Output {
        status: status.code().unwrap_or(-1),
        stdout,
        stderr,
    })
}

/// Kills every process of the group `group` (the child's own).
fn kill_group(group: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Waits for `child` at most `limit`; `Ok(None)` when it is still running.
fn child_wait_bounded(
    child: &mut std::process::Child,
    limit: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(2));
    }
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

    /// A child that started grandchildren holding its pipes: the whole group
    /// is killed at the deadline and nothing is left running or blocked.
    #[test]
    fn a_deadline_kills_the_grandchildren_too() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        let script = format!("sleep 30 & echo $! > {}; sleep 30", pid_file.display());
        let started = Instant::now();
        let err = run("sh", &["-c".into(), script], Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, CollectError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "run returned");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let proc_dir = format!("/proc/{}", pid.trim());
        // Killed; at most a zombie until init reaps it.
        let gone = || {
            std::fs::read_to_string(format!("{proc_dir}/stat"))
                .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone() {
            assert!(Instant::now() < deadline, "the grandchild {pid} still runs");
            thread::sleep(Duration::from_millis(20));
        }
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
