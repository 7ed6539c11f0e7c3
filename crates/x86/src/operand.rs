//! Instruction operands: registers, memory references, immediates and code targets.

use crate::reg::{Reg, SegReg, Size, Xmm};

/// A position in the code, bound once with [`Assembler::bind`](crate::Assembler::bind) and
/// referenced any number of times before or after (jumps, calls, `lea r, [rip + label]`, data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(pub(crate) u32);

impl Label {
    /// The label's index in the assembler that created it.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A symbol outside this assembler's code (`putchar`, another section's label). Its address is
/// filled in when the code is loaded; references become [`Reloc`](crate::Reloc)s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SymbolId(pub(crate) u32);

impl SymbolId {
    pub fn index(self) -> u32 {
        self.0
    }
}

/// What a branch, a RIP-relative operand or a data word refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Label(Label),
    Symbol(SymbolId),
}

impl From<Label> for Target {
    fn from(l: Label) -> Target {
        Target::Label(l)
    }
}

impl From<SymbolId> for Target {
    fn from(s: SymbolId) -> Target {
        Target::Symbol(s)
    }
}

/// A memory operand: `[base + index*scale + disp]`, `[rip + target + disp]` or an absolute
/// `[disp]`, optionally with an operand size (`QWORD PTR`), which is required only when no
/// register operand gives the size (`mov QWORD PTR [rdi], 1`, `inc DWORD PTR [rax]`).
///
/// ```
/// use jitkit_x86::{Mem, Size, RDI, RCX};
/// let field = Mem::base_disp(RDI, 16).sized(Size::Dword);     // DWORD PTR [rdi+16]
/// let elem = Mem::base_index(RDI, RCX, 8, 0);                 // [rdi+rcx*8]
/// # let _ = (field, elem);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    pub(crate) base: Option<Reg>,
    pub(crate) index: Option<Reg>,
    /// 1, 2, 4 or 8.
    pub(crate) scale: u8,
    pub(crate) rip: bool,
    pub(crate) disp: i32,
    pub(crate) size: Option<Size>,
    /// A label or symbol whose address is added to `disp` (RIP-relative or absolute).
    pub(crate) target: Option<Target>,
    /// A segment override (`fs:[rax]`, `gs:0x28`).
    pub(crate) seg: Option<SegReg>,
}

impl Mem {
    const EMPTY: Mem = Mem {
        base: None,
        index: None,
        scale: 1,
        rip: false,
        disp: 0,
        size: None,
        target: None,
        seg: None,
    };

    /// `[base]`
    #[inline(always)]
    pub const fn base(base: Reg) -> Mem {
        Mem {
            base: Some(base),
            ..Mem::EMPTY
        }
    }

    /// `[base + disp]`
    #[inline(always)]
    pub const fn base_disp(base: Reg, disp: i32) -> Mem {
        Mem {
            base: Some(base),
            disp,
            ..Mem::EMPTY
        }
    }

    /// `[base + index*scale + disp]`; scale is 1, 2, 4 or 8.
    #[inline(always)]
    pub const fn base_index(base: Reg, index: Reg, scale: u8, disp: i32) -> Mem {
        Mem {
            base: Some(base),
            index: Some(index),
            scale,
            disp,
            ..Mem::EMPTY
        }
    }

    /// `[index*scale + disp]` (no base register).
    #[inline(always)]
    pub const fn index_only(index: Reg, scale: u8, disp: i32) -> Mem {
        Mem {
            index: Some(index),
            scale,
            disp,
            ..Mem::EMPTY
        }
    }

    /// `[disp]`: an absolute 32-bit address, sign-extended.
    #[inline(always)]
    pub const fn abs(disp: i32) -> Mem {
        Mem { disp, ..Mem::EMPTY }
    }

    /// `[rip + disp]`: relative to the end of the instruction.
    #[inline(always)]
    pub const fn rip(disp: i32) -> Mem {
        Mem {
            rip: true,
            disp,
            ..Mem::EMPTY
        }
    }

    /// `[rip + label]`: the address of a label, RIP-relative.
    #[inline(always)]
    pub const fn rip_label(label: Label) -> Mem {
        Mem {
            rip: true,
            target: Some(Target::Label(label)),
            ..Mem::EMPTY
        }
    }

