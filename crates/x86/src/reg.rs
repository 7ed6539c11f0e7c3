//! Registers: general-purpose registers of every size, with the facts the encoder needs about
//! each (hardware number, size, whether it forces or forbids a REX prefix); the SSE registers
//! `xmm0`..`xmm15`; the segment registers.

use std::fmt;

/// An operand size in bytes: 1, 2, 4 or 8 (general-purpose registers and memory), or 16
/// (`XMMWORD PTR`, memory operands of SSE instructions only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    Byte = 1,
    Word = 2,
    Dword = 4,
    Qword = 8,
    /// 16 bytes: a memory operand of a packed SSE instruction. No general-purpose register has
    /// this size ([`Reg::from_num`] treats it as `Qword`).
    Xmmword = 16,
}

impl Size {
    /// The size in bytes.
    pub const fn bytes(self) -> u32 {
        self as u32
    }

    /// The GNU as size keyword (`BYTE`, `WORD`, ...), for messages.
    pub const fn keyword(self) -> &'static str {
        match self {
            Size::Byte => "BYTE",
            Size::Word => "WORD",
            Size::Dword => "DWORD",
            Size::Qword => "QWORD",
            Size::Xmmword => "XMMWORD",
        }
    }
}

/// A general-purpose register: `rax`..`r15`, `eax`..`r15d`, `ax`..`r15w`, `al`..`r15b` and the
/// legacy high-byte registers `ah`, `ch`, `dh`, `bh`.
///
/// Packed in one byte: bits 0-3 the hardware number, bits 4-6 the kind. Copy it freely.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reg(u8);

const KIND_LOW8: u8 = 0;
const KIND_HIGH8: u8 = 1;
const KIND_16: u8 = 2;
const KIND_32: u8 = 3;
const KIND_64: u8 = 4;

impl Reg {
    #[inline(always)]
    const fn new(num: u8, kind: u8) -> Reg {
        Reg(num | (kind << 4))
    }

    /// The register `num` (0..=15) of `size`; byte registers 4..=7 are `spl`/`bpl`/`sil`/`dil`.
    /// (`Size::Xmmword` gives the 64-bit register.)
    #[inline(always)]
    pub const fn from_num(num: u8, size: Size) -> Reg {
        let kind = match size {
            Size::Byte => KIND_LOW8,
            Size::Word => KIND_16,
            Size::Dword => KIND_32,
            Size::Qword | Size::Xmmword => KIND_64,
        };
        Reg::new(num & 15, kind)
    }

    /// The hardware number 0..=15 (for `ah`..`bh`: 4..=7, the value in the ModRM field).
    #[inline(always)]
    pub const fn num(self) -> u8 {
        self.0 & 15
    }

    /// The low three bits that go into ModRM/SIB/opcode.
    #[inline(always)]
    pub(crate) const fn low3(self) -> u8 {
        self.0 & 7
    }

    /// Whether this register's number needs a REX extension bit (r8..r15 of any size).
    #[inline(always)]
    pub(crate) const fn ext(self) -> bool {
        self.0 & 8 != 0
    }

    #[inline(always)]
    pub const fn size(self) -> Size {
        match self.0 >> 4 {
            KIND_LOW8 | KIND_HIGH8 => Size::Byte,
            KIND_16 => Size::Word,
            KIND_32 => Size::Dword,
            _ => Size::Qword,
        }
    }

    /// `ah`, `ch`, `dh` or `bh`: addressable only without a REX prefix.
    #[inline(always)]
    pub const fn is_high_byte(self) -> bool {
        self.0 >> 4 == KIND_HIGH8
    }

    /// `spl`, `bpl`, `sil`, `dil` and `r8b`..`r15b` exist only with a REX prefix; any r8..r15
    /// needs one for its extension bit.
    #[inline(always)]
    pub(crate) const fn needs_rex(self) -> bool {
        self.ext() || (self.0 >> 4 == KIND_LOW8 && self.num() >= 4)
    }

