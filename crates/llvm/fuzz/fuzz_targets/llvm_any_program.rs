//! Any bytes as a program (8 bytes per `struct bpf_insn`): the LLVM translation never panics and
//! never builds an invalid module (it returns a typed error instead), for native code and eBPF;
//! when the kernel-rule validator accepts the program, the native code returns what libpcap's
//! `bpf_filter()` returns on a packet taken from the input's tail.
#![no_main]

use jitkit_bpf::cbpf::validate;
use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, ebpf_object, Error, Options};
use jitkit_testkit::fuzz_input::program_from_bytes;
use jitkit_testkit::libpcap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let count = (data.len() / 8).min(64);
    let program = program_from_bytes(&data[..count * 8]);
    let packet = &data[count * 8..];
    let options = Options::default();
    match compile_filter(&program, &options) {
        Ok(filter) => {
            if validate(&program).is_ok() {
                let wire_len = packet.len() as u32 + 3;
                assert_eq!(
                    filter.run(packet, wire_len),
                    libpcap::Filter::new(&program).run(packet, wire_len)
                );
            }
        }
        Err(Error::InvalidProgram { .. }) => {}
        Err(other) => panic!("{program:?}: {other}"),
    }
    match ebpf_object(&program, &options) {
        Ok(_) | Err(Error::InvalidProgram { .. }) => {}
        Err(other) => panic!("{program:?}: {other}"),
    }
});
