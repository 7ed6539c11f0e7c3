//! Any bytes as a classic program and a packet: every program the validator accepts converts to
//! eBPF, our eBPF verifier accepts the result, and our eBPF interpreter and JIT both return what
//! libpcap's `bpf_filter()` returns.
#![no_main]

use jitkit_bpf::cbpf::validate;
use jitkit_bpf::ebpf::EbpfFilter;
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
        return;
    }
    let want = libpcap::Filter::new(&program).run(packet, wire_len);
    let interp = EbpfFilter::interpreted(&program).expect("validated programs convert and verify");
    assert_eq!(
        interp.run(packet, wire_len),
        want,
        "interpreter {program:?}"
    );
    let jit = EbpfFilter::jit(&program).expect("validated programs compile");
    assert_eq!(jit.run(packet, wire_len), want, "JIT {program:?}");
});