    /// The same hardware register at another size (`RAX.with_size(Size::Byte)` is `al`).
    /// High-byte registers become their low-byte register's family (`ah` -> `rsp`'s number 4 is
    /// *not* used: `ah` is returned unchanged for `Size::Byte`, and `ax`/`eax`/`rax` otherwise).
    pub const fn with_size(self, size: Size) -> Reg {
        if self.is_high_byte() {
            return match size {
                Size::Byte => self,
                _ => Reg::from_num(self.num() - 4, size),
            };
        }
        Reg::from_num(self.num(), size)
    }

    /// The register's name in Intel syntax (`rax`, `r8d`, `ah`, ...).
    pub fn name(self) -> &'static str {
        const N64: [&str; 16] = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15",
        ];
        const N32: [&str; 16] = [
            "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d",
            "r12d", "r13d", "r14d", "r15d",
        ];
        const N16: [&str; 16] = [
            "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w",
            "r13w", "r14w", "r15w",
        ];
        const N8: [&str; 16] = [
            "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b",
            "r12b", "r13b", "r14b", "r15b",
        ];
        const H8: [&str; 4] = ["ah", "ch", "dh", "bh"];
        let n = self.num() as usize;
        match self.0 >> 4 {
            KIND_LOW8 => N8[n],
            KIND_HIGH8 => H8[(n - 4) & 3],
            KIND_16 => N16[n],
            KIND_32 => N32[n],
            _ => N64[n],
        }
    }

    /// Looks up a register by its Intel-syntax name (lower case; `r8l` is accepted like GNU as).
    pub fn from_name(name: &str) -> Option<Reg> {
        let lower = name.to_ascii_lowercase();
        let s = lower.as_str();
        match s {
            "ah" => return Some(AH),
            "ch" => return Some(CH),
            "dh" => return Some(DH),
            "bh" => return Some(BH),
            _ => {}
        }
        for size in [Size::Qword, Size::Dword, Size::Word, Size::Byte] {
            for num in 0..16 {
                let r = Reg::from_num(num, size);
                if r.name() == s {
                    return Some(r);
                }
            }
        }
        if let Some(num) = s.strip_prefix('r').and_then(|t| t.strip_suffix('l')) {
            if let Ok(n) = num.parse::<u8>() {
                if (8..16).contains(&n) {
                    return Some(Reg::from_num(n, Size::Byte));
                }
            }
        }
        None
    }
}

impl fmt::Debug for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! regs {
    ($kind:expr; $($name:ident = $num:expr),* $(,)?) => {
        $(pub const $name: Reg = Reg::new($num, $kind);)*
    };
}

regs!(KIND_64; RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
    R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15);
regs!(KIND_32; EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7,
    R8D = 8, R9D = 9, R10D = 10, R11D = 11, R12D = 12, R13D = 13, R14D = 14, R15D = 15);
regs!(KIND_16; AX = 0, CX = 1, DX = 2, BX = 3, SP = 4, BP = 5, SI = 6, DI = 7,
    R8W = 8, R9W = 9, R10W = 10, R11W = 11, R12W = 12, R13W = 13, R14W = 14, R15W = 15);
regs!(KIND_LOW8; AL = 0, CL = 1, DL = 2, BL = 3, SPL = 4, BPL = 5, SIL = 6, DIL = 7,
    R8B = 8, R9B = 9, R10B = 10, R11B = 11, R12B = 12, R13B = 13, R14B = 14, R15B = 15);
regs!(KIND_HIGH8; AH = 4, CH = 5, DH = 6, BH = 7);

/// An SSE register, `xmm0`..`xmm15`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Xmm(u8);

impl Xmm {
    /// `xmm{num}`; `num` is taken modulo 16.
    #[inline(always)]
    pub const fn from_num(num: u8) -> Xmm {
        Xmm(num & 15)
    }

    /// The register number 0..=15.
    #[inline(always)]
    pub const fn num(self) -> u8 {
        self.0
    }

