//! libpcap's `bpf_filter()` semantics, case by case, as data: program (tcpdump -d text), packet,
//! wire length and the expected return value. Each case is checked against libpcap itself as
//! well as our interpreter, so the table documents libpcap, not our reading of it.

use jitkit_bpf::cbpf::text::parse;
use jitkit_bpf::cbpf::{Interpreter, Rules};
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;

struct Case {
    what: &'static str,
    program: &'static str,
    packet: &'static [u8],
    wire_len: u32,
    expected: u32,
}

const P4: &[u8] = &[0x12, 0x34, 0x56, 0x78];

const CASES: &[Case] = &[
    Case {
        what: "A, X start at 0",
        program: "(000) add x\n(001) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "loads are big-endian",
        program: "(000) ld [0]\n(001) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0x1234_5678,
    },
    Case {
        what: "a word load past the captured bytes rejects",
        program: "(000) ld [1]\n(001) ret #7\n",
        packet: P4,
        wire_len: 100,
        expected: 0,
    },
    Case {
        what: "a byte load at the last captured byte works",
        program: "(000) ldb [3]\n(001) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0x78,
    },
    Case {
        what: "any load on an empty packet rejects",
        program: "(000) ldb [0]\n(001) ret #7\n",
        packet: &[],
        wire_len: 60,
        expected: 0,
    },
    Case {
        what: "len is the wire length, not the captured length",
        program: "(000) ld #pktlen\n(001) ret\n",
        packet: P4,
        wire_len: 1514,
        expected: 1514,
    },
    Case {
        what: "ldx len (0x81) too",
        program: "(000) unimp 0x81\n(001) txa\n(002) ret\n",
        packet: P4,
        wire_len: 99,
        expected: 99,
    },
    Case {
        what: "x + k is not wrapped to 32 bits: 0xffffffff + 2 is past the end, not 1",
        program: "(000) ldx #0xffffffff\n(001) ldb [x + 2]\n(002) ret #7\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "a negative k in ld [x + k] is a huge offset",
        program: "(000) ldx #0x2\n(001) ldb [x + -1]\n(002) ret #7\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "a negative absolute offset (kernel: ancillary) is past the end",
        program: "(000) ldb [-2]\n(001) ret #7\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "division by X = 0 returns 0 (rejects)",
        program: "(000) ld #0x5\n(001) div x\n(002) ret #7\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "modulo by X = 0 returns 0 (rejects)",
        program: "(000) ld #0x5\n(001) mod x\n(002) ret #7\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "shift left by X = 32 gives 0",
        program: "(000) ld #0x12345678\n(001) ldx #0x20\n(002) lsh x\n(003) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "shift right by X = 0xffffffff gives 0",
        program: "(000) ld #0x12345678\n(001) ldx #0xffffffff\n(002) rsh x\n(003) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0,
    },
    Case {
        what: "shift right by X = 31",
        program: "(000) ld #0x80000000\n(001) ldx #0x1f\n(002) rsh x\n(003) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 1,
    },
    Case {
        what: "comparisons are unsigned",
        program: "(000) ld #0x80000000\n(001) jgt #0x1 jt 2 jf 3\n(002) ret #1\n(003) ret #2\n",
        packet: P4,
        wire_len: 4,
        expected: 1,
    },
    Case {
        what: "division is unsigned",
        program: "(000) ld #0xfffffffe\n(001) div #2\n(002) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0x7fff_ffff,
    },
    Case {
        what: "arithmetic wraps",
        program: "(000) ld #0xffffffff\n(001) add #2\n(002) mul #3\n(003) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 3,
    },
    Case {
        what: "neg is two's complement",
        program: "(000) ld #0x5\n(001) neg\n(002) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0xffff_fffb,
    },
    Case {
        what: "ldxb 4*([k]&0xf)",
        program: "(000) ldxb 4*([3]&0xf)\n(001) txa\n(002) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 0x20,
    },
    Case {
        what: "ret k returns k unchanged, even 0xffffffff",
        program: "(000) ret #-1\n",
        packet: &[],
        wire_len: 0,
        expected: u32::MAX,
    },
    Case {
        what: "scratch memory",
        program: "(000) ld #0x7\n(001) st M[15]\n(002) ldx M[15]\n(003) txa\n(004) ret\n",
        packet: P4,
        wire_len: 4,
        expected: 7,
    },
    Case {
        what: "ja skips",
        program: "(000) ja 2\n(001) ret #1\n(002) ret #2\n",
        packet: P4,
        wire_len: 4,
        expected: 2,
    },
    Case {
        what: "jset tests bits (0x12 & 0x2)",
        program: "(000) ldb [0]\n(001) jset #0x2 jt 2 jf 3\n(002) ret #1\n(003) ret #2\n",
        packet: P4,
        wire_len: 4,
        expected: 1,
    },
    Case {
        what: "jset tests bits (0x12 & 0x1)",
        program: "(000) ldb [0]\n(001) jset #0x1 jt 2 jf 3\n(002) ret #1\n(003) ret #2\n",
        packet: P4,
        wire_len: 4,
        expected: 2,
    },
];

#[test]
fn libpcap_semantics_case_by_case() {
    for case in CASES {
        let program = parse(case.program).unwrap_or_else(|e| panic!("{}: {e}", case.what));
        let theirs = libpcap::bpf_filter(&libpcap::to_raw(&program), case.packet, case.wire_len);
        assert_eq!(theirs, case.expected, "libpcap: {}", case.what);
        let ours = Interpreter::new(&program)
            .unwrap_or_else(|e| panic!("{}: {e}", case.what))
            .run(case.packet, case.wire_len);
        assert_eq!(ours, case.expected, "interpreter: {}", case.what);
    }
}

/// Under `Rules::Libpcap`, a cell read before any store reads 0 (the kernel's rules refuse it).
#[test]
fn unstored_scratch_cells_read_zero_under_libpcap_rules() {
    let program = parse("(000) ld M[3]\n(001) add #1\n(002) ret\n").unwrap();
    assert!(Interpreter::new(&program).is_err());
    let interp = Interpreter::with_rules(&program, Rules::Libpcap).unwrap();
    assert_eq!(interp.run(&[], 0), 1);
}
