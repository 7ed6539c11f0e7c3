//! The filter-engine benchmark: everyday tcpdump filters over every Ethernet packet of the test
//! corpus, run by each engine in the same process and run, against libpcap's `bpf_filter` (the
//! baseline) and a hand-written Rust function per filter (the limit).
//!
//! ```sh
//! cargo bench -p jitkit --bench filter            # every filter and engine
//! cargo bench -p jitkit --bench filter -- 'tcp'   # only filters whose expression contains `tcp`
//! ```
//! `JITKIT_BENCH_MS` sets the time budget per measurement (default 300 ms).
//! `JITKIT_BENCH_PERF=ENGINE:PASSES` instead runs only ENGINE (`libpcap`, `jit`, `hand`, `floor`,
//! or `jit-batch`, `hand-batch`, `libpcap-batch`) for PASSES passes over the packets on each
//! selected filter and prints nothing else, for `perf stat` (run it once with 0 passes to count
//! the setup). Times are medians of
//! the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time, so that other processes
//! competing for the two cores do not count.
//!
//! Before timing, every engine's return value is checked against libpcap's on every packet, so a
//! fast wrong engine fails the benchmark instead of winning it. Every engine (libpcap's
//! `bpf_filter` included) is called the same way, through `&dyn PacketFilter`, as `jitkit filter`
//! calls it, in a plain loop over the packets' slices.
//!
//! The programs are libpcap's (`pcap_compile`, what tcpdump runs); the last columns run the JIT
//! on jitkit's own compiler's program for the same expression (`jitkit_filter::compile`), first
//! checked to give libpcap's verdict on every packet.
//!
//! The batch columns run `PacketFilter::run_batch` over the same packets in batches of
//! [`BATCH`] descriptors: the JIT's generated loop (one call per batch), the hand-written Rust
//! inlined into a plain loop (the limit for batches), and libpcap's `bpf_filter` in the default
//! `run_batch` loop, a direct call per packet with no `dyn` (libpcap has no batch interface; this
//! is the cheapest way to call it, a stricter baseline than the per-packet `dyn` loop).

#[path = "filter/handwritten.rs"]
mod handwritten;
#[path = "filter/packets.rs"]
mod packets;

use std::hint::black_box;
use std::time::Duration;

use jitkit_bpf::cbpf::jit::JitFilter;
use jitkit_bpf::cbpf::{Insn, Interpreter};
use jitkit_bpf::{PacketFilter, PacketRef};
use jitkit_testkit::libpcap;

use packets::Packets;

/// How many packets one `run_batch` call gets (what a capture reader might hand over at once).
const BATCH: usize = 256;

/// One everyday filter: its expression and the hand-written Rust that does the same, called per
/// packet (through a function pointer) and inlined into a batch loop.
struct Filter {
    expression: String,
    handwritten: fn(&[u8]) -> u32,
    handwritten_batch: fn(&[PacketRef], &mut [u32]),
}

/// The hand-written function `f` inlined into a loop over a batch: `f` is a function item (a
/// zero-sized type), so each instance of this is its own loop with the filter's code inside.
#[inline(always)]
fn handwritten_loop(f: impl Fn(&[u8]) -> u32, packets: &[PacketRef], verdicts: &mut [u32]) {
    for (packet, verdict) in packets.iter().zip(verdicts.iter_mut()) {
        *verdict = f(packet.bytes());
    }
}

/// A [`Filter`] from an expression and the name of its hand-written function.
macro_rules! filter {
    ($expression:expr, $function:path) => {
        Filter {
            expression: $expression.to_string(),
            handwritten: $function,
            handwritten_batch: |packets, verdicts| handwritten_loop($function, packets, verdicts),
        }
    };
}

