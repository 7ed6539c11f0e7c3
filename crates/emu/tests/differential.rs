//! Instruction-level differential testing against the host CPU.
//!
//! Every legacy-encoded instruction form (iced-x86's `Code`) whose mnemonic the interpreter
//! implements is instantiated with random registers, memory operands (`[r12+disp]`) and
//! immediates; each encoding runs with random register, XMM, flag and memory inputs natively
//! (tests/native_cpu) and in the emulator, and the registers, flags (minus those the manual
//! leaves undefined) and memory must agree. `JITKIT_EMU_DIFF_SCALE=N` multiplies the case count
//! (the default suite runs several hundred thousand cases).

mod native_cpu;

use iced_x86::{
    Code, Decoder, DecoderOptions, Encoder, EncodingKind, Instruction, Mnemonic as M,
    OpCodeOperandKind as K, OpKind, Register, RflagsBits,
};
use jitkit_testkit::rng::Rng;
use native_cpu::emulator::{self, CODE_ADDR, DATA_ADDR};
use native_cpu::{first_difference, scale, Aligned, NativeInsn, State};

const BUF: usize = 256;
const BASE_OFF: u64 = 64;

const IMPLEMENTED: &[M] = &[
    M::Add,
    M::Or,
    M::Adc,
    M::Sbb,
    M::And,
    M::Sub,
    M::Xor,
    M::Cmp,
    M::Test,
    M::Inc,
    M::Dec,
    M::Neg,
    M::Not,
    M::Mov,
    M::Movzx,
    M::Movsx,
    M::Movsxd,
    M::Xchg,
    M::Cmpxchg,
    M::Xadd,
    M::Bswap,
    M::Cbw,
    M::Cwde,
    M::Cdqe,
    M::Cwd,
    M::Cdq,
    M::Cqo,
    M::Sete,
    M::Setne,
    M::Seta,
    M::Setae,
    M::Setb,
    M::Setbe,
    M::Setg,
    M::Setge,
    M::Setl,
    M::Setle,
    M::Seto,
    M::Setno,
    M::Setp,
    M::Setnp,
    M::Sets,
    M::Setns,
    M::Cmove,
    M::Cmovne,
    M::Cmova,
    M::Cmovae,
    M::Cmovb,
    M::Cmovbe,
    M::Cmovg,
    M::Cmovge,
    M::Cmovl,
    M::Cmovle,
    M::Cmovo,
    M::Cmovno,
    M::Cmovp,
    M::Cmovnp,
    M::Cmovs,
    M::Cmovns,
    M::Bt,
    M::Bts,
    M::Btr,
    M::Btc,
    M::Bsf,
    M::Bsr,
    M::Tzcnt,
    M::Lzcnt,
    M::Popcnt,
    M::Lahf,
    M::Sahf,
    M::Clc,
    M::Stc,
    M::Cmc,
    M::Shl,
    M::Sal,
    M::Shr,
    M::Sar,
    M::Rol,
    M::Ror,
    M::Rcl,
    M::Rcr,
    M::Shld,
    M::Shrd,
    M::Mul,
    M::Imul,
    M::Div,
    M::Idiv,
    // SSE / SSE2
    M::Movaps,
    M::Movups,
    M::Movapd,
    M::Movupd,
    M::Movdqa,
    M::Movdqu,
    M::Movd,
    M::Movq,
    M::Movss,
    M::Movsd,
    M::Movlps,
    M::Movlpd,
    M::Movhps,
    M::Movhpd,
    M::Movlhps,
    M::Movhlps,
    M::Pmovmskb,
    M::Movmskpd,
    M::Movmskps,
    M::Pextrw,
    M::Pinsrw,
    M::Pshufd,
    M::Pshuflw,
    M::Pshufhw,
    M::Shufps,
    M::Shufpd,
    M::Pslldq,
    M::Psrldq,
    M::Psllw,
    M::Pslld,
    M::Psllq,
    M::Psrlw,
    M::Psrld,
    M::Psrlq,
    M::Psraw,
    M::Psrad,
    M::Ucomisd,
    M::Comisd,
    M::Ucomiss,
    M::Comiss,
    M::Cvtsi2sd,
    M::Cvtsi2ss,
    M::Cvttsd2si,
    M::Cvtsd2si,
    M::Cvttss2si,
    M::Cvtss2si,
    M::Pxor,
    M::Xorps,
    M::Xorpd,
    M::Por,
    M::Orps,
    M::Orpd,
    M::Pand,
    M::Andps,
    M::Andpd,
    M::Pandn,
    M::Andnps,
    M::Andnpd,
    M::Paddb,
    M::Paddw,
    M::Paddd,
    M::Paddq,
    M::Psubb,
    M::Psubw,
    M::Psubd,
    M::Psubq,
    M::Paddusb,
    M::Paddusw,
    M::Psubusb,
    M::Psubusw,
    M::Paddsb,
    M::Paddsw,
    M::Psubsb,
    M::Psubsw,
    M::Pcmpeqb,
    M::Pcmpeqw,
    M::Pcmpeqd,
    M::Pcmpgtb,
    M::Pcmpgtw,
    M::Pcmpgtd,
    M::Pminub,
    M::Pmaxub,
    M::Pminsw,
    M::Pmaxsw,
    M::Pavgb,
    M::Pavgw,
    M::Pmullw,
    M::Pmulhw,
    M::Pmulhuw,
    M::Pmuludq,
    M::Pmaddwd,
    M::Psadbw,
    M::Punpcklbw,
    M::Punpcklwd,
    M::Punpckldq,
    M::Punpcklqdq,
    M::Punpckhbw,
    M::Punpckhwd,
    M::Punpckhdq,
    M::Punpckhqdq,
    M::Unpcklps,
    M::Unpcklpd,
    M::Unpckhps,
    M::Unpckhpd,
    M::Packuswb,
    M::Packsswb,
    M::Packssdw,
    M::Addsd,
    M::Subsd,
    M::Mulsd,
    M::Divsd,
    M::Minsd,
    M::Maxsd,
    M::Sqrtsd,
    M::Addss,
    M::Subss,
    M::Mulss,
    M::Divss,
    M::Minss,
    M::Maxss,
    M::Sqrtss,
    M::Addpd,
    M::Subpd,
    M::Mulpd,
    M::Divpd,
    M::Minpd,
    M::Maxpd,
    M::Sqrtpd,
    M::Addps,
    M::Subps,
    M::Mulps,
    M::Divps,
    M::Minps,
    M::Maxps,
    M::Sqrtps,
    M::Cvtss2sd,
    M::Cvtsd2ss,
    M::Cvtdq2pd,
    M::Cvtdq2ps,
    M::Cvttps2dq,
    M::Cvtps2dq,
    M::Cvttpd2dq,
    M::Cvtpd2dq,
    M::Cvtps2pd,
    M::Cvtpd2ps,
    M::Cmpsd,
    M::Cmpss,
    M::Cmppd,
    M::Cmpps,
];

