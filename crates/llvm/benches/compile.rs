//! Compile time alone (no packets, no kernel): `compile_filter` for the filters of the `llvm`
//! benchmark, median CPU time of `JITKIT_COMPILE_RUNS` compiles (default 21) after one warm-up
//! compile that builds the thread's target machine. Also the harness for instruction counts,
//! which stay repeatable when the shared machine is busy:
//!
//! ```sh
//! cargo bench -p jitkit-llvm --bench compile                # every filter
//! cargo bench -p jitkit-llvm --bench compile -- 'tcp port 80'   # that filter (exact), or
//! cargo bench -p jitkit-llvm --bench compile -- tcp             # those containing `tcp`
//! JITKIT_COMPILE_RUNS=1 valgrind --tool=callgrind --toggle-collect='*measured_compiles*' \
//!     target/release/deps/compile-HASH 'tcp port 80'        # instructions of one compile
//! cargo bench -p jitkit-llvm --bench compile -- 'ip' --ir      # the IR code generation gets
//! cargo bench -p jitkit-llvm --bench compile -- 'ip' --ir0     # the IR as translated
//! JITKIT_LLVM_ARGS='-time-passes' cargo bench -p jitkit-llvm --bench compile   # LLVM's options
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use jitkit_bpf::cbpf::Insn;
use jitkit_llvm::{compile_filter, llvm_ir, Options};

/// (expression, label): the filter list every engine benchmark shares.
fn filters() -> Vec<(String, String)> {
    jitkit_testkit::bench_filters::engine_filters()
}

/// The compiles that are measured (a function of its own, so that callgrind's
/// `--toggle-collect` can count exactly these), CPU milliseconds each.
#[inline(never)]
fn measured_compiles(program: &[Insn], options: &Options, runs: usize) -> Vec<f64> {
    (0..runs)
        .map(|_| {
            let before = support::thread_cpu_time();
            drop(black_box(compile_filter(program, options).unwrap()));
            (support::thread_cpu_time() - before).as_secs_f64() * 1e3
        })
        .collect()
}

/// Hands `JITKIT_LLVM_ARGS` (space-separated) to LLVM's command-line option parser, as `llc`
/// would take them: `-time-passes` (a report at exit), `-debug-pass=Structure`, ...
fn llvm_options() {
    let Ok(args) = std::env::var("JITKIT_LLVM_ARGS") else {
        return;
    };
    let args: Vec<std::ffi::CString> = std::iter::once("jitkit")
        .chain(args.split_whitespace())
        .map(|a| std::ffi::CString::new(a).expect("no NUL in an argument"))
        .collect();
    let pointers: Vec<*const std::ffi::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    // SAFETY: `pointers` holds argc valid NUL-terminated strings (kept alive by `args`) and the
    // overview is a valid empty C string; LLVM copies what it keeps.
    unsafe {
        llvm_sys::support::LLVMParseCommandLineOptions(
            pointers.len() as i32,
            pointers.as_ptr(),
            c"".as_ptr(),
        )
    };
}

fn main() {
    let llvm_args = std::env::var_os("JITKIT_LLVM_ARGS").is_some();
    llvm_options();
    // On a thread of its own, whose thread-local LLVM state (target machines, codegen pipelines)
    // is gone when it ends: then LLVM can shut down and print what the options asked for (the
    // legacy pass manager's `-time-passes` report comes at shutdown).
    std::thread::spawn(compile_all)
        .join()
        .expect("the compiles succeed");
    if llvm_args {
        // SAFETY: no LLVM object is alive any more (the compiling thread has ended), and nothing
        // uses LLVM after this.
        unsafe { llvm_sys::core::LLVMShutdown() };
    }
}

fn compile_all() {
    let selection: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs: usize = std::env::var("JITKIT_COMPILE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21)
        .max(1);
    let print_ir = std::env::args().any(|a| a == "--ir");
    let print_translated = std::env::args().any(|a| a == "--ir0");
    let list = filters();
    // An argument equal to an expression selects that filter only; any other selects the filters
    // whose expression contains it.
    let selected = |expression: &str| {
        selection.is_empty()
            || selection.iter().any(|s| {
                let exact = list.iter().any(|(e, _)| e == s);
                if exact {
                    expression == s
                } else {
                    expression.contains(s.as_str())
                }
            })
    };
    let options = Options::default();
    println!("compile_filter: median CPU ms of {runs} compiles per filter");
    for (expression, label) in &list {
        if !selected(expression) {
            continue;
        }
        let raw = support::libpcap_program(expression, 1).expect("libpcap compiles it");
        let program = jitkit_testkit::libpcap::from_raw(&raw);
        if print_ir || print_translated {
            let options = Options {
                optimize: print_ir,
                ..Options::default()
            };
            println!("; {label}\n{}", llvm_ir(&program, &options).unwrap());
            continue;
        }
        // Warm-up: the thread's target machine, LLVM's lazily built tables.
        drop(compile_filter(&program, &options).expect("LLVM compiles it"));
        let mut times = measured_compiles(&program, &options, runs);
        times.sort_by(f64::total_cmp);
        println!(
            "{label:<36} {:>5} insns {:>7.2} ms (min {:.2})",
            program.len(),
            times[times.len() / 2],
            times[0]
        );
    }
}
