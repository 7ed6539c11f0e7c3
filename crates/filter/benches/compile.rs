//! Filter compiler benchmark: for 30 everyday filters, our program length against libpcap's
//! optimized output, and compile time (ours vs libpcap's pcap_compile, median thread CPU time
//! per call, measured in alternating batches in the same run); then long `host A or host B ...`
//! lists.
//!
//! Run: `cargo bench -p jitkit-filter --bench compile`

use std::time::Duration;

use jitkit_filter::{compile, Options};
use jitkit_testkit::libpcap;

/// CPU time this thread has used: the machine is shared, and wall time measures the load.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer to a local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median CPU time of `runs` calls of `f`.
fn cpu_median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = thread_cpu_time();
            f();
            thread_cpu_time() - start
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

/// Median CPU time per call of `a` and of `b`, measured in alternating batches so that both
/// see the same machine.
fn cpu_per_call(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    let batch_of = |f: &mut dyn FnMut()| {
        let mut n = 1u32;
        loop {
            let t = thread_cpu_time();
            for _ in 0..n {
                f();
            }
            if thread_cpu_time() - t >= Duration::from_millis(2) || n >= 1 << 20 {
                return n;
            }
            n *= 2;
        }
    };
    let (na, nb) = (batch_of(&mut a), batch_of(&mut b));
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for _ in 0..31 {
        let t = thread_cpu_time();
        for _ in 0..na {
            a();
        }
        sa.push((thread_cpu_time() - t) / na);
        let t = thread_cpu_time();
        for _ in 0..nb {
            b();
        }
        sb.push((thread_cpu_time() - t) / nb);
    }
    sa.sort();
    sb.sort();
    (sa[sa.len() / 2], sb[sb.len() / 2])
}

/// The 30 everyday filters (one per line, `#` comments), shared with tests/program_length.rs,
/// then the everyday filters of the engines' benchmarks that are not among them.
fn everyday() -> Vec<&'static str> {
    let mut list: Vec<&'static str> = include_str!("../tests/data/everyday.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for extra in jitkit_testkit::bench_filters::EVERYDAY {
        if !list.contains(extra) {
            list.push(extra);
        }
    }
    list
}

fn hosts(n: usize) -> String {
    (0..n)
        .map(|i| format!("host 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn main() {
    // `JITKIT_COMPILE_PROFILE=N`: only compile the 30 filters N times (for perf/callgrind);
    // `JITKIT_COMPILE_ONLY=EXPR` narrows that to one of them.
    if let Some(n) = std::env::var("JITKIT_COMPILE_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let opts = Options::default();
        let mut list = everyday();
        if let Ok(only) = std::env::var("JITKIT_COMPILE_ONLY") {
            list.retain(|e| *e == only);
        }
        for _ in 0..n {
            for expr in &list {
                std::hint::black_box(compile(expr, 1, &opts).ok());
            }
        }
        return;
    }
    let opts = Options::default();
    println!("Filter compiler: program length (instructions) and compile time, EN10MB, optimized");
    println!(
        "{:<66} {:>5} {:>7} {:>10} {:>10} {:>7}",
        "filter", "ours", "libpcap", "ours µs", "libpcap µs", "speedup"
    );
    let (mut total_ours, mut total_theirs, mut not_longer) = (0, 0, 0);
    let mut slowest: Option<(f64, &str)> = None;
    let list = everyday();
    for expr in &list {
        let ours = compile(expr, 1, &opts).expect("compiles");
        let theirs = libpcap::compile(expr, 1, 262144, true).expect("libpcap compiles");
        let (t_ours, t_theirs) = cpu_per_call(
            || {
                std::hint::black_box(compile(expr, 1, &opts).ok());
            },
            || {
                std::hint::black_box(libpcap::compile(expr, 1, 262144, true).ok());
            },
        );
        let speedup = t_theirs.as_secs_f64() / t_ours.as_secs_f64();
        if slowest.is_none_or(|(s, _)| speedup < s) {
            slowest = Some((speedup, expr));
        }
        total_ours += ours.len();
        total_theirs += theirs.len();
        not_longer += usize::from(ours.len() <= theirs.len());
        println!(
            "{:<66} {:>5} {:>7} {:>10.1} {:>10.1} {:>6.1}x",
            expr,
            ours.len(),
            theirs.len(),
            t_ours.as_secs_f64() * 1e6,
            t_theirs.as_secs_f64() * 1e6,
            speedup
        );
    }
    println!(
        "total: ours {total_ours} instructions, libpcap {total_theirs}; ours no longer on {not_longer}/{}",
        list.len()
    );
    if let Some((speedup, expr)) = slowest {
        println!("lowest compile speedup: {speedup:.1}x (`{expr}`)");
    }
    println!();
    println!("Long host lists (`host A or host B or ...`):");
    for n in [100usize, 300, 1000, 10_000] {
        let expr = hosts(n);
        let t = cpu_median(5, || {
            std::hint::black_box(compile(&expr, 1, &opts).ok());
        });
        let len = compile(&expr, 1, &opts).map(|p| p.len()).unwrap_or(0);
        let theirs = if n <= 100 {
            let t = cpu_median(1, || {
                std::hint::black_box(libpcap::compile(&expr, 1, 262144, true).ok());
            });
            format!("libpcap {:.1} ms", t.as_secs_f64() * 1e3)
        } else {
            "libpcap not run (seconds to minutes)".to_string()
        };
        println!(
            "{n:>6} hosts: ours {:>8.2} ms, {len} instructions; {theirs}",
            t.as_secs_f64() * 1e3
        );
    }
}