/// General registers an operand may use (never RSP, RBP or R12, the memory base).
const GPRS: [usize; 13] = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 15];

fn gpr_reg(size: u32, n: usize) -> Register {
    let base = match size {
        1 => Register::AL,
        2 => Register::AX,
        4 => Register::EAX,
        _ => Register::RAX,
    };
    if size == 1 && n >= 4 {
        // AL..BL, then SPL.. (with REX) occupy 4..; iced orders AL CL DL BL AH CH DH BH SPL..
        return Register::try_from(Register::SPL as usize + (n - 4)).unwrap_or(Register::AL);
    }
    Register::try_from(base as usize + n).unwrap_or(base)
}

fn xmm_reg(n: usize) -> Register {
    Register::try_from(Register::XMM0 as usize + n).unwrap_or(Register::XMM0)
}

/// Builds one random instance of `code`, or `None` when an operand kind is not something this
/// test generates (MMX, segment registers, implicit memory...).
fn instantiate(code: Code, rng: &mut Rng) -> Option<Instruction> {
    let info = code.op_code();
    let mut ins = Instruction::with(code);
    let mem_size = |k: K| -> bool { matches!(k, K::xmm_or_mem | K::mem) };
    // A divisor in RAX/RDX (or AH/DH) would be clobbered by the dividend fix-up.
    let divide = matches!(code.mnemonic(), M::Div | M::Idiv);
    let gprs: &[usize] = if divide { &GPRS[4..] } else { &GPRS };
    for n in 0..info.op_count() {
        let k = info.op_kind(n);
        let size = match k {
            K::r8_or_mem | K::r8_reg | K::r8_opcode => 1,
            K::r16_or_mem | K::r16_reg | K::r16_opcode | K::r16_rm | K::r16_reg_mem => 2,
            K::r32_or_mem | K::r32_reg | K::r32_opcode | K::r32_rm | K::r32_reg_mem => 4,
            _ => 8,
        };
        let reg_or_mem = matches!(
            k,
            K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem | K::xmm_or_mem
        );
        let use_mem = k == K::mem || (reg_or_mem && rng.below(2) == 0);
        if use_mem {
            ins.set_op_kind(n, OpKind::Memory);
            ins.set_memory_base(Register::R12);
            ins.set_memory_index(Register::None);
            ins.set_memory_index_scale(1);
            let disp = if mem_size(k) {
                (rng.below(9) as i64 - 4) * 16
            } else {
                rng.below(160) as i64 - 64
            };
            ins.set_memory_displacement64(disp as u64);
            ins.set_memory_displ_size(1);
            continue;
        }
        let op = match k {
            K::r8_or_mem | K::r8_reg | K::r8_opcode => {
                // Low bytes only, plus AH..BH sometimes.
                let r = gprs[rng.below(gprs.len() as u64) as usize];
                if r < 4 && !divide && rng.below(4) == 0 {
                    Register::try_from(Register::AH as usize + r).ok()?
                } else {
                    gpr_reg(1, r)
                }
            }
            K::r16_or_mem
            | K::r16_reg
            | K::r16_opcode
            | K::r16_rm
            | K::r16_reg_mem
            | K::r32_or_mem
            | K::r32_reg
            | K::r32_opcode
            | K::r32_rm
            | K::r32_reg_mem
            | K::r64_or_mem
            | K::r64_reg
            | K::r64_opcode
            | K::r64_rm
            | K::r64_reg_mem => gpr_reg(size, gprs[rng.below(gprs.len() as u64) as usize]),
            K::xmm_or_mem | K::xmm_reg | K::xmm_rm => xmm_reg(rng.below(8) as usize),
            K::al => Register::AL,
            K::cl => Register::CL,
            K::ax => Register::AX,
            K::eax => Register::EAX,
            K::rax => Register::RAX,
            K::imm8
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
            | K::imm8_const_1 => {
                let (kind, v) = match k {
                    K::imm8 => (OpKind::Immediate8, rng.value() & 0xff),
                    K::imm8_const_1 => (OpKind::Immediate8, 1),
                    K::imm8sex16 => (OpKind::Immediate8to16, rng.value() & 0xff),
                    K::imm8sex32 => (OpKind::Immediate8to32, rng.value() & 0xff),
                    K::imm8sex64 => (OpKind::Immediate8to64, rng.value() & 0xff),
                    K::imm16 => (OpKind::Immediate16, rng.value() & 0xffff),
                    K::imm32 => (OpKind::Immediate32, rng.value() & 0xffff_ffff),
                    K::imm32sex64 => (OpKind::Immediate32to64, rng.value() & 0xffff_ffff),
                    _ => (OpKind::Immediate64, rng.value()),
                };
                ins.set_op_kind(n, kind);
                match kind {
                    OpKind::Immediate8 => ins.set_immediate8(v as u8),
                    OpKind::Immediate8to16 | OpKind::Immediate8to32 | OpKind::Immediate8to64 => {
                        ins.set_immediate8(v as u8)
                    }
                    OpKind::Immediate16 => ins.set_immediate16(v as u16),
                    OpKind::Immediate32 | OpKind::Immediate32to64 => ins.set_immediate32(v as u32),
                    _ => ins.set_immediate64(v),
                }
                continue;
            }
            _ => return None,
        };
        ins.set_op_kind(n, OpKind::Register);
        ins.set_op_register(n, op);
    }
    Some(ins)
}

