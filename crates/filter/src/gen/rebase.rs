//! Variable header offsets (after `geneve`): absolute loads become loads relative to offsets
//! computed at run time and kept in scratch cells, as libpcap's `gen_load_a` does for a
//! variable `bpf_abs_offset` (`ldx M[reg]; ld [x + k]`).
//!
//! The generators compute offsets as plain numbers. After `geneve` the link-layer header, the
//! link-layer type field and the link-layer payload are each at an unknown position, so `Gen`
//! places them at three *virtual* bases far apart in the 32-bit offset space ([`LINKHDR`],
//! [`LINKTYPE`], [`LINKPL`]; each 2^30 apart). The generated statements are then rewritten
//! here: an offset `k` in the region of base `r` is the offset `k - r` from the run-time value
//! in that base's cell. Offsets in the lowest region and the kernel's ancillary offsets stay
//! absolute.
//!
//! The rewriting is exact for any straight-line code, not only the shapes the generators emit
//! today: it tracks, for A, X and every scratch cell, whether the value held is the original
//! program's value or that value plus a run-time base ("biased"). An indexed load needs X biased
//! by its region's base; comparisons, arithmetic other than `add x`, and stores need the
//! original values; the fix-ups use one temporary cell and save and restore whatever is still
//! needed, so the rewritten code computes what the original would have computed at the real
//! offsets. Loads run in the original order with the original failure conditions.

use jitkit_bpf::cbpf::{op, Insn};

use super::err;
use crate::pred::{Pred, Test};
use crate::CompileError;

/// Virtual bases of the three variable offsets (the region index is `k >> 30`).
pub const LINKHDR: u32 = 1 << 30;
pub const LINKTYPE: u32 = 2 << 30;
pub const LINKPL: u32 = 3 << 30;
/// From here on, offsets are the kernel's ancillary loads, never rebased.
const ANCILLARY: u32 = 0xffff_f000;

/// Scratch cells holding the run-time offsets, and the temporary the fix-ups use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cells {
    pub linkhdr: u32,
    pub linktype: u32,
    pub linkpl: u32,
    /// The cell the fix-ups use (one for every level of Geneve).
    pub temp: u32,
    /// The lowest cell reserved for offsets: the generated code stores only below it.
    pub floor: u32,
}

impl Cells {
    fn base(&self, region: u8) -> u32 {
        match region {
            1 => self.linkhdr,
            2 => self.linktype,
            _ => self.linkpl,
        }
    }
}

/// The region of an absolute offset (0: absolute) and the offset within it.
fn region(k: u32) -> (u8, u32) {
    if k >= ANCILLARY {
        (0, k)
    } else {
        ((k >> 30) as u8, k & 0x3fff_ffff)
    }
}

/// The cell and the offset from its value that a symbolic offset stands for (an absolute
/// offset has no cell: `None` is reported as the linkpl cell's, which callers avoid).
pub fn split(k: u32, cells: Cells) -> (u32, u32) {
    let (r, rel) = region(k);
    (cells.base(r), rel)
}

/// Rewrites every test of `p` for the run-time bases in `cells`.
pub fn rebase(p: Pred, cells: Cells, offset: usize) -> Result<Pred, CompileError> {
    Ok(match p {
        Pred::True | Pred::False => p,
        Pred::Test(t) => Pred::Test(Test {
            stmts: rebase_stmts(&t.stmts, t.jump, cells, offset)?,
            jump: t.jump,
            k: t.k,
        }),
        Pred::InSet { stmts, values } => Pred::InSet {
            stmts: rebase_stmts(&stmts, op::JMP | op::JEQ, cells, offset)?,
            values,
        },
        Pred::And(items) => Pred::And(
            items
                .into_iter()
                .map(|i| rebase(i, cells, offset))
                .collect::<Result<_, _>>()?,
        ),
        Pred::Or(items) => Pred::Or(
            items
                .into_iter()
                .map(|i| rebase(i, cells, offset))
                .collect::<Result<_, _>>()?,
        ),
        Pred::Not(inner) => Pred::Not(Box::new(rebase(*inner, cells, offset)?)),
    })
}

const A: u32 = 1;
const X: u32 = 2;

