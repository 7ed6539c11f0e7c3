//! `jitkit` does not link LLVM (it would cost every run ~17 ms of start-up); the commands that
//! need LLVM run in `jitkit-llvm`, found next to `jitkit`. (What those commands print is checked
//! in llvm_filter.rs, llvm_compile.rs and corpus_filter.rs, all through `jitkit`.)
#![cfg(feature = "llvm")] // jitkit-llvm is built only with the `llvm` feature (the default)

use std::path::Path;
use std::process::Command;

const JITKIT: &str = env!("CARGO_BIN_EXE_jitkit");
const COMPANION: &str = env!("CARGO_BIN_EXE_jitkit-llvm");

/// The shared libraries the dynamic loader maps for `binary`, as `ldd` lists them.
fn loaded_libraries(binary: &str) -> String {
    let out = Command::new("ldd").arg(binary).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {binary} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn jitkit_does_not_load_llvm_and_the_companion_does() {
    let jitkit = loaded_libraries(JITKIT);
    assert!(
        !jitkit.contains("libLLVM") && !jitkit.contains("libz3"),
        "jitkit loads LLVM at start-up:\n{jitkit}"
    );
    let companion = loaded_libraries(COMPANION);
    assert!(
        companion.contains("libLLVM-14"),
        "jitkit-llvm does not link LLVM 14:\n{companion}"
    );
    assert_eq!(
        Path::new(JITKIT).parent(),
        Path::new(COMPANION).parent(),
        "cargo puts both binaries in one directory, where jitkit looks"
    );
}

#[test]
fn llvm_commands_go_through_the_companion() {
    // The IR names the function the translation emits; only LLVM prints a ModuleID line.
    let out = Command::new(JITKIT)
        .args(["compile", "--emit", "llvm-ir", "udp"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ir = String::from_utf8_lossy(&out.stdout);
    assert!(ir.starts_with("; ModuleID = "), "{ir}");
    // The companion gives the same answers as jitkit for every other command.
    for binary in [JITKIT, COMPANION] {
        let out = Command::new(binary)
            .args(["compile", "-d", "udp"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("ldh      [12]"));
    }
}

#[test]
fn without_the_companion_llvm_commands_fail_with_one_line() {
    // A hard link, not a copy: a copy's write descriptor can leak into a child that another
    // test thread forks, and exec then fails with ETXTBSY. Same directory tree, same filesystem.
    let dir = Path::new(JITKIT).with_file_name(format!("jitkit-alone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let alone = dir.join("jitkit");
    let _ = std::fs::remove_file(&alone);
    std::fs::hard_link(JITKIT, &alone).unwrap();
    for args in [
        &["compile", "--emit", "llvm-ir", "udp"][..],
        &["filter", "--engine", "llvm", "-r", "x.pcap", "udp"][..],
    ] {
        let out = Command::new(&alone).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("jitkit: ") && err.contains("jitkit-llvm"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // Everything else still works without it.
    let out = Command::new(&alone)
        .args(["compile", "--emit", "x86", "udp"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
