//! The filter-engine benchmark: everyday tcpdump filters over every Ethernet packet of the test
//! corpus, run by each engine in the same process and run, against libpcap's `bpf_filter` (the
//! baseline) and a hand-written Rust function per filter (the limit).
//!
//! ```sh
//! cargo bench -p jitkit --bench filter            # every filter and engine
//! cargo bench -p jitkit --bench filter -- 'tcp'   # only filters whose expression contains `tcp`
//! ```
//! `JITKIT_BENCH_MS` sets the time budget per measurement (default 300 ms). Times are medians of
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

#[path = "filter/handwritten.rs"]
mod handwritten;
#[path = "filter/packets.rs"]
mod packets;

use std::hint::black_box;
use std::time::Duration;

use jitkit_bpf::cbpf::jit::JitFilter;
use jitkit_bpf::cbpf::{Insn, Interpreter};
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap::{self, RawInsn};

use packets::Packets;

/// One everyday filter: its expression and the hand-written Rust that does the same.
struct Filter {
    expression: String,
    handwritten: fn(&[u8]) -> u32,
}

fn filters() -> Vec<Filter> {
    let f = |expression: &str, handwritten: fn(&[u8]) -> u32| Filter {
        expression: expression.to_string(),
        handwritten,
    };
    vec![
        f("tcp port 80", handwritten::tcp_port_80),
        f("host 10.0.0.1", handwritten::host_10_0_0_1),
        f("udp and dst port 53", handwritten::udp_dst_port_53),
        f("ip and tcp[tcpflags] & tcp-syn != 0", handwritten::tcp_syn),
        f(
            "net 192.168.0.0/16 and not port 22",
            handwritten::net_192_168_not_port_22,
        ),
        f("vlan and tcp", handwritten::vlan_tcp),
        f("ip6 and udp", handwritten::ip6_udp),
        f("icmp or arp", handwritten::icmp_or_arp),
        Filter {
            expression: handwritten::host_list_expression(),
            handwritten: handwritten::fifty_hosts,
        },
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
            build: |program, _| Box::new(Libpcap(program.iter().map(raw).collect())),
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
            build: |_, filter| Box::new(Handwritten(filter.handwritten)),
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

/// libpcap's interpreter, `bpf_filter()`.
struct Libpcap(Vec<RawInsn>);

impl PacketFilter for Libpcap {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        libpcap::bpf_filter(&self.0, packet, wire_len)
    }
}

/// The hand-written Rust function for the filter.
struct Handwritten(fn(&[u8]) -> u32);

impl PacketFilter for Handwritten {
    fn run(&self, packet: &[u8], _wire_len: u32) -> u32 {
        (self.0)(packet)
    }
}

fn raw(insn: &Insn) -> RawInsn {
    RawInsn {
        code: insn.code,
        jt: insn.jt,
        jf: insn.jf,
        k: insn.k,
    }
}

/// The cBPF program for an expression on Ethernet, as tcpdump would run it.
fn program(expression: &str) -> Vec<Insn> {
    let ethernet = libpcap::linktype_from_name("EN10MB").expect("libpcap knows EN10MB");
    libpcap::compile(expression, ethernet, 262_144, true)
        .unwrap_or_else(|e| panic!("libpcap cannot compile `{expression}`: {e}"))
        .iter()
        .map(|r| Insn::new(r.code, r.jt, r.jf, r.k))
        .collect()
}

/// jitkit's own compiler's program for an expression on Ethernet.
fn ours_program(expression: &str) -> Vec<Insn> {
    let ethernet = jitkit_filter::linktype::from_name("EN10MB").expect("EN10MB is known");
    jitkit_filter::compile(expression, ethernet, &jitkit_filter::Options::default())
        .unwrap_or_else(|e| panic!("jitkit_filter cannot compile `{expression}`: {e}"))
}

/// Panics unless `engine` returns what libpcap returns on every packet.
fn check_agrees(
    name: &str,
    expression: &str,
    engine: &dyn PacketFilter,
    oracle: &[u32],
    packets: &[(&[u8], u32)],
) {
    for (n, (&(packet, wire_len), expected)) in packets.iter().zip(oracle).enumerate() {
        let got = engine.run(packet, wire_len);
        assert_eq!(
            got,
            *expected,
            "{name} disagrees with libpcap on `{expression}`, packet {n} ({} bytes)",
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

/// Median time of one pass of `engine` over every packet, in nanoseconds per packet.
/// The loop is what a program filtering packets it holds would write; `engine` is opaque
/// behind `dyn`, so nothing needs hiding from the optimizer but the count of accepted packets.
fn time_per_packet(engine: &dyn PacketFilter, packets: &[(&[u8], u32)], budget: Duration) -> f64 {
    let pass = median_cpu_per_call(budget, || {
        let mut accepted = 0u32;
        for &(packet, wire_len) in packets {
            accepted += (engine.run(packet, wire_len) != 0) as u32;
        }
        black_box(accepted);
    });
    pass.as_secs_f64() * 1e9 / packets.len() as f64
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
    let engines = engines();
    // Engines between the baseline (first) and the limit (last) get ratio columns.
    let middle: Vec<&str> = engines[1..engines.len() - 1]
        .iter()
        .map(|e| e.name)
        .collect();
    println!(
        "Filter engines over {} Ethernet corpus packets: median thread CPU time per packet (ns),\n\
         `floor` is the loop and `dyn` call alone (a filter that does nothing); \
         speedup = libpcap / engine, vs hand = engine / hand-written; budget {budget:?} each.",
        packets.len()
    );
    print!("{:<36} {:>5} {:>5}", "filter", "insns", "match");
    for engine in &engines {
        print!(" {:>7}", engine.name);
    }
    print!(" {:>6} |", "floor");
    for name in &middle {
        print!(" {:>7}", name);
    }
    print!(" |");
    for name in &middle {
        print!(" {:>7}", name);
    }
    println!(" | jit compile | ours: insns     jit speedup");
    print!("{:<36} {:>5} {:>5}", "", "", "");
    for _ in &engines {
        print!(" {:>7}", "ns");
    }
    print!(" {:>6} |", "ns");
    for _ in &middle {
        print!(" {:>7}", "speedup");
    }
    print!(" |");
    for _ in &middle {
        print!(" {:>7}", "vs hand");
    }
    println!(" |             |               ns         |");

    for filter in filters() {
        if !selection.is_empty()
            && !selection
                .iter()
                .any(|s| filter.expression.contains(s.as_str()))
        {
            continue;
        }
        let program = program(&filter.expression);
        let oracle_program: Vec<RawInsn> = program.iter().map(raw).collect();
        let oracle: Vec<u32> = packets
            .iter()
            .map(|&(p, w)| libpcap::bpf_filter(&oracle_program, p, w))
            .collect();
        let matches = oracle.iter().filter(|&&v| v != 0).count();

        let mut times = Vec::new();
        for engine in &engines {
            let built = (engine.build)(&program, &filter);
            check_agrees(
                engine.name,
                &filter.expression,
                built.as_ref(),
                &oracle,
                &packets,
            );
            times.push(time_per_packet(built.as_ref(), &packets, budget));
        }
        let floor = time_per_packet(&CallFloor, &packets, budget);

        // The same expression compiled by jitkit's own compiler, run by the JIT.
        let ours = ours_program(&filter.expression);
        let ours_jit = JitFilter::compile(&ours).expect("JIT compiles our program");
        check_agrees(
            "jit on jitkit_filter's program",
            &filter.expression,
            &ours_jit,
            &oracle,
            &packets,
        );
        let ours_time = time_per_packet(&ours_jit, &packets, budget);

        let compile = median_cpu_per_call(budget / 4, || {
            black_box(JitFilter::compile(black_box(&program)).expect("JIT compiles"));
        });

        let mut label = filter.expression.clone();
        if label.len() > 36 {
            label = format!("{}... (50 hosts)", &label[..18]);
        }
        print!("{label:<36} {:>5} {matches:>5}", program.len());
        for t in &times {
            print!(" {t:>7.2}");
        }
        print!(" {floor:>6.2} |");
        let baseline = times[0];
        let limit = times[times.len() - 1];
        for t in &times[1..times.len() - 1] {
            print!(" {:>6.1}x", baseline / t);
        }
        print!(" |");
        for t in &times[1..times.len() - 1] {
            print!(" {:>6.2}x", t / limit);
        }
        print!(" | {:>8.1} us", compile.as_secs_f64() * 1e6);
        println!(
            " | {:>11} {ours_time:>6.2} {:>6.1}x",
            ours.len(),
            baseline / ours_time
        );
    }
}