/// What a statement reads and writes among A and X.
fn uses_defs(s: &Insn) -> (u32, u32) {
    match s.class() {
        op::LD => (if s.code & 0xe0 == op::IND { X } else { 0 }, A),
        op::LDX => (0, X),
        op::ST => (A, 0),
        op::STX => (X, 0),
        op::ALU => {
            if s.code & 0xf0 != op::NEG && s.code & op::X != 0 {
                (A | X, A)
            } else {
                (A, A)
            }
        }
        op::MISC => {
            if s.code & 0xf8 == op::TXA {
                (X, A)
            } else {
                (A, X)
            }
        }
        _ => (0, 0),
    }
}

fn is_mem(s: &Insn) -> bool {
    matches!(s.class(), op::ST | op::STX)
        || (matches!(s.class(), op::LD | op::LDX) && s.code & 0xe0 == op::MEM)
}

struct Rewriter {
    cells: Cells,
    out: Vec<Insn>,
    /// Region whose base A / X / each cell holds on top of the original value (0: none).
    a: u8,
    x: u8,
    mem: [u8; 16],
}

impl Rewriter {
    fn stmt(&mut self, code: u16, k: u32) {
        self.out.push(Insn::stmt(code, k));
    }
    fn save_x(&mut self) {
        self.stmt(op::STX, self.cells.temp);
    }
    fn restore_x(&mut self) {
        self.stmt(op::LDX | op::MEM, self.cells.temp);
    }
    fn save_a(&mut self) {
        self.stmt(op::ST, self.cells.temp);
    }
    fn restore_a(&mut self) {
        self.stmt(op::LD | op::MEM, self.cells.temp);
    }
    fn ldx_base(&mut self, r: u8) {
        self.stmt(op::LDX | op::MEM, self.cells.base(r));
    }

    /// Makes A hold its original value (X is preserved).
    fn unbias_a(&mut self) {
        if self.a != 0 {
            self.save_x();
            self.ldx_base(self.a);
            self.stmt(op::ALU | op::SUB | op::X, 0);
            self.restore_x();
            self.a = 0;
        }
    }

    /// Makes X hold its original value plus the base of `want` (0: the original value);
    /// `a_live` says whether A must be preserved.
    fn bias_x(&mut self, want: u8, a_live: bool) {
        if self.x == want {
            return;
        }
        if a_live {
            self.save_a();
        }
        self.stmt(op::MISC | op::TXA, 0);
        if self.x != 0 {
            self.ldx_base(self.x);
            self.stmt(op::ALU | op::SUB | op::X, 0);
        }
        if want != 0 {
            self.ldx_base(want);
            self.stmt(op::ALU | op::ADD | op::X, 0);
        }
        self.stmt(op::MISC | op::TAX, 0);
        if a_live {
            self.restore_a();
        }
        self.x = want;
    }
}

