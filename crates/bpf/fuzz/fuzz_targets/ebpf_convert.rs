//! Any bytes as a classic program and a packet: every program the validator accepts converts to
//! eBPF, our eBPF verifier accepts the result, and our eBPF interpreter and JIT both return what
//! libpcap's `bpf_filter()` returns.
#![no_main]

use jitkit_bpf::cbpf::{validate, Insn};
use jitkit_bpf::ebpf::EbpfFilter;
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap::{bpf_filter, RawInsn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // [n: u8][n instructions][wire_len: u32][packet...]
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n);
    if rest.len() < n * 8 + 4 {
        return;
    }
    let (code, rest) = rest.split_at(n * 8);
    let program: Vec<Insn> = code
        .chunks_exact(8)
        .map(|c| {
            Insn::new(
                u16::from_le_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let wire_len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let packet = &rest[4..];
    if validate(&program).is_err() {
        return;
    }
    let raw: Vec<RawInsn> = program
        .iter()
        .map(|i| RawInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let want = bpf_filter(&raw, packet, wire_len);
    let interp = EbpfFilter::interpreted(&program).expect("validated programs convert and verify");
    assert_eq!(
        interp.run(packet, wire_len),
        want,
        "interpreter {program:?}"
    );
    let jit = EbpfFilter::jit(&program).expect("validated programs compile");
    assert_eq!(jit.run(packet, wire_len), want, "JIT {program:?}");
});
