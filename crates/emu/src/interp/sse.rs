//! SSE and SSE2: 128-bit moves, integer lanes (what libc string functions use: pcmpeqb,
//! pmovmskb, pminub, shuffles, byte shifts...), scalar and packed float/double arithmetic,
//! conversions and comparisons. Arithmetic uses the host's IEEE operations, which on x86-64 are
//! the same SSE instructions.

use iced_x86::{Instruction, Mnemonic as M};

use super::{ea, rd, set_gpr, Handler, Step};
use crate::decode::{Insn, Opnd};
use crate::flags::{mask, AF, CF, OF, PF, SF, ZF};
use crate::machine::{Machine, Stop};

pub fn handler_for(ins: &Instruction, _i: &Insn) -> Option<Handler> {
    Some(match ins.mnemonic() {
        M::Movaps
        | M::Movups
        | M::Movapd
        | M::Movupd
        | M::Movdqa
        | M::Movdqu
        | M::Lddqu
        | M::Movntdq
        | M::Movntps
        | M::Movntpd
        | M::Movntdqa => mov128,
        M::Movd | M::Movq => movdq,
        M::Movss | M::Movsd => movs_scalar,
        M::Movlps | M::Movlpd | M::Movhps | M::Movhpd | M::Movlhps | M::Movhlps => movlh,
        M::Pmovmskb | M::Movmskpd | M::Movmskps => movmsk,
        M::Pextrw => pextrw,
        M::Pinsrw => pinsrw,
        M::Pshufd | M::Pshuflw | M::Pshufhw | M::Shufps | M::Shufpd => shuffle,
        M::Pslldq | M::Psrldq => byte_shift,
        M::Psllw | M::Pslld | M::Psllq | M::Psrlw | M::Psrld | M::Psrlq | M::Psraw | M::Psrad => {
            bit_shift
        }
        M::Ucomisd | M::Comisd | M::Ucomiss | M::Comiss => comis,
        M::Cvtsi2sd | M::Cvtsi2ss => cvtsi2f,
        M::Cvttsd2si | M::Cvtsd2si | M::Cvttss2si | M::Cvtss2si => cvtf2si,
        M::Stmxcsr => stmxcsr,
        M::Ldmxcsr => ldmxcsr,
        M::Pxor
        | M::Xorps
        | M::Xorpd
        | M::Por
        | M::Orps
        | M::Orpd
        | M::Pand
        | M::Andps
        | M::Andpd
        | M::Pandn
        | M::Andnps
        | M::Andnpd
        | M::Paddb
        | M::Paddw
        | M::Paddd
        | M::Paddq
        | M::Psubb
        | M::Psubw
        | M::Psubd
        | M::Psubq
        | M::Paddusb
        | M::Paddusw
        | M::Psubusb
        | M::Psubusw
        | M::Paddsb
        | M::Paddsw
        | M::Psubsb
        | M::Psubsw
        | M::Pcmpeqb
        | M::Pcmpeqw
        | M::Pcmpeqd
        | M::Pcmpgtb
        | M::Pcmpgtw
        | M::Pcmpgtd
        | M::Pminub
        | M::Pmaxub
        | M::Pminsw
        | M::Pmaxsw
        | M::Pavgb
        | M::Pavgw
        | M::Pmullw
        | M::Pmulhw
        | M::Pmulhuw
        | M::Pmuludq
        | M::Pmaddwd
        | M::Psadbw
        | M::Punpcklbw
        | M::Punpcklwd
        | M::Punpckldq
        | M::Punpcklqdq
        | M::Punpckhbw
        | M::Punpckhwd
        | M::Punpckhdq
        | M::Punpckhqdq
        | M::Unpcklps
        | M::Unpcklpd
        | M::Unpckhps
        | M::Unpckhpd
        | M::Packuswb
        | M::Packsswb
        | M::Packssdw
        | M::Addsd
        | M::Subsd
        | M::Mulsd
        | M::Divsd
        | M::Minsd
        | M::Maxsd
        | M::Sqrtsd
        | M::Addss
        | M::Subss
        | M::Mulss
        | M::Divss
        | M::Minss
        | M::Maxss
        | M::Sqrtss
        | M::Addpd
        | M::Subpd
        | M::Mulpd
        | M::Divpd
        | M::Minpd
        | M::Maxpd
        | M::Sqrtpd
        | M::Addps
        | M::Subps
        | M::Mulps
        | M::Divps
        | M::Minps
        | M::Maxps
        | M::Sqrtps
        | M::Cvtss2sd
        | M::Cvtsd2ss
        | M::Cvtdq2pd
        | M::Cvtdq2ps
        | M::Cvttps2dq
        | M::Cvtps2dq
        | M::Cvttpd2dq
        | M::Cvtpd2dq
        | M::Cvtps2pd
        | M::Cvtpd2ps
        | M::Cmpsd
        | M::Cmpss
        | M::Cmppd
        | M::Cmpps => binop,
        _ => return None,
    })
}

