//! libpcap's scratch cells, and what is left in them.
//!
//! libpcap 1.10 takes its scratch cells (`M[0..16]`) from one round-robin allocator
//! (gencode.c's alloc_reg/free_reg) for two kinds of use:
//! - temporaries: each operand of a relation (`ip[0] = 1` stores the index 0, the loaded byte
//!   and the constant 1, each in a fresh cell) and `protochain`'s next-header value; freed when
//!   the relation (or the protochain) has been generated;
//! - offset registers, never freed: the cells holding offsets known only at run time. 802.11
//!   takes one for the 802.11 header (after a radio header) and one for its payload, allocated
//!   when code first needs them; `geneve` takes three (the inner link type, link header and
//!   payload offsets) when it is compiled.
//!
//! A temporary freed before an offset register is allocated may be handed out again as that
//! register, and nothing clears it: on the paths where the temporary's writer ran and the code
//! that sets the register did not (it sits at the start of the program for 802.11, and after
//! the Geneve header checks for `geneve`), libpcap's program reads the temporary's last value as
//! an offset. `(ip[0] = 1 and geneve) && ip or ip` on Ethernet: the relation leaves 1 in M[2],
//! geneve's link-type register is M[2], and on a plain IPv4 packet the last `ip` (which runs
//! with the Geneve offsets, set or not) reads its Ethernet type at offset 1.
//!
//! Our cells are numbered differently (arithmetic from 0 up, offsets from 15 down), so this
//! module simulates libpcap's allocator in source order (the order libpcap's grammar actions
//! run), records for every writer (relation, protochain) the last value it leaves in each of
//! libpcap's cells, and once the whole expression is generated says, for each writer, which of
//! our offset cells must receive which leftover: the writer then also stores that value there
//! (the code is placed by `Gen::place_leftovers`).

use jitkit_bpf::cbpf::{op, Insn};

use super::varlen::{self, Base};
use super::{err, rebase, Gen};
use crate::ast::{Arith, Expr, Proto};
use crate::pred::{Pred, Test};
use crate::CompileError;

/// BPF_MEMWORDS.
pub const MEMWORDS: usize = 16;

/// One of libpcap's offset registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegId(usize);

#[derive(Clone, Debug)]
struct OffsetReg {
    /// Our cell for it.
    ours: u32,
    /// libpcap's cell, once allocated, and how many writers had started by then.
    lp: Option<(usize, usize)>,
}

/// What a writer leaves in one of libpcap's cells.
#[derive(Clone, Debug)]
pub enum Leftover {
    /// Statements that compute the value into A (at the writer's place in the program).
    Value(Vec<Insn>),
    /// What protochain's loop stores (our code stores it where the loop does).
    Protochain,
}

/// libpcap's allocator and the offset registers, simulated for one expression.
#[derive(Clone, Debug, Default)]
pub struct CellPool {
    used: [bool; MEMWORDS],
    cur: usize,
    /// libpcap would have failed: "too many registers needed to evaluate expression".
    pub exhausted: bool,
    regs: Vec<OffsetReg>,
    /// Per writer, in source order: libpcap's cell and the last value the writer leaves there.
    writers: Vec<Vec<(usize, Leftover)>>,
}

impl CellPool {
    /// alloc_reg: the first free cell from the current one on, round robin.
    pub fn alloc(&mut self) -> usize {
        for _ in 0..MEMWORDS {
            if self.used[self.cur] {
                self.cur = (self.cur + 1) % MEMWORDS;
            } else {
                self.used[self.cur] = true;
                return self.cur;
            }
        }
        self.exhausted = true;
        self.cur
    }

    /// free_reg.
    pub fn free(&mut self, cell: usize) {
        self.used[cell] = false;
    }

    /// A new offset register kept in our cell `ours`, allocated by libpcap when first needed.
    pub fn new_reg(&mut self, ours: u32) -> RegId {
        self.regs.push(OffsetReg { ours, lp: None });
        RegId(self.regs.len() - 1)
    }

    /// libpcap's gen_abs_offset_varpart: the register gets a cell if it has none yet.
    pub fn touch(&mut self, r: RegId) {
        if self.regs[r.0].lp.is_none() {
            let cell = self.alloc();
            self.regs[r.0].lp = Some((cell, self.writers.len()));
        }
    }

    pub fn is_allocated(&self, r: RegId) -> bool {
        self.regs[r.0].lp.is_some()
    }

    pub fn ours(&self, r: RegId) -> u32 {
        self.regs[r.0].ours
    }

