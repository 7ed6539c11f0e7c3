//! The eBPF objects against the Linux kernel: for every expression, `bpftool prog load ... type
//! classifier` must accept the object (libbpf's loader, then the verifier), and
//! BPF_PROG_TEST_RUN must return exactly libpcap's `bpf_filter()` value for every packet of the
//! corpus's Ethernet captures (the classifier sees packets from the link header; the kernel's
//! skb->len is the captured length, so libpcap runs with wire length = captured length).
#![cfg(feature = "llvm")]

mod support;

use jitkit_bpf::cbpf::testgen::{self, Shape, SplitMix64};
use jitkit_llvm::{ebpf_object, Options, PacketAccess};
use jitkit_testkit::libpcap::{self, bpf_filter};
use support::kernel::{self, BpfFs};

/// Packets BPF_PROG_TEST_RUN may refuse with EINVAL: it builds its skb in one page (so nothing
/// near 4 KiB or longer), needs an Ethernet header, and pulls a whole IPv4 (20 bytes) or IPv6
/// (40 bytes) header when the EtherType says there is one. Any other refusal fails the test.
fn kernel_may_refuse(packet: &[u8]) -> bool {
    let network = packet.len().saturating_sub(14);
    packet.len() < 14
        || packet.len() > 3000
        || (packet[12..14] == [0x08, 0x00] && network < 20)
        || (packet[12..14] == [0x86, 0xdd] && network < 40)
}

#[test]
fn kernel_verifier_accepts_and_test_run_matches_libpcap() {
    jitkit_testkit::require_tool("bpftool", "bpftool");
    let packets: Vec<Vec<u8>> = support::capture::ethernet_packets()
        .into_iter()
        .map(|p| p.data)
        .collect();
    let runnable = packets.iter().filter(|p| !kernel_may_refuse(p)).count();
    assert!(runnable > 8000, "only {runnable} Ethernet packets to run");

    let fs = BpfFs::mount("kernel");
    let mut mismatches = Vec::new();
    let mut accepted = 0usize;
    let mut runs = 0usize;
    let mut refused = 0usize;
    let variants = [PacketAccess::Direct, PacketAccess::Helper];
    for (n, (expr, access)) in support::EXPRESSIONS
        .iter()
        .flat_map(|e| variants.map(|v| (e, v)))
        .enumerate()
    {
        let raw = support::libpcap_program(expr, 1).expect("libpcap compiles it for Ethernet");
        let options = Options {
            ebpf_access: access,
            ..Options::default()
        };
        let object = ebpf_object(&libpcap::from_raw(&raw), &options)
            .unwrap_or_else(|e| panic!("{expr:?} ({access:?}): {e}"));
        let loaded = kernel::load_classifier(&fs, &format!("p{n}"), &object)
            .unwrap_or_else(|log| panic!("the kernel refused {expr:?} ({access:?}):\n{log}"));
        for (i, packet) in packets.iter().enumerate() {
            if packet.len() < 14 {
                continue; // not even an Ethernet header: nothing to hand the kernel
            }
            let want = bpf_filter(&raw, packet, packet.len() as u32);
            let got = match loaded.test_run(packet, 1) {
                Ok(run) => run,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && kernel_may_refuse(packet) => {
                    refused += 1;
                    continue;
                }
                Err(e) => panic!(
                    "{expr:?}: BPF_PROG_TEST_RUN on packet {i} ({} bytes): {e}",
                    packet.len()
                ),
            };
            runs += 1;
            accepted += usize::from(want != 0);
            if got.retval != want && mismatches.len() < 20 {
                mismatches.push(format!(
                    "{expr:?} ({access:?}) packet {i}: kernel {}, libpcap {want}",
                    got.retval
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    eprintln!("{runs} runs, {accepted} accepted, {refused} refused by the kernel");
    assert!(
        refused < runs / 50,
        "the kernel refused {refused} packets, ran {runs}"
    );
    assert!(
        accepted > runs / 20 && accepted < runs * 19 / 20,
        "{accepted} of {runs}"
    );
}

/// Random valid programs (every opcode, variable offsets from packet data and from arithmetic,
/// loads past the end, zero divisors) in both packet-access modes: the verifier accepts every
/// object and BPF_PROG_TEST_RUN returns libpcap's value on random packets.
#[test]
fn kernel_accepts_random_programs_and_matches_libpcap() {
    jitkit_testkit::require_tool("bpftool", "bpftool");
    let fs = BpfFs::mount("random");
    let shape = Shape {
        max_len: 64,
        packet_len: 60,
    };
    let mut runs = 0;
    for seed in 0..60u64 {
        let mut rng = SplitMix64(seed);
        let program = testgen::program(&mut rng, &shape);
        let raw = libpcap::to_raw(&program);
        for access in [PacketAccess::Direct, PacketAccess::Helper] {
            let options = Options {
                ebpf_access: access,
                ..Options::default()
            };
            let object = ebpf_object(&program, &options).unwrap();
            let loaded = kernel::load_classifier(&fs, "random", &object).unwrap_or_else(|log| {
                panic!("the kernel refused seed {seed} ({access:?}): {program:?}\n{log}")
            });
            for _ in 0..16 {
                let (mut packet, _) = testgen::packet(&mut rng, &shape);
                packet.resize(packet.len().max(14), 0);
                let want = bpf_filter(&raw, &packet, packet.len() as u32);
                match loaded.test_run(&packet, 1) {
                    Ok(run) => {
                        runs += 1;
                        assert_eq!(
                            run.retval, want,
                            "seed {seed} ({access:?}) on {packet:02x?}"
                        );
                    }
                    Err(e) if kernel_may_refuse(&packet) => {
                        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
                    }
                    Err(e) => panic!("seed {seed}: BPF_PROG_TEST_RUN: {e}"),
                }
            }
        }
    }
    assert!(runs > 1800, "only {runs} runs");
}
