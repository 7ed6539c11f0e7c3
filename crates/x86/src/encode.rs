//! The byte-level pieces every instruction shares: legacy prefixes, REX, ModRM, SIB and
//! displacements, following the rules GNU as applies (shortest displacement, `[rbp]` and
//! `[r13]` as disp8 0, SIB for `rsp`/`r12` bases, `0x67` for 32-bit addresses, a segment
//! override only when it differs from the address's default segment).
//!
//! Why it is shaped this way: every builder call is inlined into the JIT that makes it, so when
//! the operands are constants LLVM folds everything here (operand kinds, sizes, REX, ModRM, the
//! immediate's width) into a handful of constant stores. The instruction is accumulated in a
//! `u128` ([`InsnBytes`]) with branch-free pushes (a conditional prefix adds `cond as u32` to
//! the length instead of branching) and appended with one capacity check and one 16-byte store
//! (`bytes.rs`). References to labels and symbols are recorded out of line.

use crate::assembler::{Assembler, FixKind};
use crate::error::EncodeError;
use crate::operand::Mem;
use crate::reg::{Reg, SegReg, Size};

/// The ModRM `reg` field: a register or an opcode extension (`/digit`).
#[derive(Clone, Copy)]
pub(crate) enum RegField {
    Reg(Reg),
    Digit(u8),
}

/// The ModRM `r/m` operand.
#[derive(Clone, Copy)]
pub(crate) enum Rm<'a> {
    Reg(Reg),
    Mem(&'a Mem),
}

/// Prefix choices of one instruction.
#[derive(Clone, Copy, Default)]
pub(crate) struct Pfx {
    /// 0x66 operand-size override (also the mandatory 0x66 of SSE2 instructions).
    pub o16: bool,
    /// REX.W.
    pub w: bool,
    /// A mandatory prefix (0xF3 / 0xF2) that goes before REX.
    pub mandatory: u8,
}

impl Pfx {
    /// The prefixes for an ordinary instruction of operand size `size` (8-bit forms use a
    /// different opcode, chosen by the caller).
    #[inline(always)]
    pub fn size(size: Size) -> Pfx {
        Pfx {
            o16: size == Size::Word,
            w: size == Size::Qword,
            mandatory: 0,
        }
    }
}

#[inline(always)]
fn fits_i8(v: i64) -> bool {
    (-128..=127).contains(&v)
}

/// One instruction's bytes before they are appended: accumulated in a 128-bit value (not a
/// stack array, whose byte stores followed by a wide load would stall store forwarding), then
/// stored into the code buffer at once.
#[derive(Clone, Copy)]
pub(crate) struct InsnBytes {
    v: u128,
    n: u32,
}

impl InsnBytes {
    #[inline(always)]
    pub fn new() -> InsnBytes {
        InsnBytes { v: 0, n: 0 }
    }
    #[inline(always)]
    pub fn push(&mut self, x: u8) {
        // An x86 instruction is at most 15 bytes; the mask keeps the shift in range.
        self.v |= (x as u128) << ((self.n & 15) * 8);
        self.n += 1;
    }
    /// Pushes `x` when `cond` holds, without a branch.
    #[inline(always)]
    pub fn push_if(&mut self, cond: bool, x: u8) {
        self.v |= ((x & (cond as u8).wrapping_neg()) as u128) << ((self.n & 15) * 8);
        self.n += cond as u32;
    }
    #[inline(always)]
    pub fn push_slice(&mut self, xs: &[u8]) {
        for &x in xs {
            self.push(x);
        }
    }
    #[inline(always)]
    pub fn push_u32(&mut self, v: u32) {
        self.push_imm(v as i64, 4);
    }
    /// A little-endian immediate of 1, 2, 4 or 8 bytes.
    #[inline(always)]
    pub fn push_imm(&mut self, v: i64, len: u8) {
        let len = (len as u32).min(8);
        let mask = if len == 8 {
            u64::MAX
        } else {
            (1u64 << (len * 8)) - 1
        };
        self.v |= ((v as u64 & mask) as u128) << ((self.n & 15) * 8);
        self.n += len;
    }
    /// Appends `other`'s bytes (one variable shift, instead of one per byte).
    #[inline(always)]
    pub fn append(&mut self, other: InsnBytes) {
        self.v |= other.v << ((self.n & 15) * 8);
        self.n += other.n;
    }
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.n as usize
    }
}

/// The bytes of an instruction without operands (or a fixed sequence of up to 15 bytes).
#[inline(always)]
pub(crate) fn fixed_bytes(bytes: &[u8]) -> InsnBytes {
    let mut ib = InsnBytes::new();
    ib.push_slice(bytes);
    ib
}

/// Legacy prefixes in GNU as's order: segment, `0x67`, `0x66`, then a mandatory prefix.
/// (`lock`/`rep` from the text assembler go after `0x67`/`0x66`: see `text::put_prefix`.)
#[inline(always)]
pub(crate) fn prefixes(ib: &mut InsnBytes, p: Pfx, seg: u8, addr32: bool) {
    ib.push_if(seg != 0, seg);
    ib.push_if(addr32, 0x67);
    ib.push_if(p.o16, 0x66);
    ib.push_if(p.mandatory != 0, p.mandatory);
}

