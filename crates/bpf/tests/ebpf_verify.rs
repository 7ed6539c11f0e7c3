//! What the verifier refuses, and what the interpreter and the JIT stop at run time, as data:
//! program text next to the error it must produce. The kernel's verifier refuses the same
//! programs (checked for the statically refused ones it can load).

use jitkit_bpf::ebpf::kernel::{KernelProgram, PROG_TYPE_SCHED_CLS};
use jitkit_bpf::ebpf::{asm, interp, jit, verify, Helpers, Insn, Memory, Options, RunError};

/// (program, the verifier's message must contain this, does the kernel refuse it too?)
const REFUSED: &[(&str, &str, bool)] = &[
    ("", "empty", false),
    ("mov r0, r2\nexit", "instruction 0: reads r2", true),
    (
        "mov r0, 1",
        "instruction 0: execution can run past the last instruction",
        true,
    ),
    ("ja +5\nexit", "instruction 0: jump to 6", true),
    ("ja +1\nlddw r0, 5\nexit", "instruction 0: jump to 2", true),
    (
        "mov r10, 1\nmov r0, 0\nexit",
        "r10 (the frame pointer) is read-only",
        true,
    ),
    ("mov r0, 1\nlsh32 r0, 32\nexit", "constant shift", true),
    ("mov r0, 1\narsh r0, -1\nexit", "constant shift", true),
    (
        "mov r0, 1\ndiv r0, 0\nexit",
        "division by the constant 0",
        true,
    ),
    ("call 1\nexit", "unknown helper function 1", false),
    (
        "stdw [r10+0], 1\nmov r0, 0\nexit",
        "outside the 512-byte frame",
        true,
    ),
    (
        "ldxw r0, [r10-516]\nexit",
        "outside the 512-byte frame",
        true,
    ),
    (
        "mov r0, 0\njeq r0, 0, +1\nmov r2, 1\nmov r0, r2\nexit",
        "instruction 3: reads r2",
        true,
    ),
    (
        "mov r6, r1\nmov r2, 1\nldabsb 0\nmov r0, r2\nexit",
        "instruction 3: reads r2",
        true,
    ),
    ("mov r0, 1\nle64 r0\nexit", "", false),
    (
        "mov r0, 0\nloop:\nadd r0, 1\njlt r0, 10, loop\nexit",
        "jumps backwards (a loop) and no instruction budget",
        false,
    ),
];

#[test]
fn the_verifier_refuses_with_a_message_naming_the_instruction() {
    for &(text, needle, kernel_refuses) in REFUSED {
        let prog = asm::assemble(text).unwrap();
        let result = verify(&prog, &Helpers::new(), &Options::default());
        if needle.is_empty() {
            assert!(result.is_ok(), "{text}");
            continue;
        }
        let err = result.expect_err(text).to_string();
        assert!(err.contains(needle), "{text}: {err}");
        if kernel_refuses {
            assert!(
                KernelProgram::load(PROG_TYPE_SCHED_CLS, &prog).is_err(),
                "the kernel accepts {text}"
            );
        }
    }
}

#[test]
fn bad_encodings_are_refused() {
    let exit = Insn::new(0x95, 0, 0, 0, 0);
    for (prog, needle) in [
        (
            vec![Insn::new(0xff, 0, 0, 0, 0), exit],
            "unknown opcode 0xff",
        ),
        (
            vec![Insn::new(0xb7, 11, 0, 0, 0), exit],
            "invalid register r11",
        ),
        (
            vec![Insn::new(0x18, 0, 0, 0, 0)],
            "lddw needs a second slot",
        ),
        (
            vec![Insn::new(0x18, 0, 1, 0, 0), Insn::default(), exit],
            "pseudo source",
        ),
        (vec![Insn::new(0xd4, 0, 0, 0, 8), exit], "byte swap width"),
        (
            vec![Insn::new(0x38, 0, 0, 0, 0), exit],
            "unknown opcode 0x38",
        ),
        (vec![Insn::new(0x95, 3, 0, 0, 0)], "does not use is not 0"),
        (
            vec![Insn::new(0xb7, 0, 5, 0, 1), exit],
            "does not use is not 0",
        ),
        (
            vec![Insn::new(0x05, 0, 0, 0, 7), exit],
            "does not use is not 0",
        ),
    ] {
        let err = verify(&prog, &Helpers::new(), &Options::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{prog:?}: {err}");
    }
}

/// (program, context size, the error both engines must stop with)
const RUNTIME: &[(&str, usize, &str)] = &[
    ("ldxw r0, [r1+100]\nexit", 4, "load of 4 bytes"),
    ("ldxw r0, [r1+1]\nexit", 4, "load of 4 bytes"),
    ("stb [r1+4], 1\nmov r0, 0\nexit", 4, "store of 1 bytes"),
    ("mov r0, r10\nldxdw r0, [r0+0]\nexit", 4, "load of 8 bytes"),
    (
        "mov r2, r10\nadd r2, -520\nldxb r0, [r2+0]\nexit",
        4,
        "load of 1 bytes",
    ),
    (
        "lddw r2, 0x1000\nstxdw [r2+0], r2\nmov r0, 0\nexit",
        4,
        "store of 8 bytes",
    ),
    ("mov r0, 0\nloop:\nadd r0, 1\nja loop", 4, "budget ran out"),
];

#[test]
fn out_of_bounds_accesses_and_runaway_loops_stop_both_engines() {
    let options = Options {
        budget: Some(10_000),
    };
    for &(text, ctx_len, needle) in RUNTIME {
        let prog = asm::assemble(text).unwrap();
        let verified = verify(&prog, &Helpers::new(), &options).unwrap();
        let packet = [0u8; 20];
        let mut ctx = vec![0u8; ctx_len];
        let a = interp::run(
            &verified,
            Memory {
                ctx: &mut ctx,
                packet: &packet,
            },
        )
        .expect_err(text);
        let compiled = jit::compile(&verified).unwrap();
        let b = compiled
            .run(Memory {
                ctx: &mut ctx,
                packet: &packet,
            })
            .expect_err(text);
        assert!(a.to_string().contains(needle), "{text}: interpreter: {a}");
        assert!(b.to_string().contains(needle), "{text}: JIT: {b}");
        if let (RunError::OutOfBounds { pc: p, .. }, RunError::OutOfBounds { pc: q, .. }) = (&a, &b)
        {
            assert_eq!(p, q, "{text}");
        }
    }
}

#[test]
fn in_bounds_edges_are_allowed() {
    // The last byte of the context, the whole stack, the packet read through LD_ABS.
    let prog = asm::assemble(
        "ldxb r0, [r1+3]\nstdw [r10-512], 1\nldxdw r2, [r10-512]\nadd r0, r2\n\
         mov r6, r1\nmov r7, r0\nldabsb 19\nadd r0, r7\nexit",
    )
    .unwrap();
    let verified = verify(&prog, &Helpers::new(), &Options::default()).unwrap();
    let packet: Vec<u8> = (0..20).collect();
    let compiled = jit::compile(&verified).unwrap();
    for jit_run in [false, true] {
        let mut ctx = vec![0, 0, 0, 40];
        let memory = Memory {
            ctx: &mut ctx,
            packet: &packet,
        };
        let r0 = if jit_run {
            compiled.run(memory)
        } else {
            interp::run(&verified, memory)
        };
        assert_eq!(r0, Ok(40 + 1 + 19));
    }
}
