//! Multi-threaded C programs (static glibc and musl builds), run natively and in the emulator
//! with each engine: stdout and exit status must be identical. Guest threads share the
//! emulator's one host thread and are preempted after a time slice, so the programs that wait
//! by spinning end only if preemption works; under the translator, most of their instructions
//! must have run as translated code (threads do not fall back to the interpreter). Two
//! programs check atomic instructions: threads contending for locks and counters, and two
//! processes (fork) updating `MAP_SHARED` memory at the same moment on two host cores.

mod common;

use std::path::Path;

struct Case {
    program: &'static str,
    args: &'static [&'static str],
    /// The least share of instructions the translator must have run.
    min_translated: f64,
    /// Also run it in `--trace` mode (one instruction at a time).
    trace: bool,
}

const CASES: &[Case] = &[
    // Four threads computing without system calls.
    Case {
        program: "thread_compute",
        args: &["4", "20000"],
        min_translated: 0.97,
        trace: false,
    },
    // The main thread spins until a worker is done; then three threads pass a token by
    // spinning: neither ends without preemption inside translated loops.
    Case {
        program: "thread_spin",
        args: &[],
        min_translated: 0.97,
        trace: false,
    },
    // Mutex and condition-variable ping-pong with a little work per turn.
    Case {
        program: "thread_pingpong",
        args: &[],
        min_translated: 0.95,
        trace: false,
    },
    // Threads returning, calling pthread_exit, detached, and outliving their creator.
    Case {
        program: "thread_exit",
        args: &[],
        min_translated: 0.95,
        trace: false,
    },
    // The same, small enough to trace.
    Case {
        program: "thread_spin",
        args: &["1000", "2"],
        min_translated: 0.9,
        trace: true,
    },
    // A function rewritten between calls, alone and by one thread for another.
    Case {
        program: "thread_smc",
        args: &[],
        min_translated: 0.9,
        trace: false,
    },
    // fork from a thread while another computes; the child has only the forking thread.
    Case {
        program: "thread_fork",
        args: &[],
        min_translated: 0.95,
        trace: false,
    },
    // Mutex, lock xadd/cmpxchg/add/sub/inc/dec/and/or/xor and an xchg spin lock, four threads.
    Case {
        program: "thread_lock",
        args: &["4", "5000"],
        min_translated: 0.95,
        trace: false,
    },
    // Two processes, really in parallel: lost updates unless locked instructions on shared
    // pages are host atomics (interpreter and translator alike).
    Case {
        program: "fork_atomic",
        args: &["50000"],
        min_translated: 0.9,
        trace: false,
    },
    // execve from a thread while two others compute.
    Case {
        program: "thread_exec",
        args: &[],
        min_translated: 0.95,
        trace: false,
    },
];

const COMPILERS: &[(&str, &str)] = &[("glibc", "gcc"), ("musl", "musl-gcc")];

fn check(exe: &Path, case: &Case) -> Result<(), String> {
    let native = common::native(exe, case.args, None, &[]);
    let runs: &[&str] = if case.trace {
        &["jit", "interp", "trace"]
    } else {
        &["jit", "interp"]
    };
    for &engine in runs {
        let mut env = vec![(common::REPORT_TRANSLATED, "1")];
        if engine == "trace" {
            env.push((common::TRACE, "1"));
        } else {
            env.push(("JITKIT_EMU_ENGINE", engine));
        }
        let emulated = common::emulate(exe, case.args, None, &env);
        common::same(&native, &emulated).map_err(|e| format!("{engine}: {e}"))?;
        let (translated, all) = common::translated_share(&emulated)
            .ok_or_else(|| format!("{engine}: the child did not report its instructions"))?;
        let share = translated as f64 / all.max(1) as f64;
        let wanted = if engine == "jit" {
            case.min_translated
        } else {
            0.0
        };
        println!("     {engine}: {translated} of {all} instructions translated ({share:.3})");
        if share < wanted || (engine != "jit" && translated != 0) {
            return Err(format!(
                "{engine}: {translated} of {all} instructions ran translated ({share:.3}; \
                 wanted at least {wanted})"
            ));
        }
    }
    Ok(())
}

fn main() {
    common::child_main_if_requested();
    for (_, cc) in COMPILERS {
        jitkit_testkit::require_tool(cc, if *cc == "gcc" { "gcc" } else { "musl-tools" });
    }
    let dir = common::scratch("threads");
    let mut report = common::Report::new();
    for (libc, cc) in COMPILERS {
        for case in CASES {
            let result = common::build_c(cc, case.program, &dir).and_then(|exe| check(&exe, case));
            report.check(&format!("{} ({libc})", case.program), result);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.finish();
}