fn flag_bits(r: u32) -> u64 {
    let mut f = 0;
    for (bit, x86) in [
        (RflagsBits::OF, 0x800),
        (RflagsBits::SF, 0x80),
        (RflagsBits::ZF, 0x40),
        (RflagsBits::AF, 0x10),
        (RflagsBits::CF, 0x1),
        (RflagsBits::PF, 0x4),
    ] {
        if r & bit != 0 {
            f |= x86;
        }
    }
    f
}

/// Decoded view of the encoding: which register / memory holds what, for input fix-ups.
fn operand_value(ins: &Instruction, n: u32, st: &State, buf: &[u8]) -> u64 {
    match ins.op_kind(n) {
        OpKind::Register => {
            let r = ins.op_register(n);
            let full = st.gpr[r.full_register() as usize - Register::RAX as usize];
            if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) {
                return (st.gpr[r as usize - Register::AH as usize] >> 8) & 0xff;
            }
            full & mask(r.size() as u32)
        }
        OpKind::Memory => {
            let off = (BASE_OFF as i64 + ins.memory_displacement64() as i64) as usize;
            let mut b = [0u8; 8];
            let size = ins.memory_size().size();
            b[..size].copy_from_slice(&buf[off..off + size]);
            u64::from_le_bytes(b)
        }
        _ => ins.immediate(n),
    }
}

