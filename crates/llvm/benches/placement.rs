//! LLVM's code against the direct JIT's with the code's address averaged out.
//!
//! The same machine code runs at different speeds at different addresses (the branch
//! predictors and the micro-op cache index by address): copies of one filter's code measured
//! 5.4 to 6.3 ns per packet in one process (BENCHMARKS.md, "LLVM"), more than most differences
//! between the two engines' code. So each engine's code is copied to `JITKIT_PLACEMENTS` places
//! (default 12), each at a random 16-byte-aligned offset in a mapping of its own, every copy is
//! checked against libpcap's `bpf_filter()` on every packet, and then all copies take turns
//! pass by pass in a random order (over every Ethernet packet of the corpus, called through
//! `&dyn PacketFilter`, this thread's CPU time). Each copy's median pass counts once; an
//! engine's time is the mean over its copies.
//!
//! ```sh
//! cargo bench -p jitkit-llvm --bench placement            # every filter
//! cargo bench -p jitkit-llvm --bench placement -- tcp     # filters whose expression has `tcp`
//! ```
//! `JITKIT_PASSES` sets the passes per copy (default 300), `JITKIT_PLACEMENT_SEED` the seed of
//! the offsets (default: from the clock; printed). A filter whose LLVM code cannot be copied
//! (none so far, see `LlvmFilter::relocatable_image`) is skipped with a note.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, Options};
use jitkit_testkit::libpcap::{self, bpf_filter};

/// Copies of machine code at chosen offsets in executable memory.
mod placed {
    use jitkit_bpf::PacketFilter;
    use jitkit_x86::ExecutableMemory;

    /// `u32 filter(const u8 *packet, usize captured_len, u32 wire_len)`: both engines' entry.
    type FilterFn = extern "C" fn(*const u8, usize, u32) -> u32;

    /// A copy of an engine's code (`image`, the function at `entry`) placed `offset` bytes into
    /// a fresh mapping (after `int3` padding).
    pub struct Placed {
        _memory: ExecutableMemory,
        function: FilterFn,
    }

    impl Placed {
        /// # Safety
        /// `image` must be position-independent code whose bytes at `entry` are a System V
        /// function with `FilterFn`'s signature that reads only `packet[..captured_len]` (the
        /// JIT's `assemble` output; `LlvmFilter::relocatable_image`).
        pub unsafe fn new(image: &[u8], entry: usize, offset: usize) -> Placed {
            let mut bytes = vec![0xcc; offset];
            bytes.extend_from_slice(image);
            let memory = ExecutableMemory::new(&bytes).expect("mapping the copy");
            // SAFETY: the bytes at offset + entry are the function the caller vouches for,
            // unchanged by the copy (the code reaches everything relative to itself).
            let function = unsafe { memory.function::<FilterFn>(offset + entry) }
                .expect("the entry lies inside the copy")
                .get();
            Placed {
                _memory: memory,
                function,
            }
        }
    }

    impl PacketFilter for Placed {
        fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
            // The code reads only packet[..packet.len()] (see `new`) and lives in `_memory`.
            (self.function)(packet.as_ptr(), packet.len(), wire_len)
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let selection: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let placements = env_number("JITKIT_PLACEMENTS", 12) as usize;
    let passes = env_number("JITKIT_PASSES", 300) as usize;
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let seed = env_number("JITKIT_PLACEMENT_SEED", clock) | 1;
    // Offsets and pass orders, reproducible from the printed seed.
    let mut random = jitkit_testkit::rng::Rng::new(seed);
    let packets: Vec<(Vec<u8>, u32)> = support::capture::ethernet_packets()
        .into_iter()
        .map(|p| (p.data, p.wire_len))
        .collect();
    println!(
        "LLVM vs JIT, each engine's code at {placements} places (seed {seed}): CPU ns/packet over \
         {} Ethernet corpus packets, mean over the copies of each copy's median of {passes} passes",
        packets.len()
    );
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>15} {:>15}",
        "filter", "jit", "llvm", "llvm/jit", "jit copies", "llvm copies"
    );
    for (expression, label) in jitkit_testkit::bench_filters::engine_filters() {
        if !selection.is_empty() && !selection.iter().any(|s| expression.contains(s.as_str())) {
            continue;
        }
        let raw = support::libpcap_program(&expression, 1).expect("libpcap compiles it");
        let program = libpcap::from_raw(&raw);
        let jit = jitkit_bpf::cbpf::jit::assemble(&program).expect("the direct JIT compiles it");
        let llvm = compile_filter(&program, &Options::default()).expect("LLVM compiles it");
        let Some((llvm_image, llvm_entry)) = llvm.relocatable_image() else {
            println!("{label:<36} skipped: its LLVM code holds absolute addresses");
            continue;
        };
        // copies[2 * i] is the JIT's i-th copy, copies[2 * i + 1] LLVM's.
        let mut copies = Vec::new();
        for _ in 0..placements {
            for (image, entry) in [(jit.bytes(), 0), (llvm_image, llvm_entry)] {
                // 16-byte steps: where a linker puts functions, and what the constant tables
                // that SSE compares read in place (the 50-host list's) need.
                let offset = random.below(4096 / 16) as usize * 16;
                // SAFETY: both images are position-independent filter functions with the
                // (packet, captured length, wire length) signature that read only the packet's
                // captured bytes: the JIT's assembled code from its entry at 0, and LLVM's
                // relocatable image with its entry.
                copies.push(unsafe { placed::Placed::new(image, entry, offset) });
            }
        }
        for (n, copy) in copies.iter().enumerate() {
            for (i, (packet, wire_len)) in packets.iter().enumerate() {
                let want = bpf_filter(&raw, packet, *wire_len);
                assert_eq!(
                    copy.run(packet, *wire_len),
                    want,
                    "{label}: copy {n}, packet {i}"
                );
            }
        }
        let mut times = vec![Vec::with_capacity(passes); copies.len()];
        let mut order: Vec<usize> = (0..copies.len()).collect();
        for _ in 0..passes {
            for i in (1..order.len()).rev() {
                order.swap(i, random.below(i as u64 + 1) as usize);
            }
            for &n in &order {
                let before = support::thread_cpu_time();
                let mut accepted = 0u32;
                for (packet, wire_len) in &packets {
                    accepted += u32::from(copies[n].run(black_box(packet), *wire_len) != 0);
                }
                black_box(accepted);
                let elapsed = support::thread_cpu_time() - before;
                times[n].push(elapsed.as_secs_f64() * 1e9 / packets.len() as f64);
            }
        }
        let medians: Vec<f64> = times
            .into_iter()
            .map(|mut t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect();
        let engine = |parity: usize| -> (f64, f64, f64) {
            let own: Vec<f64> = medians.iter().skip(parity).step_by(2).copied().collect();
            let mean = own.iter().sum::<f64>() / own.len() as f64;
            let min = own.iter().copied().fold(f64::INFINITY, f64::min);
            let max = own.iter().copied().fold(0.0, f64::max);
            (mean, min, max)
        };
        let (jit_ns, jit_min, jit_max) = engine(0);
        let (llvm_ns, llvm_min, llvm_max) = engine(1);
        println!(
            "{label:<36} {jit_ns:>8.2} {llvm_ns:>8.2} {:>7.3}x {:>6.2} - {:<6.2} {:>6.2} - {:<6.2}",
            jit_ns / llvm_ns,
            jit_min,
            jit_max,
            llvm_min,
            llvm_max
        );
    }
}
