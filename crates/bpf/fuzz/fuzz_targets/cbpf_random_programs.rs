//! Valid programs built from the fuzz input by `testgen` (deep programs over all 49 opcodes,
//! edge constants, long jumps) on packets from the same input: the interpreter returns what
//! libpcap's `bpf_filter()` returns.
#![no_main]

use jitkit_bpf::cbpf::testgen::{self, Bytes, Entropy, Shape};
use jitkit_bpf::cbpf::Interpreter;
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut e = Bytes::new(data);
    let shape = Shape {
        max_len: 1 + e.below(300) as usize,
        packet_len: e.below(128),
    };
    let program = testgen::program(&mut e, &shape);
    let interp = Interpreter::new(&program).expect("testgen programs are valid");
    let oracle = libpcap::Filter::new(&program);
    for _ in 0..4 {
        let (packet, wire_len) = testgen::packet(&mut e, &shape);
        assert_eq!(
            interp.run(&packet, wire_len),
            oracle.run(&packet, wire_len),
            "{program:?} on {packet:02x?} (wire length {wire_len})"
        );
    }
});
