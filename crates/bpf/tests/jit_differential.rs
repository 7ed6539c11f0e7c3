//! The cBPF JIT against libpcap's `bpf_filter()` (the oracle) and our interpreter: hand-picked
//! edge cases as data, random valid programs over all 49 opcodes on random and truncated packets,
//! jumps at the x86 8/32-bit displacement boundary, 4096-instruction programs, and libpcap's own
//! programs on every packet of the tcpdump corpus. Zero disagreements allowed.
//!
//! Both ways of running the JIT are checked: one packet per call (`run`) and the generated batch
//! loop (`run_batch`), on batches of every size from empty up to whole captures.

mod cbpf_common;

use jitkit_bpf::cbpf::jit::{JitError, JitFilter};
use jitkit_bpf::cbpf::testgen::{self, Entropy, Shape, SplitMix64, Words};
use jitkit_bpf::cbpf::text::{self, TextForm};
use jitkit_bpf::cbpf::{op, Insn, Interpreter, Rules};
use jitkit_bpf::{PacketFilter, PacketRef};
use jitkit_testkit::libpcap::{self, RawInsn};
use proptest::prelude::*;

/// A program compiled by the JIT, with the interpreter and libpcap ready to compare against.
struct Engines {
    program: Vec<Insn>,
    raw: Vec<RawInsn>,
    jit: JitFilter,
    interp: Interpreter,
}

impl Engines {
    fn new(program: &[Insn]) -> Engines {
        Engines {
            program: program.to_vec(),
            raw: libpcap::to_raw(program),
            jit: JitFilter::compile(program).unwrap_or_else(|e| {
                panic!("JIT refused a valid program: {e}\n{}", listing(program))
            }),
            interp: Interpreter::new(program).expect("valid program"),
        }
    }

    /// Runs all three; panics with the whole case on any disagreement. Returns the result.
    fn check(&self, packet: &[u8], wire_len: u32) -> u32 {
        let oracle = libpcap::bpf_filter(&self.raw, packet, wire_len);
        let jit = self.jit.run(packet, wire_len);
        let interp = self.interp.run(packet, wire_len);
        if jit != oracle || interp != oracle {
            panic!(
                "JIT {jit}, interpreter {interp}, libpcap {oracle}\nwire_len {wire_len}, \
                 packet ({} bytes) {:02x?}\n{}",
                packet.len(),
                packet,
                listing(&self.program)
            );
        }
        oracle
    }

    /// Runs the JIT's batch loop and the interpreter's (default, per-packet) batch over
    /// `packets`, and each packet alone in all three engines; panics on any disagreement.
    /// Returns libpcap's results.
    fn check_batch(&self, packets: &[(&[u8], u32)]) -> Vec<u32> {
        let oracle: Vec<u32> = packets.iter().map(|&(p, w)| self.check(p, w)).collect();
        let refs: Vec<PacketRef> = packets.iter().map(|&(p, w)| PacketRef::new(p, w)).collect();
        // Slots prefilled with a value no test program returns, so an unwritten slot shows.
        let mut jit = vec![0xdead_beef; packets.len()];
        self.jit.run_batch(&refs, &mut jit);
        let mut interp = vec![0xdead_beef; packets.len()];
        self.interp.run_batch(&refs, &mut interp);
        for (n, &(packet, wire_len)) in packets.iter().enumerate() {
            if jit[n] != oracle[n] || interp[n] != oracle[n] {
                panic!(
                    "batch of {}: packet {n}: JIT batch {}, interpreter batch {}, libpcap {}\n\
                     wire_len {wire_len}, packet ({} bytes) {:02x?}\n{}",
                    packets.len(),
                    jit[n],
                    interp[n],
                    oracle[n],
                    packet.len(),
                    packet,
                    listing(&self.program)
                );
            }
        }
        oracle
    }
}

fn listing(program: &[Insn]) -> String {
    text::format(program, TextForm::Listing)
}

