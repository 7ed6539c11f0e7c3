//! SSE and SSE2: the scalar and packed floating-point, integer-vector, conversion and move
//! instructions compilers emit, on `xmm0`..`xmm15` and memory.
//!
//! One table row per mnemonic (mandatory prefix, opcode after `0F`, memory operand size, operand
//! form) drives both the builder methods (`a.addsd(XMM0, XMM1)`, `a.pshufd(XMM0, XMM1, 0x1b)`)
//! and the text assembler. Encodings and accepted operand sizes are GNU as's: a memory operand
//! may carry no size or exactly the instruction's (`QWORD PTR` for `addsd`, `XMMWORD PTR` for
//! `addpd`); `cvtsi2sd` needs `DWORD`/`QWORD PTR`; `movd`/`movq` pick their forms as GNU as does
//! (`movq xmm, xmm/m64` is `F3 0F 7E`, a 64-bit register or `QWORD PTR` operand of `movd`
//! becomes the REX.W form, and without an xmm operand `movd`/`movq` are a 32/64-bit `mov`).

use crate::assembler::Assembler;
use crate::encode::{fixed_bytes, Pfx, RegField, Rm};
use crate::error::EncodeError;
use crate::operand::{Mem, Operand};
use crate::reg::{Reg, Size, Xmm};

/// How an SSE instruction takes its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SseForm {
    /// `op xmm, xmm/m`.
    Rm,
    /// `op xmm, xmm/m` with the load opcode, and `op m, xmm` with `store`.
    Move { store: u8 },
    /// `op xmm, xmm/m, imm8`.
    RmImm,
    /// `op r32/r64, xmm` (the register goes in ModRM.reg; no memory form, no REX.W).
    GprFromXmm,
    /// `op xmm, r/m32` or `r/m64` (REX.W for 64 bits; memory needs an explicit size).
    XmmFromGpr,
    /// `op r32/r64, xmm/m` (REX.W for a 64-bit destination).
    GprFromXmmRm,
    /// `op xmm, xmm/m128`, or `op xmm, imm8` as `66 0F imm_op /digit ib`.
    Shift { imm_op: u8, digit: u8 },
    /// `op xmm, imm8` only (`pslldq`, `psrldq`): `66 0F op /digit ib`.
    ShiftImm { digit: u8 },
    /// `movd`: between xmm and r/m32 (or r/m64, then REX.W).
    Movd,
    /// `movq`: xmm to/from xmm/m64 and r64.
    Movq,
}

/// One SSE mnemonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseInsn {
    pub name: &'static str,
    /// The mandatory prefix: 0 (none), 0x66, 0xF2 or 0xF3.
    pub prefix: u8,
    /// The opcode byte after `0F`.
    pub op: u8,
    /// The size of its memory operand.
    pub mem: Size,
    pub form: SseForm,
}

impl SseInsn {
    #[inline(always)]
    fn pfx(self, w: bool) -> Pfx {
        Pfx {
            o16: self.prefix == 0x66,
            w,
            mandatory: if self.prefix == 0x66 { 0 } else { self.prefix },
        }
    }
}

#[inline(always)]
fn bad(insn: &'static str, why: &'static str) -> EncodeError {
    EncodeError::InvalidOperands { insn, why }
}

/// A memory operand's explicit size must be absent or `want`.
#[inline(always)]
fn mem_size_ok(insn: &'static str, m: &Mem, want: Size) -> Result<(), EncodeError> {
    match m.size {
        Some(s) if s != want => Err(EncodeError::SizeMismatch { insn }),
        _ => Ok(()),
    }
}

/// The size of a general-purpose operand of a conversion: 32 or 64 bits.
#[inline(always)]
fn gpr_size(insn: &'static str, r: Reg) -> Result<bool, EncodeError> {
    match r.size() {
        Size::Dword => Ok(false),
        Size::Qword => Ok(true),
        size => Err(EncodeError::BadSize { insn, size }),
    }
}