fn mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

fn sext(v: u64, size: u32) -> i64 {
    let sh = 64 - size * 8;
    ((v << sh) as i64) >> sh
}

/// Instructions that take a LOCK prefix with a memory destination.
const LOCKABLE: &[M] = &[
    M::Add,
    M::Or,
    M::Adc,
    M::Sbb,
    M::And,
    M::Sub,
    M::Xor,
    M::Inc,
    M::Dec,
    M::Neg,
    M::Not,
    M::Xchg,
    M::Xadd,
    M::Cmpxchg,
    M::Bts,
    M::Btr,
    M::Btc,
];

/// Adds a LOCK prefix, with the memory operand aligned to its size: a locked access across a
/// cache line is a bus lock, which the kernel may report or slow down.
fn lock(ins: &mut Instruction) {
    ins.set_has_lock_prefix(true);
    let size = ins.memory_size().size().max(1) as u64;
    let disp = ins.memory_displacement64() & !(size - 1);
    ins.set_memory_displacement64(disp);
}

/// Makes inputs legal where the instruction would otherwise fault (division) or reach outside
/// the buffer (bit-string addressing).
fn fix_inputs(ins: &Instruction, st: &mut State, buf: &mut [u8]) {
    match ins.mnemonic() {
        M::Div | M::Idiv => {
            let size = match ins.op_kind(0) {
                OpKind::Register => ins.op_register(0).size() as u32,
                _ => ins.memory_size().size() as u32,
            };
            // Make the divisor nonzero.
            match ins.op_kind(0) {
                OpKind::Register => {
                    let r = ins.op_register(0);
                    st.gpr[r.full_register() as usize - Register::RAX as usize] |= 1;
                }
                _ => {
                    let off = (BASE_OFF as i64 + ins.memory_displacement64() as i64) as usize;
                    buf[off] |= 1;
                }
            }
            let d = operand_value(ins, 0, st, buf);
            let lo = st.gpr[0] & mask(size);
            if ins.mnemonic() == M::Div {
                if size == 1 {
                    let ah = ((st.gpr[0] >> 8) & 0xff) % d;
                    st.gpr[0] = (st.gpr[0] & !0xff00) | (ah << 8);
                } else {
                    let hi = (st.gpr[2] & mask(size)) % d;
                    st.gpr[2] = (st.gpr[2] & !mask(size)) | hi;
                }
            } else {
                let neg = sext(lo, size) < 0;
                let min = 1u64 << (size * 8 - 1);
                if d == mask(size) && lo == min {
                    st.gpr[0] &= !mask(size);
                }
                let hi = if neg && !(d == mask(size) && lo == min) {
                    mask(size)
                } else {
                    0
                };
                if size == 1 {
                    let al = st.gpr[0] & 0xff;
                    let hi = if sext(al, 1) < 0 { 0xff } else { 0 };
                    st.gpr[0] = (st.gpr[0] & !0xff00) | (hi << 8);
                } else {
                    st.gpr[2] = (st.gpr[2] & !mask(size)) | hi;
                }
            }
        }
        // Half the time (by a random bit of rbx) the accumulator equals the destination, so
        // the exchange happens.
        M::Cmpxchg if st.gpr[3] & 1 == 0 => {
            let size = match ins.op_kind(0) {
                OpKind::Register => ins.op_register(0).size() as u32,
                _ => ins.memory_size().size() as u32,
            };
            let d = operand_value(ins, 0, st, buf);
            st.gpr[0] = (st.gpr[0] & !mask(size)) | d;
        }
        M::Bt | M::Bts | M::Btr | M::Btc
            if ins.op_kind(0) == OpKind::Memory && ins.op_kind(1) == OpKind::Register =>
        {
            let r = ins.op_register(1);
            st.gpr[r.full_register() as usize - Register::RAX as usize] &= 0x7f;
        }
        _ => {}
    }
}