    /// `[rip + target + disp]`: a label or external symbol, RIP-relative.
    #[inline(always)]
    pub const fn rip_target(target: Target, disp: i32) -> Mem {
        Mem {
            rip: true,
            disp,
            target: Some(target),
            ..Mem::EMPTY
        }
    }

    /// The same operand with an explicit size (`BYTE PTR` ... `QWORD PTR`).
    #[inline(always)]
    pub const fn sized(mut self, size: Size) -> Mem {
        self.size = Some(size);
        self
    }

    /// The same operand without an explicit size.
    #[inline(always)]
    pub const fn without_size(mut self) -> Mem {
        self.size = None;
        self
    }

    /// Adds to the displacement (wrapping).
    #[inline(always)]
    pub const fn offset(mut self, disp: i32) -> Mem {
        self.disp = self.disp.wrapping_add(disp);
        self
    }

    /// A memory operand with every field given (what the text assembler builds).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub const fn new(
        base: Option<Reg>,
        index: Option<Reg>,
        scale: u8,
        rip: bool,
        disp: i32,
        size: Option<Size>,
        target: Option<Target>,
    ) -> Mem {
        Mem {
            base,
            index,
            scale,
            rip,
            disp,
            size,
            target,
            seg: None,
        }
    }

    /// The same operand with a segment override (`fs:[rax+8]`, `gs:0x28` for TLS and the
    /// stack protector). GNU as writes the prefix unless it names the default segment of the
    /// address (`ss` with an `rsp`/`rbp` base, `ds` otherwise), and so does the encoder.
    #[inline(always)]
    pub const fn with_segment(mut self, seg: SegReg) -> Mem {
        self.seg = Some(seg);
        self
    }

    /// The segment override, if any.
    #[inline(always)]
    pub const fn segment(&self) -> Option<SegReg> {
        self.seg
    }

    pub const fn size(&self) -> Option<Size> {
        self.size
    }
    #[inline(always)]
    pub const fn base_reg(&self) -> Option<Reg> {
        self.base
    }
    #[inline(always)]
    pub const fn index_reg(&self) -> Option<Reg> {
        self.index
    }
    #[inline(always)]
    pub const fn scale(&self) -> u8 {
        self.scale
    }
    #[inline(always)]
    pub const fn disp(&self) -> i32 {
        self.disp
    }
    #[inline(always)]
    pub const fn is_rip(&self) -> bool {
        self.rip
    }
    #[inline(always)]
    pub const fn target(&self) -> Option<Target> {
        self.target
    }
}

/// `BYTE PTR m`
#[inline(always)]
pub const fn byte_ptr(m: Mem) -> Mem {
    m.sized(Size::Byte)
}
/// `WORD PTR m`
#[inline(always)]
pub const fn word_ptr(m: Mem) -> Mem {
    m.sized(Size::Word)
}
/// `DWORD PTR m`
#[inline(always)]
pub const fn dword_ptr(m: Mem) -> Mem {
    m.sized(Size::Dword)
}
/// `QWORD PTR m`
#[inline(always)]
pub const fn qword_ptr(m: Mem) -> Mem {
    m.sized(Size::Qword)
}
/// `XMMWORD PTR m` (16 bytes, for packed SSE instructions)
#[inline(always)]
pub const fn xmmword_ptr(m: Mem) -> Mem {
    m.sized(Size::Xmmword)
}

/// Any operand of an instruction. Registers, memory operands, integers and labels convert into it
/// with `From`, so builder methods accept `RAX`, `XMM0`, `Mem::base(RDI)`, `42` or a `Label`
/// directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(Reg),
    /// An SSE register.
    Xmm(Xmm),
    /// A segment register (`mov ax, fs`, `push fs`).
    Seg(SegReg),
    Mem(Mem),
    /// An immediate; its encoded width depends on the instruction (GNU as's shortest choice).
    Imm(i64),
    /// A code or data address: a branch target, or an absolute address as an immediate
    /// (`mov eax, OFFSET label`, `movabs rax, OFFSET label`).
    Target(Target, i64),
}

