//! A small deterministic random source for differential tests: xorshift64, so that a failing case
//! reproduces from its seed, plus generators that favour the values where arithmetic goes wrong
//! (zero, all ones, powers of two and their neighbours, sign bits, special floats).

/// Marsaglia's xorshift64 (shifts 13, 7, 17). The seed must not be zero (it would stay zero).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        assert_ne!(seed, 0, "xorshift64 needs a nonzero seed");
        Rng(seed)
    }

    /// A generator for any seed, zero included: the seed is spread over the bits (times
    /// 2^64/φ) and made odd, so that small or similar seeds (1, 2, `seed ^ n`...) start far apart.
    pub fn from_any_seed(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0; the small modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// An integer that finds edge cases: zero, all ones, a power of two, a power of two minus
    /// one, a small number (below 64: shift and bit counts), the sign bit of each byte width
    /// (`0x80 << 8k`), or random bits (a quarter of the time).
    pub fn value(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => u64::MAX,
            2 => 1u64 << self.below(64),
            3 => (1u64 << self.below(64)).wrapping_sub(1),
            4 => self.below(64),
            5 => 0x8000_0000_0000_0000 >> (8 * self.below(8)),
            _ => self.next_u64(),
        }
    }

    /// The bits of an `f64`: random bits (NaNs and denormals included), a special value (signed
    /// zeros, ±1, 0.5, infinity, 1e300), or a finite number of moderate magnitude (2^-30..2^30),
    /// where sums and products round.
    pub fn double(&mut self) -> u64 {
        match self.below(6) {
            0 => self.next_u64(),
            1 => [0.0f64, -0.0, 1.0, -1.0, 0.5, f64::INFINITY, 1e300][self.below(7) as usize]
                .to_bits(),
            _ => {
                let m = (self.next_u64() >> 11) as f64 / (1u64 << 40) as f64;
                let e = self.below(60) as i32 - 30;
                let s = if self.next_u64() & 1 == 1 { -1.0 } else { 1.0 };
                (s * m * 2f64.powi(e)).to_bits()
            }
        }
    }

    /// The bits of an `f32` (in the low 32 bits): [`Rng::double`]'s values rounded to `f32`.
    pub fn float(&mut self) -> u64 {
        let d = f64::from_bits(self.double()) as f32;
        u64::from(d.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn is_xorshift64_and_reaches_every_edge_value() {
        // Marsaglia's xorshift64 from 1: the first outputs are fixed by the algorithm.
        let mut r = Rng::new(1);
        assert_eq!(r.next_u64(), 0x4082_2041);
        assert_eq!(r.next_u64(), 0x1000_4106_0c01_1441);
        let mut r = Rng::new(0x2545_f491_4f6c_dd1d);
        let values: Vec<u64> = (0..2000).map(|_| r.value()).collect();
        for edge in [0, u64::MAX, 1, 0x7fff_ffff, 0x8000_0000, 0x80] {
            assert!(values.contains(&edge), "{edge:#x} never generated");
        }
        let doubles: Vec<f64> = (0..2000).map(|_| f64::from_bits(r.double())).collect();
        assert!(doubles.iter().any(|d| d.is_infinite()));
        assert!(doubles.iter().any(|d| *d == 0.0 && d.is_sign_negative()));
        assert!(doubles
            .iter()
            .any(|d| d.abs() > 1e-12 && d.abs() < 1e12 && d.fract() != 0.0));
        assert!((0..100).all(|_| r.float() >> 32 == 0));
    }

    #[test]
    fn any_seed_starts_a_sequence_and_the_helpers_stay_in_range() {
        let mut r = Rng::from_any_seed(0);
        assert_ne!(r.next_u64(), 0);
        let picked: std::collections::BTreeSet<u8> =
            (0..1000).map(|_| r.pick(&[3, 5, 7])).collect();
        assert_eq!(picked.into_iter().collect::<Vec<_>>(), [3, 5, 7]);
        let hits = (0..10_000).filter(|_| r.chance(20)).count();
        assert!((1500..2500).contains(&hits), "{hits} of 10000 at 20%");
        assert!((0..1000).all(|_| !r.chance(0) && r.chance(100)));
        let bytes: std::collections::BTreeSet<u8> = (0..10_000).map(|_| r.byte()).collect();
        assert_eq!(bytes.len(), 256);
    }
}
