//! `jitkit asm` end to end: the example programs run in-process (`--run`) with the same output
//! and exit code as the same files built by gcc; `-o` gives the bytes of GNU as + objcopy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jitkit_testkit::{repo_root, require_tool};

/// Every program in examples/asm/, so a new example is covered without editing this file.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("examples/asm"))
        .expect("examples/asm")
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "s" {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_owned())
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 5,
        "examples/asm/ has too few programs: {names:?}"
    );
    names
}

fn jitkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jitkit"))
}

fn example(name: &str) -> PathBuf {
    repo_root().join("examples/asm").join(format!("{name}.s"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitkit-asm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn gcc_build(src: &Path, exe: &Path) {
    let out = Command::new("gcc")
        .arg("-o")
        .arg(exe)
        .arg(src)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc failed on {}: {}",
        src.display(),
        show(&out)
    );
}

#[test]
fn examples_run_like_gcc_builds() {
    require_tool("gcc", "gcc");
    for name in examples() {
        let name = name.as_str();
        let src = example(name);
        let exe = scratch(name);
        gcc_build(&src, &exe);
        let native = Command::new(&exe).output().expect("run the gcc build");
        let ours = jitkit()
            .arg("asm")
            .arg(&src)
            .arg("--run")
            .output()
            .expect("run jitkit");
        assert_eq!(
            (ours.status.code(), &ours.stdout),
            (native.status.code(), &native.stdout),
            "{name}: jitkit asm --run differs from gcc\njitkit: {}\ngcc: {}",
            show(&ours),
            show(&native)
        );
        assert!(ours.stderr.is_empty(), "{name}: {}", show(&ours));
    }
}

#[test]
fn alphabet_prints_the_seed_output() {
    let out = jitkit()
        .arg("asm")
        .arg(example("alphabet"))
        .arg("--run")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ\n",
        "{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn output_is_the_text_section_of_gnu_as() {
    require_tool("as", "binutils");
    require_tool("objcopy", "binutils");
    for name in examples() {
        let name = name.as_str();
        let src = example(name);
        let ours_bin = scratch(&format!("{name}.ours.bin"));
        let out = jitkit()
            .arg("asm")
            .arg(&src)
            .arg("-o")
            .arg(&ours_bin)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", show(&out));
        let obj = scratch(&format!("{name}.o"));
        let theirs_bin = scratch(&format!("{name}.as.bin"));
        let st = Command::new("as")
            .arg("-o")
            .arg(&obj)
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success());
        let st = Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&obj)
            .arg(&theirs_bin)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read(&ours_bin).unwrap(),
            std::fs::read(&theirs_bin).unwrap(),
            "{name}: .text bytes differ from GNU as"
        );
    }
}

#[test]
fn listing_shows_addresses_bytes_and_instructions() {
    let out = jitkit()
        .arg("asm")
        .arg(example("alphabet"))
        .arg("--listing")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("main:"), "{text}");
    assert!(text.contains("0000:  41 54"), "{text}");
    assert!(text.contains("push r12"), "{text}");
    assert!(text.contains("call"), "{text}");
}

#[test]
fn errors_name_file_line_and_column() {
    let src = scratch("bad.s");
    std::fs::write(
        &src,
        ".intel_syntax noprefix\nmain:\n    mov ah, sil\n    ret\n",
    )
    .unwrap();
    let out = jitkit().arg("asm").arg(&src).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.s:3:9: ah cannot be encoded with a REX prefix"),
        "{err}"
    );
}

#[test]
fn run_reports_undefined_symbols() {
    let src = scratch("undef.s");
    std::fs::write(
        &src,
        ".intel_syntax noprefix\n.globl main\nmain:\n    call no_such_function_anywhere\n    ret\n",
    )
    .unwrap();
    let out = jitkit().arg("asm").arg(&src).arg("--run").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("undefined symbol `no_such_function_anywhere`"),
        "{}",
        show(&out)
    );
}
