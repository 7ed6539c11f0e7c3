//! The cBPF JIT against libpcap's `bpf_filter()` and the interpreter: valid programs built from
//! the fuzz input by `testgen` (all 49 opcodes, edge constants, jumps of every length, now and
//! then up to the 4096-instruction limit) on random and truncated packets from the same input.
//! Every program is compiled to x86-64 and run; all three must return the same value.
#![no_main]

use jitkit_bpf::cbpf::jit::JitFilter;
use jitkit_bpf::cbpf::testgen::{self, Bytes, Entropy, Shape};
use jitkit_bpf::cbpf::Interpreter;
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut e = Bytes::new(data);
    let max_len = if e.chance(1, 16) {
        4096
    } else {
        1 + e.below(300) as usize
    };
    let shape = Shape {
        max_len,
        packet_len: e.below(128),
    };
    let program = testgen::program(&mut e, &shape);
    let jit = JitFilter::compile(&program).expect("the JIT compiles every valid program");
    let interp = Interpreter::new(&program).expect("testgen programs are valid");
    let oracle = libpcap::Filter::new(&program);
    for _ in 0..4 {
        let (packet, wire_len) = testgen::packet(&mut e, &shape);
        for cut in [
            packet.len(),
            packet.len() / 2,
            packet.len().saturating_sub(1),
        ] {
            let packet = &packet[..cut];
            let want = oracle.run(packet, wire_len);
            let ours = (jit.run(packet, wire_len), interp.run(packet, wire_len));
            assert_eq!(
                ours,
                (want, want),
                "(JIT, interpreter) vs libpcap: {program:?} on {packet:02x?} (wire length {wire_len})"
            );
        }
    }
});
