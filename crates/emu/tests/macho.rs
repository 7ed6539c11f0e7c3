//! Mach-O x86-64 programs (the source document's system): built here without a libc with
//! `clang-14 -target x86_64-apple-macos10.12` and `ld64.lld-14`, run in the emulator, and checked
//! against the output and exit status they must have on macOS (macOS errno and flag numbers
//! from XNU's headers; file facts from the host). Every program runs twice: as linked (LC_MAIN,
//! started the way dyld starts a program without libraries) and rewritten to start from an
//! LC_UNIXTHREAD (the kernel's register state, as `ld -static` output has) through `crt0.s`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// How a case's arguments and expected output refer to the scratch directory.
const DIR: &str = "{dir}";

struct Case {
    name: &'static str,
    /// Source in tests/macho/ (`.c` or `.s`).
    source: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    stdout: &'static str,
    status: i32,
}

const CASES: &[Case] = &[
    Case {
        // The document's first goal: "simply exit the program with code 0".
        name: "exit",
        source: "exit.s",
        args: &[],
        env: &[],
        stdout: "",
        status: 0,
    },
    Case {
        name: "args",
        source: "args.c",
        args: &["x", "y z", ""],
        env: &[("MACHO_TEST", "a=b")],
        stdout: "argc 4\nargv: {prog}\nargv: x\nargv: y z\nargv: \nenv: MACHO_TEST=a=b\n\
                 apple[0] starts with executable_path=\n",
        status: 44,
    },
    Case {
        // The document's benchmark, smaller.
        name: "fib",
        source: "fib.c",
        args: &["24"],
        env: &[],
        stdout: "fib(24) = 46368\n",
        status: 0,
    },
    Case {
        name: "files",
        source: "files.c",
        args: &["{dir}/file.txt", "{dir}/sub"],
        env: &[],
        stdout: "open ok
write = 12
lseek end = 12
lseek set = 7
read = 5
file
fstat64 = 0
st_size 12 st_mode 420 regular 1
close = 0
stat64 = 0
st_size 12
open O_EXCL existing = errno 17
open O_EXLOCK ok
open O_EXLOCK|O_NONBLOCK again = errno 35
close locked = 0
unlink = 0
open missing = errno 2
read bad fd = errno 9
mkdir = 0
mkdir again = errno 17
rmdir = 0
pipe fds differ 1
lseek pipe = errno 29
fcntl F_SETFL O_NONBLOCK = 0
read empty nonblocking pipe = errno 35
write pipe = 2
read pipe = 2
mmap ok
MZ
munmap = 0
mmap bad flags = errno 22
getentropy = 0
getentropy too long = errno 5
unknown call 0x2000999 = errno 78
fork: wait4 returns the child 1, exit status 5
",
        status: 3,
    },
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/macho")
}