/// Flags to compare: the arithmetic flags minus what the manual leaves undefined.
fn compared_flags(ins: &Instruction, st: &State, buf: &[u8]) -> u64 {
    let mut undefined = flag_bits(ins.rflags_undefined());
    let count_op = match ins.mnemonic() {
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr => Some(1),
        M::Shld | M::Shrd => Some(2),
        _ => None,
    };
    if let Some(n) = count_op {
        let size = match ins.op_kind(0) {
            OpKind::Register => ins.op_register(0).size() as u32,
            _ => ins.memory_size().size() as u32,
        };
        let raw = if n < ins.op_count() {
            operand_value(ins, n, st, buf) & 0xff
        } else {
            1
        };
        let count = raw & if size == 8 { 63 } else { 31 };
        if count != 1 {
            undefined |= 0x800; // OF
        }
        if count >= u64::from(size * 8)
            && matches!(ins.mnemonic(), M::Shl | M::Sal | M::Shr | M::Shld | M::Shrd)
        {
            undefined |= 0x1; // CF
        }
        if matches!(
            ins.mnemonic(),
            M::Shl | M::Sal | M::Shr | M::Sar | M::Shld | M::Shrd
        ) && count != 0
        {
            undefined |= 0x10; // AF
        }
    }
    0x8d5 & !undefined
}

fn random_state(rng: &mut Rng, sse_float: bool, single: bool) -> State {
    let mut st = State::default();
    for r in GPRS {
        st.gpr[r] = rng.value();
    }
    st.flags = 0x202 | (rng.next_u64() & 0x8d5);
    for x in st.xmm.iter_mut() {
        let lane = |rng: &mut Rng| -> u64 {
            if !sse_float {
                rng.value()
            } else if single {
                rng.float() | (rng.float() << 32)
            } else {
                rng.double()
            }
        };
        *x = u128::from(lane(rng)) | (u128::from(lane(rng)) << 64);
    }
    st
}