/// An xmm register or memory operand as ModRM r/m, and whether it is memory.
#[inline(always)]
fn xmm_rm(o: &Operand) -> Option<(Rm<'_>, bool)> {
    match o {
        Operand::Xmm(x) => Some((Rm::Reg(x.as_gpr()), false)),
        Operand::Mem(m) => Some((Rm::Mem(m), true)),
        _ => None,
    }
}

#[inline(always)]
fn xr(x: Xmm) -> RegField {
    RegField::Reg(x.as_gpr())
}

impl Assembler {
    /// Encodes an SSE instruction (`imm` only for the forms with an 8-bit immediate).
    #[inline(always)]
    pub fn enc_sse(
        &mut self,
        i: SseInsn,
        dst: Operand,
        src: Operand,
        imm: Option<Operand>,
    ) -> Result<(), EncodeError> {
        let insn = i.name;
        let op = [0x0F, i.op];
        if imm.is_some() && i.form != SseForm::RmImm {
            return Err(bad(insn, "wrong number of operands"));
        }
        match i.form {
            SseForm::Rm | SseForm::RmImm => {
                let Operand::Xmm(d) = dst else {
                    return Err(bad(insn, "the destination must be an xmm register"));
                };
                let Some((rm, is_mem)) = xmm_rm(&src) else {
                    return Err(bad(insn, "the source must be an xmm register or memory"));
                };
                if let (true, Operand::Mem(m)) = (is_mem, &src) {
                    mem_size_ok(insn, m, i.mem)?;
                }
                if i.form == SseForm::Rm {
                    return self.emit_modrm(i.pfx(false), &op, xr(d), rm, 0);
                }
                match imm {
                    Some(Operand::Imm(v)) if (-128..=255).contains(&v) => {
                        self.emit_modrm_imm(i.pfx(false), &op, xr(d), rm, 1, v)
                    }
                    Some(Operand::Imm(v)) => Err(EncodeError::ImmediateOutOfRange {
                        insn,
                        value: v,
                        bits: 8,
                    }),
                    Some(_) => Err(bad(insn, "the third operand must be an immediate")),
                    None => Err(bad(insn, "wrong number of operands")),
                }
            }
            SseForm::Move { store } => match (&dst, &src) {
                (Operand::Xmm(d), Operand::Xmm(s)) => {
                    self.emit_modrm(i.pfx(false), &op, xr(*d), Rm::Reg(s.as_gpr()), 0)
                }
                (Operand::Xmm(d), Operand::Mem(m)) => {
                    mem_size_ok(insn, m, i.mem)?;
                    self.emit_modrm(i.pfx(false), &op, xr(*d), Rm::Mem(m), 0)
                }
                (Operand::Mem(m), Operand::Xmm(s)) => {
                    mem_size_ok(insn, m, i.mem)?;
                    self.emit_modrm(i.pfx(false), &[0x0F, store], xr(*s), Rm::Mem(m), 0)
                }
                _ => Err(bad(insn, "expected xmm and xmm/memory, or memory and xmm")),
            },
            SseForm::GprFromXmm => match (&dst, &src) {
                (Operand::Reg(d), Operand::Xmm(s)) => {
                    gpr_size(insn, *d)?;
                    self.emit_modrm(i.pfx(false), &op, RegField::Reg(*d), Rm::Reg(s.as_gpr()), 0)
                }
                (Operand::Reg(d), Operand::Mem(_)) => {
                    gpr_size(insn, *d)?;
                    Err(EncodeError::SizeMismatch { insn })
                }
                _ => Err(bad(
                    insn,
                    "expected a 32/64-bit register and an xmm register",
                )),
            },
            SseForm::XmmFromGpr => {
                let Operand::Xmm(d) = dst else {
                    return Err(bad(insn, "the destination must be an xmm register"));
                };
                match &src {
                    Operand::Reg(r) => {
                        let w = gpr_size(insn, *r)?;
                        self.emit_modrm(i.pfx(w), &op, xr(d), Rm::Reg(*r), 0)
                    }
                    Operand::Mem(m) => {
                        let w = match m.size {
                            None => return Err(EncodeError::AmbiguousSize { insn }),
                            Some(Size::Dword) => false,
                            Some(Size::Qword) => true,
                            Some(_) => return Err(EncodeError::SizeMismatch { insn }),
                        };
                        self.emit_modrm(i.pfx(w), &op, xr(d), Rm::Mem(m), 0)
                    }
                    _ => Err(bad(
                        insn,
                        "the source must be a 32/64-bit register or memory",
                    )),
                }
            }
            SseForm::GprFromXmmRm => {
                let Operand::Reg(d) = dst else {
                    return Err(bad(insn, "the destination must be a 32/64-bit register"));
                };
                let w = gpr_size(insn, d)?;
                let Some((rm, is_mem)) = xmm_rm(&src) else {
                    return Err(bad(insn, "the source must be an xmm register or memory"));
                };
                if let (true, Operand::Mem(m)) = (is_mem, &src) {
                    mem_size_ok(insn, m, i.mem)?;
                }
                self.emit_modrm(i.pfx(w), &op, RegField::Reg(d), rm, 0)
            }
            SseForm::Shift { imm_op, digit } => {
                let Operand::Xmm(d) = dst else {
                    return Err(bad(insn, "the destination must be an xmm register"));
                };
                match &src {
                    Operand::Imm(v) => self.shift_imm(i, d, imm_op, digit, *v),
                    _ => {
                        let Some((rm, is_mem)) = xmm_rm(&src) else {
                            return Err(bad(
                                insn,
                                "the count must be an xmm register, memory or an immediate",
                            ));
                        };
                        if let (true, Operand::Mem(m)) = (is_mem, &src) {
                            mem_size_ok(insn, m, i.mem)?;
                        }
                        self.emit_modrm(i.pfx(false), &op, xr(d), rm, 0)
                    }
                }
            }
            SseForm::ShiftImm { digit } => match (&dst, &src) {
                (Operand::Xmm(d), Operand::Imm(v)) => self.shift_imm(i, *d, i.op, digit, *v),
                _ => Err(bad(insn, "expected an xmm register and an immediate")),
            },
            SseForm::Movd => self.enc_movd(i, dst, src),
            SseForm::Movq => self.enc_movq(i, dst, src),
        }
    }

