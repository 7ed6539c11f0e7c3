//! `--engine llvm` against libpcap's own `bpf_filter()` on every packet of the tcpdump corpus:
//! for each link type in the corpus, every expression libpcap compiles for it is compiled by LLVM
//! (at -O2, and at -O0 for Ethernet) and must return exactly libpcap's value for every packet.
#![cfg(feature = "llvm")]

mod support;

use std::collections::BTreeMap;

use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, Options};
use jitkit_testkit::libpcap::{self, bpf_filter};
use support::capture::{self, Packet};

fn corpus_by_linktype() -> BTreeMap<String, Vec<Packet>> {
    let mut groups: BTreeMap<String, Vec<Packet>> = BTreeMap::new();
    for cap in jitkit_testkit::corpus_captures() {
        groups
            .entry(cap.linktype.clone())
            .or_default()
            .extend(capture::read(&cap.path));
    }
    groups
}

#[test]
fn selects_exactly_libpcaps_packets_on_the_corpus() {
    let groups = corpus_by_linktype();
    let total: usize = groups.values().map(Vec::len).sum();
    assert!(
        total > 10_000,
        "the corpus should hold about 12,000 packets, found {total}"
    );
    let mut compared = 0u64;
    let mut accepted = 0u64;
    let mut programs = 0;
    let mut mismatches = Vec::new();
    for (linktype, packets) in &groups {
        let Some(dlt) = support::dlt_of(linktype) else {
            continue;
        };
        for expr in support::EXPRESSIONS {
            let raw = match support::libpcap_program(expr, dlt) {
                Ok(raw) => raw,
                Err(e) => {
                    assert_ne!(
                        linktype, "EN10MB",
                        "libpcap rejects {expr:?} on Ethernet: {e}"
                    );
                    continue;
                }
            };
            let program = libpcap::from_raw(&raw);
            let levels: &[bool] = if linktype == "EN10MB" {
                &[true, false]
            } else {
                &[true]
            };
            for &optimize in levels {
                let filter = compile_filter(
                    &program,
                    &Options {
                        optimize,
                        ..Options::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{expr:?} on {linktype}: {e}"));
                programs += 1;
                for (n, packet) in packets.iter().enumerate() {
                    let want = bpf_filter(&raw, &packet.data, packet.wire_len);
                    let got = filter.run(&packet.data, packet.wire_len);
                    compared += 1;
                    accepted += u64::from(want != 0);
                    if got != want && mismatches.len() < 20 {
                        mismatches.push(format!(
                            "{expr:?} on {linktype} (-O{}) packet {n}: llvm {got}, libpcap {want}",
                            if optimize { 2 } else { 0 }
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{programs} programs, {compared} runs, {accepted} accepted");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(programs > 300, "only {programs} programs compiled");
    // Both verdicts must be well represented, or the comparison proves little.
    assert!(
        accepted > compared / 20 && accepted < compared * 19 / 20,
        "{accepted} of {compared}"
    );
}

/// `jitkit filter EXPR --engine llvm` on Ethernet: the programs of jitkit's own expression
/// compiler, compiled by LLVM, return what libpcap's `bpf_filter()` returns for the same program.
/// (Whether jitkit's programs select what libpcap's do is the filter compiler's own test.)
#[test]
fn our_compilers_programs_select_libpcaps_packets() {
    let groups = corpus_by_linktype();
    let packets = &groups["EN10MB"];
    let mut mismatches = Vec::new();
    for expr in support::EXPRESSIONS {
        let ours = jitkit_filter::compile(expr, 1, &jitkit_filter::Options::default())
            .unwrap_or_else(|e| panic!("jitkit cannot compile {expr:?}: {e}"));
        let filter = compile_filter(&ours, &Options::default()).unwrap();
        let raw = libpcap::to_raw(&ours);
        for (n, packet) in packets.iter().enumerate() {
            let want = bpf_filter(&raw, &packet.data, packet.wire_len);
            let got = filter.run(&packet.data, packet.wire_len);
            if got != want && mismatches.len() < 20 {
                mismatches.push(format!("{expr:?} packet {n}: llvm {got}, libpcap {want}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
