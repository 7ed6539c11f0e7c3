//! `jitkit run`: the emulator from the command line. Standard streams pass through, the exit
//! status is the guest's (128+signal when killed), --strace/--trace/--stats report on stderr,
//! and bad programs give one clear error line.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn jitkit(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jitkit");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn runs_busybox_and_passes_streams_and_status_through() {
    jitkit_testkit::require_tool("busybox", "busybox-static");
    let o = jitkit(&["run", "/bin/busybox", "echo", "hello", "world"], b"");
    assert_eq!(stdout(&o), "hello world\n");
    assert_eq!(o.status.code(), Some(0));

    let o = jitkit(
        &["run", "/bin/busybox", "tr", "a-z", "A-Z"],
        b"from stdin\n",
    );
    assert_eq!(stdout(&o), "FROM STDIN\n");

    let o = jitkit(
        &[
            "run",
            "/bin/busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
        b"",
    );
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn killed_guest_kills_jitkit_with_the_same_signal() {
    use std::os::unix::process::ExitStatusExt;
    let o = jitkit(&["run", "/bin/busybox", "sh", "-c", "kill -9 $$"], b"");
    assert_eq!(o.status.signal(), Some(9), "{:?} {}", o.status, stderr(&o));
    assert!(stderr(&o).contains("killed by signal 9"), "{}", stderr(&o));
    // A fault: the reason on stderr, then SIGSEGV (no core file of the emulator).
    let o = jitkit(&["run", "/bin/busybox", "sh", "-c", "kill -SEGV $$"], b"");
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{:?}", o.status);
    assert!(!o.status.core_dumped());
    // Pipelines: the writer of `yes | head -1` dies of SIGPIPE silently, as natively; the
    // shell (an emulated parent of emulated children) sees each child's real status.
    let o = jitkit(
        &[
            "run",
            "/bin/busybox",
            "sh",
            "-c",
            "yes | head -1; sh -c 'kill -PIPE $$'; echo status $?",
        ],
        b"",
    );
    assert_eq!(stdout(&o), "y\nstatus 141\n");
    assert_eq!(stderr(&o), "");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn strace_prints_system_calls() {
    let o = jitkit(&["run", "--strace", "/bin/busybox", "echo", "hi"], b"");
    assert_eq!(stdout(&o), "hi\n");
    let err = stderr(&o);
    assert!(err.contains("write(1, \"hi\\n\", 3) = 3"), "{err}");
    assert!(err.contains("exit_group(0"), "{err}");
}

#[test]
fn stats_and_trace_report_on_stderr() {
    let o = jitkit(&["run", "--stats", "/bin/busybox", "true"], b"");
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains(" instructions in "), "{}", stderr(&o));

    let o = jitkit(&["run", "--trace", "/bin/busybox", "true"], b"");
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    // One line per instruction: address, bytes, disassembly; the last one is the syscall.
    assert!(err.lines().count() > 1000, "{} lines", err.lines().count());
    assert!(
        err.lines().any(|l| l.ends_with(" syscall")),
        "no syscall traced"
    );
}

#[test]
fn bad_programs_are_one_line_errors() {
    let o = jitkit(&["run", "Cargo.toml"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("jitkit: cannot run Cargo.toml: not an ELF file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);

    let o = jitkit(&["run", "/nonexistent/prog"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/prog"), "{}", stderr(&o));

    let o = jitkit(&["run", "/bin/true"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dynamically linked"), "{}", stderr(&o));

    let o = jitkit(&["run", "--engine", "warp", "/bin/busybox", "true"], b"");
    assert_eq!(o.status.code(), Some(2));
}
