//! Emulated (translator and interpreter) vs native vs qemu-x86_64 on the source document's
//! benchmark (recursive fib, static gcc -O2), on busybox sha256sum of a large file, on a
//! CPU-bound pthread program (`tests/programs/thread_compute.c`) and on a lock-heavy one
//! (`tests/programs/thread_lock.c`: mutex, lock xadd/cmpxchg/add/inc..., xchg spin lock). Each program runs as a child
//! process (the emulated one is this binary re-executed in emulator mode); CPU time (user+sys,
//! from wait4) is reported next to wall time because the machine is shared and wall time is
//! noisy.
//!
//! `cargo bench -p jitkit-emu --bench emulator` (fib(35), 16 MB, 4 threads x 50,000);
//! `JITKIT_BENCH_FIB=40 JITKIT_BENCH_MB=64` for the figures in BENCHMARKS.md;
//! `JITKIT_BENCH_ONLY=threads` (or `fib`, `sha256`, `locks`, comma-separated) runs a subset;
//! `JITKIT_BENCH_THREADS`, `JITKIT_BENCH_PER_THREAD` size the threaded workload,
//! `JITKIT_BENCH_LOCK_ITERS` the lock-heavy one (iterations per thread, same thread count).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn child_main_if_requested() {
    if std::env::var_os("JITKIT_EMU_CHILD").is_none() {
        return;
    }
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut emu = jitkit_emu::Emulator::new(args[0].as_bytes(), argv, vec![], Default::default())
        .expect("load");
    std::process::exit(emu.run().status());
}

/// Runs a command to completion; returns (wall, cpu, stdout) and checks the stdout. The child is reaped
/// with wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command, expect: &str) -> (Duration, Duration, String) {
    let start = Instant::now();
    let child = cmd.stdout(Stdio::piped()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.expect("stdout");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).expect("read");
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; pid is our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid pointers to locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(rc, pid, "wait4");
    let wall = start.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    assert!(
        text.contains(expect),
        "unexpected output {text:?} (wanted {expect:?})"
    );
    (wall, cpu, text)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    name: &'static str,
    wall: Duration,
    cpu: Duration,
}

fn bench(program: &Path, args: &[&str], expect: &str, reps: usize) -> Vec<Row> {
    let me = std::env::current_exe().expect("current_exe");
    let mut rows = Vec::new();
    let mut native_text = None;
    for name in [
        "native",
        "jitkit (translator)",
        "jitkit (interpreter)",
        "qemu-x86_64",
    ] {
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        for _ in 0..reps {
            let mut cmd = match name {
                "native" => Command::new(program),
                "qemu-x86_64" => {
                    let mut c = Command::new("qemu-x86_64");
                    c.arg(program);
                    c
                }
                _ => {
                    let mut c = Command::new(&me);
                    let engine = if name.contains("interp") {
                        "interp"
                    } else {
                        "jit"
                    };
                    c.env("JITKIT_EMU_CHILD", "1")
                        .env("JITKIT_EMU_ENGINE", engine)
                        .arg(program);
                    c
                }
            };
            cmd.args(args);
            let (w, c, text) = measure(&mut cmd, expect);
            // Every runner must print exactly what the native run printed.
            let reference = native_text.get_or_insert_with(|| text.clone());
            assert_eq!(&text, reference, "{name} printed something else");
            walls.push(w);
            cpus.push(c);
        }
        rows.push(Row {
            name,
            wall: median(walls),
            cpu: median(cpus),
        });
    }
    rows
}

fn print(title: &str, rows: &[Row]) {
    println!("{title}");
    let base = rows[0].cpu.as_secs_f64().max(1e-6);
    let base_wall = rows[0].wall.as_secs_f64().max(1e-6);
    for r in rows {
        println!(
            "  {:<22} cpu {:>8.3} s  wall {:>8.3} s  {:>7.1}x native (cpu)  {:>7.1}x native (wall)",
            r.name,
            r.cpu.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.cpu.as_secs_f64() / base,
            r.wall.as_secs_f64() / base_wall
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Builds `tests/programs/{name}.c` with `gcc -static -O2 -pthread` into `dir`.
fn build_c(name: &str, dir: &Path) -> PathBuf {
    let exe = dir.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
    let ok = Command::new("gcc")
        .args(["-static", "-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(ok.success(), "gcc failed");
    exe
}

fn main() {
    child_main_if_requested();
    let n: u32 = env_or("JITKIT_BENCH_FIB", 35);
    let mb: usize = env_or("JITKIT_BENCH_MB", 16);
    let reps: usize = env_or("JITKIT_BENCH_REPS", 3);
    let threads: u32 = env_or("JITKIT_BENCH_THREADS", 4);
    let per_thread: u64 = env_or("JITKIT_BENCH_PER_THREAD", 50_000);
    let lock_iters: u64 = env_or("JITKIT_BENCH_LOCK_ITERS", 50_000);
    // A comma-separated subset of fib,sha256,threads,locks (all by default).
    let only = std::env::var("JITKIT_BENCH_ONLY").unwrap_or_default();
    let wanted = |w: &str| only.is_empty() || only.split(',').any(|o| o == w);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("jitkit-emu-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");

    if wanted("fib") {
        let fib = build_c("fib", &dir);
        let expect = format!("fib({n}) = ");
        let rows = bench(&fib, &[&n.to_string()], &expect, reps);
        print(
            &format!("fib({n}), gcc -static -O2, median of {reps}"),
            &rows,
        );
    }

    if wanted("sha256") {
        let data = dir.join("data.bin");
        let bytes: Vec<u8> = (0..mb * 1024 * 1024)
            .map(|i| ((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
            .collect();
        std::fs::write(&data, bytes).expect("write data");
        let d = data.display().to_string();
        let rows = bench(
            Path::new("/bin/busybox"),
            &["sha256sum", &d],
            "data.bin",
            reps,
        );
        print(
            &format!("busybox sha256sum of {mb} MB, median of {reps}"),
            &rows,
        );
    }

    // Pthread programs `PROGRAM THREADS PER_THREAD`, which check their own totals: natively the
    // threads use every core; the emulator runs guest threads one at a time on one host thread,
    // so wall time is the figure to compare.
    let threaded = |program: &str, per_thread: u64, expected: &str| {
        let exe = build_c(program, &dir);
        let rows = bench(
            &exe,
            &[&threads.to_string(), &per_thread.to_string()],
            expected,
            reps,
        );
        print(
            &format!(
                "{program} {threads} {per_thread} ({threads} threads), gcc -static -O2 -pthread, \
                 median of {reps}"
            ),
            &rows,
        );
    };
    if wanted("threads") {
        // CPU-bound.
        threaded("thread_compute", per_thread, "total ");
    }
    if wanted("locks") {
        // Lock-heavy: natively the threads contend for the counters' cache lines.
        threaded("thread_lock", lock_iters, "total exact");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