fn filters() -> Vec<Filter> {
    vec![
        filter!("tcp port 80", handwritten::tcp_port_80),
        filter!("host 10.0.0.1", handwritten::host_10_0_0_1),
        filter!("udp and dst port 53", handwritten::udp_dst_port_53),
        filter!("ip and tcp[tcpflags] & tcp-syn != 0", handwritten::tcp_syn),
        filter!(
            "net 192.168.0.0/16 and not port 22",
            handwritten::net_192_168_not_port_22
        ),
        filter!("vlan and tcp", handwritten::vlan_tcp),
        filter!("ip6 and udp", handwritten::ip6_udp),
        filter!("icmp or arp", handwritten::icmp_or_arp),
        filter!(
            handwritten::host_list_expression(),
            handwritten::fifty_hosts
        ),
    ]
}

/// An engine under test: builds a runnable filter from the program (and the hand-written limit).
struct Engine {
    name: &'static str,
    build: fn(&[Insn], &Filter) -> Box<dyn PacketFilter>,
}

/// Every engine, baseline first and limit last. Add a row here for a new engine.
fn engines() -> Vec<Engine> {
    vec![
        Engine {
            name: "libpcap",
            build: |program, _| Box::new(libpcap::Filter::new(program)),
        },
        Engine {
            name: "interp",
            build: |program, _| Box::new(Interpreter::new(program).expect("valid program")),
        },
        Engine {
            name: "jit",
            build: |program, _| Box::new(JitFilter::compile(program).expect("JIT compiles")),
        },
        Engine {
            name: "llvm",
            build: |program, _| {
                let options = jitkit_llvm::Options::default();
                Box::new(jitkit_llvm::compile_filter(program, &options).expect("LLVM compiles"))
            },
        },
        Engine {
            name: "hand",
            build: |_, filter| {
                Box::new(Handwritten {
                    one: filter.handwritten,
                    batch: filter.handwritten_batch,
                })
            },
        },
    ]
}

/// A filter that does nothing: the cost of the benchmark loop and the `dyn` call alone.
struct CallFloor;

impl PacketFilter for CallFloor {
    fn run(&self, packet: &[u8], _wire_len: u32) -> u32 {
        packet.len() as u32
    }
}

/// The hand-written Rust function for the filter: per packet through a function pointer, per
/// batch in a loop with the function inlined.
struct Handwritten {
    one: fn(&[u8]) -> u32,
    batch: fn(&[PacketRef], &mut [u32]),
}

impl PacketFilter for Handwritten {
    fn run(&self, packet: &[u8], _wire_len: u32) -> u32 {
        (self.one)(packet)
    }

    fn run_batch(&self, packets: &[PacketRef], verdicts: &mut [u32]) {
        jitkit_bpf::assert_batch_lengths(packets, verdicts);
        (self.batch)(packets, verdicts)
    }
}

/// The cBPF program for an expression on Ethernet, as tcpdump would run it.
fn program(expression: &str) -> Vec<Insn> {
    let ethernet = libpcap::linktype_from_name("EN10MB").expect("libpcap knows EN10MB");
    libpcap::from_raw(
        &libpcap::compile(expression, ethernet, 262_144, true)
            .unwrap_or_else(|e| panic!("libpcap cannot compile `{expression}`: {e}")),
    )
}

/// jitkit's own compiler's program for an expression on Ethernet.
fn ours_program(expression: &str) -> Vec<Insn> {
    let ethernet = jitkit_filter::linktype::from_name("EN10MB").expect("EN10MB is known");
    jitkit_filter::compile(expression, ethernet, &jitkit_filter::Options::default())
        .unwrap_or_else(|e| panic!("jitkit_filter cannot compile `{expression}`: {e}"))
}

