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

impl Assembler {
    /// Emits prefixes, REX, `opcode`, ModRM, SIB and displacement. `imm_len` is the size of the
    /// immediate that follows (a RIP-relative displacement counts from the instruction's end).
    #[inline]
    pub(crate) fn emit_modrm(
        &mut self,
        p: Pfx,
        opcode: &[u8],
        reg: RegField,
        rm: Rm<'_>,
        imm_len: u8,
    ) -> Result<(), EncodeError> {
        let mut rex = 0u8;
        let mut force = false;
        let mut high: Option<Reg> = None;
        if p.w {
            rex |= 0x48;
        }
        let reg_bits = match reg {
            RegField::Digit(d) => d,
            RegField::Reg(r) => {
                if r.ext() {
                    rex |= 0x44;
                }
                force |= r.needs_rex();
                if r.is_high_byte() {
                    high = Some(r);
                }
                r.low3()
            }
        };
        match rm {
            Rm::Reg(r) => {
                if r.ext() {
                    rex |= 0x41;
                }
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
                self.legacy_prefixes(p, false);
                if rex != 0 {
                    self.buf.push(rex);
                }
                self.buf.extend_from_slice(opcode);
                self.buf.push(0xC0 | (reg_bits << 3) | r.low3());
                Ok(())
            }
            Rm::Mem(m) => {
                let m = normalize(m)?;
                let addr32 = check_address_regs(&m)?;
                if let Some(b) = m.base {
                    if b.ext() {
                        rex |= 0x41;
                    }
                }
                if let Some(i) = m.index {
                    if i.ext() {
                        rex |= 0x42;
                    }
                }
                if rex != 0 || force {
                    if let Some(h) = high {
                        return Err(EncodeError::HighByteWithRex { reg: h });
                    }
                    rex |= 0x40;
                }
                self.legacy_prefixes(p, addr32);
                if rex != 0 {
                    self.buf.push(rex);
                }
                self.buf.extend_from_slice(opcode);
                self.mem_tail(reg_bits, &m, imm_len);
                Ok(())
            }
        }
    }

    /// Prefixes and REX for an instruction without ModRM whose register lives in the opcode's
    /// low bits (`push r`, `mov r, imm`, `bswap r`, `xchg rax, r`); returns those low bits.
    #[inline]
    pub(crate) fn emit_opreg_prefix(&mut self, p: Pfx, r: Reg) -> Result<u8, EncodeError> {
        let mut rex = if p.w { 0x48 } else { 0 };
        if r.ext() {
            rex |= 0x41;
        }
        if r.needs_rex() {
            rex |= 0x40;
        }
        self.legacy_prefixes(p, false);
        if rex != 0 {
            self.buf.push(rex);
        }
        Ok(r.low3())
    }

    /// `0x67`, `0x66`, then a mandatory prefix: the order GNU as writes them.
    #[inline]
    pub(crate) fn legacy_prefixes(&mut self, p: Pfx, addr32: bool) {
        if addr32 {
            self.buf.push(0x67);
        }
        if p.o16 {
            self.buf.push(0x66);
        }
        if self.pending_prefix != 0 {
            self.buf.push(self.pending_prefix);
            self.pending_prefix = 0;
        }
        if p.mandatory != 0 {
            self.buf.push(p.mandatory);
        }
    }

    /// ModRM, SIB and displacement for a (normalized, checked) memory operand.
    fn mem_tail(&mut self, reg_bits: u8, m: &Mem, imm_len: u8) {
        let reg = reg_bits << 3;
        if m.rip {
            self.buf.push(reg | 0b101);
            match m.target {
                Some(t) => self.ref32(t, FixKind::Rel32, imm_len as u32, m.disp as i64),
                None => self.buf.extend_from_slice(&m.disp.to_le_bytes()),
            }
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
            self.buf.push(reg | 0b100);
            let index = m.index.map_or(0b100, |i| i.low3());
            self.buf.push(scale_bits | (index << 3) | 0b101);
            self.disp32(m);
            return;
        };
        let (mode, disp8) = if m.target.is_some() {
            (0b10, false)
        } else if m.disp == 0 && base.low3() != 0b101 {
            (0b00, false)
        } else if fits_i8(m.disp as i64) {
            (0b01, true)
        } else {
            (0b10, false)
        };
        if m.index.is_some() || base.low3() == 0b100 {
            self.buf.push((mode << 6) | reg | 0b100);
            let index = m.index.map_or(0b100, |i| i.low3());
            self.buf.push(scale_bits | (index << 3) | base.low3());
        } else {
            self.buf.push((mode << 6) | reg | base.low3());
        }
        match mode {
            0b01 if disp8 => self.buf.push(m.disp as u8),
            0b10 => self.disp32(m),
            _ => {}
        }
    }

    fn disp32(&mut self, m: &Mem) {
        match m.target {
            Some(t) => self.ref32(t, FixKind::Abs32S, 0, m.disp as i64),
            None => self.buf.extend_from_slice(&m.disp.to_le_bytes()),
        }
    }
}

/// Checks the parts of a memory operand. (`rsp` can never be an index; the text assembler swaps
/// `[rax+rsp]` into `[rsp+rax]` as GNU as does when no scale is written.)
fn normalize(m: &Mem) -> Result<Mem, EncodeError> {
    let m = *m;
    if m.index.is_some_and(|i| i.num() == 4) {
        return Err(EncodeError::InvalidMemory(
            "rsp/esp cannot be an index register",
        ));
    }
    if !matches!(m.scale, 1 | 2 | 4 | 8) {
        return Err(EncodeError::InvalidMemory(
            "scale factor must be 1, 2, 4 or 8",
        ));
    }
    if m.index.is_none() && m.scale != 1 {
        return Err(EncodeError::InvalidMemory(
            "scale factor without an index register",
        ));
    }
    Ok(m)
}

/// Checks address registers (64-bit, or 32-bit with a 0x67 prefix, not mixed); returns whether
/// the address size is 32 bits.
fn check_address_regs(m: &Mem) -> Result<bool, EncodeError> {
    if m.rip {
        if m.base.is_some() || m.index.is_some() {
            return Err(EncodeError::InvalidMemory(
                "rip cannot be combined with other registers",
            ));
        }
        return Ok(false);
    }
    let sizes = [m.base, m.index];
    let mut addr = None;
    for r in sizes.into_iter().flatten() {
        match r.size() {
            Size::Qword | Size::Dword => {}
            _ => {
                return Err(EncodeError::InvalidMemory(
                    "address registers must be 64-bit (or 32-bit)",
                ))
            }
        }
        if addr.is_some_and(|s| s != r.size()) {
            return Err(EncodeError::InvalidMemory(
                "base and index registers differ in size",
            ));
        }
        addr = Some(r.size());
    }
    Ok(addr == Some(Size::Dword))
}
