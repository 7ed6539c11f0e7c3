//! The byte-level pieces every instruction shares: legacy prefixes, REX, ModRM, SIB and
//! displacements, following the rules GNU as applies (shortest displacement, `[rbp]` and
//! `[r13]` as disp8 0, SIB for `rsp`/`r12` bases, `0x67` for 32-bit addresses).

use crate::assembler::{Assembler, FixKind};
use crate::error::EncodeError;
use crate::operand::Mem;
use crate::reg::{Reg, Size};

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
    /// 0x66 operand-size override.
    pub o16: bool,
    /// REX.W.
    pub w: bool,
    /// A mandatory prefix (0xF3 / 0xF2) that goes before REX.
    pub mandatory: u8,
}

impl Pfx {
    /// The prefixes for an ordinary instruction of operand size `size` (8-bit forms use a
    /// different opcode, chosen by the caller).
    #[inline]
    pub fn size(size: Size) -> Pfx {
        Pfx {
            o16: size == Size::Word,
            w: size == Size::Qword,
            mandatory: 0,
        }
    }
}

#[inline]
fn fits_i8(v: i64) -> bool {
    (-128..=127).contains(&v)
}

/// One instruction's bytes before they are appended: accumulated in a 128-bit register (not
/// a stack array, whose byte stores followed by a wide load would stall store forwarding),
/// then stored into the code buffer at once.
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
    pub fn len(&self) -> usize {
        self.n as usize
    }
}

impl Assembler {
    /// Appends `ib` to the code.
    #[inline(always)]
    pub(crate) fn flush(&mut self, ib: &InsnBytes) {
        crate::bytes::append16(&mut self.buf, ib.v.to_le_bytes(), ib.n as usize);
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
        self.emit_modrm_inner(p, opcode, reg, rm, imm_len, None)
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
        self.emit_modrm_inner(p, opcode, reg, rm, imm_len, Some(imm))
    }

    #[inline(always)]
    fn emit_modrm_inner(
        &mut self,
        p: Pfx,
        opcode: &[u8],
        reg: RegField,
        rm: Rm<'_>,
        imm_len: u8,
        imm: Option<i64>,
    ) -> Result<(), EncodeError> {
        let mut rex = if p.w { 0x48u8 } else { 0 };
        let mut force = false;
        let mut high: Option<Reg> = None;
        let reg_bits = match reg {
            RegField::Digit(d) => d,
            RegField::Reg(r) => {
                rex |= (r.ext() as u8) << 2;
                force |= r.needs_rex();
                if r.is_high_byte() {
                    high = Some(r);
                }
                r.low3()
            }
        };
        let mut ib = InsnBytes::new();
        match rm {
            Rm::Reg(r) => {
                rex |= r.ext() as u8;
                force |= r.needs_rex();
                if r.is_high_byte() {
                    high = Some(r);
                }
                if rex != 0 || force {
                    if let Some(h) = high {
                        return Err(EncodeError::HighByteWithRex { reg: h });
                    }
                    rex |= 0x40;
                }
                self.prefixes_into(&mut ib, p, false);
                if rex != 0 {
                    ib.push(rex);
                }
                ib.push_slice(opcode);
                ib.push(0xC0 | (reg_bits << 3) | r.low3());
                if let Some(v) = imm {
                    ib.push_imm(v, imm_len);
                }
                self.flush(&ib);
                Ok(())
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
                if rex != 0 || force {
                    if let Some(h) = high {
                        return Err(EncodeError::HighByteWithRex { reg: h });
                    }
                    rex |= 0x40;
                }
                self.prefixes_into(&mut ib, p, addr32);
                if rex != 0 {
                    ib.push(rex);
                }
                ib.push_slice(opcode);
                self.mem_tail(&mut ib, reg_bits, m, imm_len);
                if let Some(v) = imm {
                    ib.push_imm(v, imm_len);
                }
                self.flush(&ib);
                Ok(())
            }
        }
    }

    /// Prefixes and REX for an instruction without ModRM whose register lives in the opcode's
    /// low bits (`push r`, `mov r, imm`, `bswap r`, `xchg rax, r`); returns those low bits.
    #[inline(always)]
    pub(crate) fn emit_opreg_prefix(&mut self, p: Pfx, r: Reg) -> Result<u8, EncodeError> {
        let mut rex = if p.w { 0x48 } else { 0 };
        rex |= r.ext() as u8;
        if r.needs_rex() {
            rex |= 0x40;
        }
        let mut ib = InsnBytes::new();
        self.prefixes_into(&mut ib, p, false);
        if rex != 0 {
            ib.push(rex);
        }
        self.flush(&ib);
        Ok(r.low3())
    }

    /// `0x67`, `0x66`, then a mandatory prefix: the order GNU as writes them.
    #[inline]
    pub(crate) fn legacy_prefixes(&mut self, p: Pfx, addr32: bool) {
        let mut ib = InsnBytes::new();
        self.prefixes_into(&mut ib, p, addr32);
        self.flush(&ib);
    }

    #[inline(always)]
    fn prefixes_into(&mut self, ib: &mut InsnBytes, p: Pfx, addr32: bool) {
        if addr32 {
            ib.push(0x67);
        }
        if p.o16 {
            ib.push(0x66);
        }
        if self.pending_prefix != 0 {
            ib.push(self.pending_prefix);
            self.pending_prefix = 0;
        }
        if p.mandatory != 0 {
            ib.push(p.mandatory);
        }
    }

    /// ModRM, SIB and displacement for a checked memory operand.
    #[inline(always)]
    fn mem_tail(&mut self, ib: &mut InsnBytes, reg_bits: u8, m: &Mem, imm_len: u8) {
        let reg = reg_bits << 3;
        if m.rip {
            ib.push(reg | 0b101);
            self.disp32_into(ib, m, FixKind::Rel32, imm_len);
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
            self.disp32_into(ib, m, FixKind::Abs32S, 0);
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
            0b10 => self.disp32_into(ib, m, FixKind::Abs32S, 0),
            _ => {}
        }
    }

    /// A 32-bit displacement: the number, or zero and a reference to the operand's target.
    #[inline(always)]
    fn disp32_into(&mut self, ib: &mut InsnBytes, m: &Mem, kind: FixKind, imm_len: u8) {
        match m.target {
            Some(t) => {
                let at = (self.buf.len() + ib.len()) as u32;
                self.reference(t, kind, at, at + 4 + imm_len as u32, m.disp as i64);
                ib.push_u32(0);
            }
            None => ib.push_u32(m.disp as u32),
        }
    }
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