    #[inline(always)]
    fn shift_imm(
        &mut self,
        i: SseInsn,
        d: Xmm,
        opcode: u8,
        digit: u8,
        v: i64,
    ) -> Result<(), EncodeError> {
        if !(-128..=255).contains(&v) {
            return Err(EncodeError::ImmediateOutOfRange {
                insn: i.name,
                value: v,
                bits: 8,
            });
        }
        self.emit_modrm_imm(
            i.pfx(false),
            &[0x0F, opcode],
            RegField::Digit(digit),
            Rm::Reg(d.as_gpr()),
            1,
            v,
        )
    }

    /// `movd xmm, r/m32` (`66 0F 6E`), `movd r/m32, xmm` (`66 0F 7E`); with a 64-bit register
    /// or `QWORD PTR` these are the REX.W forms (what `movq` with a general register encodes).
    #[inline(always)]
    fn enc_movd(&mut self, i: SseInsn, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = i.name;
        let mem_w = |m: &Mem| -> Result<bool, EncodeError> {
            match m.size {
                None | Some(Size::Dword) => Ok(false),
                Some(Size::Qword) => Ok(true),
                Some(_) => Err(EncodeError::SizeMismatch { insn }),
            }
        };
        let p = |w| Pfx {
            o16: true,
            w,
            mandatory: 0,
        };
        match (&dst, &src) {
            (Operand::Xmm(d), Operand::Reg(r)) => {
                let w = gpr_size(insn, *r)?;
                self.emit_modrm(p(w), &[0x0F, 0x6E], xr(*d), Rm::Reg(*r), 0)
            }
            (Operand::Xmm(d), Operand::Mem(m)) => {
                let w = mem_w(m)?;
                self.emit_modrm(p(w), &[0x0F, 0x6E], xr(*d), Rm::Mem(m), 0)
            }
            (Operand::Reg(r), Operand::Xmm(s)) => {
                let w = gpr_size(insn, *r)?;
                self.emit_modrm(p(w), &[0x0F, 0x7E], xr(*s), Rm::Reg(*r), 0)
            }
            (Operand::Mem(m), Operand::Xmm(s)) => {
                let w = mem_w(m)?;
                self.emit_modrm(p(w), &[0x0F, 0x7E], xr(*s), Rm::Mem(m), 0)
            }
            _ => self.mov_as_gpr_move(insn, Size::Dword, dst, src),
        }
    }