/// Prefixes, REX and `opcode | reg.low3()` for an instruction without ModRM whose register
/// lives in the opcode's low bits (`push r`, `mov r, imm`, `bswap r`, `xchg rax, r`).
#[inline(always)]
pub(crate) fn opreg(p: Pfx, r: Reg, opcode: &[u8]) -> InsnBytes {
    let rex = if p.w { 0x48 } else { 0 } | r.ext() as u8 | ((r.needs_rex() as u8) << 6);
    let mut ib = InsnBytes::new();
    prefixes(&mut ib, p, 0, false);
    ib.push_if(rex != 0, rex | 0x40);
    let (last, first) = opcode.split_last().unwrap_or((&0x90, &[]));
    ib.push_slice(first);
    ib.push(last | r.low3());
    ib
}

/// The segment-override prefix a memory operand needs (0 for none): GNU as drops an override
/// that names the default segment (`ss` for an `rsp`/`rbp`/`esp`/`ebp` base, `ds` otherwise).
#[inline(always)]
fn segment_prefix(m: &Mem) -> u8 {
    match m.seg {
        None => 0,
        Some(seg) => {
            let stack_base =
                !m.rip && matches!(m.base, Some(b) if !b.ext() && (b.num() == 4 || b.num() == 5));
            let default = if stack_base { SegReg::Ss } else { SegReg::Ds };
            if seg == default {
                0
            } else {
                seg.prefix()
            }
        }
    }
}

impl Assembler {
    /// Appends `ib` to the code.
    #[inline(always)]
    pub(crate) fn flush(&mut self, ib: &InsnBytes) {
        crate::bytes::append16(&mut self.buf, ib.v, ib.n as usize);
    }

    /// Emits prefixes, REX, `opcode`, ModRM, SIB and displacement. `imm_len` is the size of the
    /// immediate that follows (a RIP-relative displacement counts from the instruction's end).
    #[inline(always)]
    pub(crate) fn emit_modrm(
        &mut self,
        p: Pfx,
        opcode: &[u8],
        reg: RegField,
        rm: Rm<'_>,
        imm_len: u8,
    ) -> Result<(), EncodeError> {
        let ib = self.modrm_bytes(p, opcode, reg, rm, imm_len, None)?;
        self.flush(&ib);
        Ok(())
    }

    /// [`emit_modrm`](Self::emit_modrm) followed by an `imm_len`-byte immediate, appended in
    /// the same store.
    #[inline(always)]
    pub(crate) fn emit_modrm_imm(
        &mut self,
        p: Pfx,
        opcode: &[u8],
        reg: RegField,
        rm: Rm<'_>,
        imm_len: u8,
        imm: i64,
    ) -> Result<(), EncodeError> {
        let ib = self.modrm_bytes(p, opcode, reg, rm, imm_len, Some(imm))?;
        self.flush(&ib);
        Ok(())
    }

    /// The bytes of a ModRM instruction, with its `imm_len`-byte immediate if `imm` is given
    /// (otherwise the caller appends `imm_len` bytes). Label and symbol references in the
    /// displacement are recorded at the offsets the bytes will have.
    #[inline(always)]
    pub(crate) fn modrm_bytes(
        &mut self,
        p: Pfx,
        opcode: &[u8],
        reg: RegField,
        rm: Rm<'_>,
        imm_len: u8,
        imm: Option<i64>,
    ) -> Result<InsnBytes, EncodeError> {
        let mut rex = if p.w { 0x48u8 } else { 0 };
        let mut force = false;
        let mut high = false;
        let reg_bits = match reg {
            RegField::Digit(d) => d,
            RegField::Reg(r) => {
                rex |= (r.ext() as u8) << 2;
                force |= r.needs_rex();
                high |= r.is_high_byte();
                r.low3()
            }
        };
        // The prefixes (whose count varies with the operands) and the body (whose byte
        // positions mostly do not) are built apart and joined with one shift.
        let mut ib = InsnBytes::new();
        let mut body = InsnBytes::new();
        body.push_slice(opcode);
        match rm {
            Rm::Reg(r) => {
                rex |= r.ext() as u8;
                force |= r.needs_rex();
                high |= r.is_high_byte();
                let need_rex = rex != 0 || force;
                if need_rex && high {
                    return Err(high_byte_error(reg, r));
                }
                prefixes(&mut ib, p, 0, false);
                ib.push_if(need_rex, rex | 0x40);
                body.push(0xC0 | (reg_bits << 3) | r.low3());
                ib.append(body);
                if let Some(v) = imm {
                    ib.push_imm(v, imm_len);
                }
                Ok(ib)
            }
            Rm::Mem(m) => {
                check_mem(m)?;
                let addr32 = check_address_regs(m)?;
                if let Some(b) = m.base {
                    rex |= b.ext() as u8;
                }
                if let Some(i) = m.index {
                    rex |= (i.ext() as u8) << 1;
                }
                let need_rex = rex != 0 || force;
                if need_rex && high {
                    if let RegField::Reg(r) = reg {
                        return Err(EncodeError::HighByteWithRex { reg: r });
                    }
                }
                prefixes(&mut ib, p, segment_prefix(m), addr32);
                ib.push_if(need_rex, rex | 0x40);
                let start = ib.len();
                self.mem_tail(&mut body, start, reg_bits, m, imm_len);
                ib.append(body);
                if let Some(v) = imm {
                    ib.push_imm(v, imm_len);
                }
                Ok(ib)
            }
        }
    }