/// Reads operand `n`: an XMM register, or `size` bytes of memory, zero-extended.
#[inline]
fn xrd(m: &Machine, i: &Insn, n: usize) -> Result<u128, Stop> {
    match i.op[n] {
        Opnd::Xmm(r) => Ok(m.cpu.xmm[r as usize]),
        Opnd::Mem => {
            let a = ea(m, i);
            Ok(match i.size[n] {
                16 => m.mem.read_u128(a)?,
                8 => u128::from(m.mem.read_u64(a)?),
                4 => u128::from(m.mem.read_u32(a)?),
                2 => u128::from(m.mem.read_u16(a)?),
                _ => u128::from(m.mem.read_u8(a)?),
            })
        }
        _ => Ok(u128::from(rd(m, i, n)?)),
    }
}

/// Writes operand `n`: a whole XMM register, or `size` bytes of memory.
#[inline]
fn xwr(m: &mut Machine, i: &Insn, n: usize, v: u128) -> Step {
    match i.op[n] {
        Opnd::Xmm(r) => {
            m.cpu.xmm[r as usize] = v;
            Ok(())
        }
        Opnd::Mem => {
            let a = ea(m, i);
            match i.size[n] {
                16 => m.mem.write_u128(a, v)?,
                8 => m.mem.write_u64(a, v as u64)?,
                4 => m.mem.write_u32(a, v as u32)?,
                _ => m.mem.write_u16(a, v as u16)?,
            }
            Ok(())
        }
        Opnd::Gpr(r) => {
            set_gpr(m, r, i.size[n], v as u64);
            Ok(())
        }
        _ => Err(Stop::Illegal),
    }
}

