//! The cBPF JIT against libpcap's `bpf_filter()` and the interpreter: valid programs built from
//! the fuzz input by `testgen` (all 49 opcodes, edge constants, jumps of every length, now and
//! then up to the 4096-instruction limit) on random and truncated packets from the same input.
//! Every program is compiled to x86-64 and run; all three must return the same value, and the
//! JIT's batch loop (`run_batch` over all the packets at once) the same values again.
#![no_main]

use jitkit_bpf::cbpf::jit::JitFilter;
use jitkit_bpf::cbpf::testgen::{self, Bytes, Entropy, Shape};
use jitkit_bpf::cbpf::Interpreter;
use jitkit_bpf::{PacketFilter, PacketRef};
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
    let whole: Vec<(Vec<u8>, u32)> = (0..4).map(|_| testgen::packet(&mut e, &shape)).collect();
    let mut batch = Vec::new();
    let mut wanted = Vec::new();
    for (packet, wire_len) in &whole {
        for cut in [
            packet.len(),
            packet.len() / 2,
            packet.len().saturating_sub(1),
        ] {
            let packet = &packet[..cut];
            let want = oracle.run(packet, *wire_len);
            let ours = (jit.run(packet, *wire_len), interp.run(packet, *wire_len));
            assert_eq!(
                ours,
                (want, want),
                "(JIT, interpreter) vs libpcap: {program:?} on {packet:02x?} (wire length {wire_len})"
            );
            batch.push(PacketRef::new(packet, *wire_len));
            wanted.push(want);
        }
    }
    let mut verdicts = vec![0u32; batch.len()];
    jit.run_batch(&batch, &mut verdicts);
    assert_eq!(verdicts, wanted, "JIT run_batch vs libpcap: {program:?}");
});