#[test]
fn instructions_match_the_host_cpu() {
    let encodings_per_form = 12 * scale();
    let states_per_encoding = 40;
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut native_buf = Aligned::new(BUF);
    let mut m = emulator::machine();
    let mut jit = jitkit_emu::translate::Jit::new().expect("translator");

    let mut forms = 0;
    let mut cases = 0u64;
    let mut failures: Vec<String> = Vec::new();
    let mut unimplemented: Vec<String> = Vec::new();
    for code in Code::values() {
        let info = code.op_code();
        if info.encoding() != EncodingKind::Legacy || !info.mode64() || !info.is_instruction() {
            continue;
        }
        if !IMPLEMENTED.contains(&code.mnemonic()) {
            continue;
        }
        // String forms of movsd/cmpsd, and 16-bit double shifts (undefined for counts > 16).
        if info.op_count() == 0 && matches!(code.mnemonic(), M::Movsd | M::Cmpsd) {
            continue;
        }
        if matches!(code.mnemonic(), M::Shld | M::Shrd) && format!("{code:?}").contains("16") {
            continue;
        }
        let mut tried_form = false;
        let mut form_failures = 0;
        for _ in 0..encodings_per_form {
            let Some(mut ins) = instantiate(code, &mut rng) else {
                break;
            };
            if LOCKABLE.contains(&code.mnemonic())
                && ins.op_kind(0) == OpKind::Memory
                && rng.below(2) == 0
            {
                lock(&mut ins);
            }
            let mut enc = Encoder::new(64);
            let Ok(len) = enc.encode(&ins, CODE_ADDR) else {
                continue;
            };
            let bytes = enc.take_buffer();
            let decoded = Decoder::with_ip(64, &bytes, CODE_ADDR, DecoderOptions::NONE).decode();
            if decoded.is_invalid() || decoded.len() != len {
                continue;
            }
            tried_form = true;
            let native = NativeInsn::new(&bytes);
            let insn = emulator::decode_code(&mut m, &bytes).insns[0];
            if !insn.implemented {
                unimplemented.push(format!("{code:?}"));
                break;
            }
            // The same instruction as a one-instruction translated block (crate::translate).
            let one = jitkit_emu::decode::Block {
                start: CODE_ADDR,
                insns: Box::new([insn]),
                hits: 0,
            };
            jit.clear();
            let entry = jit.translate_isolated(&one, &mut m.mem).expect("translate");
            let fp = matches!(format!("{:?}", code.mnemonic()).as_str(),
                s if s.ends_with("sd") || s.ends_with("pd") || s.ends_with("ss") || s.ends_with("ps") || s.starts_with("Cvt") || s.contains("comis"));
            let single = format!("{:?}", code.mnemonic()).contains("ss")
                || format!("{:?}", code.mnemonic()).ends_with("ps");
            for _ in 0..states_per_encoding {
                let mut st = random_state(&mut rng, fp, single);
                let mut buf = [0u8; BUF];
                for chunk in buf.chunks_mut(8) {
                    let v = if fp {
                        if single {
                            rng.float() | (rng.float() << 32)
                        } else {
                            rng.double()
                        }
                    } else {
                        rng.value()
                    };
                    chunk.copy_from_slice(&v.to_le_bytes());
                }
                fix_inputs(&decoded, &mut st, &mut buf);
                let flag_mask = compared_flags(&decoded, &st, &buf);

                // Native.
                let nb = native_buf.buf();
                nb.copy_from_slice(&buf);
                let mut ns = st;
                ns.gpr[12] = nb.as_mut_ptr() as u64 + BASE_OFF;
                native.run(&mut ns);
                let nbuf = native_buf.buf().to_vec();

                // Emulated: by the interpreter's handler, then by the translated block.
                for translated in [false, true] {
                    emulator::load(&mut m, &st, &buf);
                    m.cpu.gpr[12] = DATA_ADDR + BASE_OFF;
                    m.cpu.rip = insn.next_rip;
                    let result = if translated {
                        match jit.run(&mut m, entry) {
                            jitkit_emu::translate::Exit::Continue(_) => Ok(()),
                            jitkit_emu::translate::Exit::Stop { stop, .. } => Err(stop),
                        }
                    } else {
                        (insn.handler)(&mut m, &insn)
                    };
                    let emu_buf = m.mem.bytes(DATA_ADDR, BUF as u64).expect("data").to_vec();
                    cases += 1;

                    let mut diffs = Vec::new();
                    if let Err(stop) = result {
                        diffs.push(format!("emulator stopped: {stop:?}"));
                    }
                    for r in GPRS {
                        if ns.gpr[r] != m.cpu.gpr[r] {
                            diffs.push(format!(
                                "r{r}: native {:#x} emulated {:#x}",
                                ns.gpr[r], m.cpu.gpr[r]
                            ));
                        }
                    }
                    let ef = m.cpu.flags.get();
                    if (ns.flags ^ ef) & flag_mask != 0 {
                        diffs.push(format!(
                            "flags: native {:#x} emulated {:#x} (compared {flag_mask:#x})",
                            ns.flags, ef
                        ));
                    }
                    for k in 0..8 {
                        if ns.xmm[k] != m.cpu.xmm[k] {
                            diffs.push(format!(
                                "xmm{k}: native {:#034x} emulated {:#034x}",
                                ns.xmm[k], m.cpu.xmm[k]
                            ));
                        }
                    }
                    if nbuf != emu_buf {
                        let at = first_difference(&nbuf, &emu_buf);
                        diffs.push(format!("memory differs at buffer offset {at}"));
                    }
                    if !diffs.is_empty() {
                        form_failures += 1;
                    }
                    if !diffs.is_empty() && form_failures <= 2 && failures.len() < 60 {
                        failures.push(format!(
                        "{}{decoded} ({code:?}, bytes {bytes:02x?})\n    inputs gpr {:x?} flags {:#x} xmm {:x?}\n    {}",
                        if translated { "[translated] " } else { "" },
                        st.gpr, st.flags, &st.xmm[..4], diffs.join("\n    ")
                    ));
                    }
                }
            }
        }
        if tried_form {
            forms += 1;
        }
    }
    eprintln!("{forms} instruction forms, {cases} cases");
    assert!(
        unimplemented.is_empty(),
        "forms the interpreter does not implement: {unimplemented:?}"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches (first {}):\n{}",
        failures.len(),
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 100_000, "only {cases} cases ran");
}