    /// `movq xmm, xmm/m64` (`F3 0F 7E`), `movq m64, xmm` (`66 0F D6`), and between xmm and a
    /// 64-bit register (`66 REX.W 0F 6E`/`7E`).
    #[inline(always)]
    fn enc_movq(&mut self, i: SseInsn, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = i.name;
        let f3 = Pfx {
            mandatory: 0xF3,
            ..Pfx::default()
        };
        let p66 = |w| Pfx {
            o16: true,
            w,
            mandatory: 0,
        };
        match (&dst, &src) {
            (Operand::Xmm(d), Operand::Xmm(s)) => {
                self.emit_modrm(f3, &[0x0F, 0x7E], xr(*d), Rm::Reg(s.as_gpr()), 0)
            }
            (Operand::Xmm(d), Operand::Mem(m)) => {
                mem_size_ok(insn, m, Size::Qword)?;
                self.emit_modrm(f3, &[0x0F, 0x7E], xr(*d), Rm::Mem(m), 0)
            }
            (Operand::Mem(m), Operand::Xmm(s)) => {
                mem_size_ok(insn, m, Size::Qword)?;
                self.emit_modrm(p66(false), &[0x0F, 0xD6], xr(*s), Rm::Mem(m), 0)
            }
            (Operand::Xmm(d), Operand::Reg(r)) if r.size() == Size::Qword => {
                self.emit_modrm(p66(true), &[0x0F, 0x6E], xr(*d), Rm::Reg(*r), 0)
            }
            (Operand::Reg(r), Operand::Xmm(s)) if r.size() == Size::Qword => {
                self.emit_modrm(p66(true), &[0x0F, 0x7E], xr(*s), Rm::Reg(*r), 0)
            }
            _ => self.mov_as_gpr_move(insn, Size::Qword, dst, src),
        }
    }

    /// `movd`/`movq` between a general-purpose register and a register or memory of `size`:
    /// GNU as encodes a plain `mov`.
    fn mov_as_gpr_move(
        &mut self,
        insn: &'static str,
        size: Size,
        dst: Operand,
        src: Operand,
    ) -> Result<(), EncodeError> {
        let fits = |o: &Operand| match o {
            Operand::Reg(r) => r.size() == size,
            Operand::Mem(m) => m.size.is_none() || m.size == Some(size),
            _ => false,
        };
        let has_reg = matches!(dst, Operand::Reg(_)) || matches!(src, Operand::Reg(_));
        if !(fits(&dst) && fits(&src) && has_reg) {
            return Err(bad(
                insn,
                "expected an xmm register and a 32/64-bit register or memory",
            ));
        }
        let sized = |o: Operand| match o {
            Operand::Mem(m) => Operand::Mem(m.sized(size)),
            o => o,
        };
        self.enc_mov(sized(dst), sized(src))
    }

    /// `movsd` without operands: the string move of a doubleword (`A5`), as GNU as reads it.
    pub(crate) fn movsd_string(&mut self) {
        self.flush(&fixed_bytes(&[0xA5]));
    }
}

