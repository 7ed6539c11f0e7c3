//! The validator: the kernel checker's rejection cases as a table (program in, message out), and
//! the Linux kernel itself as the oracle: `setsockopt(SO_ATTACH_FILTER)` runs the kernel's
//! classic checker (`bpf_check_classic`) on random valid programs and one-field mutations of
//! them; its verdict and ours must agree, except for the one documented difference (absolute
//! loads at or above SKF_AD_OFF, which libpcap runs as loads past the packet).

use jitkit_bpf::cbpf::testgen::{self, Entropy, Shape, SplitMix64};
use jitkit_bpf::cbpf::{op, validate, Insn, ValidateError};

const RET_0: Insn = Insn::stmt(op::RET | op::K, 0);
const RET_A: Insn = Insn::stmt(op::RET | op::A, 0);

fn ld_abs_h(k: u32) -> Insn {
    Insn::stmt(op::LD | op::H | op::ABS, k)
}

/// The kernel's rejection cases, each with the message the user sees.
#[test]
fn kernel_rejection_cases() {
    let long: Vec<Insn> = std::iter::repeat_n(Insn::stmt(op::LD | op::IMM, 1), 4096)
        .chain([RET_A])
        .collect();
    let cases: Vec<(&str, Vec<Insn>, ValidateError, &str)> = vec![
        (
            "empty",
            vec![],
            ValidateError::Empty,
            "the program is empty (a classic BPF program needs at least one instruction)",
        ),
        (
            "4097 instructions",
            long,
            ValidateError::TooLong { len: 4097 },
            "the program has 4097 instructions; the kernel's limit is 4096",
        ),
        (
            "missing ret",
            vec![ld_abs_h(12)],
            ValidateError::NoFinalReturn { index: 0, code: 0x28 },
            "instruction 0: the last instruction must be `ret`, found opcode 0x28",
        ),
        (
            "missing ret after a jump",
            vec![ld_abs_h(12), Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 1), RET_0, ld_abs_h(12)],
            ValidateError::NoFinalReturn { index: 3, code: 0x28 },
            "instruction 3: the last instruction must be `ret`, found opcode 0x28",
        ),
        (
            "conditional jump out of range",
            vec![ld_abs_h(12), Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 2), RET_0, RET_A],
            ValidateError::JumpOutOfRange { index: 1, target: 4, len: 4 },
            "instruction 1: jump to instruction 4 is past the end of the program (4 instructions)",
        ),
        (
            "ja out of range",
            vec![Insn::stmt(op::JMP | op::JA, 1), RET_0],
            ValidateError::JumpOutOfRange { index: 0, target: 2, len: 2 },
            "instruction 0: jump to instruction 2 is past the end of the program (2 instructions)",
        ),
        (
            "ja far out of range",
            vec![Insn::stmt(op::JMP | op::JA, 0x7fff_ffff), RET_0],
            ValidateError::JumpOutOfRange { index: 0, target: 0x8000_0000, len: 2 },
            "instruction 0: jump to instruction 2147483648 is past the end of the program (2 instructions)",
        ),
        (
            "backward jump",
            vec![RET_0, Insn::stmt(op::JMP | op::JA, (-2i32) as u32), RET_0],
            ValidateError::BackwardJump { index: 1, offset: -2 },
            "instruction 1: backward jump (ja -2); classic BPF only jumps forward",
        ),
        (
            "jump to itself",
            vec![Insn::stmt(op::JMP | op::JA, u32::MAX), RET_0],
            ValidateError::BackwardJump { index: 0, offset: -1 },
            "instruction 0: backward jump (ja -1); classic BPF only jumps forward",
        ),
        (
            "st M[16]",
            vec![Insn::stmt(op::ST, 16), RET_0],
            ValidateError::MemIndexOutOfRange { index: 0, k: 16 },
            "instruction 0: scratch memory M[16] does not exist (there are 16 cells, M[0] to M[15])",
        ),
        (
            "ldx M[16]",
            vec![Insn::stmt(op::STX, 15), Insn::stmt(op::LDX | op::MEM, 16), RET_0],
            ValidateError::MemIndexOutOfRange { index: 1, k: 16 },
            "instruction 1: scratch memory M[16] does not exist (there are 16 cells, M[0] to M[15])",
        ),
        (
            "div by K=0",
            vec![Insn::stmt(op::ALU | op::DIV | op::K, 0), RET_A],
            ValidateError::DivisionByZero { index: 0, what: "division" },
            "instruction 0: division by the constant 0",
        ),
        (
            "mod by K=0",
            vec![Insn::stmt(op::LD | op::IMM, 7), Insn::stmt(op::ALU | op::MOD | op::K, 0), RET_A],
            ValidateError::DivisionByZero { index: 1, what: "modulo" },
            "instruction 1: modulo by the constant 0",
        ),
        (
            "lsh by K=32",
            vec![Insn::stmt(op::ALU | op::LSH | op::K, 32), RET_A],
            ValidateError::ShiftTooLarge { index: 0, k: 32 },
            "instruction 0: shift by the constant 32 (it must be below 32)",
        ),
        (
            "unknown opcode",
            vec![Insn::stmt(0x08, 0), RET_0],
            ValidateError::UnknownOpcode { index: 0, code: 0x08 },
            "instruction 0: unknown opcode 0x8",
        ),
        (
            "ret X (not an opcode)",
            vec![Insn::stmt(op::RET | op::X, 0)],
            ValidateError::UnknownOpcode { index: 0, code: 0x0e },
            "instruction 0: unknown opcode 0xe",
        ),
        (
            "read of M[] before a store",
            vec![Insn::stmt(op::LD | op::MEM, 3), RET_A],
            ValidateError::UninitializedMemory { index: 0, cell: 3 },
            "instruction 0: reads M[3] before a store to it on every path that reaches it",
        ),
        (
            "read of M[] stored on one path only",
            vec![
                ld_abs_h(12),
                Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 1),
                Insn::stmt(op::ST, 3),
                Insn::stmt(op::LD | op::MEM, 3),
                RET_A,
            ],
            ValidateError::UninitializedMemory { index: 3, cell: 3 },
            "instruction 3: reads M[3] before a store to it on every path that reaches it",
        ),
        (
            "first failure wins: unknown opcode before a bad jump",
            vec![Insn::stmt(0xffff, 0), Insn::stmt(op::JMP | op::JA, 9), RET_0],
            ValidateError::UnknownOpcode { index: 0, code: 0xffff },
            "instruction 0: unknown opcode 0xffff",
        ),
    ];
    for (name, program, error, message) in cases {
        let got = validate(&program).expect_err(name);
        assert_eq!(got, error, "{name}");
        assert_eq!(got.to_string(), message, "{name}");
        if !program.is_empty() && program.len() <= op::MAXINSNS {
            assert!(!kernel::accepts(&program), "{name}: the kernel accepts it");
        }
    }
}

