//! LLVM-compiled filters next to libpcap's `bpf_filter()` (the anchor, same process and run) and
//! jitkit's direct cBPF JIT (`jitkit_bpf::cbpf::jit`):
//! ns/packet over every Ethernet packet of the corpus, compile time per filter (native code:
//! translation to mapped code; and the eBPF object), and the kernel's own time per packet for
//! the eBPF object (BPF_PROG_TEST_RUN `duration` with `repeat`, averaged over the packets).
//!
//! ```sh
//! cargo bench -p jitkit-llvm --bench llvm            # every filter
//! cargo bench -p jitkit-llvm --bench llvm -- tcp     # filters whose expression contains `tcp`
//! ```
//! `JITKIT_BENCH_MS` sets the time budget per engine (default 300 ms; the engines take turns). Every engine's
//! result is checked against libpcap's on every packet before it is timed.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use jitkit_bpf::cbpf::jit::JitFilter;
use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, ebpf_object, Options};
use jitkit_testkit::libpcap::{self, bpf_filter};
use support::kernel::{self, BpfFs};

/// (expression, label): the filter list every engine benchmark shares.
fn filters() -> Vec<(String, String)> {
    jitkit_testkit::bench_filters::engine_filters()
}

/// Nanoseconds per packet for each engine: the median over passes (each over every packet) of
/// this thread's CPU time per pass, so that other processes on the shared machine do not count.
/// The engines take turns pass by pass, so a busy or quiet spell of the machine falls on all of
/// them alike.
fn per_packet(
    engines: &[&dyn PacketFilter],
    packets: &[(Vec<u8>, u32)],
    budget: Duration,
) -> Vec<f64> {
    let start = Instant::now();
    let mut passes = vec![Vec::new(); engines.len()];
    while passes[0].len() < 5 || (start.elapsed() < budget && passes[0].len() < 1001) {
        for (engine, times) in engines.iter().zip(&mut passes) {
            let before = support::thread_cpu_time();
            let mut accepted = 0u32;
            for (packet, wire_len) in packets {
                accepted += u32::from(engine.run(black_box(packet), *wire_len) != 0);
            }
            black_box(accepted);
            times.push(support::thread_cpu_time() - before);
        }
    }
    passes
        .into_iter()
        .map(|mut times| {
            times.sort();
            times[times.len() / 2].as_secs_f64() * 1e9 / packets.len() as f64
        })
        .collect()
}

/// Median of `runs` measurements of `f`, in milliseconds: (wall time, this thread's CPU time).
fn median_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..runs {
        let (t, c) = (Instant::now(), support::thread_cpu_time());
        f();
        cpu.push((support::thread_cpu_time() - c).as_secs_f64() * 1e3);
        wall.push(t.elapsed().as_secs_f64() * 1e3);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[runs / 2], cpu[runs / 2])
}

fn main() {
    let selection: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let budget = Duration::from_millis(
        std::env::var("JITKIT_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    let packets: Vec<(Vec<u8>, u32)> = support::capture::ethernet_packets()
        .into_iter()
        .map(|p| (p.data, p.wire_len))
        .collect();
    // What BPF_PROG_TEST_RUN accepts (see tests/llvm_kernel.rs); the kernel sees caplen as len.
    let kernel_packets: Vec<&[u8]> = packets
        .iter()
        .map(|(p, _)| p.as_slice())
        .filter(|p| p.len() >= 54 && p.len() <= 3000)
        .collect();
    let fs = BpfFs::mount("bench");
    println!(
        "LLVM filters: CPU ns/packet over {} Ethernet corpus packets (median pass, budget {budget:?}); \
         kernel: BPF_PROG_TEST_RUN duration over {} packets x 100 repeats",
        packets.len(),
        kernel_packets.len()
    );
    println!(
        "{:<36} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>17} {:>17} | {:>7}",
        "filter",
        "insns",
        "libpcap",
        "jit",
        "llvm",
        "llvm/pcap",
        "llvm/jit",
        "compile cpu/wall",
        "ebpf obj cpu/wall",
        "kernel"
    );
    for (expression, label) in filters() {
        if !selection.is_empty() && !selection.iter().any(|s| expression.contains(s.as_str())) {
            continue;
        }
        let raw = support::libpcap_program(&expression, 1).expect("libpcap compiles it");
        let program = libpcap::from_raw(&raw);
        let options = Options::default();

        let libpcap = libpcap::Filter::from_raw(raw.clone());
        let llvm = compile_filter(&program, &options).expect("LLVM compiles it");
        for (n, (packet, wire_len)) in packets.iter().enumerate() {
            let want = bpf_filter(&raw, packet, *wire_len);
            assert_eq!(llvm.run(packet, *wire_len), want, "{label}: packet {n}");
        }
        let jit = JitFilter::compile(&program).expect("the direct JIT compiles it");
        for (n, (packet, wire_len)) in packets.iter().enumerate() {
            let want = bpf_filter(&raw, packet, *wire_len);
            assert_eq!(jit.run(packet, *wire_len), want, "{label}: jit, packet {n}");
        }
        let times = per_packet(&[&libpcap, &jit, &llvm], &packets, 3 * budget);
        let (t_libpcap, t_jit, t_llvm) = (times[0], times[1], times[2]);

        let compile = median_ms(9, || {
            drop(black_box(compile_filter(&program, &options).unwrap()))
        });
        let object_time = median_ms(9, || {
            drop(black_box(ebpf_object(&program, &options).unwrap()))
        });

        let object = ebpf_object(&program, &options).unwrap();
        let loaded = kernel::load_classifier(&fs, "bench", &object).expect("the kernel loads it");
        let mut kernel_ns = 0f64;
        for packet in &kernel_packets {
            let run = loaded.test_run(packet, 100).expect("BPF_PROG_TEST_RUN");
            assert_eq!(
                run.retval,
                bpf_filter(&raw, packet, packet.len() as u32),
                "{label}"
            );
            kernel_ns += f64::from(run.duration_ns);
        }
        kernel_ns /= kernel_packets.len() as f64;
        drop(loaded);

        println!(
            "{label:<36} {:>5} {t_libpcap:>8.2} {t_jit:>8.2} {t_llvm:>8.2} {:>8.2}x {:>7.2}x | {:>6.2} / {:>6.2} ms {:>6.2} / {:>6.2} ms | {kernel_ns:>7.2}",
            program.len(),
            t_libpcap / t_llvm,
            t_jit / t_llvm,
            compile.1,
            compile.0,
            object_time.1,
            object_time.0,
        );
    }
}
