//! The cBPF interpreter against libpcap's `bpf_filter()` (the anchor, measured in the same run):
//! libpcap-compiled programs over every Ethernet packet of the tcpdump test corpus.
//!
//!     cargo bench -p jitkit-bpf --bench cbpf_interp
//!
//! Instruction counts instead of wall time (repeatable on a busy machine): build it, then
//!     CBPF_BENCH_ONCE=1 valgrind --tool=callgrind <bench binary>
//! and compare the inclusive counts of `bpf_filter` and `Interpreter::run`.

#[path = "../tests/cbpf_common/mod.rs"]
mod cbpf_common;

use std::hint::black_box;
use std::time::Duration;

use jitkit_bpf::cbpf::Interpreter;
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;

fn main() {
    let files: Vec<Vec<u8>> = jitkit_testkit::corpus_captures()
        .into_iter()
        .filter(|c| c.linktype == "EN10MB")
        .map(|c| std::fs::read(&c.path).expect("corpus file"))
        .collect();
    let packets: Vec<(&[u8], u32)> = files
        .iter()
        .flat_map(|f| cbpf_common::packets(f))
        .map(|p| (p.data, p.wire_len))
        .collect();
    let hosts: Vec<String> = (1..=50).map(|i| format!("host 10.0.{i}.{i}")).collect();
    let many_hosts = hosts.join(" or ");
    let expressions = [
        "ip",
        "tcp port 80",
        "ip host 10.0.0.1 and tcp port 22",
        "udp port 53 or tcp portrange 6000-6010",
        "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
        many_hosts.as_str(),
    ];
    println!(
        "{} Ethernet packets of the corpus; ns per packet (this thread's CPU time, median of 51 \
         passes); ratio = interp / libpcap",
        packets.len()
    );
    println!(
        "{:<45} {:>5} {:>9} {:>9} {:>7}",
        "expression", "insns", "libpcap", "interp", "ratio"
    );
    for expression in expressions {
        let raw = libpcap::compile(expression, 1, 262144, true).expect("compiles");
        let program = libpcap::from_raw(&raw);
        let interp = Interpreter::new(&program).expect("valid");
        if std::env::var_os("CBPF_BENCH_ONCE").is_some() {
            // One pass each, for `valgrind --tool=callgrind` (instruction counts: the machine is
            // too noisy for wall time at times).
            for &(data, len) in &packets {
                black_box(libpcap::bpf_filter(&raw, black_box(data), len));
                black_box(interp.run(black_box(data), len));
            }
            continue;
        }
        let libpcap_time = median_cpu_time(|| {
            for &(data, len) in &packets {
                black_box(libpcap::bpf_filter(&raw, black_box(data), len));
            }
        });
        let ours_time = median_cpu_time(|| {
            for &(data, len) in &packets {
                black_box(interp.run(black_box(data), len));
            }
        });
        let per = |d: Duration| d.as_secs_f64() * 1e9 / packets.len() as f64;
        let name: String = expression.chars().take(44).collect();
        println!(
            "{:<45} {:>5} {:>9.1} {:>9.1} {:>7.2}",
            name,
            program.len(),
            per(libpcap_time),
            per(ours_time),
            ours_time.as_secs_f64() / libpcap_time.as_secs_f64()
        );
    }
}

/// This thread's CPU time (not wall time: the machine is shared, other processes do not count).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median CPU time of 51 runs of `pass` (after 3 warm-up runs).
fn median_cpu_time(mut pass: impl FnMut()) -> Duration {
    for _ in 0..3 {
        pass();
    }
    let mut times: Vec<Duration> = (0..51)
        .map(|_| {
            let start = thread_cpu_time();
            pass();
            thread_cpu_time() - start
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