    /// Our cells of every register libpcap allocated (so that something reads it).
    pub fn allocated_cells(&self) -> impl Iterator<Item = u32> + '_ {
        self.regs.iter().filter(|r| r.lp.is_some()).map(|r| r.ours)
    }

    /// Records a writer's leftovers (the last value per cell); returns its number.
    pub fn add_writer(&mut self, leftovers: Vec<(usize, Leftover)>) -> usize {
        self.writers.push(leftovers);
        self.writers.len() - 1
    }

    /// Where writer `w`'s leftovers are read as offsets: (our cell, the leftover), for every
    /// register allocated after the writer ran whose libpcap cell the writer wrote.
    pub fn leftovers(&self, w: usize) -> Vec<(u32, &Leftover)> {
        let mut out = Vec::new();
        for r in &self.regs {
            let Some((cell, since)) = r.lp else { continue };
            if since <= w {
                continue;
            }
            if let Some((_, v)) = self.writers[w].iter().find(|(c, _)| *c == cell) {
                out.push((r.ours, v));
            }
        }
        out
    }
}

/// Marks a relation's place for its leftovers: a test of this one statement (`tax`, tagged with
/// the writer's number), replaced when the expression is finished.
const RELATION_MARK: u32 = 0x7eb0_0000;
/// protochain's store of the next-header value, tagged with the writer's number: becomes the
/// store into protochain's own cell plus the stores of the leftover into offset cells.
pub const PROTOCHAIN_MARK: u32 = 0x7eb1_0000;
const MARK_MASK: u32 = 0xffff_0000;

impl Gen {
    /// Simulates libpcap's allocations for a primitive just generated, in source order; a
    /// relation is recorded as a writer and gets a mark where its leftovers will go.
    pub fn track_registers(&mut self, e: &Expr, p: Pred) -> Result<Pred, CompileError> {
        if !self.tracks_cells {
            return Ok(p);
        }
        let mut p = p;
        let at = e.offset().unwrap_or(0);
        match e {
            Expr::And(_) | Expr::Or(_) | Expr::Not(_) => {}
            Expr::Relation { lhs, rhs, .. } => {
                let mut writes: [Option<&Arith>; MEMWORDS] = [None; MEMWORDS];
                let r0 = self.sim_arith(lhs, &mut writes);
                let r1 = self.sim_arith(rhs, &mut writes);
                self.pool.free(r0);
                self.pool.free(r1);
                let mut leftovers = Vec::new();
                for (cell, node) in writes.iter().enumerate() {
                    if let Some(node) = node {
                        leftovers.push((cell, Leftover::Value(self.leftover_code(node, at)?)));
                    }
                }
                let id = self.pool.add_writer(leftovers);
                let own_cells = mem_cells_written(&p);
                if own_cells > self.cell_floor {
                    return Err(err("too many registers needed to evaluate expression", at));
                }
                if let Pred::And(items) = &mut p {
                    let mark = Pred::test(
                        vec![Insn::stmt(op::MISC | op::TAX, RELATION_MARK | id as u32)],
                        op::JA,
                        0,
                    );
                    items.insert(items.len().saturating_sub(1), mark);
                }
            }
            _ if self.off_base.is_none() => self.touch_first_uses(&p),
            _ => {}
        }
        if self.pool.exhausted {
            return Err(err("too many registers needed to evaluate expression", at));
        }
        Ok(p)
    }

    /// The 802.11 registers `p`'s code reads, allocated in the order it first reads them (as
    /// libpcap allocates them when code first needs them).
    pub fn touch_first_uses(&mut self, p: &Pred) {
        let mut uses = Vec::new();
        varlen::first_uses(p, &mut uses);
        for b in uses {
            let reg = match b {
                Base::LinkHdr => self.wlan_regs.0,
                Base::LinkPl => self.wlan_regs.1,
            };
            if let Some(r) = reg {
                self.pool.touch(r);
            }
        }
    }

    /// libpcap's allocations for one operand (post-order, left first), and what it stores in
    /// each cell; returns the operand's cell.
    fn sim_arith<'a>(&mut self, a: &'a Arith, writes: &mut [Option<&'a Arith>; MEMWORDS]) -> usize {
        let r = match a {
            Arith::Num(_) | Arith::Len => self.pool.alloc(),
            Arith::Neg(x) => self.sim_arith(x, writes),
            Arith::Binary(_, l, r, _) => {
                let rl = self.sim_arith(l, writes);
                let rr = self.sim_arith(r, writes);
                self.pool.free(rl);
                self.pool.free(rr);
                self.pool.alloc()
            }
            Arith::Load { proto, index, .. } => {
                let ri = self.sim_arith(index, writes);
                let r = self.pool.alloc();
                self.pool.free(ri);
                // The offset registers the load and its protocol checks read, in libpcap's
                // order (gen_load_internal).
                let (hdr, pl) = (self.reg_linkhdr, self.reg_linkpl);
                let order = match proto {
                    Proto::Link => [hdr, None],
                    Proto::Radio => [None, None],
                    Proto::Icmp6 => [hdr, pl],
                    _ => [pl, hdr],
                };
                for reg in order.into_iter().flatten() {
                    self.pool.touch(reg);
                }
                r
            }
        };
        writes[r] = Some(a);
        r
    }

