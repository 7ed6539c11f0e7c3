//! The interpreter against libpcap's own `bpf_filter()` (in-process, the oracle): random valid
//! programs over all 49 opcodes on random and truncated packets, and the programs libpcap compiles
//! for many expressions on every packet of the tcpdump test corpus. Zero disagreements allowed.

mod cbpf_common;

use std::collections::{BTreeMap, BTreeSet};

use jitkit_bpf::cbpf::testgen::{self, Entropy, Shape, SplitMix64, Words};
use jitkit_bpf::cbpf::{validate, Insn, Interpreter, ValidateError};
use jitkit_bpf::PacketFilter;
use jitkit_testkit::filter_expressions::CLASSIC;
use jitkit_testkit::libpcap::{self, RawInsn};
use proptest::prelude::*;

/// Runs `program` on `packet` in both interpreters; panics with the whole case on a disagreement.
fn assert_same(program: &[Insn], interp: &Interpreter, packet: &[u8], wire_len: u32) {
    let ours = interp.run(packet, wire_len);
    let theirs = libpcap::bpf_filter(&libpcap::to_raw(program), packet, wire_len);
    assert_eq!(
        ours,
        theirs,
        "interpreter {ours} vs libpcap {theirs}\nwire_len {wire_len}, packet ({} bytes) {:02x?}\n{}",
        packet.len(),
        packet,
        jitkit_bpf::cbpf::text::format(program, jitkit_bpf::cbpf::text::TextForm::Listing)
    );
}

/// One program, several packets: each full and truncated at a few points.
fn check_program_on_packets(program: &[Insn], e: &mut impl Entropy, shape: &Shape) {
    validate(program).expect("testgen makes valid programs");
    let interp = Interpreter::new(program).unwrap();
    for _ in 0..4 {
        let (packet, wire_len) = testgen::packet(e, shape);
        assert_same(program, &interp, &packet, wire_len);
        // The same packet cut short, as with a snap length.
        for cut in [0, packet.len() / 2, packet.len().saturating_sub(1)] {
            assert_same(program, &interp, &packet[..cut], wire_len);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Short programs (shrinkable: the words are the program).
    #[test]
    fn random_programs_agree_with_libpcap(
        program_words in proptest::collection::vec(any::<u32>(), 0..256),
        packet_words in proptest::collection::vec(any::<u32>(), 0..256),
        packet_len in 0u32..80,
    ) {
        let shape = Shape { max_len: 40, packet_len };
        let program = testgen::program(&mut Words::new(&program_words), &shape);
        check_program_on_packets(&program, &mut Words::new(&packet_words), &shape);
    }
}

/// Long programs (up to the 4096-instruction limit), so that long `ja` jumps and conditional
/// jumps of every 8-bit length happen.
#[test]
fn long_random_programs_agree_with_libpcap() {
    let mut e = SplitMix64(0x6a69_746b_6974);
    for round in 0..300 {
        let max_len = if round % 10 == 0 { 4096 } else { 600 };
        let shape = Shape {
            max_len,
            packet_len: e.below(100),
        };
        let program = testgen::program(&mut e, &shape);
        check_program_on_packets(&program, &mut e, &shape);
    }
}

/// Every opcode shows up in the generated programs (the generator is not silently narrow).
#[test]
fn generator_covers_all_opcodes() {
    let mut e = SplitMix64(1);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        for insn in testgen::program(&mut e, &Shape::default()) {
            seen.insert(insn.code);
        }
    }
    let all: std::collections::BTreeSet<u16> = jitkit_bpf::cbpf::op::ALL.into_iter().collect();
    assert_eq!(seen, all);
}

/// A libpcap-compiled program, in both interpreters.
struct Compiled {
    expression: &'static str,
    raw: Vec<RawInsn>,
    ours: Interpreter,
}

/// libpcap's programs for every expression that compiles for `linktype`, optimized and not
/// (tcpdump's default and `-O`: different code shapes, the unoptimized ones use more scratch
/// memory). Programs our validator refuses are recorded in `refused`.
fn compile_all(linktype: i32, refused: &mut BTreeMap<String, ValidateError>) -> Vec<Compiled> {
    let mut out = Vec::new();
    for &expression in CLASSIC {
        for optimize in [true, false] {
            let Ok(raw) = libpcap::compile(expression, linktype, 262144, optimize) else {
                continue;
            };
            match Interpreter::new(&libpcap::from_raw(&raw)) {
                Ok(ours) => out.push(Compiled {
                    expression,
                    raw,
                    ours,
                }),
                Err(e) => {
                    refused.insert(format!("{expression} (linktype {linktype})"), e);
                }
            }
        }
    }
    out
}

/// The programs libpcap compiles, on every packet of the tcpdump test corpus, against libpcap's
/// `bpf_filter()`: identical return values on every packet.
#[test]
fn libpcap_programs_agree_with_libpcap_on_the_corpus() {
    let mut by_linktype: BTreeMap<String, Vec<Compiled>> = BTreeMap::new();
    let mut refused = BTreeMap::new();
    let (mut packets, mut runs, mut matched) = (0u64, 0u64, 0u64);
    let mut expressions_seen = BTreeSet::new();
    for capture in jitkit_testkit::corpus_captures() {
        let Some(linktype) = libpcap::linktype_from_name(&capture.linktype)
            .or_else(|| capture.linktype.parse().ok())
        else {
            continue;
        };
        let programs = by_linktype
            .entry(capture.linktype.clone())
            .or_insert_with(|| compile_all(linktype, &mut refused));
        let bytes = std::fs::read(&capture.path)
            .unwrap_or_else(|e| panic!("{}: {e}", capture.path.display()));
        for packet in cbpf_common::packets(&bytes) {
            packets += 1;
            for program in programs.iter() {
                let ours = program.ours.run(packet.data, packet.wire_len);
                let theirs = libpcap::bpf_filter(&program.raw, packet.data, packet.wire_len);
                assert_eq!(
                    ours,
                    theirs,
                    "`{}` on a packet of {} ({} of {} bytes captured)",
                    program.expression,
                    capture.path.display(),
                    packet.data.len(),
                    packet.wire_len
                );
                runs += 1;
                if ours != 0 {
                    matched += 1;
                    expressions_seen.insert(program.expression);
                }
            }
        }
    }
    let programs: usize = by_linktype.values().map(Vec::len).sum();
    eprintln!(
        "{packets} packets, {programs} programs over {} link types, {runs} comparisons, \
         {matched} matches, {} programs refused",
        by_linktype.len(),
        refused.len()
    );
    // The corpus is what it claims to be, and the comparison was not vacuous.
    assert!(
        packets > 10_000,
        "only {packets} packets read from the corpus"
    );
    assert!(runs > 1_000_000, "only {runs} comparisons");
    assert!(matched > 10_000, "only {matched} matches");
    assert!(
        expressions_seen.len() > CLASSIC.len() / 2,
        "only {} expressions ever matched",
        expressions_seen.len()
    );
    // The only programs the kernel's rules refuse are libpcap's protochain loops (backward
    // jumps) and its `pppoes` code for 802.11 link types, which reads M[0] before any store
    // (libpcap then reads uninitialized memory, so there is no defined answer to compare). The
    // kernel refuses both too (tests/cbpf_validate.rs checks the kernel agrees with us).
    for (what, error) in &refused {
        assert!(
            matches!(
                error,
                ValidateError::BackwardJump { .. } | ValidateError::UninitializedMemory { .. }
            ),
            "{what}: refused: {error}"
        );
    }
}
