//! Random valid cBPF programs (jitkit_bpf's generator: every opcode, edge constants, loads at and
//! past the end of short packets, `X + k` overflow, zero divisors, shift counts >= 32) compiled by
//! LLVM at -O2 and -O0 must return exactly what libpcap's `bpf_filter()` returns.
#![cfg(feature = "llvm")]

mod support;

use jitkit_bpf::cbpf::testgen::{self, Shape, SplitMix64};
use jitkit_bpf::cbpf::validate;
use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, Options};
use jitkit_testkit::libpcap::{self, bpf_filter};

const PROGRAMS: u64 = 1500;
const PACKETS_PER_PROGRAM: usize = 24;

#[test]
fn random_programs_match_libpcap() {
    let mut mismatches = Vec::new();
    let mut nonzero = 0;
    let mut runs = 0;
    for seed in 0..PROGRAMS {
        let mut rng = SplitMix64(seed);
        let shape = Shape {
            max_len: 48,
            packet_len: 40,
        };
        let program = testgen::program(&mut rng, &shape);
        validate(&program).unwrap_or_else(|e| panic!("seed {seed}: generator made {e}"));
        let raw = libpcap::to_raw(&program);
        let packets: Vec<_> = (0..PACKETS_PER_PROGRAM)
            .map(|_| testgen::packet(&mut rng, &shape))
            .collect();
        let optimize = seed % 4 != 3; // every fourth program unoptimized
        let filter = compile_filter(
            &program,
            &Options {
                optimize,
                ..Options::default()
            },
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{program:?}"));
        for (bytes, wire_len) in &packets {
            let want = bpf_filter(&raw, bytes, *wire_len);
            let got = filter.run(bytes, *wire_len);
            runs += 1;
            nonzero += usize::from(want != 0);
            if got != want && mismatches.len() < 10 {
                mismatches.push(format!(
                    "seed {seed} (-O{}): llvm {got:#x}, libpcap {want:#x}, packet {bytes:02x?} wire {wire_len}\n{program:?}",
                    if optimize { 2 } else { 0 }
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
    assert!(
        nonzero > runs / 10 && nonzero < runs * 9 / 10,
        "{nonzero} of {runs} non-zero"
    );
}