/// Rewrites one test's statements (`jump` is the test's jump, which reads A and maybe X).
fn rebase_stmts(
    stmts: &[Insn],
    jump: u16,
    cells: Cells,
    offset: usize,
) -> Result<Vec<Insn>, CompileError> {
    // The code may read the base cells (geneve's link-layer check does), but the temporary and
    // the bases are not for it to write (arithmetic nested deep enough would).
    let writes = |s: &Insn| matches!(s.class(), op::ST | op::STX);
    if stmts
        .iter()
        .any(|s| is_mem(s) && (s.k == cells.temp || (s.k >= cells.floor && writes(s))))
    {
        return Err(err(
            "too many registers needed to evaluate expression",
            offset,
        ));
    }
    // Liveness of A and X after each statement. Values left at the end count as live (a later
    // test may read A, as `byte 0 & 1` does).
    let mut live_after = vec![0u32; stmts.len()];
    let mut live = A | X;
    for (i, s) in stmts.iter().enumerate().rev() {
        live_after[i] = live;
        let (u, d) = uses_defs(s);
        live = (live & !d) | u;
    }
    let mut w = Rewriter {
        cells,
        out: Vec::with_capacity(stmts.len() * 2),
        a: 0,
        x: 0,
        mem: [0; 16],
    };
    for (i, s) in stmts.iter().enumerate() {
        let after = live_after[i];
        let mode = s.code & 0xe0;
        match s.class() {
            op::LD if mode == op::ABS => {
                let (r, rel) = region(s.k);
                if r == 0 {
                    w.out.push(*s);
                } else {
                    let keep_x = after & X != 0;
                    if keep_x {
                        w.save_x();
                    }
                    w.ldx_base(r);
                    w.stmt(op::LD | op::IND | (s.code & 0x18), rel);
                    if keep_x {
                        w.restore_x();
                    } else {
                        w.x = r;
                    }
                }
                w.a = 0;
            }
            op::LD if mode == op::IND => {
                let (r, rel) = region(s.k);
                w.bias_x(r, false);
                w.stmt(s.code, if r == 0 { s.k } else { rel });
                w.a = 0;
            }
            op::LD if mode == op::MEM => {
                w.out.push(*s);
                w.a = w.mem[(s.k & 15) as usize];
            }
            op::LD => {
                w.out.push(*s);
                w.a = 0;
            }
            op::LDX if mode == op::MSH => {
                let (r, rel) = region(s.k);
                if r == 0 {
                    w.out.push(*s);
                    w.x = 0;
                } else {
                    // X = base + 4 * (P[base + rel] & 0xf), as libpcap's gen_loadx_iphdrlen.
                    let keep_a = after & A != 0;
                    if keep_a {
                        w.save_a();
                    }
                    w.ldx_base(r);
                    w.stmt(op::LD | op::IND | op::B, rel);
                    w.stmt(op::ALU | op::AND | op::K, 0xf);
                    w.stmt(op::ALU | op::LSH | op::K, 2);
                    w.stmt(op::ALU | op::ADD | op::X, 0);
                    w.stmt(op::MISC | op::TAX, 0);
                    if keep_a {
                        w.restore_a();
                    }
                    w.x = r;
                }
            }
            op::LDX if mode == op::MEM => {
                w.out.push(*s);
                w.x = w.mem[(s.k & 15) as usize];
            }
            op::LDX => {
                w.out.push(*s);
                w.x = 0;
            }
            op::ST => {
                w.out.push(*s);
                w.mem[(s.k & 15) as usize] = w.a;
            }
            op::STX => {
                w.out.push(*s);
                w.mem[(s.k & 15) as usize] = w.x;
            }
            op::ALU => {
                let with_x = s.code & op::X != 0 && s.code & 0xf0 != op::NEG;
                let alu = s.code & 0xf0;
                if with_x && alu == op::ADD && w.a == 0 && w.x != 0 {
                    // original A + (original X + base): A now carries X's base.
                    w.out.push(*s);
                    w.a = w.x;
                } else if !with_x && matches!(alu, op::ADD | op::SUB) {
                    w.out.push(*s);
                } else {
                    w.unbias_a();
                    if with_x {
                        w.bias_x(0, true);
                    }
                    w.out.push(*s);
                }
            }
            op::MISC => {
                w.out.push(*s);
                if s.code & 0xf8 == op::TXA {
                    w.a = w.x;
                } else {
                    w.x = w.a;
                }
            }
            _ => w.out.push(*s),
        }
    }
    // The jump compares original values.
    let jump_uses_x = jump & 0xf0 != op::JA && jump & op::X != 0;
    w.unbias_a();
    if jump_uses_x {
        w.bias_x(0, true);
    }
    Ok(w.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(prog: &[Insn], pkt: &[u8], mem: [u32; 16]) -> (u32, u32) {
        // A tiny straight-line evaluator (loads fail as None) for checking the rewriting.
        let mut a = 0u32;
        let mut x = 0u32;
        let mut m = mem;
        for s in prog {
            let size = match s.code & 0x18 {
                op::B => 1,
                op::H => 2,
                _ => 4,
            };
            let load = |at: u32| -> Option<u32> {
                let at = at as usize;
                let b = pkt.get(at..at + size)?;
                Some(b.iter().fold(0, |v, &c| (v << 8) | c as u32))
            };
            match (s.class(), s.code & 0xe0) {
                (op::LD, op::ABS) => a = load(s.k).unwrap_or(0xdead),
                (op::LD, op::IND) => a = load(x.wrapping_add(s.k)).unwrap_or(0xdead),
                (op::LD, op::MEM) => a = m[s.k as usize],
                (op::LD, op::IMM) => a = s.k,
                (op::LDX, op::MSH) => x = 4 * (pkt[s.k as usize] as u32 & 0xf),
                (op::LDX, op::MEM) => x = m[s.k as usize],
                (op::LDX, _) => x = s.k,
                (op::ST, _) => m[s.k as usize] = a,
                (op::STX, _) => m[s.k as usize] = x,
                (op::ALU, _) => {
                    let v = if s.code & op::X != 0 { x } else { s.k };
                    a = match s.code & 0xf0 {
                        op::ADD => a.wrapping_add(v),
                        op::SUB => a.wrapping_sub(v),
                        op::MUL => a.wrapping_mul(v),
                        op::AND => a & v,
                        op::LSH => a << v,
                        _ => unreachable!(),
                    }
                }
                (op::MISC, _) => {
                    if s.code & 0xf8 == op::TXA {
                        a = x
                    } else {
                        x = a
                    }
                }
                _ => unreachable!(),
            }
        }
        (a, x)
    }

    /// The same code at virtual offsets, rewritten, computes on a packet whose headers start
    /// at run-time offsets what the original computes when they start at 0.
    #[test]
    fn rewritten_code_reads_the_real_offsets() {
        let cells = Cells {
            linkhdr: 15,
            linktype: 14,
            linkpl: 13,
            temp: 12,
            floor: 12,
        };
        let inner: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(7) | 0x05).collect();
        let shift = 20usize;
        let mut pkt = vec![0xeeu8; shift];
        pkt.extend(&inner);
        let mut mem = [0u32; 16];
        mem[15] = shift as u32;
        mem[14] = shift as u32;
        mem[13] = shift as u32;
        let programs: Vec<Vec<Insn>> = vec![
            vec![Insn::stmt(op::LD | op::H | op::ABS, 12)],
            vec![
                Insn::stmt(op::LDX | op::B | op::MSH, 0),
                Insn::stmt(op::LD | op::H | op::IND, 2),
                Insn::stmt(op::ST, 0),
                Insn::stmt(op::LD | op::B | op::ABS, 9),
                Insn::stmt(op::ALU | op::ADD | op::X, 0),
            ],
            vec![
                Insn::stmt(op::LD | op::B | op::ABS, 3),
                Insn::stmt(op::ST, 0),
                Insn::stmt(op::LDX | op::B | op::MSH, 0),
                Insn::stmt(op::LD | op::MEM, 0),
                Insn::stmt(op::ALU | op::ADD | op::X, 0),
                Insn::stmt(op::MISC | op::TAX, 0),
                Insn::stmt(op::LD | op::B | op::IND, 1),
            ],
            vec![
                Insn::stmt(op::LD | op::IMM, 6),
                Insn::stmt(op::MISC | op::TAX, 0),
                Insn::stmt(op::LD | op::W | op::IND, 4),
                Insn::stmt(op::ST, 1),
                Insn::stmt(op::LD | op::B | op::ABS, 7),
                Insn::stmt(op::MISC | op::TAX, 0),
                Insn::stmt(op::LD | op::MEM, 1),
                Insn::stmt(op::ALU | op::SUB | op::X, 0),
            ],
        ];
        for base in [LINKHDR, LINKTYPE, LINKPL] {
            for p in &programs {
                let virt: Vec<Insn> = p
                    .iter()
                    .map(|s| {
                        let mut s = *s;
                        if matches!(s.code & 0xe0, op::ABS | op::IND | op::MSH)
                            && matches!(s.class(), op::LD | op::LDX)
                        {
                            s.k += base;
                        }
                        s
                    })
                    .collect();
                let jump = op::JMP | op::JEQ | op::X;
                let out = rebase_stmts(&virt, jump, cells, 0).unwrap();
                let want = run(p, &inner, [0; 16]);
                let got = run(&out, &pkt, mem);
                assert_eq!(got, want, "{p:?} -> {out:?}");
            }
        }
    }
}
