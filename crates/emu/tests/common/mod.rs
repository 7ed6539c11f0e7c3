//! Shared by the whole-program test binaries (harness = false): they re-execute themselves with
//! `JITKIT_EMU_CHILD=1` to run a guest in a fresh, single-threaded process (guest stdout goes
//! straight to the process's fd 1, and fork must not happen in a multi-threaded test runner).

#![allow(dead_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// If this process is a child started by [`emulate`], runs the guest and exits with its status.
pub fn child_main_if_requested() {
    if std::env::var_os("JITKIT_EMU_CHILD").is_none() {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let path = args[0].as_bytes().to_vec();
    let argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let env = std::env::vars_os()
        .filter(|(k, _)| k != "JITKIT_EMU_CHILD")
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let mut options = jitkit_emu::Options::default();
    if std::env::var_os(TRACE).is_some() {
        options.trace = Some(Box::new(std::io::sink()));
    }
    let status = match jitkit_emu::Emulator::new(&path, argv, env, options) {
        Ok(mut emu) => {
            let outcome = emu.run();
            if let jitkit_emu::Outcome::Killed { reason, .. } = &outcome {
                eprintln!("emulated: {reason}");
            }
            if std::env::var_os(REPORT_TRANSLATED).is_some() {
                eprintln!(
                    "{TRANSLATED_PREFIX}{} of {}",
                    emu.translated_instructions(),
                    emu.instructions()
                );
            }
            outcome.status()
        }
        Err(e) => {
            eprintln!("emulated: {e}");
            255
        }
    };
    std::process::exit(status);
}

/// Set in a child's environment: the guest runs in `--trace` mode (the lines are discarded).
pub const TRACE: &str = "JITKIT_TEST_TRACE";

/// Set in a child's environment: when the guest ends, the child writes to stderr how many of
/// its instructions ran as translated code ([`translated_share`] reads it back).
pub const REPORT_TRANSLATED: &str = "JITKIT_TEST_REPORT_TRANSLATED";
const TRANSLATED_PREFIX: &str = "jitkit-emu test: translated instructions: ";

/// (translated, all) instructions of an [`emulate`] run with [`REPORT_TRANSLATED`] set.
pub fn translated_share(o: &Output) -> Option<(u64, u64)> {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(TRANSLATED_PREFIX))?;
    let (t, n) = line.split_once(" of ")?;
    Some((t.parse().ok()?, n.parse().ok()?))
}

/// Builds `tests/programs/{name}.c` static with `compiler` (gcc or musl-gcc) into `out`.
pub fn build_c(compiler: &str, name: &str, out: &Path) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
    let exe = out.join(format!("{name}-{compiler}"));
    let o = Command::new(compiler)
        .args(["-static", "-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(["-lm", "-pthread"])
        .output()
        .map_err(|e| format!("{compiler}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{compiler} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(exe)
}

fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut w = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    // A guest that hangs must fail the test, not the suite: kill it after a generous limit.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_err()
        {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    });
    let out = child.wait_with_output().expect("wait");
    let _ = tx.send(());
    let _ = watchdog.join();
    out
}

/// The exit status the way a shell reports it (128+signal when killed).
pub fn status(o: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    o.status
        .code()
        .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0))
}

pub fn native(program: &Path, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().copied());
    run(cmd, stdin)
}

pub fn emulate(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Output {
    let me = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(me);
    cmd.arg(program)
        .args(args)
        .env("JITKIT_EMU_CHILD", "1")
        .envs(env.iter().copied());
    run(cmd, stdin)
}

/// A fresh scratch directory for this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitkit-emu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs named checks, reports each, and exits non-zero if any failed.
pub struct Report {
    failures: Vec<String>,
    passed: usize,
}

impl Report {
    pub fn new() -> Report {
        Report {
            failures: Vec::new(),
            passed: 0,
        }
    }

    pub fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok   {name}");
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                self.failures.push(name.to_string());
            }
        }
    }

    pub fn finish(self) {
        println!(
            "{} passed, {} failed{}",
            self.passed,
            self.failures.len(),
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(": {}", self.failures.join(", "))
            }
        );
        if !self.failures.is_empty() {
            std::process::exit(1);
        }
    }
}

/// Compares two runs: stdout and status must be identical.
pub fn same(native: &Output, emulated: &Output) -> Result<(), String> {
    if native.stdout != emulated.stdout || status(native) != status(emulated) {
        return Err(format!(
            "\n  native   status {} stdout {:?}\n  emulated status {} stdout {:?}\n  emulated stderr {:?}",
            status(native),
            String::from_utf8_lossy(&native.stdout[..native.stdout.len().min(600)]),
            status(emulated),
            String::from_utf8_lossy(&emulated.stdout[..emulated.stdout.len().min(600)]),
            String::from_utf8_lossy(&emulated.stderr[..emulated.stderr.len().min(600)]),
        ));
    }
    Ok(())
}