fn imm(i: &Insn) -> u64 {
    i.op.iter()
        .find_map(|o| match o {
            Opnd::Imm(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

fn aligned_required(i: &Insn) -> bool {
    !matches!(i.mnemonic, M::Movups | M::Movupd | M::Movdqu | M::Lddqu)
}

fn check_align(m: &Machine, i: &Insn) -> Step {
    for n in 0..2 {
        if i.op[n] == Opnd::Mem
            && i.size[n] == 16
            && aligned_required(i)
            && !ea(m, i).is_multiple_of(16)
        {
            // #GP: Linux delivers SIGSEGV.
            return Err(Stop::Signal(libc::SIGSEGV));
        }
    }
    Ok(())
}

pub fn mov128(m: &mut Machine, i: &Insn) -> Step {
    check_align(m, i)?;
    let v = xrd(m, i, 1)?;
    xwr(m, i, 0, v)
}

pub fn movdq(m: &mut Machine, i: &Insn) -> Step {
    let both_xmm = matches!((i.op[0], i.op[1]), (Opnd::Xmm(_), Opnd::Xmm(_)));
    let n = if both_xmm {
        8
    } else {
        i.size[0].min(i.size[1])
    };
    let v = xrd(m, i, 1)? & u128::from(mask(n));
    match i.op[0] {
        Opnd::Xmm(r) => {
            m.cpu.xmm[r as usize] = v;
            Ok(())
        }
        _ => xwr(m, i, 0, v),
    }
}

pub fn movs_scalar(m: &mut Machine, i: &Insn) -> Step {
    let n = if i.mnemonic == M::Movss { 4 } else { 8 };
    let low = u128::from(mask(n));
    match (i.op[0], i.op[1]) {
        (Opnd::Xmm(d), Opnd::Xmm(s)) => {
            let v = m.cpu.xmm[s as usize] & low;
            let d = &mut m.cpu.xmm[d as usize];
            *d = (*d & !low) | v;
            Ok(())
        }
        (Opnd::Xmm(d), _) => {
            m.cpu.xmm[d as usize] = xrd(m, i, 1)? & low;
            Ok(())
        }
        _ => {
            let v = xrd(m, i, 1)?;
            xwr(m, i, 0, v)
        }
    }
}

pub fn movlh(m: &mut Machine, i: &Insn) -> Step {
    const LO: u128 = u64::MAX as u128;
    let high = matches!(i.mnemonic, M::Movhps | M::Movhpd);
    match (i.mnemonic, i.op[0], i.op[1]) {
        (M::Movlhps, Opnd::Xmm(d), Opnd::Xmm(s)) => {
            let v = m.cpu.xmm[s as usize] & LO;
            let d = &mut m.cpu.xmm[d as usize];
            *d = (*d & LO) | (v << 64);
        }
        (M::Movhlps, Opnd::Xmm(d), Opnd::Xmm(s)) => {
            let v = m.cpu.xmm[s as usize] >> 64;
            let d = &mut m.cpu.xmm[d as usize];
            *d = (*d & !LO) | v;
        }
        (_, Opnd::Xmm(d), Opnd::Mem) => {
            let v = u128::from(m.mem.read_u64(ea(m, i))?);
            let d = &mut m.cpu.xmm[d as usize];
            *d = if high {
                (*d & LO) | (v << 64)
            } else {
                (*d & !LO) | v
            };
        }
        (_, Opnd::Mem, Opnd::Xmm(s)) => {
            let v = m.cpu.xmm[s as usize];
            let v = if high { v >> 64 } else { v } as u64;
            m.mem.write_u64(ea(m, i), v)?;
        }
        _ => return Err(Stop::Illegal),
    }
    Ok(())
}

pub fn movmsk(m: &mut Machine, i: &Insn) -> Step {
    let v = xrd(m, i, 1)?;
    let (lane, count) = match i.mnemonic {
        M::Pmovmskb => (8, 16),
        M::Movmskps => (32, 4),
        _ => (64, 2),
    };
    let mut r = 0u64;
    for k in 0..count {
        r |= (((v >> (k * lane + lane - 1)) & 1) as u64) << k;
    }
    super::wr(m, i, 0, r)
}

pub fn pextrw(m: &mut Machine, i: &Insn) -> Step {
    let v = xrd(m, i, 1)?;
    let k = imm(i) & 7;
    super::wr(m, i, 0, ((v >> (k * 16)) & 0xffff) as u64)
}

pub fn pinsrw(m: &mut Machine, i: &Insn) -> Step {
    let Opnd::Xmm(d) = i.op[0] else {
        return Err(Stop::Illegal);
    };
    let w = xrd(m, i, 1)? & 0xffff;
    let k = imm(i) & 7;
    let x = &mut m.cpu.xmm[d as usize];
    *x = (*x & !(0xffffu128 << (k * 16))) | (w << (k * 16));
    Ok(())
}

fn lanes<const W: usize>(v: u128) -> impl Iterator<Item = u64> {
    (0..16 / W).map(move |k| ((v >> (k * W * 8)) as u64) & mask(W as u8))
}

fn from_lanes<const W: usize>(it: impl Iterator<Item = u64>) -> u128 {
    let mut r = 0u128;
    for (k, v) in it.enumerate() {
        r |= u128::from(v & mask(W as u8)) << (k * W * 8);
    }
    r
}

fn zip<const W: usize>(a: u128, b: u128, f: impl Fn(u64, u64) -> u64) -> u128 {
    from_lanes::<W>(lanes::<W>(a).zip(lanes::<W>(b)).map(|(x, y)| f(x, y)))
}

fn lane<const W: usize>(v: u128, k: usize) -> u64 {
    ((v >> (k * W * 8)) as u64) & mask(W as u8)
}

pub fn shuffle(m: &mut Machine, i: &Insn) -> Step {
    check_align(m, i)?;
    let s = xrd(m, i, 1)?;
    let d = xrd(m, i, 0)?;
    let c = imm(i) as usize;
    let r = match i.mnemonic {
        M::Pshufd => from_lanes::<4>((0..4).map(|k| lane::<4>(s, (c >> (2 * k)) & 3))),
        M::Shufps => from_lanes::<4>((0..4).map(|k| {
            let src = if k < 2 { d } else { s };
            lane::<4>(src, (c >> (2 * k)) & 3)
        })),
        M::Shufpd => from_lanes::<8>([lane::<8>(d, c & 1), lane::<8>(s, (c >> 1) & 1)].into_iter()),
        M::Pshuflw => {
            let lo = from_lanes::<2>((0..4).map(|k| lane::<2>(s, (c >> (2 * k)) & 3)));
            (s & !(u64::MAX as u128)) | lo
        }
        _ => {
            let hi = from_lanes::<2>((0..4).map(|k| lane::<2>(s, 4 + ((c >> (2 * k)) & 3))));
            (s & u64::MAX as u128) | (hi << 64)
        }
    };
    xwr(m, i, 0, r)
}

pub fn byte_shift(m: &mut Machine, i: &Insn) -> Step {
    let v = xrd(m, i, 0)?;
    let n = imm(i).min(16) as u32 * 8;
    let r = if n >= 128 {
        0
    } else if i.mnemonic == M::Pslldq {
        v << n
    } else {
        v >> n
    };
    xwr(m, i, 0, r)
}

pub fn bit_shift(m: &mut Machine, i: &Insn) -> Step {
    check_align(m, i)?;
    let v = xrd(m, i, 0)?;
    let count = match i.op[1] {
        Opnd::Imm(c) => c & 0xff,
        _ => {
            let c = xrd(m, i, 1)? as u64;
            c.min(255)
        }
    };
    fn sh<const W: usize>(v: u128, count: u64, kind: u8) -> u128 {
        let bits = (W * 8) as u64;
        from_lanes::<W>(lanes::<W>(v).map(|x| match kind {
            0 => {
                if count >= bits {
                    0
                } else {
                    x << count
                }
            }
            1 => {
                if count >= bits {
                    0
                } else {
                    x >> count
                }
            }
            _ => {
                let sx = crate::flags::sext(x, W as u8);
                (sx >> count.min(bits - 1)) as u64
            }
        }))
    }
    let r = match i.mnemonic {
        M::Psllw => sh::<2>(v, count, 0),
        M::Pslld => sh::<4>(v, count, 0),
        M::Psllq => sh::<8>(v, count, 0),
        M::Psrlw => sh::<2>(v, count, 1),
        M::Psrld => sh::<4>(v, count, 1),
        M::Psrlq => sh::<8>(v, count, 1),
        M::Psraw => sh::<2>(v, count, 2),
        _ => sh::<4>(v, count, 2),
    };
    xwr(m, i, 0, r)
}

pub fn comis(m: &mut Machine, i: &Insn) -> Step {
    let a = xrd(m, i, 0)?;
    let b = xrd(m, i, 1)?;
    let (unordered, less, equal) = if matches!(i.mnemonic, M::Ucomisd | M::Comisd) {
        let (x, y) = (f64::from_bits(a as u64), f64::from_bits(b as u64));
        (x.is_nan() || y.is_nan(), x < y, x == y)
    } else {
        let (x, y) = (f32::from_bits(a as u32), f32::from_bits(b as u32));
        (x.is_nan() || y.is_nan(), x < y, x == y)
    };
    let f = &mut m.cpu.flags;
    f.materialize();
    f.bits &= !(CF | OF | PF | SF | ZF | AF);
    if unordered {
        f.bits |= ZF | PF | CF;
    } else if less {
        f.bits |= CF;
    } else if equal {
        f.bits |= ZF;
    }
    Ok(())
}

pub fn cvtsi2f(m: &mut Machine, i: &Insn) -> Step {
    let Opnd::Xmm(d) = i.op[0] else {
        return Err(Stop::Illegal);
    };
    let v = crate::flags::sext(rd(m, i, 1)?, i.size[1]);
    let x = &mut m.cpu.xmm[d as usize];
    if i.mnemonic == M::Cvtsi2sd {
        *x = (*x & !(u64::MAX as u128)) | u128::from((v as f64).to_bits());
    } else {
        *x = (*x & !(u32::MAX as u128)) | u128::from((v as f32).to_bits());
    }
    Ok(())
}

fn round_mxcsr(m: &Machine, x: f64) -> f64 {
    match (m.cpu.mxcsr >> 13) & 3 {
        0 => x.round_ties_even(),
        1 => x.floor(),
        2 => x.ceil(),
        _ => x.trunc(),
    }
}

const TWO63: f64 = 9_223_372_036_854_775_808.0;

/// Float to integer with x86's "integer indefinite" (the minimum value) for NaN and overflow.
fn f2i(x: f64, size: u8) -> u64 {
    if size == 8 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            1u64 << 63
        } else {
            x as i64 as u64
        }
    } else if x.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        0x8000_0000
    } else {
        x as i32 as u32 as u64
    }
}

pub fn cvtf2si(m: &mut Machine, i: &Insn) -> Step {
    let v = xrd(m, i, 1)?;
    let x = if matches!(i.mnemonic, M::Cvttsd2si | M::Cvtsd2si) {
        f64::from_bits(v as u64)
    } else {
        f64::from(f32::from_bits(v as u32))
    };
    let x = if matches!(i.mnemonic, M::Cvtsd2si | M::Cvtss2si) {
        round_mxcsr(m, x)
    } else {
        x.trunc()
    };
    super::wr(m, i, 0, f2i(x, i.size[0]))
}

pub fn stmxcsr(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    Ok(m.mem.write_u32(a, m.cpu.mxcsr)?)
}

pub fn ldmxcsr(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    m.cpu.mxcsr = m.mem.read_u32(a)?;
    Ok(())
}

fn sat_i(v: i64, bits: u32) -> u64 {
    let min = -(1i64 << (bits - 1));
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(min, max) as u64
}

fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, (1i64 << bits) - 1) as u64
}

