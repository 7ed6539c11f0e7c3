//! Our eBPF VM (interpreter and JIT) against rbpf (interpreter and JIT) and the Linux kernel
//! (BPF_PROG_TEST_RUN) on `ebpf_data/suite.txt`, programs written as data with the r0 they must
//! return, and on random programs (proptest). Zero mismatches.
//!
//! The kernel returns 32 bits of r0, so each program runs twice there: once as written (low
//! half) and once with every `exit` turned into a jump to `rsh r0, 32; exit` (high half).
//! rbpf's interpreter sign-extends the results of 32-bit add/sub/mul and leaves 64 bits of the
//! dividend on a 32-bit modulo by 0 (the kernel zero-extends): the suite records those answers
//! where they differ; random programs follow such instructions with `mov32 dst, dst`, which
//! makes the results equal again, so everything else is still compared. rbpf's LD_ABS/LD_IND
//! read little-endian without bounds checks and it has no atomics: those programs are not given
//! to rbpf. rbpf's JIT does not zero-extend `mov32 dst, src` and does not truncate on `le16` and
//! `le32` (recorded as `rbpf-jit` in the suite; random programs mask those results).

use jitkit_bpf::ebpf::kernel::{KernelProgram, PROG_TYPE_SCHED_CLS};
use jitkit_bpf::ebpf::{asm, build, encode, interp, jit, op, verify, Helpers, Insn, Memory};
use proptest::prelude::*;

/// The packet LD_ABS/LD_IND read (and the kernel's test-run data).
fn packet() -> Vec<u8> {
    let mut p: Vec<u8> = (0..64u32).map(|i| ((i * 7 + 3) & 0xff) as u8).collect();
    p[12] = 0x12;
    p[13] = 0x34;
    p
}

const BUDGET: u64 = 1_000_000;

/// What each engine said.
#[derive(Debug, PartialEq, Eq)]
struct Answers {
    interp: u64,
    jit: u64,
    kernel: u64,
    rbpf: Option<u64>,
    rbpf_jit: Option<u64>,
}

fn uses_packet_or_atomics(prog: &[Insn]) -> bool {
    prog.iter().any(|i| {
        (i.class() == op::LD && matches!(i.code & 0xe0, op::ABS | op::IND))
            || (i.class() == op::STX && i.code & 0xe0 == op::ATOMIC)
    })
}

/// The kernel's answer in two runs: r0's low half, then its high half.
fn kernel_r0(prog: &[Insn], data: &[u8]) -> Result<u64, String> {
    let low = KernelProgram::load(PROG_TYPE_SCHED_CLS, prog)
        .map_err(|e| e.to_string())?
        .test_run(data, 1)
        .map_err(|e| e.to_string())?
        .retval as u64;
    let mut high: Vec<Insn> = prog.to_vec();
    let tail = high.len();
    for (pc, i) in high.iter_mut().enumerate() {
        if i.code == op::JMP | op::EXIT {
            *i = build::ja((tail - pc - 1) as i16);
        }
    }
    high.push(build::alu64_imm(op::RSH, 0, 32));
    high.push(build::exit());
    let high = KernelProgram::load(PROG_TYPE_SCHED_CLS, &high)
        .map_err(|e| e.to_string())?
        .test_run(data, 1)
        .map_err(|e| e.to_string())?
        .retval as u64;
    Ok(low | (high << 32))
}