impl From<Reg> for Operand {
    #[inline(always)]
    fn from(r: Reg) -> Operand {
        Operand::Reg(r)
    }
}
impl From<Xmm> for Operand {
    #[inline(always)]
    fn from(x: Xmm) -> Operand {
        Operand::Xmm(x)
    }
}
impl From<SegReg> for Operand {
    #[inline(always)]
    fn from(s: SegReg) -> Operand {
        Operand::Seg(s)
    }
}
impl From<Mem> for Operand {
    #[inline(always)]
    fn from(m: Mem) -> Operand {
        Operand::Mem(m)
    }
}
impl From<Label> for Operand {
    fn from(l: Label) -> Operand {
        Operand::Target(Target::Label(l), 0)
    }
}
impl From<SymbolId> for Operand {
    fn from(s: SymbolId) -> Operand {
        Operand::Target(Target::Symbol(s), 0)
    }
}
macro_rules! imm_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Operand {
            #[inline(always)]
            fn from(v: $t) -> Operand { Operand::Imm(v as i64) }
        }
    )*};
}
imm_from!(i8, i16, i32, i64, u8, u16, u32, isize);

/// A condition code, as in `jcc`/`setcc`/`cmovcc` (the low nibble of their opcodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    O = 0,
    No = 1,
    /// below (unsigned <), also `c`, `nae`
    B = 2,
    /// above or equal (unsigned >=), also `nc`, `nb`
    Ae = 3,
    /// equal, also `z`
    E = 4,
    /// not equal, also `nz`
    Ne = 5,
    /// below or equal (unsigned <=), also `na`
    Be = 6,
    /// above (unsigned >), also `nbe`
    A = 7,
    S = 8,
    Ns = 9,
    /// parity even, also `pe`
    P = 10,
    /// parity odd, also `po`
    Np = 11,
    /// less (signed <), also `nge`
    L = 12,
    /// greater or equal (signed >=), also `nl`
    Ge = 13,
    /// less or equal (signed <=), also `ng`
    Le = 14,
    /// greater (signed >), also `nle`
    G = 15,
}

impl Cond {
    /// The opposite condition (`e` <-> `ne`, `l` <-> `ge`, ...).
    #[inline(always)]
    pub const fn negate(self) -> Cond {
        Cond::from_code(self as u8 ^ 1)
    }

    pub const fn from_code(code: u8) -> Cond {
        use Cond::*;
        const ALL: [Cond; 16] = [O, No, B, Ae, E, Ne, Be, A, S, Ns, P, Np, L, Ge, Le, G];
        ALL[(code & 15) as usize]
    }

    /// Parses a condition suffix as GNU as spells it (`e`, `z`, `nae`, `pe`, ...).
    pub fn from_suffix(s: &str) -> Option<Cond> {
        use Cond::*;
        Some(match s {
            "o" => O,
            "no" => No,
            "b" | "c" | "nae" => B,
            "ae" | "nb" | "nc" => Ae,
            "e" | "z" => E,
            "ne" | "nz" => Ne,
            "be" | "na" => Be,
            "a" | "nbe" => A,
            "s" => S,
            "ns" => Ns,
            "p" | "pe" => P,
            "np" | "po" => Np,
            "l" | "nge" => L,
            "ge" | "nl" => Ge,
            "le" | "ng" => Le,
            "g" | "nle" => G,
            _ => return None,
        })
    }

    /// Every suffix spelling GNU as accepts, with its condition.
    pub const SUFFIXES: [(&'static str, Cond); 30] = [
        ("o", Cond::O),
        ("no", Cond::No),
        ("b", Cond::B),
        ("c", Cond::B),
        ("nae", Cond::B),
        ("ae", Cond::Ae),
        ("nb", Cond::Ae),
        ("nc", Cond::Ae),
        ("e", Cond::E),
        ("z", Cond::E),
        ("ne", Cond::Ne),
        ("nz", Cond::Ne),
        ("be", Cond::Be),
        ("na", Cond::Be),
        ("a", Cond::A),
        ("nbe", Cond::A),
        ("s", Cond::S),
        ("ns", Cond::Ns),
        ("p", Cond::P),
        ("pe", Cond::P),
        ("np", Cond::Np),
        ("po", Cond::Np),
        ("l", Cond::L),
        ("nge", Cond::L),
        ("ge", Cond::Ge),
        ("nl", Cond::Ge),
        ("le", Cond::Le),
        ("ng", Cond::Le),
        ("g", Cond::G),
        ("nle", Cond::G),
    ];
}