macro_rules! sse_table {
    (
        two { $($name:ident = $prefix:expr, $op:expr, $mem:ident, $form:expr;)* }
        three { $($name3:ident = $prefix3:expr, $op3:expr, $mem3:ident;)* }
    ) => {
        /// The SSE instructions by name: one row per mnemonic.
        pub(crate) mod table {
            use super::{SseForm::*, SseInsn};
            use crate::reg::Size::*;
            $(
                #[allow(non_upper_case_globals)]
                pub const $name: SseInsn = SseInsn {
                    name: stringify!($name),
                    prefix: $prefix,
                    op: $op,
                    mem: $mem,
                    form: $form,
                };
            )*
            $(
                #[allow(non_upper_case_globals)]
                pub const $name3: SseInsn = SseInsn {
                    name: stringify!($name3),
                    prefix: $prefix3,
                    op: $op3,
                    mem: $mem3,
                    form: RmImm,
                };
            )*
            pub const ALL: &[SseInsn] = &[$($name,)* $($name3,)*];
        }

        /// SSE/SSE2 builder methods: `a.addsd(XMM0, XMM1)`, `a.movsd(XMM0, qword_ptr(m))`,
        /// `a.movd(XMM0, EAX)`, `a.psllq(XMM1, 3)`, `a.pshufd(XMM0, XMM1, 0x1b)`.
        impl Assembler {
            $(
                #[doc = concat!("`", stringify!($name), "` (SSE/SSE2).")]
                #[inline(always)]
                pub fn $name(&mut self, dst: impl Into<Operand>, src: impl Into<Operand>) {
                    let r = self.enc_sse(table::$name, dst.into(), src.into(), None);
                    self.record(r);
                }
            )*
            $(
                #[doc = concat!("`", stringify!($name3), " xmm, xmm/m128, imm8` (SSE/SSE2).")]
                #[inline(always)]
                pub fn $name3(&mut self, dst: impl Into<Operand>, src: impl Into<Operand>, imm: u8) {
                    let r = self.enc_sse(
                        table::$name3,
                        dst.into(),
                        src.into(),
                        Some(Operand::Imm(imm as i64)),
                    );
                    self.record(r);
                }
            )*
        }
    };
}