fn run_all(prog: &[Insn]) -> Result<Answers, String> {
    let data = packet();
    let verified = verify(
        prog,
        &Helpers::new(),
        &verify::Options {
            budget: Some(BUDGET),
        },
    )
    .map_err(|e| format!("our verifier: {e}"))?;
    let mut ctx = data.clone();
    let interp = interp::run(
        &verified,
        Memory {
            ctx: &mut ctx,
            packet: &data,
        },
    )
    .map_err(|e| format!("interpreter: {e}"))?;
    let compiled = jit::compile(&verified).map_err(|e| format!("jit: {e}"))?;
    let mut ctx = data.clone();
    let jit = compiled
        .run(Memory {
            ctx: &mut ctx,
            packet: &data,
        })
        .map_err(|e| format!("jit run: {e}"))?;
    let kernel = kernel_r0(prog, &data).map_err(|e| format!("kernel: {e}"))?;
    let (rbpf, rbpf_jit) = if uses_packet_or_atomics(prog) {
        (None, None)
    } else {
        let bytes = encode(prog);
        let mut vm = rbpf::EbpfVmRaw::new(Some(&bytes)).map_err(|e| format!("rbpf: {e}"))?;
        let mut mem = data.clone();
        let r = vm
            .execute_program(&mut mem)
            .map_err(|e| format!("rbpf: {e}"))?;
        vm.jit_compile().map_err(|e| format!("rbpf jit: {e}"))?;
        let mut mem = data.clone();
        // SAFETY: rbpf's JIT runs the program unchecked; these programs only touch their stack.
        let rj =
            unsafe { vm.execute_program_jit(&mut mem) }.map_err(|e| format!("rbpf jit: {e}"))?;
        (Some(r), Some(rj))
    };
    Ok(Answers {
        interp,
        jit,
        kernel,
        rbpf,
        rbpf_jit,
    })
}

struct Case {
    name: String,
    text: String,
    r0: Option<u64>,
    /// `None`: rbpf must agree with r0; `Some(None)`: not run on rbpf; `Some(Some(v))`: rbpf's
    /// interpreter is known to answer v.
    rbpf: Option<Option<u64>>,
    /// The same for rbpf's JIT (`rbpf-jit`), which has bugs of its own.
    rbpf_jit: Option<u64>,
}

fn parse_suite(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            cases.push(Case {
                name: name.to_string(),
                text: String::new(),
                r0: None,
                rbpf: None,
                rbpf_jit: None,
            });
        } else if let Some(expect) = line.strip_prefix("-- ") {
            let case = cases.last_mut().expect("expectation before the first case");
            let value = expect.split('#').next().unwrap().trim();
            let (key, v) = value.split_once(' ').expect("`-- key value`");
            let parse = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
            match key {
                "r0" => case.r0 = Some(parse(v)),
                "rbpf" if v == "skip" => case.rbpf = Some(None),
                "rbpf" => case.rbpf = Some(Some(parse(v))),
                "rbpf-jit" => case.rbpf_jit = Some(parse(v)),
                other => panic!("unknown expectation `{other}`"),
            }
        } else if let Some(case) = cases.last_mut() {
            if !line.starts_with('#') {
                case.text.push_str(line);
                case.text.push('\n');
            }
        }
    }
    cases
}

