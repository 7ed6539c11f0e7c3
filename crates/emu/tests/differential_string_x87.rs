//! Differential tests against the host CPU for the instructions `differential.rs` cannot reach
//! with single register/`[r12+disp]` operands:
//!
//! - string instructions (movs, stos, lods, cmps, scas) in every operand size, without a
//!   prefix, with `rep`, and (cmps/scas) with `repe`/`repne`, with DF clear and set: RSI and RDI
//!   point into a buffer (overlapping or not), RCX is a small count (0 included), and the buffer
//!   holds a two-value alphabet so `repe`/`repne` stop at varying places. Compared: RAX, RCX,
//!   RSI, RDI (as buffer offsets), the arithmetic flags and DF, and the whole buffer.
//! - the x87 forms the interpreter implements: each runs inside a sequence that resets the FPU
//!   (`fninit`), loads a control word (random rounding mode) and three 80-bit values from memory,
//!   runs the instruction (memory operands at `[r12]`, registers st(0)..st(2)), stores the
//!   status word (`fnstsw ax`) and pops every stack register to memory (`fstp tbyte`). The whole
//!   sequence runs natively and in the emulator; compared: the stored registers (all 80 bits),
//!   the memory operand, C0/C2/C3 and TOP of the status word, and EFLAGS (fcomi).
//!
//! `JITKIT_EMU_DIFF_SCALE=N` multiplies the case count.

mod native_cpu;

use iced_x86::{
    Code, Decoder, DecoderOptions, Encoder, EncodingKind, Instruction, Mnemonic as M,
    OpCodeOperandKind as K, OpKind, Register,
};
use jitkit_emu::machine::Machine;
use jitkit_testkit::rng::Rng;
use native_cpu::emulator::{self, CODE_ADDR, DATA_ADDR};
use native_cpu::{first_difference, scale, Aligned, NativeInsn, State};

const BUF: usize = 512;

const RSI: usize = 6;
const RDI: usize = 7;
const RCX: usize = 1;
const RAX: usize = 0;
const DF: u64 = 0x400;

