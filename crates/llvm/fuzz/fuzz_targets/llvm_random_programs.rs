//! Valid programs built from the fuzz input by `testgen` (all 49 opcodes, edge constants, loads
//! at and past the end, zero divisors, big shift counts) on packets from the same input: LLVM's
//! native code (-O2, or -O0 when the input says so) returns what libpcap's `bpf_filter()` returns.
#![no_main]

use jitkit_bpf::cbpf::testgen::{self, Bytes, Entropy, Shape};
use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, Options};
use jitkit_testkit::libpcap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut e = Bytes::new(data);
    let shape = Shape {
        max_len: 1 + e.below(200) as usize,
        packet_len: e.below(128),
    };
    let optimize = !e.chance(1, 4);
    let program = testgen::program(&mut e, &shape);
    let options = Options {
        optimize,
        ..Options::default()
    };
    let filter = compile_filter(&program, &options).expect("testgen programs compile");
    let oracle = libpcap::Filter::new(&program);
    for _ in 0..4 {
        let (packet, wire_len) = testgen::packet(&mut e, &shape);
        assert_eq!(
            filter.run(&packet, wire_len),
            oracle.run(&packet, wire_len),
            "{program:?} (-O{}) on {packet:02x?} (wire length {wire_len})",
            if optimize { 2 } else { 0 }
        );
    }
});
