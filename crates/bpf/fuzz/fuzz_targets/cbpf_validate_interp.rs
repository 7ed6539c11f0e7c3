//! Any bytes as a program (8 bytes per `struct bpf_insn`) and a packet: the validator never
//! panics, and every program it accepts runs without panicking and returns what libpcap's
//! `bpf_filter()` returns.
#![no_main]

use jitkit_bpf::cbpf::{validate, Interpreter};
use jitkit_bpf::PacketFilter;
use jitkit_testkit::fuzz_input::program_and_packet;
use jitkit_testkit::libpcap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // [n: u8][n instructions][wire_len: u32][packet...]
    let Some((program, wire_len, packet)) = program_and_packet(data) else {
        return;
    };
    if validate(&program).is_err() {
        assert!(Interpreter::new(&program).is_err());
        return;
    }
    let ours = Interpreter::new(&program)
        .expect("validated")
        .run(packet, wire_len);
    let theirs = libpcap::Filter::new(&program).run(packet, wire_len);
    assert_eq!(ours, theirs, "{program:?}");
});