/// Runs the first `count` decoded instructions at CODE_ADDR in the emulator.
fn run_emulated(m: &mut Machine, bytes: &[u8], count: usize) -> Result<(), String> {
    let block = emulator::decode_code(m, bytes);
    if block.insns.len() < count {
        return Err(format!("decoded only {} instructions", block.insns.len()));
    }
    for insn in &block.insns[..count] {
        if !insn.implemented {
            return Err("not implemented".into());
        }
        m.cpu.rip = insn.next_rip;
        (insn.handler)(m, insn).map_err(|s| format!("emulator stopped: {s:?}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// String instructions

/// (name, opcode for bytes, opcode for larger sizes, compares)
const STRING_OPS: &[(&str, u8, bool)] = &[
    ("movs", 0xa4, false),
    ("stos", 0xaa, false),
    ("lods", 0xac, false),
    ("cmps", 0xa6, true),
    ("scas", 0xae, true),
];

/// Encodings: every size (b, w, d, q) with no prefix, rep, and for compares repe/repne.
fn string_forms() -> Vec<(String, Vec<u8>, u64)> {
    let mut out = Vec::new();
    for &(name, op, compares) in STRING_OPS {
        let prefixes: &[(&str, Option<u8>)] = if compares {
            &[("", None), ("repe ", Some(0xf3)), ("repne ", Some(0xf2))]
        } else {
            &[("", None), ("rep ", Some(0xf3))]
        };
        for &(pname, prefix) in prefixes {
            for (suffix, size) in [("b", 1u64), ("w", 2), ("d", 4), ("q", 8)] {
                let mut bytes = Vec::new();
                bytes.extend(prefix);
                if size == 2 {
                    bytes.push(0x66);
                }
                if size == 8 {
                    bytes.push(0x48);
                }
                bytes.push(if size == 1 { op } else { op + 1 });
                out.push((format!("{pname}{name}{suffix}"), bytes, size));
            }
        }
    }
    out
}

#[test]
fn string_instructions_match_the_host_cpu() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut m = emulator::machine();
    let mut native_buf = Aligned::new(BUF);
    let states = 600 * scale();
    let mut cases = 0u64;
    let mut failures = Vec::new();
    for (name, bytes, size) in string_forms() {
        let native = NativeInsn::new(&bytes);
        let decoded = Decoder::with_ip(64, &bytes, CODE_ADDR, DecoderOptions::NONE).decode();
        assert_eq!(decoded.len(), bytes.len(), "{name}: {bytes:02x?}");
        let mut form_failures = 0;
        for _ in 0..states {
            // Memory: bytes from a two-value alphabet so compares stop at varying places.
            let (a, b) = (rng.next_u64() as u8, rng.next_u64() as u8);
            let mut buf = [0u8; BUF];
            for x in buf.iter_mut() {
                *x = if rng.below(8) == 0 { b } else { a };
            }
            let mut st = State::default();
            for r in [0, 2, 3, 8, 9, 10, 11, 13, 14, 15] {
                st.gpr[r] = rng.next_u64();
            }
            if rng.below(2) == 0 {
                st.gpr[RAX] = u64::from_le_bytes([a; 8]) ^ (rng.below(2) << 9);
            }
            // RCX: 0, small counts, and the upper bits random for the non-rep forms.
            let count = match rng.below(6) {
                0 => 0,
                1 => 1,
                _ => rng.below(17),
            };
            st.gpr[RCX] = if bytes[0] == 0xf3 || bytes[0] == 0xf2 {
                count
            } else {
                rng.next_u64()
            };
            let df = rng.below(2) == 1;
            // Offsets leave room for 16 elements of 8 bytes in either direction.
            let (si, di) = (128 + rng.below(256), 128 + rng.below(256));
            let di = if rng.below(4) == 0 {
                si + rng.below(9) // overlapping with the source
            } else {
                di
            };
            st.flags = 0x202 | (rng.next_u64() & 0x8d5) | if df { DF } else { 0 };
            cases += 1;

            // Native.
            let nb = native_buf.buf();
            nb.copy_from_slice(&buf);
            let base = nb.as_ptr() as u64;
            let mut ns = st;
            ns.gpr[RSI] = base + si;
            ns.gpr[RDI] = base + di;
            ns.gpr[12] = base;
            native.run(&mut ns);
            let nbuf = native_buf.buf().to_vec();

            // Emulated.
            emulator::load(&mut m, &st, &buf);
            m.cpu.gpr[RSI] = DATA_ADDR + si;
            m.cpu.gpr[RDI] = DATA_ADDR + di;
            m.cpu.gpr[12] = DATA_ADDR;
            let mut diffs = Vec::new();
            if let Err(e) = run_emulated(&mut m, &bytes, 1) {
                diffs.push(e);
            }
            let ebuf = m.mem.bytes(DATA_ADDR, BUF as u64).expect("data").to_vec();
            let regs = [
                ("rax", ns.gpr[RAX], m.cpu.gpr[RAX]),
                ("rcx", ns.gpr[RCX], m.cpu.gpr[RCX]),
                (
                    "rsi",
                    ns.gpr[RSI].wrapping_sub(base),
                    m.cpu.gpr[RSI].wrapping_sub(DATA_ADDR),
                ),
                (
                    "rdi",
                    ns.gpr[RDI].wrapping_sub(base),
                    m.cpu.gpr[RDI].wrapping_sub(DATA_ADDR),
                ),
            ];
            for (r, n, e) in regs {
                if n != e {
                    diffs.push(format!("{r}: native {n:#x} emulated {e:#x}"));
                }
            }
            let ef = m.cpu.flags.get();
            if (ns.flags ^ ef) & (0x8d5 | DF) != 0 {
                diffs.push(format!(
                    "flags: native {:#x} emulated {ef:#x}",
                    ns.flags & (0x8d5 | DF)
                ));
            }
            if nbuf != ebuf {
                let at = first_difference(&nbuf, &ebuf);
                diffs.push(format!("memory differs at offset {at}"));
            }
            if !diffs.is_empty() {
                form_failures += 1;
                if form_failures <= 2 {
                    failures.push(format!(
                        "{name} (size {size}, DF {df}, rcx {:#x}, rsi +{si}, rdi +{di}): {}",
                        st.gpr[RCX],
                        diffs.join("; ")
                    ));
                }
            }
        }
    }
    eprintln!("{cases} string-instruction cases");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// x87

const X87_IMPLEMENTED: &[M] = &[
    M::Fld,
    M::Fild,
    M::Fldz,
    M::Fld1,
    M::Fst,
    M::Fstp,
    M::Fist,
    M::Fistp,
    M::Fisttp,
    M::Fxch,
    M::Fchs,
    M::Fabs,
    M::Fsqrt,
    M::Frndint,
    M::Fadd,
    M::Faddp,
    M::Fsub,
    M::Fsubp,
    M::Fsubr,
    M::Fsubrp,
    M::Fmul,
    M::Fmulp,
    M::Fdiv,
    M::Fdivp,
    M::Fdivr,
    M::Fdivrp,
    M::Fiadd,
    M::Fimul,
    M::Fisub,
    M::Fidiv,
    M::Fucomi,
    M::Fucomip,
    M::Fcomi,
    M::Fcomip,
    M::Fucom,
    M::Fucomp,
    M::Fucompp,
    M::Fcom,
    M::Fcomp,
    M::Fcompp,
    M::Ftst,
    M::Fxam,
    M::Fnstcw,
    M::Fldcw,
];

/// Layout around r12 (= buffer + 64): control word, three inputs, the memory operand, outputs.
const CW_AT: i8 = -64;
const IN_AT: [i8; 3] = [-48, -32, -16];
const MEM_AT: i8 = 0;
const OUT_AT: i8 = 16;
const R12_OFF: usize = 64;

/// `op /digit` with `[r12 + disp8]` (REX.B, SIB 0x24).
fn r12_mem(opcode: u8, digit: u8, disp: i8) -> [u8; 5] {
    [0x41, opcode, 0x44 | (digit << 3), 0x24, disp as u8]
}

/// An 80-bit extended value: mostly normal numbers near 1 (so sums and products stay in range
/// and round), sometimes zeros, infinities, large/small exponents and NaNs.
fn ext80(rng: &mut Rng) -> [u8; 10] {
    let sign = (rng.next_u64() & 1) << 15;
    let (exp, mant): (u64, u64) = match rng.below(16) {
        0 => (0, 0),                                                   // zero
        1 => (0x7fff, 1 << 63),                                        // infinity
        2 => (0x7fff, (3 << 62) | (rng.next_u64() >> 2)),              // quiet NaN
        3 => (0x3fff + rng.below(64), (1 << 63) | rng.below(1 << 20)), // integers-ish
        4 => (0x3fff - 200 + rng.below(400), (1 << 63) | rng.next_u64()),
        _ => (0x3fff - 8 + rng.below(16), (1 << 63) | rng.next_u64()),
    };
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&mant.to_le_bytes());
    b[8..].copy_from_slice(&((sign | exp) as u16).to_le_bytes());
    b
}

/// Builds a random instance of an x87 form; `None` for operand kinds not generated here.
fn instantiate_x87(code: Code, rng: &mut Rng) -> Option<Instruction> {
    let info = code.op_code();
    let mut ins = Instruction::with(code);
    for n in 0..info.op_count() {
        match info.op_kind(n) {
            K::st0 => {
                ins.set_op_kind(n, OpKind::Register);
                ins.set_op_register(n, Register::ST0);
            }
            K::sti_opcode => {
                ins.set_op_kind(n, OpKind::Register);
                let r = Register::try_from(Register::ST0 as usize + rng.below(3) as usize).ok()?;
                ins.set_op_register(n, r);
            }
            K::mem => {
                ins.set_op_kind(n, OpKind::Memory);
                ins.set_memory_base(Register::R12);
                ins.set_memory_index(Register::None);
                ins.set_memory_displacement64(MEM_AT as u64);
                ins.set_memory_displ_size(1);
            }
            _ => return None,
        }
    }
    Some(ins)
}

/// Fills the memory operand with a value of its type: floats from `ext80`'s numbers rounded,
/// integers small or random.
fn mem_operand(ins: &Instruction, rng: &mut Rng, out: &mut [u8]) {
    if ins.op_count() == 0 || !(0..ins.op_count()).any(|n| ins.op_kind(n) == OpKind::Memory) {
        return;
    }
    let int = matches!(
        ins.mnemonic(),
        M::Fild | M::Fiadd | M::Fimul | M::Fisub | M::Fidiv
    );
    let size = ins.memory_size().size();
    if ins.mnemonic() == M::Fldcw {
        // Precision control 64-bit, every exception masked, a random rounding mode.
        let cw = 0x37fu16 | ((rng.below(4) as u16) << 10);
        out[..2].copy_from_slice(&cw.to_le_bytes());
        return;
    }
    let mut v = [0u8; 10];
    match (int, size) {
        (true, _) => {
            let x = match rng.below(3) {
                0 => rng.below(100) as i64 - 50,
                1 => rng.next_u64() as i64 >> rng.below(64),
                _ => rng.next_u64() as i64,
            };
            v[..8].copy_from_slice(&x.to_le_bytes());
        }
        (false, 4) => {
            let d = f64::from_bits(rng.next_u64() >> 12 | 0x3ff0_0000_0000_0000) - 1.5;
            let f = (d * (rng.below(64) as f64 - 32.0).exp2()) as f32;
            v[..4].copy_from_slice(&f.to_le_bytes());
        }
        (false, 8) => {
            let d = f64::from_bits(rng.next_u64() >> 12 | 0x3ff0_0000_0000_0000) - 1.5;
            let d = d * (rng.below(64) as f64 - 32.0).exp2();
            v[..8].copy_from_slice(&d.to_le_bytes());
        }
        _ => v = ext80(rng),
    }
    out[..10].copy_from_slice(&v);
}

#[test]
fn x87_instructions_match_the_host_cpu() {
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut m = emulator::machine();
    let mut native_buf = Aligned::new(BUF);
    let encodings_per_form = 12 * scale();
    let states = 40;
    let (mut forms, mut cases) = (0, 0u64);
    let mut failures = Vec::new();
    let mut unimplemented = Vec::new();
    for code in Code::values() {
        let info = code.op_code();
        if info.encoding() != EncodingKind::Legacy
            || !info.mode64()
            || !X87_IMPLEMENTED.contains(&code.mnemonic())
        {
            continue;
        }
        let mut tried = false;
        let mut form_failures = 0;
        for _ in 0..encodings_per_form {
            let Some(ins) = instantiate_x87(code, &mut rng) else {
                break;
            };
            let mut enc = Encoder::new(64);
            if enc.encode(&ins, CODE_ADDR).is_err() {
                continue;
            }
            let insn_bytes = enc.take_buffer();
            let decoded = Decoder::with_ip(64, &insn_bytes, 0, DecoderOptions::NONE).decode();
            if decoded.is_invalid() || decoded.len() != insn_bytes.len() {
                continue;
            }
            tried = true;
            // fninit; fldcw [cw]; fld x3; INSN; fnstsw ax; fstp tbyte x depth; fninit.
            let mut seq = vec![0xdb, 0xe3];
            seq.extend(r12_mem(0xd9, 5, CW_AT));
            for at in IN_AT {
                seq.extend(r12_mem(0xdb, 5, at));
            }
            seq.extend(&insn_bytes);
            seq.extend([0xdf, 0xe0]);
            // iced's increment is TOP's: -1 for a push, +1 for a pop.
            let depth = (3 - decoded.fpu_stack_increment_info().increment()) as usize;
            for k in 0..depth {
                seq.extend(r12_mem(0xdb, 7, OUT_AT + 16 * k as i8));
            }
            // fninit again: the host thread's FPU leaves with Linux's default control word.
            seq.extend([0xdb, 0xe3]);
            let count = 2 + 3 + 1 + 1 + depth + 1;
            let native = NativeInsn::new(&seq);
            for _ in 0..states {
                let mut buf = [0u8; BUF];
                let cw = 0x37fu16 | ((rng.below(4) as u16) << 10);
                let cw_at = (R12_OFF as isize + CW_AT as isize) as usize;
                buf[cw_at..cw_at + 2].copy_from_slice(&cw.to_le_bytes());
                for at in IN_AT {
                    let o = (R12_OFF as isize + at as isize) as usize;
                    buf[o..o + 10].copy_from_slice(&ext80(&mut rng));
                }
                mem_operand(&decoded, &mut rng, &mut buf[R12_OFF..R12_OFF + 10]);
                let mut st = State::default();
                for r in [1, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 15] {
                    st.gpr[r] = rng.next_u64();
                }
                st.flags = 0x202 | (rng.next_u64() & 0x8d5);
                cases += 1;

                let nb = native_buf.buf();
                nb.copy_from_slice(&buf);
                let mut ns = st;
                ns.gpr[12] = nb.as_ptr() as u64 + R12_OFF as u64;
                native.run(&mut ns);
                let nbuf = native_buf.buf().to_vec();

                emulator::load(&mut m, &st, &buf);
                m.cpu.gpr[12] = DATA_ADDR + R12_OFF as u64;
                let mut diffs = Vec::new();
                match run_emulated(&mut m, &seq, count) {
                    Err(e) if e == "not implemented" => {
                        unimplemented.push(format!("{code:?}"));
                        break;
                    }
                    Err(e) => diffs.push(e),
                    Ok(()) => {}
                }
                let ebuf = m.mem.bytes(DATA_ADDR, BUF as u64).expect("data").to_vec();
                // Status word: C0 (0x100), C2 (0x400), C3 (0x4000) and TOP (0x3800).
                let sw_mask = 0x4000 | 0x3800 | 0x400 | 0x100;
                let (nsw, esw) = (ns.gpr[RAX] & 0xffff, m.cpu.gpr[RAX] & 0xffff);
                if (nsw ^ esw) & sw_mask != 0 {
                    diffs.push(format!(
                        "status word: native {nsw:#06x} emulated {esw:#06x}"
                    ));
                }
                let ef = m.cpu.flags.get();
                if (ns.flags ^ ef) & 0x8d5 != 0 {
                    diffs.push(format!(
                        "flags: native {:#x} emulated {ef:#x}",
                        ns.flags & 0x8d5
                    ));
                }
                if nbuf != ebuf {
                    let at = first_difference(&nbuf, &ebuf);
                    let o = at.saturating_sub(at % 16);
                    diffs.push(format!(
                        "memory at r12{:+}: native {:02x?} emulated {:02x?}",
                        o as isize - R12_OFF as isize,
                        &nbuf[o..o + 10],
                        &ebuf[o..o + 10]
                    ));
                }
                if !diffs.is_empty() {
                    form_failures += 1;
                    if form_failures <= 2 && failures.len() < 60 {
                        let inputs: Vec<String> = IN_AT
                            .iter()
                            .map(|&at| {
                                let o = (R12_OFF as isize + at as isize) as usize;
                                format!("{:02x?}", &buf[o..o + 10])
                            })
                            .collect();
                        failures.push(format!(
                            "{decoded} ({code:?}) cw {cw:#x} st2..st0 {} mem {:02x?}: {}",
                            inputs.join(" "),
                            &buf[R12_OFF..R12_OFF + 10],
                            diffs.join("; ")
                        ));
                    }
                }
            }
        }
        if tried {
            forms += 1;
        }
    }
    eprintln!("{forms} x87 forms, {cases} cases");
    assert!(
        unimplemented.is_empty(),
        "forms the interpreter does not implement: {unimplemented:?}"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(forms > 60, "only {forms} x87 forms ran");
}