sse_table! {
    two {
        // Moves.
        movss = 0xF3, 0x10, Dword, Move { store: 0x11 };
        movsd = 0xF2, 0x10, Qword, Move { store: 0x11 };
        movaps = 0, 0x28, Xmmword, Move { store: 0x29 };
        movapd = 0x66, 0x28, Xmmword, Move { store: 0x29 };
        movups = 0, 0x10, Xmmword, Move { store: 0x11 };
        movupd = 0x66, 0x10, Xmmword, Move { store: 0x11 };
        movdqa = 0x66, 0x6F, Xmmword, Move { store: 0x7F };
        movdqu = 0xF3, 0x6F, Xmmword, Move { store: 0x7F };
        movd = 0x66, 0x6E, Dword, Movd;
        movq = 0x66, 0x6E, Qword, Movq;
        // Scalar and packed arithmetic.
        addsd = 0xF2, 0x58, Qword, Rm;
        addss = 0xF3, 0x58, Dword, Rm;
        addpd = 0x66, 0x58, Xmmword, Rm;
        addps = 0, 0x58, Xmmword, Rm;
        mulsd = 0xF2, 0x59, Qword, Rm;
        mulss = 0xF3, 0x59, Dword, Rm;
        mulpd = 0x66, 0x59, Xmmword, Rm;
        mulps = 0, 0x59, Xmmword, Rm;
        subsd = 0xF2, 0x5C, Qword, Rm;
        subss = 0xF3, 0x5C, Dword, Rm;
        subpd = 0x66, 0x5C, Xmmword, Rm;
        subps = 0, 0x5C, Xmmword, Rm;
        minsd = 0xF2, 0x5D, Qword, Rm;
        minss = 0xF3, 0x5D, Dword, Rm;
        minpd = 0x66, 0x5D, Xmmword, Rm;
        minps = 0, 0x5D, Xmmword, Rm;
        divsd = 0xF2, 0x5E, Qword, Rm;
        divss = 0xF3, 0x5E, Dword, Rm;
        divpd = 0x66, 0x5E, Xmmword, Rm;
        divps = 0, 0x5E, Xmmword, Rm;
        maxsd = 0xF2, 0x5F, Qword, Rm;
        maxss = 0xF3, 0x5F, Dword, Rm;
        maxpd = 0x66, 0x5F, Xmmword, Rm;
        maxps = 0, 0x5F, Xmmword, Rm;
        sqrtsd = 0xF2, 0x51, Qword, Rm;
        sqrtss = 0xF3, 0x51, Dword, Rm;
        sqrtpd = 0x66, 0x51, Xmmword, Rm;
        sqrtps = 0, 0x51, Xmmword, Rm;
        // Compares setting EFLAGS.
        comisd = 0x66, 0x2F, Qword, Rm;
        comiss = 0, 0x2F, Dword, Rm;
        ucomisd = 0x66, 0x2E, Qword, Rm;
        ucomiss = 0, 0x2E, Dword, Rm;
        // Conversions.
        cvtsd2ss = 0xF2, 0x5A, Qword, Rm;
        cvtss2sd = 0xF3, 0x5A, Dword, Rm;
        cvtps2pd = 0, 0x5A, Qword, Rm;
        cvtpd2ps = 0x66, 0x5A, Xmmword, Rm;
        cvtdq2pd = 0xF3, 0xE6, Qword, Rm;
        cvtdq2ps = 0, 0x5B, Xmmword, Rm;
        cvtps2dq = 0x66, 0x5B, Xmmword, Rm;
        cvttps2dq = 0xF3, 0x5B, Xmmword, Rm;
        cvtpd2dq = 0xF2, 0xE6, Xmmword, Rm;
        cvttpd2dq = 0x66, 0xE6, Xmmword, Rm;
        cvtsi2sd = 0xF2, 0x2A, Dword, XmmFromGpr;
        cvtsi2ss = 0xF3, 0x2A, Dword, XmmFromGpr;
        cvttsd2si = 0xF2, 0x2C, Qword, GprFromXmmRm;
        cvtsd2si = 0xF2, 0x2D, Qword, GprFromXmmRm;
        cvttss2si = 0xF3, 0x2C, Dword, GprFromXmmRm;
        cvtss2si = 0xF3, 0x2D, Dword, GprFromXmmRm;
        // Bitwise logic and interleaving, floating-point domain.
        andps = 0, 0x54, Xmmword, Rm;
        andpd = 0x66, 0x54, Xmmword, Rm;
        andnps = 0, 0x55, Xmmword, Rm;
        andnpd = 0x66, 0x55, Xmmword, Rm;
        orps = 0, 0x56, Xmmword, Rm;
        orpd = 0x66, 0x56, Xmmword, Rm;
        xorps = 0, 0x57, Xmmword, Rm;
        xorpd = 0x66, 0x57, Xmmword, Rm;
        unpcklps = 0, 0x14, Xmmword, Rm;
        unpcklpd = 0x66, 0x14, Xmmword, Rm;
        unpckhps = 0, 0x15, Xmmword, Rm;
        unpckhpd = 0x66, 0x15, Xmmword, Rm;
        // Integer vectors (SSE2).
        pxor = 0x66, 0xEF, Xmmword, Rm;
        pand = 0x66, 0xDB, Xmmword, Rm;
        pandn = 0x66, 0xDF, Xmmword, Rm;
        por = 0x66, 0xEB, Xmmword, Rm;
        paddb = 0x66, 0xFC, Xmmword, Rm;
        paddw = 0x66, 0xFD, Xmmword, Rm;
        paddd = 0x66, 0xFE, Xmmword, Rm;
        paddq = 0x66, 0xD4, Xmmword, Rm;
        psubb = 0x66, 0xF8, Xmmword, Rm;
        psubw = 0x66, 0xF9, Xmmword, Rm;
        psubd = 0x66, 0xFA, Xmmword, Rm;
        psubq = 0x66, 0xFB, Xmmword, Rm;
        paddusb = 0x66, 0xDC, Xmmword, Rm;
        paddusw = 0x66, 0xDD, Xmmword, Rm;
        psubusb = 0x66, 0xD8, Xmmword, Rm;
        psubusw = 0x66, 0xD9, Xmmword, Rm;
        pmullw = 0x66, 0xD5, Xmmword, Rm;
        pmuludq = 0x66, 0xF4, Xmmword, Rm;
        pminub = 0x66, 0xDA, Xmmword, Rm;
        pmaxub = 0x66, 0xDE, Xmmword, Rm;
        pavgb = 0x66, 0xE0, Xmmword, Rm;
        pcmpeqb = 0x66, 0x74, Xmmword, Rm;
        pcmpeqw = 0x66, 0x75, Xmmword, Rm;
        pcmpeqd = 0x66, 0x76, Xmmword, Rm;
        pcmpgtb = 0x66, 0x64, Xmmword, Rm;
        pcmpgtw = 0x66, 0x65, Xmmword, Rm;
        pcmpgtd = 0x66, 0x66, Xmmword, Rm;
        packsswb = 0x66, 0x63, Xmmword, Rm;
        packuswb = 0x66, 0x67, Xmmword, Rm;
        packssdw = 0x66, 0x6B, Xmmword, Rm;
        punpcklbw = 0x66, 0x60, Xmmword, Rm;
        punpcklwd = 0x66, 0x61, Xmmword, Rm;
        punpckldq = 0x66, 0x62, Xmmword, Rm;
        punpcklqdq = 0x66, 0x6C, Xmmword, Rm;
        punpckhbw = 0x66, 0x68, Xmmword, Rm;
        punpckhwd = 0x66, 0x69, Xmmword, Rm;
        punpckhdq = 0x66, 0x6A, Xmmword, Rm;
        punpckhqdq = 0x66, 0x6D, Xmmword, Rm;
        // Masks to general registers.
        pmovmskb = 0x66, 0xD7, Xmmword, GprFromXmm;
        movmskpd = 0x66, 0x50, Xmmword, GprFromXmm;
        movmskps = 0, 0x50, Xmmword, GprFromXmm;
        // Shifts by xmm/m128 or by an immediate.
        psllw = 0x66, 0xF1, Xmmword, Shift { imm_op: 0x71, digit: 6 };
        pslld = 0x66, 0xF2, Xmmword, Shift { imm_op: 0x72, digit: 6 };
        psllq = 0x66, 0xF3, Xmmword, Shift { imm_op: 0x73, digit: 6 };
        psrlw = 0x66, 0xD1, Xmmword, Shift { imm_op: 0x71, digit: 2 };
        psrld = 0x66, 0xD2, Xmmword, Shift { imm_op: 0x72, digit: 2 };
        psrlq = 0x66, 0xD3, Xmmword, Shift { imm_op: 0x73, digit: 2 };
        psraw = 0x66, 0xE1, Xmmword, Shift { imm_op: 0x71, digit: 4 };
        psrad = 0x66, 0xE2, Xmmword, Shift { imm_op: 0x72, digit: 4 };
        pslldq = 0x66, 0x73, Xmmword, ShiftImm { digit: 7 };
        psrldq = 0x66, 0x73, Xmmword, ShiftImm { digit: 3 };
    }
    three {
        pshufd = 0x66, 0x70, Xmmword;
        pshuflw = 0xF2, 0x70, Xmmword;
        pshufhw = 0xF3, 0x70, Xmmword;
        shufps = 0, 0xC6, Xmmword;
        shufpd = 0x66, 0xC6, Xmmword;
    }
}

/// The SSE instruction named `name`, if any.
pub(crate) fn by_name(name: &str) -> Option<(u8, SseInsn)> {
    table::ALL
        .iter()
        .position(|i| i.name == name)
        .map(|k| (k as u8, table::ALL[k]))
}

/// Every SSE mnemonic this crate encodes (for tests and documentation).
pub fn sse_mnemonics() -> impl Iterator<Item = (&'static str, SseForm)> {
    table::ALL.iter().map(|i| (i.name, i.form))
}
