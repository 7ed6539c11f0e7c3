//! Whole C programs of our own, built static with glibc (gcc) and with musl (musl-gcc) at test
//! time, run natively and in the emulator: stdout and exit status must be identical.

mod common;

use std::path::Path;

/// Program, arguments (`{dir}` is replaced by a scratch directory), environment.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const CASES: &[Case] = &[
    ("arith", &[], &[]),
    ("strings", &[], &[]),
    ("malloc", &[], &[]),
    ("qsort", &[], &[]),
    ("printf", &[], &[]),
    ("files", &["{dir}"], &[]),
    ("setjmp", &[], &[]),
    ("atexit", &[], &[]),
    ("abort", &[], &[]),
    ("fib", &["27"], &[]),
    ("threads", &[], &[]),
    ("shared", &["{dir}"], &[]),
    // Code arenas of one and four pages: the translator fills them again and again, drops
    // every translation and decoded block, and translates the hot ones anew.
    ("fib", &["27"], &[("JITKIT_EMU_CODE_BYTES", "4096")]),
    ("qsort", &[], &[("JITKIT_EMU_CODE_BYTES", "16384")]),
    (
        "args",
        &["one", "two words", ""],
        &[("JITKIT_TEST_VAR", "value=with=equals")],
    ),
];

const COMPILERS: &[(&str, &str)] = &[("glibc", "gcc"), ("musl", "musl-gcc")];

fn main() {
    common::child_main_if_requested();
    for (_, cc) in COMPILERS {
        jitkit_testkit::require_tool(cc, if *cc == "gcc" { "gcc" } else { "musl-tools" });
    }
    let dir = common::scratch("programs");
    let mut report = common::Report::new();
    for (libc, cc) in COMPILERS {
        for (name, args, env) in CASES {
            let label = match env.iter().find(|(k, _)| *k == "JITKIT_EMU_CODE_BYTES") {
                Some((_, bytes)) => format!("{name} ({libc}, {bytes}-byte code arena)"),
                None => format!("{name} ({libc})"),
            };
            let result = common::build_c(cc, name, &dir).and_then(|exe| {
                let work_native = dir.join(format!("{name}-{libc}-native"));
                let work_emu = dir.join(format!("{name}-{libc}-emu"));
                std::fs::create_dir_all(&work_native).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(&work_emu).map_err(|e| e.to_string())?;
                let with = |d: &Path| -> Vec<String> {
                    args.iter()
                        .map(|a| a.replace("{dir}", &d.display().to_string()))
                        .collect()
                };
                let na = with(&work_native);
                let ea = with(&work_emu);
                let na: Vec<&str> = na.iter().map(String::as_str).collect();
                let ea: Vec<&str> = ea.iter().map(String::as_str).collect();
                let native = common::native(&exe, &na, None, env);
                let emulated = common::emulate(&exe, &ea, None, env);
                common::same(&native, &emulated)
            });
            report.check(&label, result);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.finish();
}
