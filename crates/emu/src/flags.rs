//! Lazily evaluated arithmetic flags.
//!
//! Most instructions that set flags only record their operands and result here; CF, ZF, SF, OF,
//! PF and AF are computed when something (a jcc, setcc, pushf...) asks. `bits` holds the
//! authoritative RFLAGS whenever `lazy` is `None`, and always holds the non-arithmetic bits (DF,
//! IF, ...). For `Inc`/`Dec` the preserved CF lives in `bits`.

pub const CF: u64 = 1 << 0;
pub const PF: u64 = 1 << 2;
pub const AF: u64 = 1 << 4;
pub const ZF: u64 = 1 << 6;
pub const SF: u64 = 1 << 7;
pub const DF: u64 = 1 << 10;
pub const OF: u64 = 1 << 11;
pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;

/// Which operation the recorded operands belong to. `repr(u8)`: translated code stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Lazy {
    None,
    Add,
    Sub,
    Logic,
    Inc,
    Dec,
}

/// `repr(C)`: translated code (crate::translate) writes these fields at fixed offsets; `lazy`
/// and `size` are adjacent so one 16-bit store sets both.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Flags {
    pub lazy: Lazy,
    /// Operand size in bytes of the recorded operation.
    pub size: u8,
    pub dst: u64,
    pub src: u64,
    /// The result, already truncated to `size`.
    pub res: u64,
    pub bits: u64,
}

#[inline(always)]
pub fn mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

#[inline(always)]
pub fn sign_bit(size: u8) -> u64 {
    1u64 << (size * 8 - 1)
}

#[inline(always)]
pub fn sext(v: u64, size: u8) -> i64 {
    let sh = 64 - u32::from(size) * 8;
    ((v << sh) as i64) >> sh
}

#[inline(always)]
pub fn parity(v: u64) -> bool {
    (v as u8).count_ones().is_multiple_of(2)
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            lazy: Lazy::None,
            size: 8,
            dst: 0,
            src: 0,
            res: 0,
            bits: 0x202,
        }
    }
}

impl Flags {
    #[inline(always)]
    pub fn set_lazy(&mut self, lazy: Lazy, size: u8, dst: u64, src: u64, res: u64) {
        self.lazy = lazy;
        self.size = size;
        self.dst = dst;
        self.src = src;
        self.res = res;
    }

    #[inline(always)]
    pub fn cf(&self) -> bool {
        match self.lazy {
            Lazy::Add => self.res < self.dst & mask(self.size),
            Lazy::Sub => self.dst & mask(self.size) < self.src & mask(self.size),
            Lazy::Logic => false,
            Lazy::None | Lazy::Inc | Lazy::Dec => self.bits & CF != 0,
        }
    }
    #[inline(always)]
    pub fn zf(&self) -> bool {
        match self.lazy {
            Lazy::None => self.bits & ZF != 0,
            _ => self.res == 0,
        }
    }
    #[inline(always)]
    pub fn sf(&self) -> bool {
        match self.lazy {
            Lazy::None => self.bits & SF != 0,
            _ => self.res & sign_bit(self.size) != 0,
        }
    }
    #[inline(always)]
    pub fn of(&self) -> bool {
        let sb = sign_bit(self.size);
        match self.lazy {
            Lazy::None => self.bits & OF != 0,
            Lazy::Add => (self.dst ^ self.res) & (self.src ^ self.res) & sb != 0,
            Lazy::Sub => (self.dst ^ self.src) & (self.dst ^ self.res) & sb != 0,
            Lazy::Logic => false,
            Lazy::Inc => self.res == sb,
            Lazy::Dec => self.res == sb - 1,
        }
    }
    #[inline(always)]
    pub fn pf(&self) -> bool {
        match self.lazy {
            Lazy::None => self.bits & PF != 0,
            _ => parity(self.res),
        }
    }
    pub fn af(&self) -> bool {
        match self.lazy {
            Lazy::None => self.bits & AF != 0,
            Lazy::Logic => false,
            _ => (self.dst ^ self.src ^ self.res) & 0x10 != 0,
        }
    }

    /// The full RFLAGS value.
    pub fn get(&self) -> u64 {
        if self.lazy == Lazy::None {
            return self.bits;
        }
        let mut f = self.bits & !ARITH;
        for (on, bit) in [
            (self.cf(), CF),
            (self.pf(), PF),
            (self.af(), AF),
            (self.zf(), ZF),
            (self.sf(), SF),
            (self.of(), OF),
        ] {
            if on {
                f |= bit;
            }
        }
        f
    }

    /// Replaces RFLAGS (bit 1 always reads as one).
    pub fn set(&mut self, v: u64) {
        self.lazy = Lazy::None;
        self.bits = v | 2;
    }

    /// Makes `bits` authoritative (used before changing single flags).
    #[inline]
    pub fn materialize(&mut self) {
        if self.lazy != Lazy::None {
            self.bits = self.get();
            self.lazy = Lazy::None;
        }
    }

    #[inline]
    pub fn set_flag(&mut self, bit: u64, on: bool) {
        self.materialize();
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    /// Sets ZF, SF and PF from `res` of `size`, CF and OF explicitly, AF cleared (eager form for
    /// shifts, multiplies and the like).
    pub fn set_szp_co(&mut self, size: u8, res: u64, cf: bool, of: bool) {
        let res = res & mask(size);
        let mut f = self.bits & !ARITH;
        if cf {
            f |= CF;
        }
        if of {
            f |= OF;
        }
        if res == 0 {
            f |= ZF;
        }
        if res & sign_bit(size) != 0 {
            f |= SF;
        }
        if parity(res) {
            f |= PF;
        }
        self.lazy = Lazy::None;
        self.bits = f;
    }

    /// The condition of a jcc/setcc/cmovcc, by its 4-bit encoding.
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        if self.lazy == Lazy::Sub {
            // The common `cmp a, b; jcc` case without computing individual flags.
            let m = mask(self.size);
            let (d, s) = (self.dst & m, self.src & m);
            let (sd, ss) = (sext(d, self.size), sext(s, self.size));
            return match cc {
                0x2 => d < s,
                0x3 => d >= s,
                0x4 => d == s,
                0x5 => d != s,
                0x6 => d <= s,
                0x7 => d > s,
                0xc => sd < ss,
                0xd => sd >= ss,
                0xe => sd <= ss,
                0xf => sd > ss,
                _ => self.cond_slow(cc),
            };
        }
        self.cond_slow(cc)
    }

    fn cond_slow(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }
}