#[test]
fn every_engine_returns_the_expected_r0_on_the_suite() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ebpf_data/suite.txt");
    let cases = parse_suite(&std::fs::read_to_string(path).unwrap());
    assert!(cases.len() >= 60, "suite too small: {}", cases.len());
    let mut failures = Vec::new();
    let mut classes = std::collections::BTreeSet::new();
    for case in &cases {
        let prog = asm::assemble(&case.text).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        classes.extend(prog.iter().map(|i| i.class()));
        let want = case
            .r0
            .unwrap_or_else(|| panic!("{}: no expected r0", case.name));
        match run_all(&prog) {
            Err(e) => failures.push(format!("{}: {e}", case.name)),
            Ok(got) => {
                let rbpf_want = match case.rbpf {
                    None => Some(want),
                    Some(v) => v,
                };
                let rbpf_jit_want = rbpf_want.map(|_| case.rbpf_jit.unwrap_or(want));
                let ok = got.interp == want
                    && got.jit == want
                    && got.kernel == want
                    && got.rbpf == rbpf_want
                    && got.rbpf_jit == rbpf_jit_want;
                if !ok {
                    failures.push(format!("{}: want {want:#x}, got {got:x?}", case.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(classes.len(), 8, "every instruction class is covered");
}

/// One random operation; expands to one instruction (two for 32-bit ops rbpf sign-extends).
#[derive(Clone, Debug)]
enum RandomOp {
    Alu {
        class: u8,
        op: u8,
        dst: u8,
        src: Option<u8>,
        imm: i32,
    },
    Swap {
        dst: u8,
        width: i32,
        big: bool,
    },
    Jump {
        class: u8,
        op: u8,
        dst: u8,
        src: Option<u8>,
        imm: i32,
        skip: u8,
    },
    Store {
        size: u8,
        off: i16,
        src: Option<u8>,
        imm: i32,
    },
    Load {
        size: u8,
        dst: u8,
        off: i16,
    },
}

fn alu_op() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        op::ADD,
        op::SUB,
        op::MUL,
        op::DIV,
        op::OR,
        op::AND,
        op::LSH,
        op::RSH,
        op::NEG,
        op::MOD,
        op::XOR,
        op::MOV,
        op::ARSH,
    ])
}

fn edge_imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            -1,
            2,
            31,
            32,
            63,
            i32::MIN,
            i32::MAX,
            0x7fff,
            0x8000,
            0xffff
        ]),
        any::<i32>(),
    ]
}

fn random_op() -> impl Strategy<Value = RandomOp> {
    let reg = 0u8..10;
    let size = prop::sample::select(vec![op::B, op::H, op::W, op::DW]);
    prop_oneof![
        4 => (prop::bool::ANY, alu_op(), reg.clone(), prop::option::of(reg.clone()), edge_imm())
            .prop_map(|(wide, op, dst, src, imm)| RandomOp::Alu {
                class: if wide { op::ALU64 } else { op::ALU },
                op, dst, src, imm,
            }),
        1 => (reg.clone(), prop::sample::select(vec![16, 32, 64]), prop::bool::ANY)
            .prop_map(|(dst, width, big)| RandomOp::Swap { dst, width, big }),
        2 => (prop::bool::ANY,
              prop::sample::select(vec![op::JEQ, op::JGT, op::JGE, op::JSET, op::JNE, op::JSGT,
                                        op::JSGE, op::JLT, op::JLE, op::JSLT, op::JSLE]),
              reg.clone(), prop::option::of(reg.clone()), edge_imm(), 0u8..6)
            .prop_map(|(wide, op, dst, src, imm, skip)| RandomOp::Jump {
                class: if wide { op::JMP } else { op::JMP32 },
                op, dst, src, imm, skip,
            }),
        1 => (size.clone(), 0i16..8, prop::option::of(reg.clone()), edge_imm())
            .prop_map(|(size, slot, src, imm)| RandomOp::Store { size, off: -8 * (slot + 1), src, imm }),
        1 => (size, reg, 0i16..8)
            .prop_map(|(size, dst, slot)| RandomOp::Load { size, dst, off: -8 * (slot + 1) }),
    ]
}

