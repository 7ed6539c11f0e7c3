//! Software 80-bit extended precision (the x87 format): 64-bit explicit mantissa, 15-bit
//! exponent, exact results rounded in the x87 rounding mode (`*_rc`: 0 nearest-even, 1 down,
//! 2 up, 3 toward zero; the plain methods round to nearest). musl's printf does its digit
//! generation in `long double`, so this has to be exact, not "f64 with more bytes". NaN
//! operands propagate as the x87 does: a NaN operand (quieted) is the result, the one with the
//! larger significand when both are NaNs; invalid operations give the default NaN.

/// An x87 extended value in its memory layout: sign+exponent, mantissa with explicit integer bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct F80 {
    pub se: u16,
    pub mant: u64,
}

enum Class {
    Zero(bool),
    Inf(bool),
    Nan,
    /// value = mant / 2^63 * 2^exp, mant has bit 63 set.
    Finite(bool, i32, u64),
}

const BIAS: i32 = 16383;

#[allow(clippy::should_implement_trait)]
impl F80 {
    pub const ZERO: F80 = F80 { se: 0, mant: 0 };
    pub const ONE: F80 = F80 {
        se: 16383,
        mant: 1 << 63,
    };
    pub const NAN: F80 = F80 {
        se: 0xffff,
        mant: 0xc000_0000_0000_0000,
    };

    pub fn from_bytes(b: [u8; 10]) -> F80 {
        F80 {
            mant: u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 10] {
        let mut out = [0u8; 10];
        out[..8].copy_from_slice(&self.mant.to_le_bytes());
        out[8..].copy_from_slice(&self.se.to_le_bytes());
        out
    }

    fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }

    fn class(self) -> Class {
        let s = self.sign();
        let e = i32::from(self.se & 0x7fff);
        if e == 0x7fff {
            return if self.mant << 1 == 0 {
                Class::Inf(s)
            } else {
                Class::Nan
            };
        }
        if self.mant == 0 {
            return Class::Zero(s);
        }
        // Denormals (e == 0) and unnormals: normalize.
        let lz = self.mant.leading_zeros() as i32;
        let e = if e == 0 { 1 } else { e };
        Class::Finite(s, e - BIAS - lz, self.mant << lz)
    }

    fn inf(sign: bool) -> F80 {
        F80 {
            se: 0x7fff | if sign { 0x8000 } else { 0 },
            mant: 1 << 63,
        }
    }

    fn zero(sign: bool) -> F80 {
        F80 {
            se: if sign { 0x8000 } else { 0 },
            mant: 0,
        }
    }

    /// Rounds value = m / 2^127 * 2^exp (m != 0) to nearest even.
    fn round(sign: bool, exp: i32, m: u128) -> F80 {
        F80::round_rc(sign, exp, m, 0)
    }

    /// Rounds value = m / 2^127 * 2^exp (m != 0) to extended precision in rounding mode `rc`.
    fn round_rc(sign: bool, exp: i32, m: u128, rc: u16) -> F80 {
        let s = if sign { 0x8000 } else { 0 };
        match round_bits(sign, exp, m, 64, 1 - BIAS, BIAS, rc) {
            Rounded::Zero => F80::zero(sign),
            Rounded::Overflow(true) => F80::inf(sign),
            Rounded::Overflow(false) => F80 {
                se: 0x7ffe | s,
                mant: u64::MAX,
            },
            Rounded::Value(e, sig) => F80 {
                // A significand without its top bit is a denormal (exponent field 0).
                se: if sig >> 63 == 1 { (e + BIAS) as u16 } else { 0 } | s,
                mant: sig as u64,
            },
        }
    }

