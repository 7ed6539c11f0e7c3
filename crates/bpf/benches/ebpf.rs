//! Converted filters (cBPF -> eBPF) in our eBPF JIT, next to libpcap's `bpf_filter()` (the anchor,
//! same process and run), rbpf's JIT and the kernel:
//! - `ours`: the LD_ABS form in our JIT, every packet load bounds-checked by the generated code;
//! - `ours direct`: the direct-access form (bounds checks written in the program) in our JIT,
//!   which also checks every load against the stack, context and packet regions;
//! - `rbpf jit`: the direct-access form in rbpf 0.3's JIT (which checks nothing itself: the
//!   program's own data_end checks make it correct);
//! - `kernel`: the LD_ABS form loaded as a tc classifier, BPF_PROG_TEST_RUN `duration` (ns per
//!   run, `repeat` 200), averaged over a sample of the packets.
//!
//! ```sh
//! cargo bench -p jitkit-bpf --bench ebpf            # every filter
//! cargo bench -p jitkit-bpf --bench ebpf -- tcp     # filters whose expression contains `tcp`
//! ```
//! ns/packet is this thread's CPU time for a pass over every Ethernet packet of the corpus
//! (median of passes within `JITKIT_BENCH_MS`, default 300 ms), so other processes on the two
//! cores do not count. Every engine is checked against libpcap on every packet before timing.

#[path = "../tests/ebpf_support/mod.rs"]
mod ebpf_support;

use jitkit_bpf::ebpf::kernel::{self, KernelProgram, PROG_TYPE_SCHED_CLS};
use jitkit_bpf::ebpf::{
    convert, convert_with, encode, jit, verify, DirectContext, EbpfFilter, Helpers, Memory,
    PacketAccess,
};
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;
use std::hint::black_box;
use std::time::Duration;

/// This thread's CPU time.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median CPU ns per packet of `pass` (one call = every packet once).
fn per_packet(packets: usize, budget: Duration, mut pass: impl FnMut() -> u64) -> f64 {
    black_box(pass());
    let mut samples = Vec::new();
    let start = thread_cpu_time();
    while samples.len() < 5 || (thread_cpu_time() - start < budget && samples.len() < 201) {
        let before = thread_cpu_time();
        black_box(pass());
        samples.push(thread_cpu_time() - before);
    }
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e9 / packets as f64
}

/// (expression, label): the filter list every engine benchmark shares.
fn filters() -> Vec<(String, String)> {
    jitkit_testkit::bench_filters::engine_filters()
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let budget = Duration::from_millis(
        std::env::var("JITKIT_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    let ether = libpcap::linktype_from_name("EN10MB").unwrap();
    let packets: Vec<(Vec<u8>, u32)> = jitkit_testkit::corpus_captures()
        .into_iter()
        .filter(|c| c.linktype == "EN10MB")
        .flat_map(|c| ebpf_support::read_packets(&c.path))
        .map(|p| (p.data, p.wire_len))
        .collect();
    // The kernel takes 14..=3000 bytes and IPv4/IPv6 packets with their whole network header.
    let kernel_sample: Vec<&[u8]> = packets
        .iter()
        .map(|(d, _)| d.as_slice())
        .filter(|d| {
            d.len() <= kernel::MAX_TEST_RUN_DATA
                && match d.get(12..14) {
                    None => false,
                    Some([8, 0]) => d.len() >= 34,
                    Some([0x86, 0xdd]) => d.len() >= 54,
                    Some(_) => true,
                }
        })
        .step_by(10)
        .collect();
    println!(
        "{} Ethernet packets; kernel: {} of them, repeat 200",
        packets.len(),
        kernel_sample.len()
    );
    println!("| filter | cBPF | eBPF | libpcap ns | ours ns | vs libpcap | ours direct ns | rbpf jit ns | ours vs rbpf | kernel ns |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (expr, label) in filters() {
        if !wanted.is_empty() && !wanted.iter().any(|w| expr.contains(w.as_str())) {
            continue;
        }
        let raw = libpcap::compile(&expr, ether, 262144, true).unwrap();
        let cbpf = ebpf_support::to_cbpf(&raw);
        let ldabs = convert(&cbpf).unwrap();
        let ours = EbpfFilter::jit(&cbpf).unwrap();
        let direct = convert_with(&cbpf, PacketAccess::Direct).unwrap();
        let direct_jit =
            jit::compile(&verify(&direct, &Helpers::new(), &Default::default()).unwrap()).unwrap();
        let direct_bytes = encode(&direct);
        let mut rbpf_vm = rbpf::EbpfVmMbuff::new(Some(&direct_bytes)).unwrap();
        rbpf_vm.jit_compile().unwrap();
        let mut copies: Vec<Vec<u8>> = packets.iter().map(|(d, _)| d.clone()).collect();

        let run_direct = |data: &[u8], wire: u32| -> u64 {
            let mut ctx = DirectContext::new(data, wire).to_bytes();
            direct_jit
                .run(Memory {
                    ctx: &mut ctx,
                    packet: data,
                })
                .unwrap()
        };
        let run_rbpf = |data: &mut Vec<u8>, wire: u32| -> u64 {
            let mut ctx = DirectContext::new(data, wire).to_bytes();
            // SAFETY: rbpf's JIT checks nothing; the direct-access program compares every
            // packet access with data_end itself and touches only its stack and the context.
            unsafe { rbpf_vm.execute_program_jit(data, &mut ctx) }.unwrap()
        };
        // Correctness first.
        for ((data, wire), copy) in packets.iter().zip(copies.iter_mut()) {
            let want = libpcap::bpf_filter(&raw, data, *wire);
            assert_eq!(ours.run(data, *wire), want, "ours, `{label}`");
            assert_eq!(
                run_direct(data, *wire),
                want as u64,
                "ours direct, `{label}`"
            );
            assert_eq!(run_rbpf(copy, *wire), want as u64, "rbpf, `{label}`");
        }
        let n = packets.len();
        let t_pcap = per_packet(n, budget, || {
            packets
                .iter()
                .map(|(d, w)| libpcap::bpf_filter(&raw, d, *w) as u64)
                .sum()
        });
        let t_ours = per_packet(n, budget, || {
            packets.iter().map(|(d, w)| ours.run(d, *w) as u64).sum()
        });
        let t_direct = per_packet(n, budget, || {
            packets.iter().map(|(d, w)| run_direct(d, *w)).sum()
        });
        let t_rbpf = per_packet(n, budget, || {
            copies
                .iter_mut()
                .zip(&packets)
                .map(|(c, (_, w))| run_rbpf(c, *w))
                .sum()
        });
        let loaded = KernelProgram::load(PROG_TYPE_SCHED_CLS, &ldabs).unwrap();
        let total: u64 = kernel_sample
            .iter()
            .map(|p| loaded.test_run(p, 200).unwrap().duration_ns as u64)
            .sum();
        let t_kernel = total as f64 / kernel_sample.len() as f64;
        println!(
            "| {label} | {} | {} | {t_pcap:.1} | {t_ours:.1} | {:.1}x | {t_direct:.1} | {t_rbpf:.1} | {:.2}x | {t_kernel:.1} |",
            raw.len(),
            ldabs.len(),
            t_pcap / t_ours,
            t_rbpf / t_ours,
        );
    }
}