fn run_tool(cmd: &mut Command) -> Result<(), String> {
    let o = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

fn compile(source: &str, out: &Path) -> Result<PathBuf, String> {
    let obj = out.join(format!("{source}.o"));
    run_tool(
        Command::new("clang-14")
            .args(["-target", "x86_64-apple-macos10.12", "-O2", "-c"])
            .args(["-ffreestanding", "-fno-builtin", "-fno-stack-protector"])
            .arg(src_dir().join(source))
            .arg("-o")
            .arg(&obj),
    )?;
    Ok(obj)
}

/// Links a static macOS executable (no libraries) with the given entry symbol.
fn link(objs: &[PathBuf], entry: &str, exe: &Path) -> Result<(), String> {
    run_tool(
        Command::new("ld64.lld-14")
            .args([
                "-arch",
                "x86_64",
                "-platform_version",
                "macos",
                "10.12",
                "10.12",
            ])
            .args(["-e", entry, "-headerpad", "0x400", "-o"])
            .arg(exe)
            .args(objs),
    )
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// Rewrites an LC_MAIN executable into one that starts from LC_UNIXTHREAD at the same entry:
/// LC_MAIN and LC_LOAD_DYLINKER are dropped and an x86_THREAD_STATE64 with that RIP appended
/// (in the header padding that `-headerpad` reserved).
fn to_unixthread(image: &[u8]) -> Vec<u8> {
    let ncmds = u32_at(image, 16) as usize;
    let mut at = 32;
    let mut kept = Vec::new();
    let mut kept_n = 0u32;
    let mut entryoff = None;
    let mut text_vmaddr = 0;
    for _ in 0..ncmds {
        let (cmd, size) = (u32_at(image, at), u32_at(image, at + 4) as usize);
        let c = &image[at..at + size];
        match cmd {
            0x8000_0028 => entryoff = Some(u64::from_le_bytes(c[8..16].try_into().unwrap())),
            0xe => {}
            _ => {
                if cmd == 0x19 && &c[8..15] == b"__TEXT\0" {
                    text_vmaddr = u64::from_le_bytes(c[24..32].try_into().unwrap());
                }
                kept.extend_from_slice(c);
                kept_n += 1;
            }
        }
        at += size;
    }
    let rip = text_vmaddr + entryoff.expect("LC_MAIN");
    let mut thread = Vec::new();
    thread.extend_from_slice(&5u32.to_le_bytes()); // LC_UNIXTHREAD
    thread.extend_from_slice(&(16 + 42 * 4u32).to_le_bytes());
    thread.extend_from_slice(&4u32.to_le_bytes()); // x86_THREAD_STATE64
    thread.extend_from_slice(&42u32.to_le_bytes());
    let mut regs = [0u64; 21];
    regs[16] = rip;
    regs[17] = 0x202;
    for r in regs {
        thread.extend_from_slice(&r.to_le_bytes());
    }
    kept.extend_from_slice(&thread);
    let mut out = image.to_vec();
    let old_end = at;
    assert!(32 + kept.len() <= old_end + 0x400, "header padding");
    out[16..20].copy_from_slice(&(kept_n + 1).to_le_bytes());
    out[20..24].copy_from_slice(&(kept.len() as u32).to_le_bytes());
    let end = (32 + kept.len()).max(old_end);
    out[32..end].fill(0);
    out[32..32 + kept.len()].copy_from_slice(&kept);
    out
}

fn build(case: &Case, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let obj = compile(case.source, dir)?;
    let crt0 = compile("crt0.s", dir)?;
    let main_exe = dir.join(format!("{}-main", case.name));
    link(std::slice::from_ref(&obj), "_main", &main_exe)?;
    let thread_exe = dir.join(format!("{}-thread", case.name));
    let entry = if case.source.ends_with(".s") {
        "_main"
    } else {
        "start"
    };
    link(&[crt0, obj], entry, &thread_exe)?;
    let image = std::fs::read(&thread_exe).map_err(|e| e.to_string())?;
    std::fs::write(&thread_exe, to_unixthread(&image)).map_err(|e| e.to_string())?;
    Ok((main_exe, thread_exe))
}

fn check(case: &Case, exe: &Path, dir: &Path) -> Result<(), String> {
    let work = dir.join(format!(
        "work-{}",
        exe.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let w = work.display().to_string();
    let args: Vec<String> = case.args.iter().map(|a| a.replace(DIR, &w)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::emulate(exe, &args, None, case.env);
    let expected = case
        .stdout
        .replace(DIR, &w)
        .replace("{prog}", &exe.display().to_string());
    let got = String::from_utf8_lossy(&out.stdout);
    if got != expected || common::status(&out) != case.status {
        return Err(format!(
            "\n  expected status {} stdout {expected:?}\n  emulated status {} stdout {got:?}\n  stderr {:?}",
            case.status,
            common::status(&out),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn main() {
    common::child_main_if_requested();
    jitkit_testkit::require_tool("clang-14", "clang-14");
    jitkit_testkit::require_tool("ld64.lld-14", "lld-14");
    let dir = common::scratch("macho");
    let mut report = common::Report::new();
    for case in CASES {
        match build(case, &dir) {
            Ok((main_exe, thread_exe)) => {
                report.check(
                    &format!("{} (LC_MAIN)", case.name),
                    check(case, &main_exe, &dir),
                );
                report.check(
                    &format!("{} (LC_UNIXTHREAD)", case.name),
                    check(case, &thread_exe, &dir),
                );
            }
            Err(e) => report.check(case.name, Err(e)),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.finish();
}