    /// The NaN result of an operation with NaN operands (`None` when neither is a NaN).
    fn nan_operand(a: F80, b: F80) -> Option<F80> {
        let quiet = |x: F80| F80 {
            se: x.se,
            mant: x.mant | (1 << 62),
        };
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Some(quiet(if (b.mant << 1) > (a.mant << 1) { b } else { a })),
            (true, false) => Some(quiet(a)),
            (false, true) => Some(quiet(b)),
            (false, false) => None,
        }
    }

    pub fn from_f64(x: f64) -> F80 {
        let bits = x.to_bits();
        let sign = bits >> 63 != 0;
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1 << 52) - 1);
        match (exp, frac) {
            (0, 0) => F80::zero(sign),
            (0x7ff, 0) => F80::inf(sign),
            (0x7ff, _) => F80 {
                se: 0x7fff | if sign { 0x8000 } else { 0 },
                mant: (1 << 63) | (1 << 62) | (frac << 11),
            },
            (0, _) => F80::round(sign, -1022, u128::from(frac) << 75),
            _ => F80 {
                se: (exp - 1023 + BIAS) as u16 | if sign { 0x8000 } else { 0 },
                mant: (1 << 63) | (frac << 11),
            },
        }
    }

    pub fn from_f32(x: f32) -> F80 {
        F80::from_f64(f64::from(x))
    }

    pub fn from_i64(v: i64) -> F80 {
        if v == 0 {
            return F80::ZERO;
        }
        let m = v.unsigned_abs();
        let sign = v < 0;
        let lz = m.leading_zeros() as i32;
        F80 {
            se: (63 - lz + BIAS) as u16 | if sign { 0x8000 } else { 0 },
            mant: m << lz,
        }
    }

    /// Converts to f64 rounding to nearest.
    pub fn to_f64(self) -> f64 {
        f64::from_bits(self.to_binary(53, 11, 0))
    }

    /// Converts to f64 (fst m64) in rounding mode `rc`.
    pub fn to_f64_rc(self, rc: u16) -> f64 {
        f64::from_bits(self.to_binary(53, 11, rc))
    }

    /// Converts to f32 (fst m32) in rounding mode `rc`, with a single rounding.
    pub fn to_f32_rc(self, rc: u16) -> f32 {
        f32::from_bits(self.to_binary(24, 8, rc) as u32)
    }

    /// The bits of an IEEE binary format with `p` significand bits (hidden bit included) and an
    /// `ebits`-bit exponent.
    fn to_binary(self, p: u32, ebits: u32, rc: u16) -> u64 {
        let bias = (1i32 << (ebits - 1)) - 1;
        let frac_mask = (1u64 << (p - 1)) - 1;
        let sign = u64::from(self.sign()) << (p - 1 + ebits);
        let exp_all = ((1u64 << ebits) - 1) << (p - 1);
        match self.class() {
            Class::Zero(_) => sign,
            Class::Inf(_) => sign | exp_all,
            // Quiet, payload from the top of the mantissa.
            Class::Nan => sign | exp_all | (1 << (p - 2)) | ((self.mant << 1) >> (65 - p)),
            Class::Finite(s, e, m) => {
                match round_bits(s, e, u128::from(m) << 64, p, 1 - bias, bias, rc) {
                    Rounded::Zero => sign,
                    Rounded::Overflow(true) => sign | exp_all,
                    Rounded::Overflow(false) => sign | (exp_all - (1 << (p - 1))) | frac_mask,
                    Rounded::Value(e, sig) => {
                        let sig = sig as u64;
                        let biased = if sig >> (p - 1) == 1 {
                            (e + bias) as u64
                        } else {
                            0
                        };
                        sign | (biased << (p - 1)) | (sig & frac_mask)
                    }
                }
            }
        }
    }

    pub fn neg(self) -> F80 {
        F80 {
            se: self.se ^ 0x8000,
            mant: self.mant,
        }
    }

    pub fn abs(self) -> F80 {
        F80 {
            se: self.se & 0x7fff,
            mant: self.mant,
        }
    }

    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::Nan)
    }

    pub fn add(self, other: F80) -> F80 {
        self.add_rc(other, 0)
    }

    pub fn add_rc(self, other: F80, rc: u16) -> F80 {
        if let Some(n) = F80::nan_operand(self, other) {
            return n;
        }
        match (self.class(), other.class()) {
            (Class::Nan, _) | (_, Class::Nan) => F80::NAN,
            (Class::Inf(a), Class::Inf(b)) => {
                if a == b {
                    F80::inf(a)
                } else {
                    F80::NAN
                }
            }
            (Class::Inf(a), _) => F80::inf(a),
            (_, Class::Inf(b)) => F80::inf(b),
            // Exact zero sums are +0, except -0 + -0, and any zero sum rounding down.
            (Class::Zero(a), Class::Zero(b)) => {
                F80::zero(if rc & 3 == 1 { a || b } else { a && b })
            }
            (Class::Zero(_), _) => other,
            (_, Class::Zero(_)) => self,
            (Class::Finite(sa, ea, ma), Class::Finite(sb, eb, mb)) => {
                // Order by magnitude.
                let ((sa, ea, ma), (sb, eb, mb)) = if (ea, ma) >= (eb, mb) {
                    ((sa, ea, ma), (sb, eb, mb))
                } else {
                    ((sb, eb, mb), (sa, ea, ma))
                };
                // value = m / 2^127 * 2^e with m = mant << 63 (one spare bit for carries).
                let a = u128::from(ma) << 63;
                let d = (ea - eb) as u32;
                let b0 = u128::from(mb) << 63;
                let b = if d >= 127 {
                    u128::from(b0 != 0)
                } else {
                    let lost = b0 & ((1u128 << d) - 1);
                    (b0 >> d) | u128::from(lost != 0)
                };
                if sa == sb {
                    F80::round_rc(sa, ea + 1, a + b, rc)
                } else {
                    let r = a - b;
                    if r == 0 {
                        return F80::zero(rc & 3 == 1);
                    }
                    F80::round_rc(sa, ea + 1, r, rc)
                }
            }
        }
    }

    pub fn sub(self, other: F80) -> F80 {
        self.sub_rc(other, 0)
    }

    pub fn sub_rc(self, other: F80, rc: u16) -> F80 {
        if let Some(n) = F80::nan_operand(self, other) {
            return n;
        }
        self.add_rc(other.neg(), rc)
    }

    pub fn mul(self, other: F80) -> F80 {
        self.mul_rc(other, 0)
    }

    pub fn mul_rc(self, other: F80, rc: u16) -> F80 {
        if let Some(n) = F80::nan_operand(self, other) {
            return n;
        }
        let s = self.sign() != other.sign();
        match (self.class(), other.class()) {
            (Class::Nan, _) | (_, Class::Nan) => F80::NAN,
            (Class::Inf(_), Class::Zero(_)) | (Class::Zero(_), Class::Inf(_)) => F80::NAN,
            (Class::Inf(_), _) | (_, Class::Inf(_)) => F80::inf(s),
            (Class::Zero(_), _) | (_, Class::Zero(_)) => F80::zero(s),
            (Class::Finite(_, ea, ma), Class::Finite(_, eb, mb)) => {
                let p = u128::from(ma) * u128::from(mb);
                // p / 2^126 * 2^(ea+eb) = p / 2^127 * 2^(ea+eb+1)
                F80::round_rc(s, ea + eb + 1, p, rc)
            }
        }
    }

    pub fn div(self, other: F80) -> F80 {
        self.div_rc(other, 0)
    }

    pub fn div_rc(self, other: F80, rc: u16) -> F80 {
        if let Some(n) = F80::nan_operand(self, other) {
            return n;
        }
        let s = self.sign() != other.sign();
        match (self.class(), other.class()) {
            (Class::Nan, _) | (_, Class::Nan) => F80::NAN,
            (Class::Inf(_), Class::Inf(_)) | (Class::Zero(_), Class::Zero(_)) => F80::NAN,
            (Class::Inf(_), _) | (_, Class::Zero(_)) => F80::inf(s),
            (Class::Zero(_), _) | (_, Class::Inf(_)) => F80::zero(s),
            (Class::Finite(_, ea, ma), Class::Finite(_, eb, mb)) => {
                let n = u128::from(ma) << 63;
                let q_hi = n / u128::from(mb);
                let r = n % u128::from(mb);
                let q_lo = (r << 64) / u128::from(mb);
                let r2 = (r << 64) % u128::from(mb);
                let m = (q_hi << 64) | q_lo | u128::from(r2 != 0);
                // m / 2^127 = ma/mb
                F80::round_rc(s, ea - eb, m, rc)
            }
        }
    }

    pub fn sqrt(self) -> F80 {
        self.sqrt_rc(0)
    }

    pub fn sqrt_rc(self, rc: u16) -> F80 {
        match self.class() {
            Class::Nan => F80::nan_operand(self, self).unwrap_or(F80::NAN),
            Class::Zero(_) => self,
            Class::Inf(false) => self,
            Class::Inf(true) | Class::Finite(true, _, _) => F80::NAN,
            Class::Finite(false, e, m) => {
                // Integer square root of m * 2^(64 or 63) with an exponent made even.
                let (n, e2) = if e % 2 == 0 {
                    (u128::from(m) << 63, e)
                } else {
                    (u128::from(m) << 64, e - 1)
                };
                // n / 2^126 * 2^e2 = value; sqrt = sqrt(n) / 2^63 * 2^(e2/2)
                let mut x = (n as f64).sqrt() as u128;
                while x.checked_mul(x).is_none_or(|sq| sq > n) {
                    x -= 1;
                }
                while (x + 1).checked_mul(x + 1).is_some_and(|sq| sq <= n) {
                    x += 1;
                }
                // sqrt(n) = x + f, 0 <= f < 1, never exactly x + 1/2: f > 1/2 exactly when
                // n - x^2 > x. That decides the bit below x; any remainder is sticky.
                let r = n - x * x;
                let below = if r > x {
                    (1u128 << 63) | 1
                } else {
                    u128::from(r != 0)
                };
                F80::round_rc(false, e2 / 2, (x << 64) | below, rc)
            }
        }
    }

    /// Ordering; `None` when either is NaN.
    pub fn compare(self, other: F80) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering;
        let key = |c: Class| -> Option<(i8, i32, u64)> {
            Some(match c {
                Class::Nan => return None,
                Class::Zero(_) => (0, 0, 0),
                Class::Inf(s) => (if s { -2 } else { 2 }, 0, 0),
                Class::Finite(s, e, m) => (if s { -1 } else { 1 }, e, m),
            })
        };
        let (a, b) = (key(self.class())?, key(other.class())?);
        Some(match a.0.cmp(&b.0) {
            Ordering::Equal if a.0 == 1 => (a.1, a.2).cmp(&(b.1, b.2)),
            Ordering::Equal if a.0 == -1 => (b.1, b.2).cmp(&(a.1, a.2)),
            o => o,
        })
    }

    /// Rounds to an integer with x87 rounding control (0 nearest, 1 down, 2 up, 3 toward zero);
    /// `None` when out of the i64 range or NaN.
    pub fn to_i64(self, mode: u16) -> Option<i64> {
        match self.class() {
            Class::Nan | Class::Inf(_) => None,
            Class::Zero(_) => Some(0),
            Class::Finite(s, e, m) => {
                if e >= 64 {
                    return None;
                }
                let (int, frac) = if e < 0 {
                    // |value| < 1: fraction relative to 2^64, approximated with sticky.
                    let frac = if e < -1 { 1 } else { m };
                    (0u64, if e == -1 { frac } else { 1 })
                } else if e == 63 {
                    (m, 0)
                } else {
                    (m >> (63 - e), m << (e + 1))
                };
                let half = 1u64 << 63;
                let up = match mode & 3 {
                    0 => frac > half || (frac == half && int & 1 == 1),
                    1 => s && frac != 0,
                    2 => !s && frac != 0,
                    _ => false,
                };
                let mag = u128::from(int) + u128::from(up);
                if s {
                    if mag > 1u128 << 63 {
                        None
                    } else {
                        Some((mag as u64).wrapping_neg() as i64)
                    }
                } else if mag >= 1u128 << 63 {
                    None
                } else {
                    Some(mag as i64)
                }
            }
        }
    }

    /// frndint: round to an integral value in the current rounding mode.
    pub fn round_int(self, mode: u16) -> F80 {
        match self.class() {
            Class::Finite(s, e, _) if e < 63 => match self.to_i64(mode) {
                Some(0) => F80::zero(s),
                Some(v) => F80::from_i64(v),
                None => self,
            },
            _ => self,
        }
    }
}

