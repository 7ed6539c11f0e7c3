//! The command line itself: help, version, exit codes and one-line errors for every subcommand.

use std::process::{Command, Output};

fn jitkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitkit"))
        .args(args)
        .output()
        .expect("the jitkit binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An error must be one line starting with `jitkit: `, never a panic or a backtrace.
fn assert_one_line_error(out: &Output, code: i32) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "exit code for error {err:?}");
    assert!(
        err.starts_with("jitkit: "),
        "error does not start with `jitkit: `: {err:?}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "error is not one line: {err:?}"
    );
    assert!(!err.contains("panicked"), "panic: {err:?}");
}

#[test]
fn help_lists_the_five_subcommands() {
    let out = jitkit(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["asm", "run", "filter", "compile", "bpf"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(sub)),
            "--help does not list `{sub}`:\n{help}"
        );
    }
}

#[test]
fn every_subcommand_has_help_text_describing_its_options() {
    for sub in ["asm", "run", "filter", "compile", "bpf"] {
        let out = jitkit(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Usage: jitkit"), "{sub} --help:\n{help}");
        assert!(help.len() > 300, "{sub} --help is too thin:\n{help}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = jitkit(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("jitkit {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["frobnicate"][..],
        &["filter", "--no-such-option"],
        &["bpf"],
        &[],
    ] {
        let out = jitkit(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn missing_input_files_are_one_line_errors() {
    let missing = "/nonexistent/jitkit-test/input";
    let cases: &[&[&str]] = &[
        &[
            "filter",
            "-r",
            missing,
            "-w",
            "/tmp/jitkit-cli-test-out.pcap",
            "tcp",
        ],
        &["filter", "--cbpf", missing, "-r", missing],
        &["asm", missing],
        &["run", missing],
        &["bpf", "check", missing],
        &["bpf", "disasm", missing],
        &["compile", "-F", missing],
    ];
    for args in cases {
        let out = jitkit(args);
        assert_one_line_error(&out, 1);
    }
}

#[test]
fn unreadable_input_is_a_one_line_error() {
    // A directory where a file is expected.
    for args in [&["asm", "/"][..], &["bpf", "check", "/"], &["run", "/"]] {
        let out = jitkit(args);
        assert_one_line_error(&out, 1);
    }
}