/// Panics unless `engine` returns what libpcap returns on every packet, one packet per call and
/// in batches.
fn check_agrees(
    name: &str,
    expression: &str,
    engine: &dyn PacketFilter,
    oracle: &[u32],
    packets: &[(&[u8], u32)],
    refs: &[PacketRef],
) {
    let mut batched = vec![u32::MAX; refs.len()];
    for (chunk, verdicts) in refs.chunks(BATCH).zip(batched.chunks_mut(BATCH)) {
        engine.run_batch(chunk, verdicts);
    }
    for (n, (&(packet, wire_len), expected)) in packets.iter().zip(oracle).enumerate() {
        let got = engine.run(packet, wire_len);
        assert_eq!(
            (got, batched[n]),
            (*expected, *expected),
            "{name} (run, run_batch) disagrees with libpcap on `{expression}`, packet {n} ({} \
             bytes)",
            packet.len()
        );
    }
}

/// CPU time this thread has used. The machine is shared and often busy: CPU time leaves out the
/// time the thread waits for a core, which wall time would count.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The median thread CPU time of one call of `f`, over batches of calls for about `budget`.
fn median_cpu_per_call(budget: Duration, mut f: impl FnMut()) -> Duration {
    let mut batch = 1u32;
    loop {
        let t = thread_cpu_time();
        for _ in 0..batch {
            f();
        }
        if thread_cpu_time() - t >= budget / 50 || batch >= 1 << 24 {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::new();
    let start = thread_cpu_time();
    while samples.len() < 5 || (thread_cpu_time() - start < budget && samples.len() < 101) {
        let t = thread_cpu_time();
        for _ in 0..batch {
            f();
        }
        samples.push((thread_cpu_time() - t) / batch);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// One pass of `engine` over every packet, one `run` call per packet: the loop a program
/// filtering packets it holds would write; `engine` is opaque behind `dyn`, so nothing needs
/// hiding from the optimizer but the count of accepted packets.
fn per_packet_pass<'a>(
    engine: &'a dyn PacketFilter,
    packets: &'a [(&[u8], u32)],
) -> impl FnMut() + 'a {
    move || {
        let mut accepted = 0u32;
        for &(packet, wire_len) in packets {
            accepted += (engine.run(packet, wire_len) != 0) as u32;
        }
        black_box(accepted);
    }
}

/// One pass of `engine.run_batch` over every packet, in batches of [`BATCH`]; the accepted
/// packets are counted after each batch, as a caller would.
fn batched_pass<'a>(engine: &'a dyn PacketFilter, refs: &'a [PacketRef]) -> impl FnMut() + 'a {
    let mut verdicts = vec![0u32; BATCH];
    move || {
        let mut accepted = 0u32;
        for chunk in refs.chunks(BATCH) {
            let out = &mut verdicts[..chunk.len()];
            engine.run_batch(chunk, out);
            accepted += out.iter().map(|&v| (v != 0) as u32).sum::<u32>();
        }
        black_box(accepted);
    }
}

/// The median thread CPU time of one call of each of `passes`, measured in turns: one sample of
/// each per round, rounds for about `budget` per pass. The machine is shared and its load
/// changes from second to second; taking the samples of every engine side by side exposes all
/// of them to the same load, so their ratios hold even when the absolute times drift.
fn median_cpu_interleaved(budget: Duration, passes: &mut [Box<dyn FnMut() + '_>]) -> Vec<Duration> {
    // Calls per sample: enough for a sample to take about budget / 50.
    let reps: Vec<u32> = passes
        .iter_mut()
        .map(|f| {
            let mut reps = 1u32;
            loop {
                let t = thread_cpu_time();
                for _ in 0..reps {
                    f();
                }
                if thread_cpu_time() - t >= budget / 50 || reps >= 1 << 24 {
                    return reps;
                }
                reps *= 2;
            }
        })
        .collect();
    let mut samples = vec![Vec::new(); passes.len()];
    let start = thread_cpu_time();
    let total = budget * passes.len() as u32;
    while samples[0].len() < 5 || (thread_cpu_time() - start < total && samples[0].len() < 101) {
        for ((f, reps), samples) in passes.iter_mut().zip(&reps).zip(&mut samples) {
            let t = thread_cpu_time();
            for _ in 0..*reps {
                f();
            }
            samples.push((thread_cpu_time() - t) / *reps);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect()
}

/// The `JITKIT_BENCH_PERF` mode: one engine, a fixed number of passes, no output.
fn perf_run(
    spec: &str,
    selection: &[String],
    engines: &[Engine],
    packets: &[(&[u8], u32)],
    refs: &[PacketRef],
) {
    let (name, passes) = spec
        .split_once(':')
        .and_then(|(n, p)| Some((n, p.parse::<u64>().ok()?)))
        .expect("JITKIT_BENCH_PERF=ENGINE:PASSES");
    let (engine_name, batched) = match name.strip_suffix("-batch") {
        Some(engine) => (engine, true),
        None => (name, false),
    };
    let mut verdicts = vec![0u32; refs.len()];
    for filter in filters() {
        if !selection
            .iter()
            .all(|s| filter.expression.contains(s.as_str()))
        {
            continue;
        }
        let program = program(&filter.expression);
        let engine: Box<dyn PacketFilter> = match engine_name {
            "floor" => Box::new(CallFloor),
            _ => {
                let engine = engines
                    .iter()
                    .find(|e| e.name == engine_name)
                    .expect("an engine of the benchmark");
                (engine.build)(&program, &filter)
            }
        };
        let mut accepted = 0u64;
        for _ in 0..passes {
            if batched {
                for (chunk, out) in refs.chunks(BATCH).zip(verdicts.chunks_mut(BATCH)) {
                    engine.run_batch(chunk, out);
                    accepted += out.iter().map(|&v| (v != 0) as u64).sum::<u64>();
                }
            } else {
                for &(packet, wire_len) in packets {
                    accepted += (engine.run(packet, wire_len) != 0) as u64;
                }
            }
        }
        black_box(accepted);
    }
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
    let corpus = Packets::ethernet_corpus();
    let packets = corpus.list();
    let refs: Vec<PacketRef> = packets.iter().map(|&(p, w)| PacketRef::new(p, w)).collect();
    let engines = engines();
    if let Ok(perf) = std::env::var("JITKIT_BENCH_PERF") {
        perf_run(&perf, &selection, &engines, &packets, &refs);
        return;
    }
    // Engines between the baseline (first) and the limit (last) get ratio columns.
    let middle: Vec<&str> = engines[1..engines.len() - 1]
        .iter()
        .map(|e| e.name)
        .collect();
    println!(
        "Filter engines over {} Ethernet corpus packets: median thread CPU time per packet (ns).\n\
         per packet: each engine through `&dyn PacketFilter::run` in a loop; `floor` is that loop \
         with a filter that does nothing.\n\
         batch: `run_batch` on {BATCH} packets per call: libpcap = bpf_filter called directly per \
         packet (no dyn), jit = the generated loop, hand = the hand-written Rust inlined in a \
         loop.\n\
         speedup = libpcap per packet / engine; `/direct` = libpcap batch (direct calls) / JIT \
         batch; vs hand = engine / hand-written (batch: JIT batch / hand batch). Budget \
         {budget:?} each.",
        packets.len()
    );
    print!("{:<36} {:>5} {:>5} |", "filter", "insns", "match");
    for engine in &engines {
        print!(" {:>7}", engine.name);
    }
    print!(
        " {:>6} | {:>7} {:>7} {:>7} |",
        "floor", "libpcap", "jit", "hand"
    );
    for name in &middle {
        print!(" {:>7}", name);
    }
    print!(" {:>7} {:>7} |", "jit bat", "/direct");
    for name in &middle {
        print!(" {:>7}", name);
    }
    println!(
        " {:>7} | jit compile | ours: insns     jit speedup",
        "jit bat"
    );
    print!("{:<36} {:>5} {:>5} |", "", "", "");
    for _ in &engines {
        print!(" {:>7}", "ns");
    }
    print!(
        " {:>6} | {:>7} {:>7} {:>7} |",
        "ns", "batch ns", "batch", "batch"
    );
    for _ in &middle {
        print!(" {:>7}", "speedup");
    }
    print!(" {:>7} {:>7} |", "speedup", "speedup");
    for _ in &middle {
        print!(" {:>7}", "vs hand");
    }
    println!(
        " {:>7} |             |               ns         |",
        "vs hand"
    );

    for filter in filters() {
        if !selection.is_empty()
            && !selection
                .iter()
                .any(|s| filter.expression.contains(s.as_str()))
        {
            continue;
        }
        let program = program(&filter.expression);
        let oracle_program = libpcap::to_raw(&program);
        let oracle: Vec<u32> = packets
            .iter()
            .map(|&(p, w)| libpcap::bpf_filter(&oracle_program, p, w))
            .collect();
        let matches = oracle.iter().filter(|&&v| v != 0).count();

        let built: Vec<Box<dyn PacketFilter>> = engines
            .iter()
            .map(|engine| {
                let built = (engine.build)(&program, &filter);
                check_agrees(
                    engine.name,
                    &filter.expression,
                    built.as_ref(),
                    &oracle,
                    &packets,
                    &refs,
                );
                built
            })
            .collect();

        // The same expression compiled by jitkit's own compiler, run by the JIT.
        let ours = ours_program(&filter.expression);
        let ours_jit = JitFilter::compile(&ours).expect("JIT compiles our program");
        check_agrees(
            "jit on jitkit_filter's program",
            &filter.expression,
            &ours_jit,
            &oracle,
            &packets,
            &refs,
        );

        // Every measurement of this filter, taken in turns: each engine per packet, the floor,
        // the batch runs, the JIT on our compiler's program.
        let mut passes: Vec<Box<dyn FnMut() + '_>> = Vec::new();
        for engine in &built {
            passes.push(Box::new(per_packet_pass(engine.as_ref(), &packets)));
        }
        passes.push(Box::new(per_packet_pass(&CallFloor, &packets)));
        for (engine, built) in engines.iter().zip(&built) {
            if ["libpcap", "jit", "hand"].contains(&engine.name) {
                passes.push(Box::new(batched_pass(built.as_ref(), &refs)));
            }
        }
        passes.push(Box::new(per_packet_pass(&ours_jit, &packets)));
        let per_packet: Vec<f64> = median_cpu_interleaved(budget, &mut passes)
            .iter()
            .map(|pass| pass.as_secs_f64() * 1e9 / packets.len() as f64)
            .collect();
        drop(passes);
        let (times, rest) = per_packet.split_at(engines.len());
        let [floor, direct_batch, jit_batch, hand_batch, ours_time] = rest[..] else {
            unreachable!("floor, three batch engines, ours")
        };
        let batch_times = [direct_batch, jit_batch, hand_batch];

        let compile = median_cpu_per_call(budget / 4, || {
            black_box(JitFilter::compile(black_box(&program)).expect("JIT compiles"));
        });

        let mut label = filter.expression.clone();
        if label.len() > 36 {
            label = format!("{}... (50 hosts)", &label[..18]);
        }
        print!("{label:<36} {:>5} {matches:>5} |", program.len());
        for t in times {
            print!(" {t:>7.2}");
        }
        print!(" {floor:>6.2} |");
        for t in &batch_times {
            print!(" {t:>7.2}");
        }
        print!(" |");
        let baseline = times[0];
        let limit = times[times.len() - 1];
        for t in &times[1..times.len() - 1] {
            print!(" {:>6.1}x", baseline / t);
        }
        print!(
            " {:>6.1}x {:>6.1}x |",
            baseline / jit_batch,
            direct_batch / jit_batch
        );
        for t in &times[1..times.len() - 1] {
            print!(" {:>6.2}x", t / limit);
        }
        print!(" {:>6.2}x", jit_batch / hand_batch);
        print!(" | {:>8.1} us", compile.as_secs_f64() * 1e6);
        println!(
            " | {:>11} {ours_time:>6.2} {:>6.1}x",
            ours.len(),
            baseline / ours_time
        );
    }
}