    /// Code computing `a`'s value into A where the relation runs (after its protocol checks):
    /// the loads are the relation's own, so they cannot fail where the relation's do not.
    fn leftover_code(&mut self, a: &Arith, at: usize) -> Result<Vec<Insn>, CompileError> {
        let code = self.value(a, 0)?;
        let Some(cells) = self.off_base else {
            return Ok(code);
        };
        match rebase::rebase(Pred::test(code, op::JA, 0), cells, at)? {
            Pred::Test(t) => Ok(t.stmts),
            _ => Ok(Vec::new()),
        }
    }

    /// Replaces the writers' marks by the code storing their leftovers into the offset cells
    /// libpcap later hands their cells to (or by nothing).
    pub fn place_leftovers(&self, p: Pred) -> Pred {
        if !self.tracks_cells {
            return p;
        }
        match p {
            Pred::And(items) => {
                Pred::And(items.into_iter().map(|i| self.place_leftovers(i)).collect())
            }
            Pred::Or(items) => {
                Pred::Or(items.into_iter().map(|i| self.place_leftovers(i)).collect())
            }
            Pred::Not(inner) => Pred::Not(Box::new(self.place_leftovers(*inner))),
            Pred::Test(t) => match t.stmts.as_slice() {
                [s] if s.code == op::MISC | op::TAX && s.k & MARK_MASK == RELATION_MARK => {
                    let mut code = Vec::new();
                    for (cell, v) in self.pool.leftovers((s.k & !MARK_MASK) as usize) {
                        if let Leftover::Value(v) = v {
                            code.extend_from_slice(v);
                            code.push(Insn::stmt(op::ST, cell));
                        }
                    }
                    if code.is_empty() {
                        Pred::True
                    } else {
                        Pred::test(code, op::JA, 0)
                    }
                }
                _ => Pred::Test(Test {
                    stmts: self.protochain_stores(t.stmts),
                    jump: t.jump,
                    k: t.k,
                }),
            },
            other => other,
        }
    }

    /// protochain's marked stores: its own cell, and the offset cells its leftover reaches.
    fn protochain_stores(&self, stmts: Vec<Insn>) -> Vec<Insn> {
        let marked = |s: &Insn| s.code == op::ST && s.k & MARK_MASK == PROTOCHAIN_MARK;
        if !stmts.iter().any(marked) {
            return stmts;
        }
        let mut out = Vec::with_capacity(stmts.len() + 2);
        for s in stmts {
            if !marked(&s) {
                out.push(s);
                continue;
            }
            out.push(Insn::stmt(op::ST, super::net::PROTOCHAIN_CELL));
            for (cell, _) in self.pool.leftovers((s.k & !MARK_MASK) as usize) {
                out.push(Insn::stmt(op::ST, cell));
            }
        }
        out
    }
}

/// One past the highest cell `p`'s code stores into.
fn mem_cells_written(p: &Pred) -> u32 {
    let stmts = |s: &[Insn]| {
        s.iter()
            .filter(|s| matches!(s.class(), op::ST | op::STX))
            .map(|s| s.k + 1)
            .max()
            .unwrap_or(0)
    };
    match p {
        Pred::True | Pred::False => 0,
        Pred::Test(t) => stmts(&t.stmts),
        Pred::InSet { stmts: s, .. } => stmts(s),
        Pred::And(items) | Pred::Or(items) => {
            items.iter().map(mem_cells_written).max().unwrap_or(0)
        }
        Pred::Not(inner) => mem_cells_written(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allocation sequence of `(ip[0] = 1 and geneve) && ip or ip`: the relation's cells
    /// 0, 1, 2 are freed, and geneve's three registers get 2, 3, 4 (the round robin goes on
    /// from the last cell handed out), so the link-type register is where the constant 1 was.
    #[test]
    fn freed_cells_come_back_round_robin() {
        let mut p = CellPool::default();
        let index = p.alloc();
        let load = p.alloc();
        p.free(index);
        let one = p.alloc();
        assert_eq!((index, load, one), (0, 1, 2));
        p.free(load);
        p.free(one);
        let w = p.add_writer(vec![
            (0, Leftover::Value(vec![])),
            (1, Leftover::Value(vec![])),
            (2, Leftover::Protochain),
        ]);
        let regs: Vec<RegId> = (0..3).map(|i| p.new_reg(15 - i)).collect();
        for &r in &regs {
            p.touch(r);
        }
        let got: Vec<u32> = p.leftovers(w).iter().map(|(c, _)| *c).collect();
        assert_eq!(got, vec![15]);
        // Registers are never freed: 13 more cells exhaust the pool.
        for _ in 0..13 {
            p.alloc();
        }
        assert!(!p.exhausted);
        p.alloc();
        assert!(p.exhausted);
    }
}