/// Programs both accept: stores on every path before a read, jumps to the very end, 4096
/// instructions, and libpcap-only loads at "negative" offsets.
#[test]
fn accepted_programs() {
    let full: Vec<Insn> = std::iter::repeat_n(Insn::stmt(op::LD | op::IMM, 1), 4095)
        .chain([RET_A])
        .collect();
    let cases: Vec<(&str, Vec<Insn>)> = vec![
        ("ret only", vec![RET_0]),
        ("4096 instructions", full),
        (
            "store on both paths, then read",
            vec![
                ld_abs_h(12),
                Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 2),
                Insn::stmt(op::ST, 3),
                Insn::stmt(op::JMP | op::JA, 1),
                Insn::stmt(op::STX, 3),
                Insn::stmt(op::LD | op::MEM, 3),
                RET_A,
            ],
        ),
        (
            "longest jumps",
            vec![
                Insn::jump(op::JMP | op::JSET | op::X, 0, 255, 1),
                Insn::stmt(op::JMP | op::JA, 254),
            ]
            .into_iter()
            .chain(std::iter::repeat_n(RET_0, 255))
            .collect(),
        ),
        (
            "shift by 31",
            vec![Insn::stmt(op::ALU | op::RSH | op::K, 31), RET_A],
        ),
    ];
    for (name, program) in cases {
        assert_eq!(validate(&program), Ok(()), "{name}");
        assert!(kernel::accepts(&program), "{name}: the kernel refuses it");
    }
    // Where we follow libpcap: an absolute load at a "negative" offset is a load past the end of
    // the packet; the kernel reads it as an ancillary load and refuses the unknown ones.
    let negative = vec![Insn::stmt(op::LD | op::B | op::ABS, 0xffff_fffe), RET_A];
    assert_eq!(validate(&negative), Ok(()));
    assert!(!kernel::accepts(&negative));
}