fn f64s(v: u128) -> [f64; 2] {
    [f64::from_bits(v as u64), f64::from_bits((v >> 64) as u64)]
}

fn from_f64s(x: [f64; 2]) -> u128 {
    u128::from(x[0].to_bits()) | (u128::from(x[1].to_bits()) << 64)
}

fn f32s(v: u128) -> [f32; 4] {
    [0, 1, 2, 3].map(|k| f32::from_bits((v >> (32 * k)) as u32))
}

fn from_f32s(x: [f32; 4]) -> u128 {
    x.iter()
        .enumerate()
        .fold(0, |r, (k, f)| r | (u128::from(f.to_bits()) << (32 * k)))
}

fn cmp_pred(p: u64, a: f64, b: f64) -> bool {
    match p & 7 {
        0 => a == b,
        1 => a < b,
        2 => a <= b,
        3 => a.is_nan() || b.is_nan(),
        4 => a != b,
        5 => a >= b || a.is_nan() || b.is_nan(),
        6 => a > b || a.is_nan() || b.is_nan(),
        _ => !(a.is_nan() || b.is_nan()),
    }
}

/// x86 min/max: the second operand when either is NaN or both are zero.
fn xmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}
fn xmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}
fn xminf(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}
fn xmaxf(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Two-operand lane-wise operations, `dst = op(dst, src)`.
pub fn binop(m: &mut Machine, i: &Insn) -> Step {
    check_align(m, i)?;
    let a = xrd(m, i, 0)?;
    let b = xrd(m, i, 1)?;
    const LO64: u128 = u64::MAX as u128;
    const LO32: u128 = u32::MAX as u128;
    let sd = |f: &dyn Fn(f64, f64) -> f64| -> u128 {
        let r = f(f64::from_bits(a as u64), f64::from_bits(b as u64));
        (a & !LO64) | u128::from(r.to_bits())
    };
    let ss = |f: &dyn Fn(f32, f32) -> f32| -> u128 {
        let r = f(f32::from_bits(a as u32), f32::from_bits(b as u32));
        (a & !LO32) | u128::from(r.to_bits())
    };
    let pd = |f: &dyn Fn(f64, f64) -> f64| -> u128 {
        let (x, y) = (f64s(a), f64s(b));
        from_f64s([f(x[0], y[0]), f(x[1], y[1])])
    };
    let ps = |f: &dyn Fn(f32, f32) -> f32| -> u128 {
        let (x, y) = (f32s(a), f32s(b));
        from_f32s([0, 1, 2, 3].map(|k| f(x[k], y[k])))
    };
    let unpack_lo = |w: usize| -> u128 {
        let mut r = 0u128;
        let n = 8 / w;
        for k in 0..n {
            let x = (a >> (k * w * 8)) & ((1u128 << (w * 8)) - 1);
            let y = (b >> (k * w * 8)) & ((1u128 << (w * 8)) - 1);
            r |= x << (2 * k * w * 8);
            r |= y << ((2 * k + 1) * w * 8);
        }
        r
    };
    let unpack_hi = |w: usize| -> u128 {
        let mut r = 0u128;
        let n = 8 / w;
        for k in 0..n {
            let x = (a >> (64 + k * w * 8)) & ((1u128 << (w * 8)) - 1);
            let y = (b >> (64 + k * w * 8)) & ((1u128 << (w * 8)) - 1);
            r |= x << (2 * k * w * 8);
            r |= y << ((2 * k + 1) * w * 8);
        }
        r
    };
    let s8 = |v: u64| crate::flags::sext(v, 1);
    let s16 = |v: u64| crate::flags::sext(v, 2);
    let s32 = |v: u64| crate::flags::sext(v, 4);
    let ones = |c: bool, w: u8| if c { mask(w) } else { 0 };
    let r: u128 = match i.mnemonic {
        M::Pxor | M::Xorps | M::Xorpd => a ^ b,
        M::Por | M::Orps | M::Orpd => a | b,
        M::Pand | M::Andps | M::Andpd => a & b,
        M::Pandn | M::Andnps | M::Andnpd => !a & b,
        M::Paddb => zip::<1>(a, b, u64::wrapping_add),
        M::Paddw => zip::<2>(a, b, u64::wrapping_add),
        M::Paddd => zip::<4>(a, b, u64::wrapping_add),
        M::Paddq => zip::<8>(a, b, u64::wrapping_add),
        M::Psubb => zip::<1>(a, b, u64::wrapping_sub),
        M::Psubw => zip::<2>(a, b, u64::wrapping_sub),
        M::Psubd => zip::<4>(a, b, u64::wrapping_sub),
        M::Psubq => zip::<8>(a, b, u64::wrapping_sub),
        M::Paddusb => zip::<1>(a, b, |x, y| (x + y).min(0xff)),
        M::Paddusw => zip::<2>(a, b, |x, y| (x + y).min(0xffff)),
        M::Psubusb => zip::<1>(a, b, |x, y| x.saturating_sub(y)),
        M::Psubusw => zip::<2>(a, b, |x, y| x.saturating_sub(y)),
        M::Paddsb => zip::<1>(a, b, |x, y| sat_i(s8(x) + s8(y), 8)),
        M::Paddsw => zip::<2>(a, b, |x, y| sat_i(s16(x) + s16(y), 16)),
        M::Psubsb => zip::<1>(a, b, |x, y| sat_i(s8(x) - s8(y), 8)),
        M::Psubsw => zip::<2>(a, b, |x, y| sat_i(s16(x) - s16(y), 16)),
        M::Pcmpeqb => zip::<1>(a, b, |x, y| ones(x == y, 1)),
        M::Pcmpeqw => zip::<2>(a, b, |x, y| ones(x == y, 2)),
        M::Pcmpeqd => zip::<4>(a, b, |x, y| ones(x == y, 4)),
        M::Pcmpgtb => zip::<1>(a, b, |x, y| ones(s8(x) > s8(y), 1)),
        M::Pcmpgtw => zip::<2>(a, b, |x, y| ones(s16(x) > s16(y), 2)),
        M::Pcmpgtd => zip::<4>(a, b, |x, y| ones(s32(x) > s32(y), 4)),
        M::Pminub => zip::<1>(a, b, u64::min),
        M::Pmaxub => zip::<1>(a, b, u64::max),
        M::Pminsw => zip::<2>(a, b, |x, y| if s16(x) < s16(y) { x } else { y }),
        M::Pmaxsw => zip::<2>(a, b, |x, y| if s16(x) > s16(y) { x } else { y }),
        M::Pavgb => zip::<1>(a, b, |x, y| (x + y + 1) >> 1),
        M::Pavgw => zip::<2>(a, b, |x, y| (x + y + 1) >> 1),
        M::Pmullw => zip::<2>(a, b, |x, y| (s16(x) * s16(y)) as u64),
        M::Pmulhw => zip::<2>(a, b, |x, y| ((s16(x) * s16(y)) >> 16) as u64),
        M::Pmulhuw => zip::<2>(a, b, |x, y| (x * y) >> 16),
        M::Pmuludq => zip::<8>(a, b, |x, y| (x & 0xffff_ffff) * (y & 0xffff_ffff)),
        M::Pmaddwd => from_lanes::<4>((0..4).map(|k| {
            let p0 = s16(lane::<2>(a, 2 * k)) * s16(lane::<2>(b, 2 * k));
            let p1 = s16(lane::<2>(a, 2 * k + 1)) * s16(lane::<2>(b, 2 * k + 1));
            (p0 + p1) as u64
        })),
        M::Psadbw => from_lanes::<8>((0..2).map(|h| {
            (0..8)
                .map(|k| lane::<1>(a, h * 8 + k).abs_diff(lane::<1>(b, h * 8 + k)))
                .sum()
        })),
        M::Punpcklbw => unpack_lo(1),
        M::Punpcklwd => unpack_lo(2),
        M::Punpckldq | M::Unpcklps => unpack_lo(4),
        M::Punpcklqdq | M::Unpcklpd => unpack_lo(8),
        M::Punpckhbw => unpack_hi(1),
        M::Punpckhwd => unpack_hi(2),
        M::Punpckhdq | M::Unpckhps => unpack_hi(4),
        M::Punpckhqdq | M::Unpckhpd => unpack_hi(8),
        M::Packuswb => {
            from_lanes::<1>(lanes::<2>(a).chain(lanes::<2>(b)).map(|x| sat_u(s16(x), 8)))
        }
        M::Packsswb => {
            from_lanes::<1>(lanes::<2>(a).chain(lanes::<2>(b)).map(|x| sat_i(s16(x), 8)))
        }
        M::Packssdw => from_lanes::<2>(
            lanes::<4>(a)
                .chain(lanes::<4>(b))
                .map(|x| sat_i(s32(x), 16)),
        ),
        M::Addsd => sd(&|x, y| x + y),
        M::Subsd => sd(&|x, y| x - y),
        M::Mulsd => sd(&|x, y| x * y),
        M::Divsd => sd(&|x, y| x / y),
        M::Minsd => sd(&xmin),
        M::Maxsd => sd(&xmax),
        M::Sqrtsd => sd(&|_, y| y.sqrt()),
        M::Addss => ss(&|x, y| x + y),
        M::Subss => ss(&|x, y| x - y),
        M::Mulss => ss(&|x, y| x * y),
        M::Divss => ss(&|x, y| x / y),
        M::Minss => ss(&xminf),
        M::Maxss => ss(&xmaxf),
        M::Sqrtss => ss(&|_, y| y.sqrt()),
        M::Addpd => pd(&|x, y| x + y),
        M::Subpd => pd(&|x, y| x - y),
        M::Mulpd => pd(&|x, y| x * y),
        M::Divpd => pd(&|x, y| x / y),
        M::Minpd => pd(&xmin),
        M::Maxpd => pd(&xmax),
        M::Sqrtpd => pd(&|_, y| y.sqrt()),
        M::Addps => ps(&|x, y| x + y),
        M::Subps => ps(&|x, y| x - y),
        M::Mulps => ps(&|x, y| x * y),
        M::Divps => ps(&|x, y| x / y),
        M::Minps => ps(&xminf),
        M::Maxps => ps(&xmaxf),
        M::Sqrtps => ps(&|_, y| y.sqrt()),
        M::Cvtss2sd => (a & !LO64) | u128::from(f64::from(f32::from_bits(b as u32)).to_bits()),
        M::Cvtsd2ss => (a & !LO32) | u128::from((f64::from_bits(b as u64) as f32).to_bits()),
        M::Cvtdq2pd => from_f64s([s32(b as u64) as f64, s32((b >> 32) as u64) as f64]),
        M::Cvtdq2ps => from_f32s([0, 1, 2, 3].map(|k| s32((b >> (32 * k)) as u64) as f32)),
        M::Cvttps2dq | M::Cvtps2dq => {
            let t = i.mnemonic == M::Cvttps2dq;
            from_lanes::<4>(f32s(b).into_iter().map(|x| {
                let x = f64::from(x);
                f2i(if t { x.trunc() } else { round_mxcsr(m, x) }, 4)
            }))
        }
        M::Cvttpd2dq | M::Cvtpd2dq => {
            let t = i.mnemonic == M::Cvttpd2dq;
            from_lanes::<4>(
                f64s(b)
                    .into_iter()
                    .map(|x| f2i(if t { x.trunc() } else { round_mxcsr(m, x) }, 4))
                    .chain([0, 0]),
            )
        }
        M::Cvtps2pd => {
            let x = f32s(b);
            from_f64s([f64::from(x[0]), f64::from(x[1])])
        }
        M::Cvtpd2ps => {
            let x = f64s(b);
            from_f32s([x[0] as f32, x[1] as f32, 0.0, 0.0])
        }
        M::Cmpsd => {
            let p = imm(i);
            let c = cmp_pred(p, f64::from_bits(a as u64), f64::from_bits(b as u64));
            (a & !LO64) | if c { LO64 } else { 0 }
        }
        M::Cmpss => {
            let p = imm(i);
            let c = cmp_pred(
                p,
                f64::from(f32::from_bits(a as u32)),
                f64::from(f32::from_bits(b as u32)),
            );
            (a & !LO32) | if c { LO32 } else { 0 }
        }
        M::Cmppd => {
            let p = imm(i);
            let (x, y) = (f64s(a), f64s(b));
            from_lanes::<8>((0..2).map(|k| ones(cmp_pred(p, x[k], y[k]), 8)))
        }
        M::Cmpps => {
            let p = imm(i);
            let (x, y) = (f32s(a), f32s(b));
            from_lanes::<4>((0..4).map(|k| ones(cmp_pred(p, f64::from(x[k]), f64::from(y[k])), 4)))
        }
        _ => return Err(Stop::Illegal),
    };
    xwr(m, i, 0, r)
}