/// A rounded significand, or why there is none.
enum Rounded {
    Zero,
    /// Beyond the largest finite value: infinity (`true`) or the largest finite value, as the
    /// rounding mode decides.
    Overflow(bool),
    /// value = sig / 2^(p-1) * 2^exp; `sig` has bit p-1 set unless the value is denormal (then
    /// `exp` is the minimum exponent).
    Value(i32, u128),
}

/// Rounds sign × m/2^127 × 2^exp (m != 0) to `p` significant bits for a format whose normal
/// exponents are `emin..=emax`, in x87 rounding mode `rc` (values below `emin` lose bits as
/// denormals, rounded once).
fn round_bits(sign: bool, exp: i32, m: u128, p: u32, emin: i32, emax: i32, rc: u16) -> Rounded {
    let lz = m.leading_zeros() as i32;
    let (mut m, mut exp) = (m << lz, exp - lz);
    if exp < emin {
        // Denormal: shift to the minimum exponent, keeping a sticky bit.
        let d = (emin - exp) as u32;
        m = if d >= 128 {
            u128::from(m != 0)
        } else {
            (m >> d) | u128::from(m & ((1u128 << d) - 1) != 0)
        };
        exp = emin;
    }
    let drop = 128 - p;
    let mut sig = m >> drop;
    let rest = m & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    let up = match rc & 3 {
        0 => rest > half || (rest == half && sig & 1 == 1),
        1 => sign && rest != 0,
        2 => !sign && rest != 0,
        _ => false,
    };
    if up {
        sig += 1;
        if sig >> p == 1 {
            sig >>= 1;
            exp += 1;
        }
    }
    if sig == 0 {
        return Rounded::Zero;
    }
    if exp > emax {
        let to_inf = match rc & 3 {
            0 => true,
            1 => sign,
            2 => !sign,
            _ => false,
        };
        return Rounded::Overflow(to_inf);
    }
    Rounded::Value(exp, sig)
}