/// Builds a program: every register and 64 bytes of stack initialised, the random operations
/// (made valid: shift counts in range, no constant division by 0), then `exit`.
fn build_program(seeds: &[u64], ops: &[RandomOp]) -> Vec<Insn> {
    let mut prologue = Vec::new();
    for (r, &v) in seeds.iter().enumerate() {
        prologue.extend(build::lddw(r as u8, v));
    }
    for slot in 1..=8 {
        prologue.push(build::stx(op::DW, 10, (slot % 10) as u8, -8 * slot));
    }
    // Expand each op; remember where each starts so jumps can skip whole ops.
    let mut bodies: Vec<Vec<Insn>> = Vec::new();
    for o in ops {
        let mut out = Vec::new();
        match *o {
            RandomOp::Alu {
                class,
                op: operation,
                dst,
                src,
                mut imm,
            } => {
                let width = if class == op::ALU64 { 64 } else { 32 };
                if matches!(operation, op::LSH | op::RSH | op::ARSH) && src.is_none() {
                    imm = imm.rem_euclid(width);
                }
                if matches!(operation, op::DIV | op::MOD) && src.is_none() && imm == 0 {
                    imm = 7;
                }
                // `neg` has no operand; the others take src (BPF_X) or imm (BPF_K).
                let src = src.filter(|_| operation != op::NEG);
                out.push(match src {
                    Some(s) => Insn::new(class | operation | op::X, dst, s, 0, 0),
                    None if operation == op::NEG => Insn::new(class | operation, dst, 0, 0, 0),
                    None => Insn::new(class | operation, dst, 0, 0, imm),
                });
                // rbpf's interpreter sign-extends 32-bit add/sub/mul, both rbpf engines keep 64
                // bits on mod32 by 0 and rbpf's JIT does not zero-extend mov32 from a register:
                // `and32 dst, -1` zero-extends in every engine, so the rest stays comparable.
                if class == op::ALU
                    && matches!(operation, op::ADD | op::SUB | op::MUL | op::MOD | op::MOV)
                {
                    out.push(build::alu32_imm(op::AND, dst, -1));
                }
            }
            RandomOp::Swap { dst, width, big } => {
                out.push(Insn::new(
                    op::ALU | op::END | if big { op::X } else { 0 },
                    dst,
                    0,
                    0,
                    width,
                ));
                // rbpf's JIT does not truncate on le16/le32: do it for it.
                if !big && width < 64 {
                    out.push(build::alu64_imm(
                        op::AND,
                        dst,
                        if width == 16 { 0xffff } else { -1 },
                    ));
                    if width == 32 {
                        out.push(build::alu32_imm(op::AND, dst, -1));
                    }
                }
            }
            RandomOp::Jump {
                class,
                op: operation,
                dst,
                src,
                imm,
                ..
            } => {
                let code = class | operation | if src.is_some() { op::X } else { 0 };
                out.push(Insn::new(
                    code,
                    dst,
                    src.unwrap_or(0),
                    0,
                    if src.is_some() { 0 } else { imm },
                ));
            }
            RandomOp::Store {
                size,
                off,
                src,
                imm,
            } => {
                out.push(match src {
                    Some(s) => build::stx(size, 10, s, off),
                    None => build::st(size, 10, off, imm),
                });
            }
            RandomOp::Load { size, dst, off } => out.push(build::ldx(size, dst, 10, off)),
        }
        bodies.push(out);
    }
    let mut starts = Vec::new();
    let mut at = prologue.len();
    for b in &bodies {
        starts.push(at);
        at += b.len();
    }
    starts.push(at); // the exit
    let mut prog = prologue;
    for (n, (o, body)) in ops.iter().zip(bodies).enumerate() {
        let mut body = body;
        if let RandomOp::Jump { skip, .. } = *o {
            let target = (n + 1 + skip as usize).min(ops.len());
            body[0].off = (starts[target] - (starts[n] + 1)) as i16;
        }
        prog.extend(body);
    }
    prog.push(build::exit());
    prog
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_agree_everywhere(
        seeds in prop::collection::vec(
            prop_oneof![any::<u64>(), prop::sample::select(vec![0u64, 1, u64::MAX, 0x8000_0000, 0xffff_ffff, 1 << 63])],
            10),
        ops in prop::collection::vec(random_op(), 1..40),
    ) {
        let prog = build_program(&seeds, &ops);
        let got = run_all(&prog).map_err(TestCaseError::fail)?;
        prop_assert_eq!(got.interp, got.kernel, "interpreter vs kernel");
        prop_assert_eq!(got.jit, got.kernel, "JIT vs kernel");
        prop_assert_eq!(got.rbpf, Some(got.kernel), "rbpf interpreter vs kernel");
        prop_assert_eq!(got.rbpf_jit, Some(got.kernel), "rbpf JIT vs kernel");
    }
}
