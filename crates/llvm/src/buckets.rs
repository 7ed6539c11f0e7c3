//! Hashed buckets of four constants, for set tests (`plan::SetTest`): "is A one of these
//! constants?" as one multiply, one shift, one 16-byte load and one four-lane compare (SSE2
//! `pcmpeqd` on x86-64), whatever the number of constants.
//!
//! The constants are spread over a power-of-two number of buckets by a multiplicative hash,
//! `(A * multiplier) >> shift` (the top bits of the product), with a multiplier chosen at compile
//! time so that no bucket gets more than four. A is a member exactly when one lane of its bucket
//! equals it. Lanes a bucket does not need hold a constant that cannot match there: a member of
//! the same bucket (repeated), or for an empty bucket any member (it hashes to another bucket,
//! so a value that reaches this one is never equal to it).
//!
//! Why not one compare per four constants (what the direct JIT does): LLVM's IR passes and
//! instruction selection take time in proportion to the IR, and 50 hosts made 13 vector compares
//! and 12 `or`s per test (about half of the 50-host filter's compile time). The hashed form is
//! the same few instructions for any size, and as fast to run for four constants and faster for
//! more.

/// Constants per bucket: the lanes of one 128-bit compare of 32-bit values.
pub const LANES: usize = 4;

/// Multipliers tried per table size before the table doubles.
const TRIES: usize = 64;

/// The buckets of one set of constants (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    /// The hash's odd multiplier (unused with one bucket).
    pub multiplier: u32,
    /// `32 - log2(buckets)` (unused with one bucket: a shift by 32 is not defined in LLVM IR).
    pub shift: u32,
    /// `table.len()` is a power of two; each bucket's four lanes.
    pub table: Vec<[u32; LANES]>,
}

impl Buckets {
    /// Buckets for `constants` (at least one; duplicates allowed): the smallest table, from
    /// enough buckets for four constants each, for which one of the tried multipliers spreads the
    /// constants with at most four per bucket. The choice is deterministic.
    pub fn build(constants: &[u32]) -> Buckets {
        let mut distinct = constants.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(!distinct.is_empty(), "a set has constants");
        let mut count = distinct.len().div_ceil(LANES).next_power_of_two();
        loop {
            if count == 1 {
                return Buckets::fill(&distinct, 0, 32, 1);
            }
            let bits = count.trailing_zeros();
            let shift = 32 - bits;
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(bits);
            for _ in 0..TRIES {
                let multiplier = (splitmix64(&mut seed) as u32) | 1;
                let mut load = vec![0usize; count];
                let fits = distinct.iter().all(|&k| {
                    let bucket = &mut load[hash(k, multiplier, shift)];
                    *bucket += 1;
                    *bucket <= LANES
                });
                if fits {
                    return Buckets::fill(&distinct, multiplier, shift, count);
                }
            }
            count *= 2;
        }
    }

    fn fill(distinct: &[u32], multiplier: u32, shift: u32, count: usize) -> Buckets {
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); count];
        for &k in distinct {
            let bucket = if count == 1 {
                0
            } else {
                hash(k, multiplier, shift)
            };
            members[bucket].push(k);
        }
        let table = members
            .iter()
            .map(|bucket| {
                let filler = bucket.first().copied().unwrap_or(distinct[0]);
                std::array::from_fn(|lane| bucket.get(lane).copied().unwrap_or(filler))
            })
            .collect();
        Buckets {
            multiplier,
            shift,
            table,
        }
    }

    /// The bucket `value` belongs to (what the generated code computes; `translate` builds it as
    /// IR).
    #[cfg(test)]
    pub fn bucket_of(&self, value: u32) -> usize {
        if self.table.len() == 1 {
            0
        } else {
            hash(value, self.multiplier, self.shift)
        }
    }

    /// Whether `value` is one of the constants: what the generated code computes.
    #[cfg(test)]
    pub fn contains(&self, value: u32) -> bool {
        self.table[self.bucket_of(value)].contains(&value)
    }
}

fn hash(value: u32, multiplier: u32, shift: u32) -> usize {
    (value.wrapping_mul(multiplier) >> shift) as usize
}

/// Steele, Lea and Flood's SplitMix64: a fixed sequence of well-mixed multipliers.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift32: test values that are not ours to choose.
    fn values(seed: u32, n: usize) -> Vec<u32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect()
    }

    #[test]
    fn members_and_only_members_are_found() {
        let hosts: Vec<u32> = (0..300u32)
            .map(|i| u32::from_be_bytes([10, (i / 200) as u8, (i % 200) as u8, 1 + (i % 7) as u8]))
            .collect();
        let ports: Vec<u32> = vec![53, 80, 443, 22, 25, 123, 80];
        let mut sets: Vec<Vec<u32>> = vec![ports, vec![7, 7, 7, 7], vec![0, u32::MAX, 1, 2, 3]];
        for n in [4, 5, 8, 13, 50, 100, 300] {
            sets.push(hosts[..n].to_vec());
            sets.push(values(n as u32, n));
        }
        for set in &sets {
            let buckets = Buckets::build(set);
            assert!(buckets.table.len().is_power_of_two());
            for &k in set {
                assert!(buckets.contains(k), "{k:#x} of {set:x?}");
                // Each constant sits in its own bucket, where the code looks for it.
                assert!(buckets.table[buckets.bucket_of(k)].contains(&k));
            }
            // Neighbours of the members, and unrelated values.
            let probes = set
                .iter()
                .flat_map(|&k| [k.wrapping_sub(1), k.wrapping_add(1), k ^ 0x100])
                .chain(values(99, 10_000));
            for probe in probes {
                assert_eq!(buckets.contains(probe), set.contains(&probe), "{probe:#x}");
            }
        }
    }

    #[test]
    fn tables_stay_small() {
        let cases: &[(usize, usize)] = &[(4, 1), (5, 2), (8, 2), (50, 32), (300, 256)];
        for &(n, most) in cases {
            let set = values(n as u32 + 7, n);
            let buckets = Buckets::build(&set);
            assert!(
                buckets.table.len() <= most,
                "{n} constants: {} buckets",
                buckets.table.len()
            );
        }
        // Duplicates do not count.
        assert_eq!(Buckets::build(&[1, 2, 3, 4, 1, 2, 3, 4]).table.len(), 1);
    }
}
