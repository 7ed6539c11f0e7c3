//! Converted filters as Linux tc classifiers: the kernel's verifier must accept every one, and
//! BPF_PROG_TEST_RUN on each Ethernet packet of the corpus must return what libpcap's
//! `bpf_filter` returns (and what our interpreter returns).
//!
//! The kernel only sees the captured bytes (its `__sk_buff.len` is their length), so libpcap is
//! asked with wire length = captured length here. Packets longer than BPF_PROG_TEST_RUN takes are
//! cut to [`kernel::MAX_TEST_RUN_DATA`] bytes for all three; the few shorter than an Ethernet
//! header cannot be test-run and are counted, not compared.

mod ebpf_support;

use ebpf_support::{read_packets, to_cbpf, FILTERS};
use jitkit_bpf::ebpf::kernel::{self, KernelProgram, PROG_TYPE_SCHED_CLS};
use jitkit_bpf::ebpf::{convert, EbpfFilter};
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;

/// BPF_PROG_TEST_RUN refuses (EINVAL) data shorter than an Ethernet header, and IPv4/IPv6
/// packets cut inside their network header (it pulls the header before running the program).
fn kernel_can_test_run(p: &[u8]) -> bool {
    let ethertype = p.get(12..14).map(|t| u16::from_be_bytes([t[0], t[1]]));
    match ethertype {
        None => false,
        Some(0x0800) => p.len() >= 14 + 20,
        Some(0x86dd) => p.len() >= 14 + 40,
        Some(_) => true,
    }
}

#[test]
fn converted_filters_pass_the_kernel_verifier_and_agree_with_libpcap_under_test_run() {
    let ether = libpcap::linktype_from_name("EN10MB").unwrap();
    let captures: Vec<_> = jitkit_testkit::corpus_captures()
        .into_iter()
        .filter(|c| c.linktype == "EN10MB")
        .collect();
    assert!(captures.len() > 400, "EN10MB captures missing");
    let packets: Vec<_> = captures
        .iter()
        .flat_map(|c| read_packets(&c.path))
        .map(|p| {
            let mut data = p.data;
            data.truncate(kernel::MAX_TEST_RUN_DATA);
            data
        })
        .collect();
    let (testable, untestable): (Vec<_>, Vec<_>) =
        packets.into_iter().partition(|p| kernel_can_test_run(p));
    assert!(
        untestable.len() * 100 < testable.len(),
        "{} of {} packets cannot be test-run",
        untestable.len(),
        testable.len()
    );

    let mut runs = 0u64;
    let mut accepted = 0u64;
    let mut mismatches = Vec::new();
    for expr in FILTERS {
        let raw = libpcap::compile(expr, ether, 262144, true)
            .unwrap_or_else(|e| panic!("libpcap refused `{expr}`: {e}"));
        let cbpf = to_cbpf(&raw);
        let ebpf = convert(&cbpf).unwrap();
        let loaded = KernelProgram::load(PROG_TYPE_SCHED_CLS, &ebpf)
            .unwrap_or_else(|e| panic!("`{expr}`: {e}"));
        let ours = EbpfFilter::interpreted(&cbpf).unwrap();
        for p in &testable {
            let want = libpcap::bpf_filter(&raw, p, p.len() as u32);
            let got = loaded
                .test_run(p, 1)
                .unwrap_or_else(|e| panic!("`{expr}` on {} bytes {:02x?}: {e}", p.len(), &p[..14]))
                .retval;
            let interp = ours.run(p, p.len() as u32);
            runs += 1;
            accepted += (got != 0) as u64;
            if (got != want || interp != want) && mismatches.len() < 20 {
                mismatches.push(format!(
                    "`{expr}` on {} bytes: libpcap {want}, kernel {got}, interpreter {interp}",
                    p.len()
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(runs > 100_000, "only {runs} test runs");
    assert!(accepted > 10_000, "only {accepted} accepted");
}

#[test]
fn the_kernel_refuses_what_it_should_and_reports_the_verifier_log() {
    // Reading r2 before writing it: our verifier and the kernel's both refuse.
    let bad = jitkit_bpf::ebpf::asm::assemble("mov r0, r2\nexit").unwrap();
    let err = KernelProgram::load(PROG_TYPE_SCHED_CLS, &bad).unwrap_err();
    assert!(err.to_string().contains("R2 !read_ok"), "{err}");
    assert!(jitkit_bpf::ebpf::verify(&bad, &Default::default(), &Default::default()).is_err());
}