fn parse(listing: &str) -> Vec<Insn> {
    text::parse(listing).unwrap_or_else(|e| panic!("bad test program: {e}\n{listing}"))
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Edge cases of libpcap's semantics: (what, program, packet bytes, wire length, expected).
/// The expected value is checked against libpcap too, so the table cannot drift from the oracle.
const CASES: &[(&str, &str, &str, u32, u32)] = &[
    (
        "word load inside the packet",
        "(000) ld [1]\n(001) ret",
        "00 11 22 33 44",
        5,
        0x1122_3344,
    ),
    (
        "word load straddling the end rejects",
        "(000) ld [2]\n(001) ret #7",
        "00 11 22 33 44",
        5,
        0,
    ),
    (
        "half-word load of the last two bytes",
        "(000) ldh [3]\n(001) ret",
        "00 11 22 33 44",
        5,
        0x3344,
    ),
    (
        "byte load at the end rejects",
        "(000) ldb [5]\n(001) ret #7",
        "00 11 22 33 44",
        9,
        0,
    ),
    (
        "absolute offset near 2^32 rejects",
        "(000) ldb [0xfffffffe]\n(001) ret #7",
        "00 11 22 33 44",
        5,
        0,
    ),
    (
        "X + k wrapping past 2^32 is out of range, not a small offset",
        "(000) ldx #0xffffffff\n(001) ldb [x + 2]\n(002) ret #7",
        "00 11 22 33 44",
        5,
        0,
    ),
    (
        "X + k with k = 0x80000000 rejects",
        "(000) ldx #0x80000000\n(001) ldh [x + 0x80000000]\n(002) ret #7",
        "00 11 22 33 44",
        5,
        0,
    ),
    (
        "indexed word load",
        "(000) ldx #1\n(001) ld [x + 0]\n(002) ret",
        "00 11 22 33 44",
        5,
        0x1122_3344,
    ),
    (
        "indexed loads grouped under one check: the later, larger one fails",
        "(000) ldx #1\n(001) ldb [x + 0]\n(002) ldh [x + 3]\n(003) ret #9",
        "00 11 22 33 44",
        5,
        0,
    ),
    (
        "msh: 4 * (low nibble)",
        "(000) ldxb 4*([0]&0xf)\n(001) txa\n(002) ret",
        "4f",
        1,
        60,
    ),
    (
        "len is the wire length, not the captured length",
        "(000) ld #pktlen\n(001) ret",
        "00 11",
        1500,
        1500,
    ),
    (
        "ldx len",
        "(000) ldx #pktlen\n(001) txa\n(002) add #1\n(003) ret",
        "",
        0xffff_ffff,
        0,
    ),
    (
        "division by X = 0 rejects",
        "(000) ld #10\n(001) ldx #0\n(002) div x\n(003) ret #5",
        "",
        0,
        0,
    ),
    (
        "modulo by X = 0 rejects",
        "(000) ld #10\n(001) ldx #0\n(002) mod x\n(003) ret #5",
        "",
        0,
        0,
    ),
    (
        "division is unsigned",
        "(000) ld #0xfffffff0\n(001) ldx #3\n(002) div x\n(003) ret",
        "",
        0,
        0x5555_5550,
    ),
    (
        "division by a constant 7",
        "(000) ld #0xffffffff\n(001) div #7\n(002) ret",
        "",
        0,
        0x2492_4924,
    ),
    (
        "modulo by a constant 0xfffffffe",
        "(000) ld #0xffffffff\n(001) mod #0xfffffffe\n(002) ret",
        "",
        0,
        1,
    ),
    (
        "shift left by X = 31",
        "(000) ld #3\n(001) ldx #31\n(002) lsh x\n(003) ret",
        "",
        0,
        0x8000_0000,
    ),
    (
        "shift left by X = 32 gives 0",
        "(000) ld #3\n(001) ldx #32\n(002) lsh x\n(003) ret",
        "",
        0,
        0,
    ),
    (
        "shift right by X = 33 gives 0",
        "(000) ld #0xffffffff\n(001) ldx #33\n(002) rsh x\n(003) ret",
        "",
        0,
        0,
    ),
    (
        "shift right is logical",
        "(000) ld #0x80000000\n(001) rsh #31\n(002) ret",
        "",
        0,
        1,
    ),
    (
        "jgt is unsigned",
        "(000) ld #0x80000000\n(001) jgt #1 jt 2 jf 3\n(002) ret #1\n(003) ret #2",
        "",
        0,
        1,
    ),
    (
        "jge x is unsigned",
        "(000) ld #0xffffffff\n(001) ldx #0x7fffffff\n(002) jge x jt 3 jf 4\n(003) ret #1\n\
         (004) ret #2",
        "",
        0,
        1,
    ),
    (
        "jset",
        "(000) ld #0x10\n(001) jset #0x30 jt 2 jf 3\n(002) ret #1\n(003) ret #2",
        "",
        0,
        1,
    ),
    (
        "neg",
        "(000) ld #1\n(001) neg\n(002) ret",
        "",
        0,
        0xffff_ffff,
    ),
    (
        "multiplication wraps",
        "(000) ld #0x10000\n(001) mul #0x10001\n(002) ret",
        "",
        0,
        0x10000,
    ),
    (
        "all sixteen scratch cells (registers and stack)",
        "(000) ld #1\n(001) st M[0]\n(002) add #1\n(003) st M[1]\n(004) add #1\n(005) st M[2]\n\
         (006) add #1\n(007) st M[3]\n(008) add #1\n(009) st M[4]\n(010) add #1\n(011) st M[5]\n\
         (012) add #1\n(013) st M[6]\n(014) add #1\n(015) st M[7]\n(016) add #1\n(017) st M[8]\n\
         (018) add #1\n(019) st M[9]\n(020) add #1\n(021) st M[10]\n(022) add #1\n(023) st M[11]\n\
         (024) add #1\n(025) st M[12]\n(026) add #1\n(027) st M[13]\n(028) add #1\n(029) st M[14]\n\
         (030) add #1\n(031) st M[15]\n(032) ldx M[0]\n(033) ld M[15]\n(034) mul x\n(035) ldx M[7]\n\
         (036) add x\n(037) tax\n(038) ld M[14]\n(039) lsh #8\n(040) add x\n(041) ret",
        "",
        0,
        (16 + 8) + (15 << 8),
    ),
    (
        "wire length and scratch cells together",
        "(000) ld #pktlen\n(001) st M[3]\n(002) ldx #1\n(003) stx M[9]\n(004) ld M[3]\n\
         (005) add x\n(006) ldx M[9]\n(007) add x\n(008) ret",
        "",
        40,
        42,
    ),
];

#[test]
fn edge_cases_match_libpcap_and_the_expected_values() {
    for &(what, program, packet, wire_len, expected) in CASES {
        let engines = Engines::new(&parse(program));
        let packet = hex(packet);
        let got = engines.check(&packet, wire_len);
        assert_eq!(got, expected, "{what}");
        assert_eq!(
            engines.check_batch(&[(&packet, wire_len)]),
            [expected],
            "{what}"
        );
        assert_eq!(engines.check_batch(&[]), [], "{what}");
    }
}

/// The batch loop's own edges: empty batches (no descriptor is read, no verdict written), batches
/// of one, packets of every length from 0 in one batch, verdicts in packet order, the wire
/// length and spilled scratch cells per packet, and a length mismatch refused.
#[test]
fn batches_agree_with_single_runs() {
    // Stores more cells than fit in registers (the rest live in the red zone, below the pushed
    // loop state) and reads them all back; loads `len`, which comes from each descriptor.
    // A = [0] + 2 * len, rejected above 300.
    let program = parse(
        "(000) ld #pktlen\n(001) st M[0]\n(002) st M[1]\n(003) st M[2]\n(004) st M[3]\n\
         (005) st M[4]\n(006) st M[5]\n(007) ldb [0]\n(008) ldx M[4]\n(009) add x\n\
         (010) ldx M[3]\n(011) add x\n(012) ldx M[2]\n(013) sub x\n(014) ldx M[1]\n\
         (015) add x\n(016) ldx M[5]\n(017) sub x\n(018) ldx M[0]\n(019) add x\n\
         (020) jgt #300 jt 21 jf 22\n(021) ret #0\n(022) ret",
    );
    let engines = Engines::new(&program);
    let bytes: Vec<u8> = (0..=255).collect();
    let packets: Vec<(&[u8], u32)> = (0..100).map(|n| (&bytes[..n], 40 + n as u32)).collect();
    let expected: Vec<u32> = packets
        .iter()
        .map(|&(p, w)| match p.first() {
            None => 0,
            Some(&b) if u32::from(b) + 2 * w > 300 => 0,
            Some(&b) => u32::from(b) + 2 * w,
        })
        .collect();
    assert_eq!(engines.check_batch(&packets), expected);
    for n in 0..packets.len() {
        assert_eq!(engines.check_batch(&packets[n..n + 1]), expected[n..n + 1]);
    }
    // Empty: nothing read, nothing written.
    let mut untouched: [u32; 0] = [];
    engines.jit.run_batch(&[], &mut untouched);
    // A batch may be any sub-slice of a larger descriptor array; slots outside stay untouched.
    let refs: Vec<PacketRef> = packets.iter().map(|&(p, w)| PacketRef::new(p, w)).collect();
    let mut verdicts = vec![7u32; packets.len()];
    engines.jit.run_batch(&refs[10..20], &mut verdicts[30..40]);
    assert_eq!(verdicts[30..40], expected[10..20]);
    assert!(verdicts[..30]
        .iter()
        .chain(&verdicts[40..])
        .all(|&v| v == 7));

    let mismatch = std::panic::catch_unwind(|| {
        let mut short = vec![0u32; 3];
        engines.jit.run_batch(&refs[..4], &mut short);
    });
    assert!(mismatch.is_err(), "4 packets, 3 verdict slots: refused");
}

#[test]
fn invalid_programs_are_never_compiled() {
    for program in [
        vec![],
        vec![Insn::stmt(op::LD | op::H | op::ABS, 12)], // no final ret
        vec![
            Insn::stmt(op::ALU | op::DIV | op::K, 0),
            Insn::stmt(op::RET | op::A, 0),
        ],
        vec![
            Insn::stmt(op::LD | op::MEM, 3), // read before any store
            Insn::stmt(op::RET | op::A, 0),
        ],
    ] {
        match JitFilter::compile(&program) {
            Err(JitError::Invalid(_)) => {}
            other => panic!("{program:?} gave {other:?}"),
        }
    }
}

/// libpcap's own rules let a program read a scratch cell it never stored (libpcap 1.10 compiles
/// such programs for `pppoes` on 802.11); every jitkit engine reads it as 0.
#[test]
fn unstored_cells_read_as_zero_under_libpcap_rules() {
    let program = parse("(000) ld #7\n(001) st M[1]\n(002) ld M[0]\n(003) add #5\n(004) ret");
    assert!(JitFilter::compile(&program).is_err());
    let jit = JitFilter::compile_with(&program, Rules::Libpcap).unwrap();
    let interp = Interpreter::with_rules(&program, Rules::Libpcap).unwrap();
    assert_eq!(jit.run(&[], 0), 5);
    assert_eq!(interp.run(&[], 0), 5);
}

/// Division and modulo by constants use multiplication by a reciprocal: check them against
/// Rust's `/` and `%` (and libpcap) for edge and random dividends and divisors.
#[test]
fn division_by_constants_is_exact() {
    let mut e = SplitMix64(7);
    let mut divisors: Vec<u32> = testgen::EDGE_CONSTANTS.to_vec();
    divisors.extend([3, 5, 6, 7, 10, 100, 641, 0x8000_0001, 0xffff_fffd]);
    divisors.extend((0..40).map(|_| e.next_u32()));
    divisors.retain(|&d| d != 0);
    let mut dividends: Vec<u32> = testgen::EDGE_CONSTANTS.to_vec();
    dividends.extend((0..200).map(|_| e.next_u32()));
    for &d in &divisors {
        for (alu, rust) in [
            (op::DIV, u32::wrapping_div as fn(u32, u32) -> u32),
            (op::MOD, u32::wrapping_rem),
        ] {
            let program = [
                Insn::stmt(op::LD | op::W | op::ABS, 0),
                Insn::stmt(op::ALU | alu | op::K, d),
                Insn::stmt(op::RET | op::A, 0),
            ];
            let engines = Engines::new(&program);
            for &n in &dividends {
                let got = engines.check(&n.to_be_bytes(), 4);
                assert_eq!(got, rust(n, d), "{n:#x} op {alu:#x} {d:#x}");
            }
        }
    }
}

/// One program, several packets: each whole and cut short at a few points, one at a time and
/// then all of them again as one batch.
fn check_on_packets(program: &[Insn], e: &mut impl Entropy, shape: &Shape, packets: usize) {
    let engines = Engines::new(program);
    let whole: Vec<(Vec<u8>, u32)> = (0..packets).map(|_| testgen::packet(e, shape)).collect();
    let mut batch: Vec<(&[u8], u32)> = Vec::new();
    for (packet, wire_len) in &whole {
        for cut in [
            packet.len(),
            0,
            packet.len() / 2,
            packet.len().saturating_sub(1),
        ] {
            batch.push((&packet[..cut], *wire_len));
        }
    }
    engines.check_batch(&batch);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Short random valid programs (shrinkable: the words are the program).
    #[test]
    fn random_programs_agree(
        program_words in proptest::collection::vec(any::<u32>(), 0..256),
        packet_words in proptest::collection::vec(any::<u32>(), 0..256),
        packet_len in 0u32..80,
    ) {
        let shape = Shape { max_len: 40, packet_len };
        let program = testgen::program(&mut Words::new(&program_words), &shape);
        check_on_packets(&program, &mut Words::new(&packet_words), &shape, 4);
    }
}

/// Long programs, up to the 4096-instruction limit: long `ja` jumps, conditional jumps of every
/// 8-bit length, jumps whose x86 displacement needs 32 bits, many blocks.
#[test]
fn long_random_programs_agree() {
    let mut e = SplitMix64(0x6a69_7420_6c6f_6e67);
    for round in 0..200 {
        let max_len = if round % 8 == 0 { 4096 } else { 500 };
        let shape = Shape {
            max_len,
            packet_len: e.below(100),
        };
        let program = testgen::program(&mut e, &shape);
        check_on_packets(&program, &mut e, &shape, 6);
    }
}

/// Programs of exactly 4096 instructions: the kernel's limit.
#[test]
fn programs_at_the_length_limit_agree() {
    let mut e = SplitMix64(4096);
    for _ in 0..6 {
        let mut program = Vec::new();
        while program.len() != op::MAXINSNS {
            program = testgen::program(
                &mut e,
                &Shape {
                    max_len: op::MAXINSNS,
                    packet_len: 64,
                },
            );
            if program.len() < op::MAXINSNS {
                // Pad at the front with instructions that change nothing observable.
                let pad = op::MAXINSNS - program.len();
                let mut padded = vec![Insn::stmt(op::ALU | op::ADD | op::K, 0); pad];
                padded.extend(&program);
                program = padded;
            }
        }
        check_on_packets(&program, &mut e, &Shape::default(), 8);
    }
}

/// A conditional jump over `five` 5-byte and `two` 2-byte x86 instructions, so the distance in
/// x86 bytes sweeps across the 127/128 boundary of the short form; and the bounds-check
/// rejection path from the top of a long program to the shared exit at its end.
#[test]
fn jumps_at_the_short_form_boundary_agree() {
    let mut checked = 0;
    for five in 20..30u32 {
        for two in 0..6u32 {
            // Offsets from the jump: 0 runs the padding, `pad` + 0..3 land on the four rets.
            let pad = (five + two) as u8;
            for (jt, jf) in [
                (pad + 1, 0),
                (0, pad + 2),
                (pad + 1, pad + 3),
                (pad, pad + 1),
            ] {
                let mut program = vec![
                    Insn::stmt(op::LD | op::B | op::ABS, 0),
                    Insn::jump(op::JMP | op::JEQ | op::K, 1, jt, jf),
                ];
                for i in 0..five {
                    program.push(Insn::stmt(op::LDX | op::IMM, 0x1000 + i)); // mov ecx, imm32
                }
                for _ in 0..two {
                    program.push(Insn::stmt(op::MISC | op::TAX, 0)); // mov ecx, eax
                }
                program.push(Insn::stmt(op::RET | op::K, 11));
                program.push(Insn::stmt(op::RET | op::K, 22));
                program.push(Insn::stmt(op::RET | op::K, 33));
                program.push(Insn::stmt(op::RET | op::K, 44));
                if jitkit_bpf::cbpf::validate(&program).is_err() {
                    continue;
                }
                let engines = Engines::new(&program);
                engines.check_batch(&[(&[1u8][..], 1), (&[2], 1), (&[], 1)]);
                checked += 3;
            }
        }
    }
    assert!(checked > 100);

    // A bounds check at the very top of a program whose code is longer than 128 bytes: its
    // rejection jump goes to the end.
    for pad in [20u32, 30, 60, 1000] {
        let mut program = vec![Insn::stmt(op::LD | op::W | op::ABS, 4)];
        for i in 0..pad {
            program.push(Insn::stmt(op::ALU | op::ADD | op::K, 0x1234_5678 ^ i));
        }
        program.push(Insn::stmt(op::RET | op::A, 0));
        let engines = Engines::new(&program);
        let bytes = [0xab; 9];
        let packets: Vec<(&[u8], u32)> = [0, 7, 8, 9]
            .iter()
            .map(|&len| (&bytes[..len], len as u32))
            .collect();
        engines.check_batch(&packets);
    }
}

/// Runs of `jeq #k` with one common true target (libpcap's `host A or host B ...`) become one
/// range check plus a vector compare in the JIT: random sets (edge constants, duplicates, sets
/// spanning all 2^32 values), entered at the head and, through a second jump, in the middle.
#[test]
fn set_membership_chains_agree() {
    let mut e = SplitMix64(0x5e7);
    let mut checked = 0;
    for round in 0..400 {
        let n = 1 + e.below(if round % 4 == 0 { 200 } else { 24 }) as usize;
        let constants: Vec<u32> = (0..n)
            .map(|_| match e.below(4) {
                0 => testgen::constant(&mut e),
                _ => 0x0a00_0000 + e.below(64),
            })
            .collect();
        // ld [0]; [jeq #x jt 1 jf 0 → join]; jeq chain...; ret #1 (not) ; ret #2 (member)
        let entry_mid = e.chance(1, 3) && n > 2;
        let mut program = vec![Insn::stmt(op::LD | op::W | op::ABS, 0)];
        if entry_mid {
            // A jump into the middle of the chain keeps that part a separate chain.
            let mid = 1 + e.below(n as u32 - 1) as u8;
            program.push(Insn::jump(op::JMP | op::JSET | op::K, 0x8000_0000, mid, 0));
        }
        let base = program.len();
        for (i, &k) in constants.iter().enumerate() {
            let to_member = (n - i) as u8; // from base+i to base+n+1
            program.push(Insn::jump(op::JMP | op::JEQ | op::K, k, to_member, 0));
        }
        program.push(Insn::stmt(op::RET | op::K, 1));
        program.push(Insn::stmt(op::RET | op::K, 2));
        assert_eq!(program.len(), base + n + 2);
        if jitkit_bpf::cbpf::validate(&program).is_err() {
            continue; // more than 255 to jump over
        }
        let engines = Engines::new(&program);
        if n >= 8 {
            // The vector path is really taken (pcmpeqd is 66 0f 76).
            let code = jitkit_bpf::cbpf::jit::assemble(&program).unwrap();
            assert!(code.bytes().windows(3).any(|w| w == [0x66, 0x0f, 0x76]));
        }
        let mut probes: Vec<u32> = constants.clone();
        probes.extend(constants.iter().map(|k| k.wrapping_add(1)));
        probes.extend(constants.iter().map(|k| k.wrapping_sub(1)));
        probes.extend(testgen::EDGE_CONSTANTS);
        probes.extend((0..20).map(|_| e.next_u32()));
        for value in probes {
            let got = engines.check(&value.to_be_bytes(), 4);
            if !entry_mid {
                assert_eq!(got, if constants.contains(&value) { 2 } else { 1 });
            }
            checked += 1;
        }
        engines.check(&[0, 0, 0], 4); // truncated: the load rejects
    }
    assert!(checked > 5000);
}

/// libpcap's programs for many expressions (optimized and not), on every packet of the corpus.
#[test]
fn libpcap_programs_agree_on_the_corpus() {
    let (mut packets, mut runs, mut matched) = (0u64, 0u64, 0u64);
    let mut by_linktype: std::collections::BTreeMap<String, Vec<(&str, Engines)>> =
        Default::default();
    for capture in jitkit_testkit::corpus_captures() {
        let Some(linktype) = libpcap::linktype_from_name(&capture.linktype)
            .or_else(|| capture.linktype.parse().ok())
        else {
            continue;
        };
        let programs = by_linktype
            .entry(capture.linktype.clone())
            .or_insert_with(|| {
                let mut out = Vec::new();
                for &expression in jitkit_testkit::filter_expressions::CLASSIC {
                    for optimize in [true, false] {
                        let Ok(raw) = libpcap::compile(expression, linktype, 262144, optimize)
                        else {
                            continue;
                        };
                        let program = libpcap::from_raw(&raw);
                        // libpcap's protochain loops jump backwards: invalid, never compiled.
                        if jitkit_bpf::cbpf::validate(&program).is_ok() {
                            out.push((expression, Engines::new(&program)));
                        }
                    }
                }
                out
            });
        let bytes = std::fs::read(&capture.path)
            .unwrap_or_else(|e| panic!("{}: {e}", capture.path.display()));
        // The whole capture is one batch (and every packet is also run alone).
        let batch: Vec<(&[u8], u32)> = cbpf_common::packets(&bytes)
            .iter()
            .map(|p| (p.data, p.wire_len))
            .collect();
        packets += batch.len() as u64;
        for (_, engines) in programs.iter() {
            let results = engines.check_batch(&batch);
            matched += results.iter().filter(|&&r| r != 0).count() as u64;
            runs += results.len() as u64;
        }
    }
    eprintln!("{packets} packets, {runs} comparisons, {matched} matches");
    assert!(
        packets > 10_000,
        "only {packets} packets read from the corpus"
    );
    assert!(runs > 1_000_000, "only {runs} comparisons");
    assert!(matched > 10_000, "only {matched} matches");
}

/// The long run behind the "zero mismatches in 10 million executions" claim: seeded random valid
/// programs (a mix of short, long and 4096-instruction ones) on random and truncated packets,
/// JIT vs interpreter vs libpcap. One execution is one (program, packet) comparison of all
/// engines, each packet run alone and in a batch of 32 (the JIT's `run` and `run_batch`, the
/// interpreter's `run` and default `run_batch`, libpcap).
///
/// ```sh
/// JITKIT_SOAK_EXECUTIONS=10000000 JITKIT_SOAK_SEED=1 \
///   cargo test -p jitkit-bpf --release --test jit_differential -- --ignored --nocapture soak
/// ```
#[test]
#[ignore = "long run (minutes); see the doc comment for the command"]
fn soak() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let target = env("JITKIT_SOAK_EXECUTIONS", 10_000_000);
    let seed = env("JITKIT_SOAK_SEED", 1);
    let mut e = SplitMix64(seed);
    let (mut executions, mut programs, mut accepted) = (0u64, 0u64, 0u64);
    let start = std::time::Instant::now();
    while executions < target {
        let max_len = match e.below(64) {
            0 => op::MAXINSNS,
            1..=8 => 1000,
            _ => 64,
        };
        let shape = Shape {
            max_len,
            packet_len: e.below(128),
        };
        let program = testgen::program(&mut e, &shape);
        let engines = Engines::new(&program);
        programs += 1;
        let whole: Vec<(Vec<u8>, u32)> = (0..8).map(|_| testgen::packet(&mut e, &shape)).collect();
        let mut batch: Vec<(&[u8], u32)> = Vec::new();
        for (packet, wire_len) in &whole {
            for cut in [
                packet.len(),
                packet.len() / 2,
                packet.len().saturating_sub(1),
                0,
            ] {
                batch.push((&packet[..cut], *wire_len));
            }
        }
        let results = engines.check_batch(&batch);
        accepted += results.iter().filter(|&&r| r != 0).count() as u64;
        executions += results.len() as u64;
    }
    eprintln!(
        "soak: seed {seed}: {executions} executions of {programs} programs ({accepted} nonzero \
         results), zero mismatches, {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
