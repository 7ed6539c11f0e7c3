//! Instruction encoders: one `enc_*` function per instruction family, returning a typed error
//! for operand combinations x86-64 (or GNU as) does not have. The public builder methods in
//! `builder.rs` and the text assembler both call these.
//!
//! Encodings are the ones GNU as picks: the register-to-register forms use the "store" opcode
//! (`89 /r` for `mov`), an immediate uses the sign-extended 8-bit form when it fits, the
//! accumulator short forms (`add eax, imm32` as `05 id`) otherwise, `shl r, 1` uses `D1 /4`,
//! `mov r64, imm` uses `C7 /0 id` when the value fits 32 bits sign-extended and the 10-byte
//! `movabs` form otherwise.

use crate::assembler::{Assembler, FixKind};
use crate::encode::{fixed_bytes, opreg, prefixes, InsnBytes, Pfx, RegField, Rm};
use crate::error::EncodeError;
use crate::operand::{Cond, Mem, Operand, Target};
use crate::reg::{SegReg, Size};

/// The eight classic ALU operations, in opcode order (`/digit` of `80`/`81`/`83`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AluOp {
    Add = 0,
    Or = 1,
    Adc = 2,
    Sbb = 3,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

impl AluOp {
    pub const ALL: [AluOp; 8] = [
        AluOp::Add,
        AluOp::Or,
        AluOp::Adc,
        AluOp::Sbb,
        AluOp::And,
        AluOp::Sub,
        AluOp::Xor,
        AluOp::Cmp,
    ];
    pub const fn name(self) -> &'static str {
        ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"][self as usize]
    }
}

/// Shifts and rotates (`/digit` of `C0`/`C1`/`D0`..`D3`). `sal` is `shl` (GNU as encodes `/4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftOp {
    Rol = 0,
    Ror = 1,
    Rcl = 2,
    Rcr = 3,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

impl ShiftOp {
    pub const ALL: [ShiftOp; 7] = [
        ShiftOp::Rol,
        ShiftOp::Ror,
        ShiftOp::Rcl,
        ShiftOp::Rcr,
        ShiftOp::Shl,
        ShiftOp::Shr,
        ShiftOp::Sar,
    ];
    pub const fn name(self) -> &'static str {
        ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"][self as usize]
    }
}

/// The one-operand group `F6`/`F7` (`/digit`), plus `inc`/`dec` (`FE`/`FF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not = 2,
    Neg = 3,
    Mul = 4,
    Imul = 5,
    Div = 6,
    Idiv = 7,
    Inc = 8,
    Dec = 9,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 8] = [
        UnaryOp::Not,
        UnaryOp::Neg,
        UnaryOp::Mul,
        UnaryOp::Imul,
        UnaryOp::Div,
        UnaryOp::Idiv,
        UnaryOp::Inc,
        UnaryOp::Dec,
    ];
    pub const fn name(self) -> &'static str {
        match self {
            UnaryOp::Not => "not",
            UnaryOp::Neg => "neg",
            UnaryOp::Mul => "mul",
            UnaryOp::Imul => "imul",
            UnaryOp::Div => "div",
            UnaryOp::Idiv => "idiv",
            UnaryOp::Inc => "inc",
            UnaryOp::Dec => "dec",
        }
    }
}

/// Bit tests (`0F A3`/`AB`/`B3`/`BB`, and `0F BA /digit ib`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    Bt = 4,
    Bts = 5,
    Btr = 6,
    Btc = 7,
}

impl BitOp {
    pub const ALL: [BitOp; 4] = [BitOp::Bt, BitOp::Bts, BitOp::Btr, BitOp::Btc];
    pub const fn name(self) -> &'static str {
        ["bt", "bts", "btr", "btc"][self as usize - 4]
    }
}

/// Instructions without operands, with their fixed encodings.
pub const FIXED: &[(&str, &[u8])] = &[
    ("ret", &[0xC3]),
    ("leave", &[0xC9]),
    ("cqo", &[0x48, 0x99]),
    ("cdq", &[0x99]),
    ("cwd", &[0x66, 0x99]),
    ("cdqe", &[0x48, 0x98]),
    ("cwde", &[0x98]),
    ("cbw", &[0x66, 0x98]),
    ("nop", &[0x90]),
    ("int3", &[0xCC]),
    ("syscall", &[0x0F, 0x05]),
    ("hlt", &[0xF4]),
    ("ud2", &[0x0F, 0x0B]),
    ("cpuid", &[0x0F, 0xA2]),
    ("rdtsc", &[0x0F, 0x31]),
    ("pause", &[0xF3, 0x90]),
    ("clc", &[0xF8]),
    ("stc", &[0xF9]),
    ("cmc", &[0xF5]),
    ("cld", &[0xFC]),
    ("std", &[0xFD]),
    ("lfence", &[0x0F, 0xAE, 0xE8]),
    ("mfence", &[0x0F, 0xAE, 0xF0]),
    ("sfence", &[0x0F, 0xAE, 0xF8]),
    ("movsb", &[0xA4]),
    ("movsq", &[0x48, 0xA5]),
    ("stosb", &[0xAA]),
    ("stosq", &[0x48, 0xAB]),
];

