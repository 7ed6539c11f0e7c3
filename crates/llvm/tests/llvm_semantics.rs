//! libpcap's `bpf_filter()` semantics, case by case, where the source document's translation went
//! wrong (signed compares, signed division, arithmetic shifts, no bounds checks) or where C
//! leaves things undefined. Each case states the value libpcap returns; the test checks the
//! statement against libpcap itself, then LLVM's native code at -O0 and -O2.
#![cfg(feature = "llvm")]

mod support;

use jitkit_bpf::cbpf::text;
use jitkit_bpf::PacketFilter;
use jitkit_llvm::{compile_filter, Options};
use jitkit_testkit::libpcap::{self, bpf_filter};

/// A 4-byte packet: 45 00 12 34.
const P4: &[u8] = &[0x45, 0x00, 0x12, 0x34];

/// (what, program as `;`-separated tcpdump -d instructions, packet, wire length, libpcap's value)
#[rustfmt::skip]
const CASES: &[(&str, &str, &[u8], u32, u32)] = &[
    ("jgt is unsigned", "ld #0x80000000; jgt #0x1 jt 2 jf 3; ret #1; ret #2", P4, 4, 1),
    ("jge is unsigned", "ld #0xffffffff; jge #0x0 jt 2 jf 3; ret #1; ret #2", P4, 4, 1),
    ("jgt x is unsigned", "ld #0x1; ldx #0xffffffff; jgt x jt 3 jf 4; ret #1; ret #2", P4, 4, 2),
    ("jset tests any bit", "ld #0x80000000; jset #0x80000001 jt 2 jf 3; ret #1; ret #2", P4, 4, 1),
    ("div is unsigned", "ld #0xfffffffe; div #2; ret", P4, 4, 0x7fff_ffff),
    ("mod is unsigned", "ld #0xffffffff; mod #10; ret", P4, 4, 5),
    ("division by X = 0 rejects the packet", "ld #5; ldx #0x0; div x; ret #7", P4, 4, 0),
    ("modulo by X = 0 rejects the packet", "ld #5; ldx #0x0; mod x; ret #7", P4, 4, 0),
    ("rsh is logical", "ld #0x80000000; rsh #31; ret", P4, 4, 1),
    ("rsh x is logical", "ld #0xf0000000; ldx #0x4; rsh x; ret", P4, 4, 0x0f00_0000),
    ("lsh by X = 31", "ld #0x3; ldx #0x1f; lsh x; ret", P4, 4, 0x8000_0000),
    ("lsh by X = 32 gives 0", "ld #0x1; ldx #0x20; lsh x; ret", P4, 4, 0),
    ("rsh by X = 33 gives 0", "ld #0xffffffff; ldx #0x21; rsh x; ret", P4, 4, 0),
    ("lsh by X = 0xffffffff gives 0", "ld #0xffffffff; ldx #0xffffffff; lsh x; ret", P4, 4, 0),
    ("neg wraps", "ld #0x1; neg; ret", P4, 4, 0xffff_ffff),
    ("add and mul wrap", "ld #0xffffffff; add #2; mul #0x80000000; ret", P4, 4, 0x8000_0000),
    ("ld is big-endian", "ld [0]; ret", P4, 4, 0x4500_1234),
    ("ldh is big-endian", "ldh [2]; ret", P4, 4, 0x1234),
    ("a load ending at the captured length is fine", "ldh [2]; ret #9", P4, 60, 9),
    ("a load past the captured length rejects, whatever the wire length", "ld [1]; ret #9", P4, 60, 0),
    ("ldb at the captured length rejects", "ldb [4]; ret #9", P4, 4, 0),
    ("X + k does not wrap around to the start", "ldx #0xffffffff; ldb [x + 1]; ret #9", P4, 4, 0),
    ("indexed load inside the packet", "ldx #0x1; ldh [x + 1]; ret", P4, 4, 0x1234),
    ("huge absolute offset rejects", "ld [4294967295]; ret #9", P4, 4, 0),
    ("len is the wire length", "ld #pktlen; ret", P4, 1514, 1514),
    ("ldx len is the wire length", "ldx #pktlen; txa; ret", P4, 60, 60),
    ("msh: 4 * (low nibble)", "ldxb 4*([0]&0xf); txa; ret", P4, 4, 20),
    ("msh past the end rejects", "ldxb 4*([4]&0xf); ret #9", P4, 4, 0),
    ("empty packet: every load rejects", "ldb [0]; ret #9", &[], 0, 0),
    ("scratch memory", "ld #0x7; st M[15]; ldx M[15]; txa; add x; ret", P4, 4, 14),
    ("ja skips", "ja 3; ret #1; ret #2; ret #3", P4, 4, 3),
    // Bounds checks hoisted to the start of a straight-line run (see src/plan.rs).
    ("a later load past the end rejects after good ones", "ldb [0]; st M[0]; ldh [3]; ret #9", P4, 4, 0),
    ("a load on a path not taken does not reject", "ldb [0]; jeq #0x0 jt 2 jf 3; ldb [8]; ret #9", P4, 4, 9),
    ("a return ends the run", "ldb [0]; jeq #0x45 jt 2 jf 3; ret #5; ld [8]; ret #9", P4, 4, 5),
    ("msh and an absolute load in one run", "ldxb 4*([0]&0xf); ldh [2]; add x; ret", P4, 4, 0x1234 + 20),
    // Runs of jeq with one true target become set tests (src/plan.rs).
    (SET5, "ld #0x3; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 7),
    (SET5, "ldb [0]; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 9),
    (SET5, "ld #0x1; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 9),
    (SET5, "ld #0x5; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 9),
    (SET5, "ldb [1]; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 7),
    (SET5, "ldb [2]; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 7),
    (SET5, "ld #0xffffffff; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0xffffffff jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 9),
    (SET5, "ldh [0]; jeq #0x1 jt 7 jf 2; jeq #0x2 jt 7 jf 3; jeq #0x45 jt 7 jf 4; jeq #0x4 jt 7 jf 5; jeq #0x5 jt 7 jf 6; ret #7; ret #9", P4, 4, 7),
    ("a jump into a set run tests the rest of it", "ld #0x1; jeq #0x0 jt 8 jf 3; jeq #0x1 jt 8 jf 3; jeq #0x2 jt 8 jf 4; jeq #0x3 jt 8 jf 5; jeq #0x4 jt 8 jf 6; jeq #0x5 jt 8 jf 7; ret #7; ret #9", P4, 4, 7),
    ("a jump into a set run tests the rest of it", "ldb [2]; jeq #0x0 jt 8 jf 3; jeq #0x12 jt 8 jf 3; jeq #0x2 jt 8 jf 4; jeq #0x3 jt 8 jf 5; jeq #0x12 jt 8 jf 6; jeq #0x5 jt 8 jf 7; ret #7; ret #9", P4, 4, 9),
    ("a jump into a set run tests the rest of it", "ldb [2]; jeq #0x0 jt 8 jf 3; jeq #0x12 jt 8 jf 3; jeq #0x2 jt 8 jf 4; jeq #0x3 jt 8 jf 5; jeq #0x4 jt 8 jf 6; jeq #0x5 jt 8 jf 7; ret #7; ret #9", P4, 4, 7),
];

/// The description of the set-test cases: A against {1, 2, 0x45 (or 0xffffffff), 4, 5}.
const SET5: &str = "jeq run as a set test";

fn parse(listing: &str) -> Vec<jitkit_bpf::cbpf::Insn> {
    let text: String = listing
        .split(';')
        .enumerate()
        .map(|(i, insn)| format!("({i:03}) {}\n", insn.trim()))
        .collect();
    text::parse(&text).unwrap_or_else(|e| panic!("{listing}: {e}"))
}

#[test]
fn libpcap_semantics_case_by_case() {
    let o0 = Options {
        optimize: false,
        ..Options::default()
    };
    let o2 = Options::default();
    for &(what, listing, packet, wire_len, expected) in CASES {
        let program = parse(listing);
        let raw = libpcap::to_raw(&program);
        let libpcap = bpf_filter(&raw, packet, wire_len);
        assert_eq!(
            libpcap, expected,
            "libpcap disagrees with the case `{what}`"
        );
        for options in [&o0, &o2] {
            let filter = compile_filter(&program, options).unwrap();
            let level = if options.optimize { 2 } else { 0 };
            assert_eq!(
                filter.run(packet, wire_len),
                expected,
                "`{what}` (-O{level})"
            );
        }
    }
}

#[test]
fn malformed_programs_are_typed_errors() {
    use jitkit_bpf::cbpf::{op, Insn};
    let ret = Insn::stmt(op::RET, 0);
    let cases: &[(&[Insn], &str)] = &[
        (&[], "instruction 0: the program is empty"),
        (
            &[Insn::stmt(op::LD | op::W | op::ABS, 0)],
            "instruction 0: the last instruction is not a return or a jump",
        ),
        (
            &[Insn::jump(op::JMP | op::JEQ, 0, 1, 0), ret],
            "instruction 0: jump target past the end",
        ),
        (
            &[Insn::stmt(0x7777, 0), ret],
            "instruction 0: unknown opcode 0x7777",
        ),
    ];
    for (program, expected) in cases {
        let error = compile_filter(program, &Options::default()).unwrap_err();
        assert_eq!(&error.to_string(), expected);
        let error = jitkit_llvm::ebpf_object(program, &Options::default()).unwrap_err();
        assert_eq!(&error.to_string(), expected);
    }
}