    /// The register's name (`xmm0`..`xmm15`).
    pub fn name(self) -> &'static str {
        const N: [&str; 16] = [
            "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
            "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
        ];
        N[self.0 as usize & 15]
    }

    /// Looks up `xmm0`..`xmm15` by name (any case).
    pub fn from_name(name: &str) -> Option<Xmm> {
        let lower = name.to_ascii_lowercase();
        let n: u8 = lower.strip_prefix("xmm")?.parse().ok()?;
        if n < 16 && lower.len() == 3 + if n < 10 { 1 } else { 2 } {
            Some(Xmm(n))
        } else {
            None
        }
    }

    /// The general-purpose register with the same number: what the ModRM/REX encoding of an
    /// xmm operand looks like (REX.R/B for xmm8..xmm15, never a forced REX or a high byte).
    #[inline(always)]
    pub(crate) const fn as_gpr(self) -> Reg {
        Reg::new(self.0 & 15, KIND_64)
    }
}

impl fmt::Debug for Xmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Xmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub const XMM0: Xmm = Xmm(0);
pub const XMM1: Xmm = Xmm(1);
pub const XMM2: Xmm = Xmm(2);
pub const XMM3: Xmm = Xmm(3);
pub const XMM4: Xmm = Xmm(4);
pub const XMM5: Xmm = Xmm(5);
pub const XMM6: Xmm = Xmm(6);
pub const XMM7: Xmm = Xmm(7);
pub const XMM8: Xmm = Xmm(8);
pub const XMM9: Xmm = Xmm(9);
pub const XMM10: Xmm = Xmm(10);
pub const XMM11: Xmm = Xmm(11);
pub const XMM12: Xmm = Xmm(12);
pub const XMM13: Xmm = Xmm(13);
pub const XMM14: Xmm = Xmm(14);
pub const XMM15: Xmm = Xmm(15);

/// A segment register, in hardware order (the ModRM `reg` value of `mov sreg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];

    /// The register's name (`es`, `cs`, `ss`, `ds`, `fs`, `gs`).
    pub const fn name(self) -> &'static str {
        ["es", "cs", "ss", "ds", "fs", "gs"][self as usize]
    }

    /// Looks a segment register up by name (any case).
    pub fn from_name(name: &str) -> Option<SegReg> {
        let lower = name.to_ascii_lowercase();
        SegReg::ALL.into_iter().find(|s| s.name() == lower)
    }

    /// The segment-override prefix byte.
    #[inline(always)]
    pub const fn prefix(self) -> u8 {
        [0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65][self as usize]
    }
}

impl fmt::Display for SegReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub const ES: SegReg = SegReg::Es;
pub const CS: SegReg = SegReg::Cs;
pub const SS: SegReg = SegReg::Ss;
pub const DS: SegReg = SegReg::Ds;
pub const FS: SegReg = SegReg::Fs;
pub const GS: SegReg = SegReg::Gs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for size in [Size::Qword, Size::Dword, Size::Word, Size::Byte] {
            for num in 0..16 {
                let r = Reg::from_num(num, size);
                assert_eq!(Reg::from_name(r.name()), Some(r));
                assert_eq!(r.size(), size);
                assert_eq!(r.num(), num);
            }
        }
        for r in [AH, CH, DH, BH] {
            assert_eq!(Reg::from_name(r.name()), Some(r));
            assert!(r.is_high_byte());
        }
        assert_eq!(Reg::from_name("R8L"), Some(R8B));
        assert_eq!(Reg::from_name("rip"), None);
        assert!(SIL.needs_rex() && !AL.needs_rex() && !AH.needs_rex() && R8D.needs_rex());
        for n in 0..16 {
            let x = Xmm::from_num(n);
            assert_eq!(Xmm::from_name(x.name()), Some(x));
        }
        assert_eq!(Xmm::from_name("xmm16"), None);
        assert_eq!(Xmm::from_name("xmm01"), None);
        for s in SegReg::ALL {
            assert_eq!(SegReg::from_name(s.name()), Some(s));
        }
    }
}