    /// ModRM, SIB and displacement for a checked memory operand, appended to `ib`, which
    /// will be placed `start` bytes into the instruction.
    #[inline(always)]
    fn mem_tail(&mut self, ib: &mut InsnBytes, start: usize, reg_bits: u8, m: &Mem, imm_len: u8) {
        let reg = reg_bits << 3;
        if m.rip {
            ib.push(reg | 0b101);
            self.disp32_into(ib, start, m, FixKind::Rel32, imm_len);
            return;
        }
        let scale_bits = match m.scale {
            2 => 1,
            4 => 2,
            8 => 3,
            _ => 0,
        } << 6;
        let Some(base) = m.base else {
            // No base: SIB with base=101 and a 32-bit displacement.
            ib.push(reg | 0b100);
            let index = m.index.map_or(0b100, |i| i.low3());
            ib.push(scale_bits | (index << 3) | 0b101);
            self.disp32_into(ib, start, m, FixKind::Abs32S, 0);
            return;
        };
        let mode = if m.target.is_some() {
            0b10
        } else if m.disp == 0 && base.low3() != 0b101 {
            0b00
        } else if fits_i8(m.disp as i64) {
            0b01
        } else {
            0b10
        };
        if m.index.is_some() || base.low3() == 0b100 {
            ib.push((mode << 6) | reg | 0b100);
            let index = m.index.map_or(0b100, |i| i.low3());
            ib.push(scale_bits | (index << 3) | base.low3());
        } else {
            ib.push((mode << 6) | reg | base.low3());
        }
        match mode {
            0b01 => ib.push(m.disp as u8),
            0b10 => self.disp32_into(ib, start, m, FixKind::Abs32S, 0),
            _ => {}
        }
    }

    /// A 32-bit displacement: the number, or zero and a reference to the operand's target.
    #[inline(always)]
    fn disp32_into(
        &mut self,
        ib: &mut InsnBytes,
        start: usize,
        m: &Mem,
        kind: FixKind,
        imm_len: u8,
    ) {
        match m.target {
            Some(t) => {
                let at = (self.buf.len() + start + ib.len()) as u32;
                self.reference(t, kind, at, at + 4 + imm_len as u32, m.disp as i64);
                ib.push_u32(0);
            }
            None => ib.push_u32(m.disp as u32),
        }
    }
}

/// The error for a high-byte register (`ah`..`bh`) in an instruction that needs REX.
#[cold]
fn high_byte_error(reg: RegField, rm: Reg) -> EncodeError {
    let reg = match reg {
        RegField::Reg(r) if r.is_high_byte() => r,
        _ => rm,
    };
    EncodeError::HighByteWithRex { reg }
}

/// Checks the parts of a memory operand. (`rsp` can never be an index; the text assembler swaps
/// `[rax+rsp]` into `[rsp+rax]` as GNU as does when no scale is written.)
#[inline(always)]
fn check_mem(m: &Mem) -> Result<(), EncodeError> {
    if let Some(i) = m.index {
        if i.num() == 4 {
            return Err(EncodeError::InvalidMemory(
                "rsp/esp cannot be an index register",
            ));
        }
    } else if m.scale != 1 {
        return Err(EncodeError::InvalidMemory(
            "scale factor without an index register",
        ));
    }
    if !matches!(m.scale, 1 | 2 | 4 | 8) {
        return Err(EncodeError::InvalidMemory(
            "scale factor must be 1, 2, 4 or 8",
        ));
    }
    Ok(())
}

/// Checks address registers (64-bit, or 32-bit with a 0x67 prefix, not mixed); returns whether
/// the address size is 32 bits.
#[inline(always)]
fn check_address_regs(m: &Mem) -> Result<bool, EncodeError> {
    if m.rip {
        if m.base.is_some() || m.index.is_some() {
            return Err(EncodeError::InvalidMemory(
                "rip cannot be combined with other registers",
            ));
        }
        return Ok(false);
    }
    let size = match (m.base, m.index) {
        (None, None) => return Ok(false),
        (Some(r), None) | (None, Some(r)) => r.size(),
        (Some(b), Some(i)) => {
            if b.size() != i.size() {
                return Err(EncodeError::InvalidMemory(
                    "base and index registers differ in size",
                ));
            }
            b.size()
        }
    };
    match size {
        Size::Qword => Ok(false),
        Size::Dword => Ok(true),
        _ => Err(EncodeError::InvalidMemory(
            "address registers must be 64-bit (or 32-bit)",
        )),
    }
}
