//! `jitkit compile --emit llvm-ir|dot|ebpf|ebpf-elf`: the object loads into the kernel as a tc
//! classifier (`bpftool prog load OBJ PIN type classifier`), `--emit ebpf` lists it as
//! `llvm-objdump -d --mcpu=v3` does, the IR is the optimized module (unoptimized with -O0).

use std::path::Path;
use std::process::{Command, Output};

fn jitkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitkit"))
        .args(args)
        .output()
        .expect("the jitkit binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn emits_ir_cfg_listing_and_a_loadable_object() {
    jitkit_testkit::require_tool("bpftool", "bpftool");
    jitkit_testkit::require_tool("llvm-objdump-14", "llvm-14");
    let dir = std::env::temp_dir().join(format!("jitkit-llvm-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let expr = "tcp port 80";

    let optimized = stdout(&jitkit(&["compile", "--emit", "llvm-ir", expr]));
    assert!(optimized.contains("define i32 @filter(") && !optimized.contains("alloca"));
    let plain = stdout(&jitkit(&["compile", "-O", "0", "--emit", "llvm-ir", expr]));
    assert!(plain.contains("%A = alloca i32") && plain.contains("\ninsn.0:"));
    let dot = stdout(&jitkit(&["compile", "--emit", "dot", expr]));
    assert!(dot.starts_with("digraph \"CFG for 'filter' function\" {") && dot.contains(" -> "));

    let object = dir.join("prog.o");
    let object_str = object.to_str().unwrap();
    stdout(&jitkit(&[
        "compile", "--emit", "ebpf-elf", "-o", object_str, expr,
    ]));
    let listing = stdout(&jitkit(&["compile", "--emit", "ebpf", expr]));
    let objdump = Command::new("llvm-objdump-14")
        .args(["-d", "--mcpu=v3", object_str])
        .output()
        .unwrap();
    let objdump = stdout(&objdump).replacen(&format!("{object_str}:\t"), "", 1);
    assert_eq!(listing, objdump);

    // Without -o the object would go to the terminal: a usage error.
    let out = jitkit(&["compile", "--emit", "ebpf-elf", expr]);
    assert_eq!(out.status.code(), Some(2));

    let fs = dir.join("bpffs");
    std::fs::create_dir_all(&fs).unwrap();
    assert!(Command::new("mount")
        .args(["-t", "bpf", "bpf"])
        .arg(&fs)
        .status()
        .unwrap()
        .success());
    let pin = fs.join("jitkit_tcp80");
    let load = Command::new("bpftool")
        .args(["prog", "load", object_str])
        .arg(&pin)
        .args(["type", "classifier"])
        .output()
        .unwrap();
    let loaded = load.status.success() && Path::new(&pin).exists();
    let _ = std::fs::remove_file(&pin);
    let _ = Command::new("umount").arg(&fs).status();
    assert!(
        loaded,
        "bpftool prog load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