/// Random valid programs and one-field mutations of them: the kernel's verdict is ours.
#[test]
fn verdicts_agree_with_the_kernel() {
    let mut e = SplitMix64(0x4b45_524e);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..4000 {
        let shape = Shape {
            max_len: if round % 100 == 0 { 4096 } else { 24 },
            packet_len: 64,
        };
        let mut program = testgen::program(&mut e, &shape);
        if round % 4 != 0 {
            mutate(&mut program, &mut e);
        }
        // The documented difference: "negative" absolute offsets (see accepted_programs).
        let negative_abs = program.iter().any(|i| {
            [
                op::LD | op::W | op::ABS,
                op::LD | op::H | op::ABS,
                op::LD | op::B | op::ABS,
            ]
            .contains(&i.code)
                && i.k >= op::SKF_AD_OFF
        });
        if negative_abs {
            continue;
        }
        let ours = validate(&program);
        assert_eq!(
            ours.is_ok(),
            kernel::accepts(&program),
            "we say {ours:?}; program {program:?}"
        );
        if ours.is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        accepted > 1000 && refused > 1000,
        "{accepted} accepted, {refused} refused"
    );
}

/// Changes one field of one instruction to something likely to break a rule.
fn mutate(program: &mut Vec<Insn>, e: &mut SplitMix64) {
    let index = e.below(program.len() as u32) as usize;
    let insn = &mut program[index];
    match e.below(7) {
        0 => insn.code = e.below(0x100) as u16,
        1 => insn.code = op::ALL[e.below(49) as usize],
        2 => insn.k = testgen::constant(e),
        3 => insn.k = e.below(40),
        4 => insn.jt = e.next_u32() as u8,
        5 => insn.jf = e.below(30) as u8,
        _ => {
            program.pop();
        }
    }
}

/// The kernel's classic checker through `setsockopt(SO_ATTACH_FILTER)` on a UDP socket (no
/// privileges needed). Declared here without the libc crate: std links libc already.
mod kernel {
    use std::ffi::{c_int, c_void};

    use jitkit_bpf::cbpf::Insn;

    const AF_INET: c_int = 2;
    const SOCK_DGRAM: c_int = 2;
    const SOL_SOCKET: c_int = 1;
    const SO_ATTACH_FILTER: c_int = 26;

    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const Insn,
    }

    extern "C" {
        fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
        fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
        fn close(fd: c_int) -> c_int;
    }

    /// Whether the kernel accepts `program` as a socket filter.
    pub fn accepts(program: &[Insn]) -> bool {
        // Insn is #[repr(C)] {u16, u8, u8, u32}: the kernel's struct sock_filter.
        let fprog = SockFprog {
            len: u16::try_from(program.len()).expect("at most 65535 instructions"),
            filter: program.as_ptr(),
        };
        // SAFETY: plain socket(2); the descriptor is checked and closed below.
        let fd = unsafe { socket(AF_INET, SOCK_DGRAM, 0) };
        assert!(fd >= 0, "socket() failed");
        // SAFETY: fprog points to `program.len()` valid instructions for the duration of the
        // call; the kernel copies them.
        let rc = unsafe {
            setsockopt(
                fd,
                SOL_SOCKET,
                SO_ATTACH_FILTER,
                (&fprog as *const SockFprog).cast(),
                std::mem::size_of::<SockFprog>() as u32,
            )
        };
        // SAFETY: fd is our open socket.
        unsafe { close(fd) };
        rc == 0
    }
}