/// Whether GNU as takes `v` as an immediate of operand size `size` without complaint. For 8-,
/// 16- and 32-bit operations it truncates any value `v` with `|v| <= 2^bits - 1` after first
/// reading small positive numbers as signed 16/32-bit ones (so `add al, 0xffff` is `add al, -1`);
/// a value outside gets a "shortened" warning there and an error here. 64-bit operations take a
/// sign-extended 32-bit immediate.
#[inline(always)]
pub(crate) fn imm_fits(v: i64, size: Size) -> bool {
    let mask: i64 = match size {
        Size::Byte => 0xFF,
        Size::Word => 0xFFFF,
        Size::Dword => 0xFFFF_FFFF,
        Size::Qword | Size::Xmmword => return (-0x8000_0000..=0x7FFF_FFFF).contains(&v),
    };
    let mut n = v;
    if size == Size::Byte && n & !0xFFFF == 0 {
        n = n as i16 as i64;
    } else if size != Size::Dword && n & !0xFFFF_FFFF == 0 {
        n = n as i32 as i64;
    }
    !((n & !mask) != 0 && (n.wrapping_neg() & !mask) != 0)
}

/// Whether the immediate, truncated to `size` and sign-extended back, fits in 8 bits (so the
/// `imm8` form encodes the same operation).
#[inline(always)]
fn fits_simm8(v: i64, size: Size) -> bool {
    let s = match size {
        Size::Byte => v as i8 as i64,
        Size::Word => v as i16 as i64,
        Size::Dword => v as i32 as i64,
        Size::Qword | Size::Xmmword => v,
    };
    (-128..=127).contains(&s)
}

#[inline(always)]
fn check_imm(insn: &'static str, v: i64, size: Size) -> Result<(), EncodeError> {
    if imm_fits(v, size) {
        Ok(())
    } else {
        Err(EncodeError::ImmediateOutOfRange {
            insn,
            value: v,
            bits: if size == Size::Qword {
                32
            } else {
                size.bytes() * 8
            },
        })
    }
}

/// The operand size a general-purpose instruction works on: from a register, or an explicit
/// `PTR` size (`XMMWORD PTR` has no general-purpose form).
#[inline(always)]
fn op_size(insn: &'static str, op: &Operand) -> Result<Size, EncodeError> {
    match op {
        Operand::Reg(r) => Ok(r.size()),
        Operand::Mem(m) => match m.size {
            None => Err(EncodeError::AmbiguousSize { insn }),
            Some(Size::Xmmword) => Err(EncodeError::BadSize {
                insn,
                size: Size::Xmmword,
            }),
            Some(s) => Ok(s),
        },
        _ => Err(EncodeError::InvalidOperands {
            insn,
            why: "expected a register or memory operand",
        }),
    }
}

#[inline(always)]
fn rm_of(op: &Operand) -> Option<Rm<'_>> {
    match op {
        Operand::Reg(r) => Some(Rm::Reg(*r)),
        Operand::Mem(m) => Some(Rm::Mem(m)),
        _ => None,
    }
}

/// Checks that a memory operand's explicit size (if any) agrees with `size`.
#[inline(always)]
fn same_size(insn: &'static str, m: &Mem, size: Size) -> Result<(), EncodeError> {
    match m.size {
        Some(s) if s != size => Err(EncodeError::SizeMismatch { insn }),
        _ => Ok(()),
    }
}

impl Assembler {
    #[inline(always)]
    fn imm(&mut self, v: i64, len: u8) {
        crate::bytes::append16(&mut self.buf, v as u64 as u128, len as usize);
    }

    /// An accumulator short form: prefixes, REX.W, `opcode`, then an immediate of `len` bytes.
    #[inline(always)]
    fn acc_imm(&mut self, p: Pfx, opcode: u8, v: i64, len: u8) {
        let mut ib = InsnBytes::new();
        prefixes(&mut ib, p, 0, false);
        ib.push_if(p.w, 0x48);
        ib.push(opcode);
        ib.push_imm(v, len);
        self.flush(&ib);
    }

    /// A 32-bit immediate that is a number or an address (`OFFSET label`).
    fn imm32_operand(&mut self, src: &Operand, signed: bool) {
        match *src {
            Operand::Target(t, addend) => self.ref32(
                t,
                if signed {
                    FixKind::Abs32S
                } else {
                    FixKind::Abs32
                },
                0,
                addend,
            ),
            Operand::Imm(v) => self.imm(v, 4),
            _ => {}
        }
    }

