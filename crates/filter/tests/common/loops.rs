//! Programs whose verdict libpcap's `bpf_filter` does not define, found by a step-limited copy
//! of it that watches what the program does on one packet:
//! - libpcap's `protochain` code loops (a backward `ja`, which only libpcap's own `bpf_filter`
//!   runs), and loops forever on some packets (an IPv4 AH header whose length leads back to
//!   itself); the harness compares only packets whose chains jitkit's unrolled code covers
//!   (see `Gen::protochain`);
//! - libpcap's scratch memory is not initialized: `geneve or ip` reads the cells `geneve` sets
//!   when `geneve` did not match, in libpcap's program and in ours, and gets whatever the
//!   previous filter left there. Such packets are not compared either.

use jitkit_testkit::libpcap::RawInsn;

/// Whether `prog` jumps backwards anywhere.
pub fn has_loops(prog: &[RawInsn]) -> bool {
    prog.iter().any(|i| i.code == 0x05 && (i.k as i32) < 0)
}

/// Whether `prog` reads scratch memory at all (else it cannot read it uninitialized).
pub fn reads_memory(prog: &[RawInsn]) -> bool {
    prog.iter().any(|i| i.code == 0x60 || i.code == 0x61)
}

/// Whether libpcap's verdict for `prog` on this packet is defined and within what jitkit
/// reproduces: the program stops, its loops turn at most `max_turns` times, and it reads no
/// scratch cell it has not written.
pub fn defined(prog: &[RawInsn], pkt: &[u8], wire_len: u32, max_turns: u32) -> bool {
    let mut unset = false;
    match trace(prog, pkt, wire_len, 100_000, &mut unset) {
        Some(turns) => turns <= max_turns && !unset,
        None => false,
    }
}

/// The largest number of turns any loop of `prog` takes on `pkt`, or None when the program
/// runs longer than `limit` steps (it would not stop). Sets `unset` when a cell is read before
/// any write.
fn trace(
    prog: &[RawInsn],
    pkt: &[u8],
    wire_len: u32,
    limit: usize,
    unset: &mut bool,
) -> Option<u32> {
    let mut written = [false; 16];
    let mut turns = vec![0u32; prog.len()];
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let load = |at: u32, size: u32| -> Option<u32> {
        let at = at as usize;
        let b = pkt.get(at..at.checked_add(size as usize)?)?;
        Some(b.iter().fold(0u32, |v, &c| (v << 8) | c as u32))
    };
    for _ in 0..limit {
        let Some(i) = prog.get(pc) else {
            return Some(turns.iter().copied().max().unwrap_or(0));
        };
        let k = i.k;
        let size = match i.code & 0x18 {
            0x10 => 1,
            0x08 => 2,
            _ => 4,
        };
        pc += 1;
        let done = || Some(turns.iter().copied().max().unwrap_or(0));
        match i.code & 0x07 {
            0x00 | 0x01 => {
                // LD / LDX
                let v = match i.code & 0xe0 {
                    0x00 => k,
                    0x20 => match load(k, size) {
                        Some(v) => v,
                        None => return done(),
                    },
                    0x40 => match x.checked_add(k).and_then(|at| load(at, size)) {
                        Some(v) => v,
                        None => return done(),
                    },
                    0x60 => {
                        *unset |= !written[(k & 15) as usize];
                        mem[(k & 15) as usize]
                    }
                    0x80 => wire_len,
                    _ => match load(k, 1) {
                        Some(v) => 4 * (v & 0xf),
                        None => return done(),
                    },
                };
                if i.code & 0x07 == 0 {
                    a = v
                } else {
                    x = v
                }
            }
            0x02 => {
                mem[(k & 15) as usize] = a;
                written[(k & 15) as usize] = true;
            }
            0x03 => {
                mem[(k & 15) as usize] = x;
                written[(k & 15) as usize] = true;
            }
            0x04 => {
                let v = if i.code & 0x08 != 0 { x } else { k };
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(v),
                    0x10 => a.wrapping_sub(v),
                    0x20 => a.wrapping_mul(v),
                    0x30 if v == 0 => return done(),
                    0x30 => a / v,
                    0x40 => a | v,
                    0x50 => a & v,
                    0x60 => a.checked_shl(v).unwrap_or(0),
                    0x70 => a.checked_shr(v).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 if v == 0 => return done(),
                    0x90 => a % v,
                    _ => a ^ v,
                };
            }
            0x05 => {
                let v = if i.code & 0x08 != 0 { x } else { k };
                let taken = match i.code & 0xf0 {
                    0x00 => {
                        if (k as i32) < 0 {
                            turns[pc - 1] += 1;
                        }
                        pc = (pc as i64 + k as i32 as i64) as usize;
                        continue;
                    }
                    0x10 => a == v,
                    0x20 => a > v,
                    0x30 => a >= v,
                    _ => a & v != 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            0x06 => return done(),
            _ => {
                if i.code & 0xf8 == 0x80 {
                    a = x
                } else {
                    x = a
                }
            }
        }
    }
    None
}