#[cfg(test)]
mod tests {
    use super::F80;

    #[test]
    fn f64_round_trips_and_arithmetic_matches_f64_where_exact() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -2.5,
            std::f64::consts::PI,
            1e300,
            -1e-300,
            5e-324,
        ] {
            assert_eq!(F80::from_f64(x).to_f64().to_bits(), x.to_bits(), "{x}");
        }
        let a = F80::from_f64(3.0);
        let b = F80::from_f64(7.0);
        assert_eq!(a.mul(b).to_f64(), 21.0);
        assert_eq!(a.add(b).to_f64(), 10.0);
        assert_eq!(a.sub(b).to_f64(), -4.0);
        assert_eq!(b.div(F80::from_f64(2.0)).to_f64(), 3.5);
        assert_eq!(F80::from_i64(-12345).to_f64(), -12345.0);
        assert_eq!(F80::from_f64(2.5).to_i64(0), Some(2));
        assert_eq!(F80::from_f64(-2.5).to_i64(1), Some(-3));
        assert_eq!(F80::from_f64(16.0).sqrt().to_f64(), 4.0);
        // 1/3 in extended precision rounds to f64 1/3.
        assert_eq!(F80::ONE.div(F80::from_f64(3.0)).to_f64(), 1.0 / 3.0);
    }
}