    /// `add`/`or`/`adc`/`sbb`/`and`/`sub`/`xor`/`cmp` in every form.
    #[inline(always)]
    pub fn enc_alu(&mut self, op: AluOp, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = op.name();
        let base = (op as u8) << 3;
        match (&dst, &src) {
            (Operand::Reg(d), Operand::Reg(s)) => {
                if d.size() != s.size() {
                    return Err(EncodeError::SizeMismatch { insn });
                }
                let opc = base | (d.size() != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(d.size()), &[opc], RegField::Reg(*s), Rm::Reg(*d), 0)
            }
            (Operand::Reg(d), Operand::Mem(m)) => {
                same_size(insn, m, d.size())?;
                let opc = base | 2 | (d.size() != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(d.size()), &[opc], RegField::Reg(*d), Rm::Mem(m), 0)
            }
            (Operand::Mem(m), Operand::Reg(s)) => {
                same_size(insn, m, s.size())?;
                let opc = base | (s.size() != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(s.size()), &[opc], RegField::Reg(*s), Rm::Mem(m), 0)
            }
            (_, Operand::Imm(v)) => {
                let v = *v;
                let size = op_size(insn, &dst)?;
                check_imm(insn, v, size)?;
                let rm = rm_of(&dst).ok_or(EncodeError::InvalidOperands {
                    insn,
                    why: "the destination must be a register or memory",
                })?;
                let acc = matches!(dst, Operand::Reg(r) if r.num() == 0 && !r.is_high_byte());
                let p = Pfx::size(size);
                if size == Size::Byte {
                    if acc {
                        self.acc_imm(p, base | 4, v, 1);
                        return Ok(());
                    }
                    self.emit_modrm_imm(p, &[0x80], RegField::Digit(op as u8), rm, 1, v)?;
                } else if fits_simm8(v, size) {
                    self.emit_modrm_imm(p, &[0x83], RegField::Digit(op as u8), rm, 1, v)?;
                } else {
                    let len = if size == Size::Word { 2 } else { 4 };
                    if acc {
                        self.acc_imm(p, base | 5, v, len);
                    } else {
                        self.emit_modrm_imm(p, &[0x81], RegField::Digit(op as u8), rm, len, v)?;
                    }
                }
                Ok(())
            }
            (_, Operand::Target(..)) => {
                let size = op_size(insn, &dst)?;
                if size == Size::Byte || size == Size::Word {
                    return Err(EncodeError::BadSize { insn, size });
                }
                let rm = rm_of(&dst).ok_or(EncodeError::InvalidOperands {
                    insn,
                    why: "the destination must be a register or memory",
                })?;
                let p = Pfx::size(size);
                if matches!(dst, Operand::Reg(r) if r.num() == 0) {
                    self.acc_imm(p, base | 5, 0, 0);
                } else {
                    self.emit_modrm(p, &[0x81], RegField::Digit(op as u8), rm, 4)?;
                }
                self.imm32_operand(&src, size == Size::Qword);
                Ok(())
            }
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected register/memory and register/memory/immediate (not two memory operands)",
            }),
        }
    }

    /// `test r/m, r` and `test r/m, imm` (no sign-extended 8-bit form exists).
    #[inline(always)]
    pub fn enc_test(&mut self, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "test";
        match (&dst, &src) {
            (Operand::Reg(_) | Operand::Mem(_), Operand::Reg(s))
            | (Operand::Reg(s), Operand::Mem(_)) => {
                let rm_op = if let (Operand::Reg(_), Operand::Mem(_)) = (&dst, &src) {
                    &src
                } else {
                    &dst
                };
                let s = *s;
                if let Operand::Mem(m) = rm_op {
                    same_size(insn, m, s.size())?;
                } else if let Operand::Reg(d) = rm_op {
                    if d.size() != s.size() {
                        return Err(EncodeError::SizeMismatch { insn });
                    }
                }
                let opc = 0x84 | (s.size() != Size::Byte) as u8;
                self.emit_modrm(
                    Pfx::size(s.size()),
                    &[opc],
                    RegField::Reg(s),
                    rm_of(rm_op).unwrap_or(Rm::Reg(s)),
                    0,
                )
            }
            (_, Operand::Imm(v)) => {
                let v = *v;
                let size = op_size(insn, &dst)?;
                check_imm(insn, v, size)?;
                let rm = rm_of(&dst).unwrap_or(Rm::Reg(crate::reg::RAX));
                let acc = matches!(dst, Operand::Reg(r) if r.num() == 0 && !r.is_high_byte());
                let p = Pfx::size(size);
                let len = match size {
                    Size::Byte => 1,
                    Size::Word => 2,
                    _ => 4,
                };
                if acc {
                    self.acc_imm(p, if size == Size::Byte { 0xA8 } else { 0xA9 }, v, len);
                } else {
                    let opc = if size == Size::Byte { 0xF6 } else { 0xF7 };
                    self.emit_modrm_imm(p, &[opc], RegField::Digit(0), rm, len, v)?;
                }
                Ok(())
            }
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected register/memory and register/immediate",
            }),
        }
    }

    /// `mov` in every form except moffs (`movabs`).
    #[inline(always)]
    pub fn enc_mov(&mut self, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "mov";
        match (&dst, &src) {
            (Operand::Reg(d), Operand::Reg(s)) => {
                if d.size() != s.size() {
                    return Err(EncodeError::SizeMismatch { insn });
                }
                let opc = 0x88 | (d.size() != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(d.size()), &[opc], RegField::Reg(*s), Rm::Reg(*d), 0)
            }
            (Operand::Reg(d), Operand::Mem(m)) => {
                same_size(insn, m, d.size())?;
                let opc = 0x8A | (d.size() != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(d.size()), &[opc], RegField::Reg(*d), Rm::Mem(m), 0)
            }
            (Operand::Mem(m), Operand::Reg(s)) => {
                same_size(insn, m, s.size())?;
                let opc = 0x88 | (s.size() != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(s.size()), &[opc], RegField::Reg(*s), Rm::Mem(m), 0)
            }
            (Operand::Reg(d), Operand::Imm(v)) => {
                let (d, v) = (*d, *v);
                let size = d.size();
                match size {
                    Size::Qword if !imm_fits(v, Size::Qword) => {
                        let mut ib = opreg(Pfx::size(size), d, &[0xB8]);
                        ib.push_imm(v, 8);
                        self.flush(&ib);
                    }
                    Size::Qword => {
                        self.emit_modrm_imm(Pfx::size(size), &[0xC7], RegField::Digit(0), Rm::Reg(d), 4, v)?;
                    }
                    _ => {
                        check_imm(insn, v, size)?;
                        let mut ib = if d.is_high_byte() {
                            fixed_bytes(&[0xB0 | d.num()])
                        } else {
                            opreg(Pfx::size(size), d, &[if size == Size::Byte { 0xB0 } else { 0xB8 }])
                        };
                        ib.push_imm(v, size.bytes() as u8);
                        self.flush(&ib);
                    }
                }
                Ok(())
            }
            (Operand::Mem(_), Operand::Imm(v)) => {
                let size = op_size(insn, &dst)?;
                let Operand::Mem(m) = &dst else { unreachable!() };
                check_imm(insn, *v, size)?;
                let len = match size {
                    Size::Byte => 1,
                    Size::Word => 2,
                    _ => 4,
                };
                let opc = if size == Size::Byte { 0xC6 } else { 0xC7 };
                self.emit_modrm_imm(Pfx::size(size), &[opc], RegField::Digit(0), Rm::Mem(m), len, *v)?;
                Ok(())
            }
            (Operand::Reg(d), Operand::Target(..)) if d.size() == Size::Dword => {
                self.flush(&opreg(Pfx::size(Size::Dword), *d, &[0xB8]));
                self.imm32_operand(&src, false);
                Ok(())
            }
            (Operand::Reg(_) | Operand::Mem(_), Operand::Target(..)) => {
                let size = op_size(insn, &dst)?;
                if size != Size::Qword && size != Size::Dword {
                    return Err(EncodeError::BadSize { insn, size });
                }
                let rm = rm_of(&dst).unwrap_or(Rm::Reg(crate::reg::RAX));
                self.emit_modrm(Pfx::size(size), &[0xC7], RegField::Digit(0), rm, 4)?;
                self.imm32_operand(&src, size == Size::Qword);
                Ok(())
            }
            (Operand::Seg(_), _) | (_, Operand::Seg(_)) => self.enc_mov_seg(dst, src),
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected register/memory and register/memory/immediate (not two memory operands)",
            }),
        }
    }

    /// `mov sreg, r/m16` (`8E /r`) and `mov r/m16, sreg` (`8C /r`). GNU as writes the register
    /// forms without `0x66` or REX.W except `mov r16, sreg`, and takes only `WORD PTR` (or no
    /// size) for memory.
    fn enc_mov_seg(&mut self, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "mov";
        let (opcode, seg, other) =
            match (dst, src) {
                (Operand::Seg(s), o @ (Operand::Reg(_) | Operand::Mem(_))) => (0x8E, s, o),
                (o @ (Operand::Reg(_) | Operand::Mem(_)), Operand::Seg(s)) => (0x8C, s, o),
                _ => return Err(EncodeError::InvalidOperands {
                    insn,
                    why: "a segment register moves to or from a general-purpose register or memory",
                }),
            };
        let digit = RegField::Digit(seg as u8);
        match other {
            Operand::Reg(r) => match r.size() {
                Size::Byte => Err(EncodeError::BadSize {
                    insn,
                    size: Size::Byte,
                }),
                size => {
                    let p = Pfx {
                        o16: opcode == 0x8C && size == Size::Word,
                        ..Pfx::default()
                    };
                    self.emit_modrm(p, &[opcode], digit, Rm::Reg(r), 0)
                }
            },
            Operand::Mem(m) => match m.size {
                None | Some(Size::Word) => {
                    self.emit_modrm(Pfx::default(), &[opcode], digit, Rm::Mem(&m), 0)
                }
                Some(size) => Err(EncodeError::BadSize { insn, size }),
            },
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "a segment register moves to or from a general-purpose register or memory",
            }),
        }
    }

    /// `movabs r64, imm64` (always the 10-byte form) and `movabs r64, OFFSET label`.
    #[inline(always)]
    pub fn enc_movabs(&mut self, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "movabs";
        let Operand::Reg(d) = dst else {
            return Err(EncodeError::InvalidOperands {
                insn,
                why: "the destination must be a register",
            });
        };
        if d.size() != Size::Qword {
            return Err(EncodeError::BadSize {
                insn,
                size: d.size(),
            });
        }
        let mut ib = opreg(Pfx::size(Size::Qword), d, &[0xB8]);
        match src {
            Operand::Imm(v) => {
                ib.push_imm(v, 8);
                self.flush(&ib);
            }
            Operand::Target(t, addend) => {
                self.flush(&ib);
                self.ref64(t, addend)
            }
            _ => {
                return Err(EncodeError::InvalidOperands {
                    insn,
                    why: "the source must be an immediate",
                })
            }
        }
        Ok(())
    }

    /// `movzx`/`movsx` (`0F B6`/`B7`/`BE`/`BF`); `movsx r64, r/m32` is `movsxd`, as in GNU as.
    #[inline(always)]
    pub fn enc_movx(
        &mut self,
        signed: bool,
        dst: Operand,
        src: Operand,
    ) -> Result<(), EncodeError> {
        let insn = if signed { "movsx" } else { "movzx" };
        let Operand::Reg(d) = dst else {
            return Err(EncodeError::InvalidOperands {
                insn,
                why: "the destination must be a register",
            });
        };
        let src_size = op_size(insn, &src)?;
        let rm = rm_of(&src).unwrap_or(Rm::Reg(d));
        if d.size() == Size::Byte {
            return Err(EncodeError::BadSize {
                insn,
                size: d.size(),
            });
        }
        match src_size {
            Size::Byte | Size::Word
                if src_size < d.size() || (src_size == Size::Word && d.size() == Size::Word) =>
            {
                let opc = match (signed, src_size) {
                    (false, Size::Byte) => 0xB6,
                    (false, _) => 0xB7,
                    (true, Size::Byte) => 0xBE,
                    (true, _) => 0xBF,
                };
                self.emit_modrm(Pfx::size(d.size()), &[0x0F, opc], RegField::Reg(d), rm, 0)
            }
            Size::Dword if signed && d.size() != Size::Word => self.enc_movsxd(dst, src),
            _ => Err(EncodeError::SizeMismatch { insn }),
        }
    }

    /// `movsxd r64, r/m32`.
    #[inline(always)]
    pub fn enc_movsxd(&mut self, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "movsxd";
        let Operand::Reg(d) = dst else {
            return Err(EncodeError::InvalidOperands {
                insn,
                why: "the destination must be a register",
            });
        };
        if d.size() == Size::Byte {
            return Err(EncodeError::BadSize {
                insn,
                size: d.size(),
            });
        }
        match &src {
            Operand::Reg(s) if s.size() == Size::Dword => {}
            Operand::Mem(m) if m.size.is_none() || m.size == Some(Size::Dword) => {}
            _ => return Err(EncodeError::SizeMismatch { insn }),
        }
        let rm = rm_of(&src).unwrap_or(Rm::Reg(d));
        self.emit_modrm(Pfx::size(d.size()), &[0x63], RegField::Reg(d), rm, 0)
    }

    /// `lea r, m`.
    #[inline(always)]
    pub fn enc_lea(&mut self, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "lea";
        match (&dst, &src) {
            (Operand::Reg(d), Operand::Mem(m)) if d.size() != Size::Byte => self.emit_modrm(
                Pfx::size(d.size()),
                &[0x8D],
                RegField::Reg(*d),
                Rm::Mem(m),
                0,
            ),
            (Operand::Reg(d), Operand::Mem(_)) => Err(EncodeError::BadSize {
                insn,
                size: d.size(),
            }),
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected a register and a memory operand",
            }),
        }
    }

    /// `xchg`; with the accumulator and a 16/64-bit (or non-eax 32-bit) register, `90+r`.
    #[inline(always)]
    pub fn enc_xchg(&mut self, a: Operand, b: Operand) -> Result<(), EncodeError> {
        let insn = "xchg";
        match (&a, &b) {
            (Operand::Reg(x), Operand::Reg(y)) => {
                let (x, y) = (*x, *y);
                if x.size() != y.size() {
                    return Err(EncodeError::SizeMismatch { insn });
                }
                let size = x.size();
                if size != Size::Byte {
                    // xchg eax, eax must stay an instruction that zero-extends: not 0x90.
                    let other = if x.num() == 0 {
                        Some(y)
                    } else if y.num() == 0 {
                        Some(x)
                    } else {
                        None
                    };
                    if let Some(o) = other {
                        if size == Size::Qword && o.num() == 0 {
                            self.flush(&fixed_bytes(&[0x90])); // GNU as: `xchg rax, rax` is `nop`
                            return Ok(());
                        }
                        if !(size == Size::Dword && o.num() == 0) {
                            self.flush(&opreg(Pfx::size(size), o, &[0x90]));
                            return Ok(());
                        }
                    }
                }
                let opc = 0x86 | (size != Size::Byte) as u8;
                self.emit_modrm(Pfx::size(size), &[opc], RegField::Reg(y), Rm::Reg(x), 0)
            }
            (Operand::Reg(r), Operand::Mem(m)) | (Operand::Mem(m), Operand::Reg(r)) => {
                same_size(insn, m, r.size())?;
                let opc = 0x86 | (r.size() != Size::Byte) as u8;
                self.emit_modrm(
                    Pfx::size(r.size()),
                    &[opc],
                    RegField::Reg(*r),
                    Rm::Mem(m),
                    0,
                )
            }
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected a register and a register or memory operand",
            }),
        }
    }

    /// `bswap r32/r64`.
    #[inline(always)]
    pub fn enc_bswap(&mut self, r: Operand) -> Result<(), EncodeError> {
        let insn = "bswap";
        match r {
            Operand::Reg(r) if matches!(r.size(), Size::Dword | Size::Qword) => {
                self.flush(&opreg(Pfx::size(r.size()), r, &[0x0F, 0xC8]));
                Ok(())
            }
            Operand::Reg(r) => Err(EncodeError::BadSize {
                insn,
                size: r.size(),
            }),
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "the operand must be a 32- or 64-bit register",
            }),
        }
    }

    /// `push r64/r16`, `push imm` (`6A ib` / `68 id`), `push m`.
    #[inline(always)]
    pub fn enc_push(&mut self, op: Operand) -> Result<(), EncodeError> {
        let insn = "push";
        match op {
            Operand::Reg(r) => match r.size() {
                Size::Qword | Size::Word => {
                    let p = Pfx {
                        o16: r.size() == Size::Word,
                        ..Pfx::default()
                    };
                    self.flush(&opreg(p, r, &[0x50]));
                    Ok(())
                }
                size => Err(EncodeError::BadSize { insn, size }),
            },
            Operand::Imm(v) => {
                if !imm_fits(v, Size::Qword) {
                    return Err(EncodeError::ImmediateOutOfRange {
                        insn,
                        value: v,
                        bits: 32,
                    });
                }
                let mut ib = InsnBytes::new();
                if (-128..=127).contains(&v) {
                    ib.push(0x6A);
                    ib.push_imm(v, 1);
                } else {
                    ib.push(0x68);
                    ib.push_imm(v, 4);
                }
                self.flush(&ib);
                Ok(())
            }
            Operand::Target(..) => {
                self.buf.push(0x68);
                self.imm32_operand(&op, true);
                Ok(())
            }
            Operand::Seg(seg) => self.push_pop_seg(insn, seg, 0xA0),
            Operand::Xmm(_) => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected a general-purpose register, memory or an immediate",
            }),
            Operand::Mem(m) => match m.size {
                None | Some(Size::Qword) => {
                    self.emit_modrm(Pfx::default(), &[0xFF], RegField::Digit(6), Rm::Mem(&m), 0)
                }
                Some(Size::Word) => self.emit_modrm(
                    Pfx::size(Size::Word),
                    &[0xFF],
                    RegField::Digit(6),
                    Rm::Mem(&m),
                    0,
                ),
                Some(size) => Err(EncodeError::BadSize { insn, size }),
            },
        }
    }

    /// `pop r64/r16`, `pop m`.
    #[inline(always)]
    pub fn enc_pop(&mut self, op: Operand) -> Result<(), EncodeError> {
        let insn = "pop";
        match op {
            Operand::Reg(r) => match r.size() {
                Size::Qword | Size::Word => {
                    let p = Pfx {
                        o16: r.size() == Size::Word,
                        ..Pfx::default()
                    };
                    self.flush(&opreg(p, r, &[0x58]));
                    Ok(())
                }
                size => Err(EncodeError::BadSize { insn, size }),
            },
            Operand::Mem(m) => match m.size {
                None | Some(Size::Qword) => {
                    self.emit_modrm(Pfx::default(), &[0x8F], RegField::Digit(0), Rm::Mem(&m), 0)
                }
                Some(Size::Word) => self.emit_modrm(
                    Pfx::size(Size::Word),
                    &[0x8F],
                    RegField::Digit(0),
                    Rm::Mem(&m),
                    0,
                ),
                Some(size) => Err(EncodeError::BadSize { insn, size }),
            },
            Operand::Seg(seg) => self.push_pop_seg(insn, seg, 0xA1),
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "expected a register or memory operand",
            }),
        }
    }

    /// `push fs`/`push gs` (`0F A0`/`0F A8`) and `pop fs`/`pop gs` (`0F A1`/`0F A9`); the other
    /// segment registers cannot be pushed or popped in 64-bit mode.
    fn push_pop_seg(
        &mut self,
        insn: &'static str,
        seg: SegReg,
        base: u8,
    ) -> Result<(), EncodeError> {
        match seg {
            SegReg::Fs => self.flush(&fixed_bytes(&[0x0F, base])),
            SegReg::Gs => self.flush(&fixed_bytes(&[0x0F, base | 8])),
            _ => {
                return Err(EncodeError::InvalidOperands {
                    insn,
                    why: "only fs and gs can be pushed or popped in 64-bit mode",
                })
            }
        }
        Ok(())
    }

    /// Shifts and rotates by 1 (`D1`), by an immediate (`C1 ib`) or by `cl` (`D3`).
    #[inline(always)]
    pub fn enc_shift(
        &mut self,
        op: ShiftOp,
        dst: Operand,
        count: Operand,
    ) -> Result<(), EncodeError> {
        let insn = op.name();
        let size = op_size(insn, &dst)?;
        let rm = rm_of(&dst).unwrap_or(Rm::Reg(crate::reg::RAX));
        let byte = size == Size::Byte;
        let p = Pfx::size(size);
        let digit = RegField::Digit(op as u8);
        match count {
            Operand::Imm(1) => self.emit_modrm(p, &[if byte { 0xD0 } else { 0xD1 }], digit, rm, 0),
            Operand::Imm(n) if (-128..=255).contains(&n) => {
                self.emit_modrm_imm(p, &[if byte { 0xC0 } else { 0xC1 }], digit, rm, 1, n)?;
                Ok(())
            }
            Operand::Imm(n) => Err(EncodeError::ImmediateOutOfRange {
                insn,
                value: n,
                bits: 8,
            }),
            Operand::Reg(crate::reg::CL) => {
                self.emit_modrm(p, &[if byte { 0xD2 } else { 0xD3 }], digit, rm, 0)
            }
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "the count must be an immediate or cl",
            }),
        }
    }

    /// `not`/`neg`/`mul`/`imul`/`div`/`idiv` (`F7 /digit`) and `inc`/`dec` (`FF /0`, `/1`).
    #[inline(always)]
    pub fn enc_unary(&mut self, op: UnaryOp, dst: Operand) -> Result<(), EncodeError> {
        let insn = op.name();
        let size = op_size(insn, &dst)?;
        let rm = rm_of(&dst).unwrap_or(Rm::Reg(crate::reg::RAX));
        let byte = size == Size::Byte;
        let (opc, digit) = match op {
            UnaryOp::Inc => (if byte { 0xFE } else { 0xFF }, 0),
            UnaryOp::Dec => (if byte { 0xFE } else { 0xFF }, 1),
            _ => (if byte { 0xF6 } else { 0xF7 }, op as u8),
        };
        self.emit_modrm(Pfx::size(size), &[opc], RegField::Digit(digit), rm, 0)
    }

    /// `imul r, r/m` (`0F AF`), and `imul r, r/m, imm` (`6B ib` / `69 iz`); `imul r, imm` is
    /// `imul r, r, imm`.
    #[inline(always)]
    pub fn enc_imul(
        &mut self,
        dst: Operand,
        src: Operand,
        imm: Option<Operand>,
    ) -> Result<(), EncodeError> {
        let insn = "imul";
        let Operand::Reg(d) = dst else {
            return Err(EncodeError::InvalidOperands {
                insn,
                why: "the destination must be a register",
            });
        };
        if d.size() == Size::Byte {
            return Err(EncodeError::BadSize {
                insn,
                size: Size::Byte,
            });
        }
        let (src, imm) = match (src, imm) {
            (Operand::Imm(v), None) => (Operand::Reg(d), Some(Operand::Imm(v))),
            other => other,
        };
        match &src {
            Operand::Reg(s) if s.size() != d.size() => {
                return Err(EncodeError::SizeMismatch { insn })
            }
            Operand::Mem(m) => same_size(insn, m, d.size())?,
            Operand::Reg(_) => {}
            _ => {
                return Err(EncodeError::InvalidOperands {
                    insn,
                    why: "the source must be a register or memory",
                })
            }
        }
        let rm = rm_of(&src).unwrap_or(Rm::Reg(d));
        let p = Pfx::size(d.size());
        match imm {
            None => self.emit_modrm(p, &[0x0F, 0xAF], RegField::Reg(d), rm, 0),
            Some(Operand::Imm(v)) => {
                check_imm(insn, v, d.size())?;
                if fits_simm8(v, d.size()) {
                    self.emit_modrm_imm(p, &[0x6B], RegField::Reg(d), rm, 1, v)?;
                } else {
                    let len = if d.size() == Size::Word { 2 } else { 4 };
                    self.emit_modrm_imm(p, &[0x69], RegField::Reg(d), rm, len, v)?;
                }
                Ok(())
            }
            Some(_) => Err(EncodeError::InvalidOperands {
                insn,
                why: "the third operand must be an immediate",
            }),
        }
    }

    /// `bt`/`bts`/`btr`/`btc` with a register or an 8-bit immediate bit index.
    #[inline(always)]
    pub fn enc_bit(&mut self, op: BitOp, dst: Operand, bit: Operand) -> Result<(), EncodeError> {
        let insn = op.name();
        match bit {
            Operand::Reg(b) => {
                if b.size() == Size::Byte {
                    return Err(EncodeError::BadSize {
                        insn,
                        size: Size::Byte,
                    });
                }
                match &dst {
                    Operand::Reg(d) if d.size() != b.size() => {
                        return Err(EncodeError::SizeMismatch { insn })
                    }
                    Operand::Mem(m) => same_size(insn, m, b.size())?,
                    Operand::Reg(_) => {}
                    _ => {
                        return Err(EncodeError::InvalidOperands {
                            insn,
                            why: "expected a register or memory operand",
                        })
                    }
                }
                let opc = 0xA3 | ((op as u8 - 4) << 3);
                let rm = rm_of(&dst).unwrap_or(Rm::Reg(b));
                self.emit_modrm(Pfx::size(b.size()), &[0x0F, opc], RegField::Reg(b), rm, 0)
            }
            Operand::Imm(v) => {
                let size = op_size(insn, &dst)?;
                if size == Size::Byte {
                    return Err(EncodeError::BadSize { insn, size });
                }
                if !(-128..=255).contains(&v) {
                    return Err(EncodeError::ImmediateOutOfRange {
                        insn,
                        value: v,
                        bits: 8,
                    });
                }
                let rm = rm_of(&dst).unwrap_or(Rm::Reg(crate::reg::RAX));
                self.emit_modrm_imm(
                    Pfx::size(size),
                    &[0x0F, 0xBA],
                    RegField::Digit(op as u8),
                    rm,
                    1,
                    v,
                )
            }
            _ => Err(EncodeError::InvalidOperands {
                insn,
                why: "the bit index must be a register or an immediate",
            }),
        }
    }

    /// `setcc r/m8`.
    #[inline(always)]
    pub fn enc_setcc(&mut self, cc: Cond, dst: Operand) -> Result<(), EncodeError> {
        let insn = "setcc";
        let size = match &dst {
            Operand::Mem(m) => m.size.unwrap_or(Size::Byte),
            other => op_size(insn, other)?,
        };
        if size != Size::Byte {
            return Err(EncodeError::BadSize { insn, size });
        }
        let rm = rm_of(&dst).unwrap_or(Rm::Reg(crate::reg::AL));
        self.emit_modrm(
            Pfx::default(),
            &[0x0F, 0x90 | cc as u8],
            RegField::Digit(0),
            rm,
            0,
        )
    }

    /// `cmovcc r, r/m` (16/32/64-bit).
    #[inline(always)]
    pub fn enc_cmovcc(&mut self, cc: Cond, dst: Operand, src: Operand) -> Result<(), EncodeError> {
        let insn = "cmovcc";
        let Operand::Reg(d) = dst else {
            return Err(EncodeError::InvalidOperands {
                insn,
                why: "the destination must be a register",
            });
        };
        if d.size() == Size::Byte {
            return Err(EncodeError::BadSize {
                insn,
                size: Size::Byte,
            });
        }
        match &src {
            Operand::Reg(s) if s.size() != d.size() => {
                return Err(EncodeError::SizeMismatch { insn })
            }
            Operand::Mem(m) => same_size(insn, m, d.size())?,
            Operand::Reg(_) => {}
            _ => {
                return Err(EncodeError::InvalidOperands {
                    insn,
                    why: "the source must be a register or memory",
                })
            }
        }
        let rm = rm_of(&src).unwrap_or(Rm::Reg(d));
        self.emit_modrm(
            Pfx::size(d.size()),
            &[0x0F, 0x40 | cc as u8],
            RegField::Reg(d),
            rm,
            0,
        )
    }

    /// `jcc target`: short when in range (decided in `finish`), `0F 8x rel32` otherwise.
    #[inline(always)]
    pub fn enc_jcc(&mut self, cc: Cond, target: Operand) -> Result<(), EncodeError> {
        match target {
            Operand::Target(Target::Label(l), 0) => self.branch_to_label(Some(cc as u8), l),
            Operand::Target(t, addend) => {
                self.buf.extend_from_slice(&[0x0F, 0x80 | cc as u8]);
                self.ref32(t, FixKind::Rel32, 0, addend);
                Ok(())
            }
            _ => Err(EncodeError::InvalidOperands {
                insn: "jcc",
                why: "the target must be a label or symbol",
            }),
        }
    }

    /// `jmp label` (short or `E9 rel32`), `jmp r64`, `jmp m64`.
    #[inline(always)]
    pub fn enc_jmp(&mut self, target: Operand) -> Result<(), EncodeError> {
        self.branch_or_indirect("jmp", target, 4)
    }

    /// `call label/symbol` (`E8 rel32`), `call r64`, `call m64`.
    #[inline(always)]
    pub fn enc_call(&mut self, target: Operand) -> Result<(), EncodeError> {
        self.branch_or_indirect("call", target, 2)
    }

    #[inline(always)]
    fn branch_or_indirect(
        &mut self,
        insn: &'static str,
        target: Operand,
        digit: u8,
    ) -> Result<(), EncodeError> {
        let call = digit == 2;
        match target {
            Operand::Target(Target::Label(l), 0) if !call => self.branch_to_label(None, l),
            Operand::Target(t, addend) => {
                self.buf.push(if call { 0xE8 } else { 0xE9 });
                self.ref32(t, FixKind::Rel32, 0, addend);
                Ok(())
            }
            Operand::Reg(r) if r.size() == Size::Qword => self.emit_modrm(
                Pfx::default(),
                &[0xFF],
                RegField::Digit(digit),
                Rm::Reg(r),
                0,
            ),
            Operand::Reg(r) if r.size() == Size::Word => self.emit_modrm(
                Pfx::size(Size::Word),
                &[0xFF],
                RegField::Digit(digit),
                Rm::Reg(r),
                0,
            ),
            Operand::Reg(r) => Err(EncodeError::BadSize {
                insn,
                size: r.size(),
            }),
            Operand::Mem(m) => match m.size {
                None | Some(Size::Qword) => self.emit_modrm(
                    Pfx::default(),
                    &[0xFF],
                    RegField::Digit(digit),
                    Rm::Mem(&m),
                    0,
                ),
                Some(Size::Word) => self.emit_modrm(
                    Pfx::size(Size::Word),
                    &[0xFF],
                    RegField::Digit(digit),
                    Rm::Mem(&m),
                    0,
                ),
                // GNU as reads `jmp DWORD PTR [m]` as the far jump through a 16:16 pointer.
                Some(Size::Dword) => self.emit_modrm(
                    Pfx::size(Size::Word),
                    &[0xFF],
                    RegField::Digit(digit + 1),
                    Rm::Mem(&m),
                    0,
                ),
                Some(size) => Err(EncodeError::BadSize { insn, size }),
            },
            Operand::Imm(_) | Operand::Xmm(_) | Operand::Seg(_) => {
                Err(EncodeError::InvalidOperands {
                    insn,
                    why: "the target must be a label, symbol, register or memory",
                })
            }
        }
    }

    /// `ret imm16` (`C2 iw`).
    pub fn enc_ret_imm(&mut self, n: Operand) -> Result<(), EncodeError> {
        match n {
            Operand::Imm(v) if (-0x8000..=0xFFFF).contains(&v) => {
                let mut ib = fixed_bytes(&[0xC2]);
                ib.push_imm(v, 2);
                self.flush(&ib);
                Ok(())
            }
            Operand::Imm(v) => Err(EncodeError::ImmediateOutOfRange {
                insn: "ret",
                value: v,
                bits: 16,
            }),
            _ => Err(EncodeError::InvalidOperands {
                insn: "ret",
                why: "the operand must be an immediate",
            }),
        }
    }

    /// `int imm8` (`int 3` is `CC`, as GNU as writes it).
    pub fn enc_int(&mut self, n: Operand) -> Result<(), EncodeError> {
        match n {
            Operand::Imm(3) => {
                self.flush(&fixed_bytes(&[0xCC])); // GNU as writes `int 3` as `int3`
                Ok(())
            }
            Operand::Imm(v) if (-128..=255).contains(&v) => {
                self.flush(&fixed_bytes(&[0xCD, v as u8]));
                Ok(())
            }
            _ => Err(EncodeError::InvalidOperands {
                insn: "int",
                why: "the operand must be an 8-bit immediate",
            }),
        }
    }

    /// `nop r/m` (`0F 1F /0`, 16/32-bit), the multi-byte NOP.
    pub fn enc_nop_rm(&mut self, op: Operand) -> Result<(), EncodeError> {
        let insn = "nop";
        let size = op_size(insn, &op)?;
        if size == Size::Byte {
            return Err(EncodeError::BadSize { insn, size });
        }
        let rm = rm_of(&op).unwrap_or(Rm::Reg(crate::reg::EAX));
        self.emit_modrm(Pfx::size(size), &[0x0F, 0x1F], RegField::Digit(0), rm, 0)
    }
}
