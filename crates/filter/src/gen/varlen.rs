//! Variable-length link headers: 802.11 (whose header length depends on the frame) and the
//! radio headers that precede it (radiotap, PPI, AVS, Prism), whose length is in the packet.
//!
//! libpcap keeps such an offset in a scratch cell, computed by code it puts at the start of the
//! program, and loads relative to it with `ldx M[r]; ld [x + k]`. The rest of this generator
//! works with constant offsets, so for these link types the two variable offsets (start of the
//! 802.11 header, start of its payload) are given symbolic base values far beyond any real
//! packet ([`LINKHDR_BASE`], [`LINKPL_BASE`]): every primitive computes its offsets as usual,
//! then [`Gen::finish_variable_offsets`] rewrites each load whose offset falls in one of the two
//! windows into its indexed form and prepends the code that computes the cells. As in libpcap,
//! that code is emitted only for the offsets the expression uses (its loads reject a packet too
//! short to hold them, so its presence is part of the verdict).
//!
//! Limits of the symbolic offsets: an index in `proto[...]` of 2^29 or more (or that far
//! below zero) is taken for an absolute offset. No packet is that long, so such loads fail
//! either way; only a few wrap-around indexes (`byte 4294967295 = 1`) differ from libpcap.

use jitkit_bpf::cbpf::{op, Insn};

use super::err;
use super::{Gen, LinkKind, RadioHeader};
use crate::ast::{Arith, Expr, Proto};
use crate::pred::{alu_k, ld_abs, ld_ind, Pred, Test};
use crate::CompileError;

/// Symbolic offset of the 802.11 header when a variable-length radio header precedes it.
pub const LINKHDR_BASE: u32 = 0x4000_0000;
/// Symbolic offset of the 802.11 payload (the LLC header).
pub const LINKPL_BASE: u32 = 0x8000_0000;
/// Offsets within this distance of a base are relative to it.
const WINDOW: u32 = 0x2000_0000;

/// Scratch cells holding the offsets. Arithmetic uses cells from 0 upwards; 12 and 13 save A
/// and X around the code that reproduces libpcap's register reuse (see [`RegisterReuse`]), so
/// on 802.11 a relation may use 12 cells (libpcap's limit, 16 including its offset cells, is
/// simulated exactly; only relations nested 12 deep with non-constant operands fall between).
pub const REG_LINKHDR: u32 = 15;
pub const REG_LINKPL: u32 = 14;
const SAVE_A: u32 = 13;
const SAVE_X: u32 = 12;

/// Marks the end of a relation's statements (`tax` with this tag plus the relation's number):
/// replaced when the expression is finished by the code reproducing libpcap's register reuse,
/// or by nothing.
const REUSE_MARK: u32 = 0x7eb0_0000;

/// libpcap 1.10 allocates the cells holding variable offsets when code first needs them, from
/// the same pool (and with the same round-robin allocator) as the temporaries of arithmetic,
/// which are freed when their relation is compiled. A relation compiled before an offset's cell
/// is allocated may therefore have stored one of its values in that cell, and on the paths
/// where that relation runs (after the code computing the offset, which is at the start of the
/// program), the offset libpcap uses afterwards is that value: `len > 100 and ip` on radiotap
/// reads the 802.11 frame control at offset 100. We follow: the allocator is simulated, and a
/// relation whose temporaries meet a later offset cell ends with code storing the value libpcap
/// leaves there into our cell for that offset.
#[derive(Clone, Debug, Default)]
pub struct RegisterReuse {
    used: [bool; 16],
    cur: usize,
    /// libpcap's cells for the 802.11 header and payload offsets, once allocated.
    cells: [Option<usize>; 2],
    /// Per relation: the last value it stores in each cell, and which offsets had cells then.
    relations: Vec<([Option<Arith>; 16], [bool; 2])>,
    exhausted: bool,
}

const HDR: usize = 0;
const PL: usize = 1;

impl RegisterReuse {
    fn alloc(&mut self) -> usize {
        for _ in 0..16 {
            if self.used[self.cur] {
                self.cur = (self.cur + 1) % 16;
            } else {
                self.used[self.cur] = true;
                return self.cur;
            }
        }
        // libpcap fails here: "too many registers needed to evaluate expression".
        self.exhausted = true;
        self.cur
    }
    fn free(&mut self, r: usize) {
        self.used[r] = false;
    }
    fn offset(&mut self, which: usize, variable: bool) {
        if variable && self.cells[which].is_none() {
            self.cells[which] = Some(self.alloc());
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    LinkHdr,
    LinkPl,
}

impl Base {
    fn value(self) -> u32 {
        match self {
            Base::LinkHdr => LINKHDR_BASE,
            Base::LinkPl => LINKPL_BASE,
        }
    }
    fn reg(self) -> u32 {
        match self {
            Base::LinkHdr => REG_LINKHDR,
            Base::LinkPl => REG_LINKPL,
        }
    }
}

/// The base an offset is relative to, if it is symbolic.
fn base_of(k: u32) -> Option<Base> {
    if k.wrapping_sub(LINKHDR_BASE.wrapping_sub(WINDOW)) < 2 * WINDOW {
        Some(Base::LinkHdr)
    } else if k.wrapping_sub(LINKPL_BASE.wrapping_sub(WINDOW)) < 2 * WINDOW {
        Some(Base::LinkPl)
    } else {
        None
    }
}

const TAX: Insn = Insn::stmt(op::MISC | op::TAX, 0);

/// The first use of each variable offset in `p`, in code order (which base, in order).
fn first_uses(p: &Pred, out: &mut Vec<Base>) {
    let stmts = |s: &[Insn], out: &mut Vec<Base>| {
        for i in s {
            let offset_mode = matches!(
                (i.class(), i.code & 0xe0),
                (op::LD, op::ABS) | (op::LD, op::IND) | (op::LDX, op::MSH)
            );
            if let Some(b) = base_of(i.k).filter(|_| offset_mode) {
                if !out.contains(&b) {
                    out.push(b);
                }
            }
        }
    };
    match p {
        Pred::True | Pred::False => {}
        Pred::Test(t) => stmts(&t.stmts, out),
        Pred::InSet { stmts: s, .. } => stmts(s, out),
        Pred::And(items) | Pred::Or(items) => items.iter().for_each(|i| first_uses(i, out)),
        Pred::Not(inner) => first_uses(inner, out),
    }
}

/// The statements of a relation's final test (the last item of its `And`, maybe negated).
fn last_test(p: &mut Pred) -> Option<&mut Vec<Insn>> {
    match p {
        Pred::And(items) => items.last_mut().and_then(last_test),
        Pred::Not(inner) => last_test(inner),
        Pred::Test(t) => Some(&mut t.stmts),
        _ => None,
    }
}
const TXA: Insn = Insn::stmt(op::MISC | op::TXA, 0);

fn ldx_mem(reg: u32) -> Insn {
    Insn::stmt(op::LDX | op::MEM, reg)
}
fn ld_mem(reg: u32) -> Insn {
    Insn::stmt(op::LD | op::MEM, reg)
}
fn st(reg: u32) -> Insn {
    Insn::stmt(op::ST, reg)
}
fn add_x() -> Insn {
    Insn::stmt(op::ALU | op::ADD | op::X, 0)
}

/// Which variable offsets the rewritten code reads.
#[derive(Default)]
struct Uses {
    linkhdr: bool,
    linkpl: bool,
}

/// Rewrites the statements of one test. Tracks which registers already include a variable
/// part (after `4*([k]&0xf)` relative to the payload, X holds the payload offset plus the IP
/// header length, so the transport load that follows only drops the base).
fn rewrite_stmts(stmts: &[Insn], uses: &mut Uses) -> Vec<Insn> {
    let mut out = Vec::with_capacity(stmts.len() + 4);
    // Which base's variable part A / X / M[i] include, and whether A == X.
    let mut a_var: Option<Base> = None;
    let mut x_var: Option<Base> = None;
    let mut mem_var: [Option<Base>; 16] = [None; 16];
    let mut a_is_x = false;
    let mark = |b: Base, uses: &mut Uses| match b {
        Base::LinkHdr => uses.linkhdr = true,
        Base::LinkPl => uses.linkpl = true,
    };
    for s in stmts {
        let class = s.class();
        let mode = s.code & 0xe0;
        let size = match s.code & 0x18 {
            op::B => 1,
            op::H => 2,
            _ => 4,
        };
        if class == op::LD && mode == op::ABS {
            if let Some(b) = base_of(s.k) {
                mark(b, uses);
                let rel = s.k.wrapping_sub(b.value());
                // (The kernel's ancillary offsets, 0xfffff000 and up, are not negative.)
                if (rel as i32) >= 0 || rel >= 0xffff_f000 {
                    out.push(ldx_mem(b.reg()));
                    out.push(ld_ind(size, rel));
                } else {
                    // Below the base (a negative index): libpcap adds the index to X.
                    out.push(Insn::stmt(op::LD | op::IMM, rel));
                    out.push(ldx_mem(b.reg()));
                    out.push(add_x());
                    out.push(TAX);
                    out.push(ld_ind(size, 0));
                }
                a_var = None;
                x_var = Some(b);
                a_is_x = false;
                continue;
            }
        }
        if class == op::LDX && mode == op::MSH {
            if let Some(b) = base_of(s.k) {
                // libpcap's gen_loadx_iphdrlen with a variable payload offset.
                mark(b, uses);
                out.push(ldx_mem(b.reg()));
                out.push(ld_ind(1, s.k.wrapping_sub(b.value())));
                out.push(alu_k(op::AND, 0xf));
                out.push(alu_k(op::LSH, 2));
                out.push(add_x());
                out.push(TAX);
                a_var = Some(b);
                x_var = Some(b);
                a_is_x = true;
                continue;
            }
        }
        if class == op::LD && mode == op::IND {
            if let Some(b) = base_of(s.k) {
                mark(b, uses);
                if x_var != Some(b) {
                    // X holds an index: add the variable part to it.
                    if !a_is_x {
                        out.push(TXA);
                    }
                    out.push(ldx_mem(b.reg()));
                    out.push(add_x());
                    out.push(TAX);
                }
                out.push(ld_ind(size, s.k.wrapping_sub(b.value())));
                a_var = None;
                x_var = Some(b);
                a_is_x = false;
                continue;
            }
        }
        out.push(*s);
        match class {
            op::LD => {
                a_var = if mode == op::MEM {
                    mem_var[(s.k & 15) as usize]
                } else {
                    None
                };
                a_is_x = false;
            }
            op::LDX => {
                x_var = if mode == op::MEM {
                    mem_var[(s.k & 15) as usize]
                } else {
                    None
                };
                a_is_x = false;
            }
            op::ST => mem_var[(s.k & 15) as usize] = a_var,
            op::STX => mem_var[(s.k & 15) as usize] = x_var,
            op::ALU => {
                if s.code & op::X != 0 && s.code & 0xf0 != op::NEG {
                    a_var = a_var.or(x_var);
                }
                a_is_x = false;
            }
            op::MISC => {
                if s.code & 0xf8 == op::TXA {
                    a_var = x_var;
                } else {
                    x_var = a_var;
                }
                a_is_x = true;
            }
            _ => {}
        }
    }
    out
}

fn rewrite(p: Pred, uses: &mut Uses) -> Pred {
    match p {
        Pred::True | Pred::False => p,
        Pred::Test(Test { stmts, jump, k }) => Pred::Test(Test {
            stmts: rewrite_stmts(&stmts, uses),
            jump,
            k,
        }),
        Pred::InSet { stmts, values } => Pred::InSet {
            stmts: rewrite_stmts(&stmts, uses),
            values,
        },
        Pred::And(items) => Pred::And(items.into_iter().map(|i| rewrite(i, uses)).collect()),
        Pred::Or(items) => Pred::Or(items.into_iter().map(|i| rewrite(i, uses)).collect()),
        Pred::Not(inner) => Pred::Not(Box::new(rewrite(*inner, uses))),
    }
}

/// Statements, then continue (a predicate that always holds).
fn seq(stmts: Vec<Insn>) -> Pred {
    Pred::test(stmts, op::JA, 0)
}

/// `if test { then } else { otherwise }` for branches that always hold: code whose every path
/// continues to what follows.
fn ite(test: Pred, then: Pred, otherwise: Pred) -> Pred {
    Pred::Or(vec![Pred::and2(test, then), otherwise])
}

fn jset(stmts: Vec<Insn>, bits: u32) -> Pred {
    Pred::test(stmts, op::JSET, bits)
}

impl Gen {
    /// Simulates libpcap's cell allocation for a primitive just generated (see
    /// [`RegisterReuse`]); a relation gets its end-of-statements mark.
    pub fn track_registers(&mut self, e: &Expr, mut p: Pred) -> Result<Pred, CompileError> {
        let Some(radio) = self.outer_radio else {
            return Ok(p);
        };
        let hdr_variable = radio != RadioHeader::None;
        let at = match e {
            Expr::Relation { offset, .. } => *offset,
            _ => 0,
        };
        match e {
            Expr::And(_) | Expr::Or(_) | Expr::Not(_) => {}
            Expr::Relation { lhs, rhs, .. } => {
                let mut sim = std::mem::take(&mut self.reuse);
                let mut writes: [Option<Arith>; 16] = Default::default();
                let r0 = self.sim_arith(&mut sim, lhs, &mut writes, hdr_variable);
                let r1 = self.sim_arith(&mut sim, rhs, &mut writes, hdr_variable);
                sim.free(r0);
                sim.free(r1);
                let had = [sim.cells[HDR].is_some(), sim.cells[PL].is_some()];
                let id = sim.relations.len() as u32;
                sim.relations.push((writes, had));
                self.reuse = sim;
                if let Some(stmts) = last_test(&mut p) {
                    let own_cells = stmts
                        .iter()
                        .filter(|s| matches!(s.class(), op::ST | op::STX))
                        .map(|s| s.k + 1)
                        .max()
                        .unwrap_or(0);
                    if own_cells > SAVE_X {
                        return Err(err(
                            "expression needs more scratch cells than jitkit has on 802.11",
                            at,
                        ));
                    }
                    stmts.push(Insn::stmt(op::MISC | op::TAX, REUSE_MARK + id));
                }
            }
            _ => {
                let mut uses = Vec::new();
                first_uses(&p, &mut uses);
                for b in uses {
                    match b {
                        Base::LinkHdr => self.reuse.offset(HDR, hdr_variable),
                        Base::LinkPl => self.reuse.offset(PL, true),
                    }
                }
            }
        }
        if self.reuse.exhausted {
            return Err(err("too many registers needed to evaluate expression", at));
        }
        Ok(p)
    }

    /// libpcap's allocations for one operand (post-order, left first); returns its cell.
    fn sim_arith(
        &self,
        sim: &mut RegisterReuse,
        a: &Arith,
        writes: &mut [Option<Arith>; 16],
        hdr_variable: bool,
    ) -> usize {
        let r = match a {
            Arith::Num(_) | Arith::Len => sim.alloc(),
            Arith::Neg(x) => self.sim_arith(sim, x, writes, hdr_variable),
            Arith::Binary(_, l, r, _) => {
                let rl = self.sim_arith(sim, l, writes, hdr_variable);
                let rr = self.sim_arith(sim, r, writes, hdr_variable);
                sim.free(rl);
                sim.free(rr);
                sim.alloc()
            }
            Arith::Load { proto, index, .. } => {
                let ri = self.sim_arith(sim, index, writes, hdr_variable);
                let r = sim.alloc();
                sim.free(ri);
                match proto {
                    Proto::Link => sim.offset(HDR, hdr_variable),
                    Proto::Radio => {}
                    Proto::Icmp6 => {
                        sim.offset(HDR, hdr_variable);
                        sim.offset(PL, true);
                    }
                    _ => {
                        sim.offset(PL, true);
                        sim.offset(HDR, hdr_variable);
                    }
                }
                r
            }
        };
        writes[r] = Some(a.clone());
        r
    }

    /// Replaces the relations' marks by the code reproducing libpcap's register reuse.
    fn replace_reuse_marks(&mut self, p: &mut Pred) {
        match p {
            Pred::And(items) | Pred::Or(items) => {
                for i in items {
                    self.replace_reuse_marks(i);
                }
            }
            Pred::Not(inner) => self.replace_reuse_marks(inner),
            Pred::Test(t) => {
                let Some(at) = t
                    .stmts
                    .iter()
                    .position(|s| s.code == op::MISC | op::TAX && s.k & 0xffff_0000 == REUSE_MARK)
                else {
                    return;
                };
                let id = (t.stmts[at].k & 0xffff) as usize;
                let code = self.reuse_code(id);
                t.stmts.splice(at..=at, code);
            }
            _ => {}
        }
    }

    /// After relation `id`: store the values libpcap leaves in later offset cells into ours.
    fn reuse_code(&mut self, id: usize) -> Vec<Insn> {
        let (writes, had) = self.reuse.relations[id].clone();
        let mut body = Vec::new();
        for (which, cell) in [(HDR, REG_LINKHDR), (PL, REG_LINKPL)] {
            let Some(r) = self.reuse.cells[which] else {
                continue;
            };
            if had[which] {
                continue;
            }
            if let Some(node) = &writes[r] {
                // Already generated once, so it cannot fail now.
                if let Ok(code) = self.value(node, 0) {
                    body.extend(code);
                    body.push(st(cell));
                }
            }
        }
        if body.is_empty() {
            return body;
        }
        let mut out = vec![st(SAVE_A), Insn::stmt(op::STX, SAVE_X)];
        out.extend(body);
        out.push(ldx_mem(SAVE_X));
        out.push(ld_mem(SAVE_A));
        out
    }

    /// Whether to emit the unoptimized program: the optimizer, when it decides a whole program
    /// (every path reaches the same return), keeps only the loads that may fail, not the
    /// statements that compute their index (the `tax` after a radio header's length), so such a
    /// program with indexed loads is left as generated.
    pub fn keeps_unoptimized(
        &self,
        g: &crate::graph::Graph,
        mut root: crate::graph::NodeId,
    ) -> bool {
        use crate::graph::Node;
        if self.outer_radio.is_none() {
            return false;
        }
        let mut indexed = false;
        loop {
            match g.node(root) {
                Node::Ret(_) => return indexed,
                Node::Hop { target, .. } => root = *target,
                Node::Branch { stmts, jt, jf, .. } if jt == jf => {
                    indexed |= stmts
                        .iter()
                        .any(|s| s.class() == op::LD && s.code & 0xe0 == op::IND);
                    root = *jt;
                }
                Node::Branch { .. } => return false,
            }
        }
    }

    /// Whether this link type has variable offsets.
    pub fn has_variable_offsets(&self) -> bool {
        matches!(self.kind, LinkKind::Wlan(_)) || self.outer_radio.is_some()
    }

    /// Whether `radio[...]` has a radio header to read (radiotap, AVS, Prism; not PPI).
    pub fn has_radio_header(&self) -> bool {
        matches!(
            self.kind,
            LinkKind::Wlan(RadioHeader::Radiotap | RadioHeader::Avs | RadioHeader::Prism)
        )
    }

    /// Rewrites symbolic offsets into indexed loads and puts the code that computes them first
    /// (libpcap's insert_compute_vloffsets and, for PPI, the check of the encapsulated link type).
    pub fn finish_variable_offsets(&mut self, p: Pred) -> Pred {
        let Some(radio) = self.outer_radio else {
            return p;
        };
        if self.reuse.cells[PL].is_some() && radio != RadioHeader::None {
            // libpcap allocates the header's cell last, when the payload's needs it.
            self.reuse.offset(HDR, true);
        }
        let mut p = p;
        self.replace_reuse_marks(&mut p);
        let mut uses = Uses::default();
        let p = rewrite(p, &mut uses);
        let prefix_variable = radio != RadioHeader::None;
        let linkhdr = uses.linkhdr || (uses.linkpl && prefix_variable);
        if radio == RadioHeader::Prism {
            // libpcap turns its optimizer off for every Prism capture (its length code has a
            // jump inside a block), and for the 802.11 header length code below.
            self.no_optimize = true;
        }
        let p = if uses.linkpl {
            self.no_optimize = true;
            Pred::and2(self.header_length_code(radio, linkhdr), p)
        } else if linkhdr && prefix_variable {
            Pred::and2(self.radio_length_code(radio), p)
        } else {
            p
        };
        if radio == RadioHeader::Ppi {
            // libpcap's optimizer cannot remove this check from the root, so it says "rejects
            // all packets" only when the rest folds away entirely, which depends on its block
            // structure; we never say it on PPI (the program still rejects every packet).
            self.no_optimize = true;
            // The PPI header's link type (little-endian, at 4) must be 802.11.
            let dlt = crate::linktype::IEEE802_11.swap_bytes();
            return Pred::and2(Pred::cmp(4, 4, dlt), p);
        }
        p
    }

    /// Code that leaves the radio header's length in M[REG_LINKHDR] and X.
    fn radio_length_code(&self, radio: RadioHeader) -> Pred {
        let store = [st(REG_LINKHDR), TAX];
        match radio {
            RadioHeader::Radiotap | RadioHeader::Ppi => {
                // Little-endian 16-bit length at 2.
                let mut s = vec![
                    ld_abs(1, 3),
                    alu_k(op::LSH, 8),
                    TAX,
                    ld_abs(1, 2),
                    Insn::stmt(op::ALU | op::OR | op::X, 0),
                ];
                s.extend(store);
                seq(s)
            }
            RadioHeader::Avs => {
                let mut s = vec![ld_abs(4, 4)];
                s.extend(store);
                seq(s)
            }
            RadioHeader::Prism => {
                // A Prism header is 144 bytes, unless it is really an AVS header (cookie
                // 0x80211xxx), whose big-endian length is at 4.
                let is_avs = Pred::test(
                    vec![ld_abs(4, 0), alu_k(op::AND, 0xffff_f000)],
                    op::JEQ,
                    0x8021_1000,
                );
                let avs = seq(vec![ld_abs(4, 4)]);
                let prism = seq(vec![Insn::stmt(op::LD | op::IMM, 144)]);
                Pred::and2(ite(is_avs, avs, prism), seq(store.to_vec()))
            }
            RadioHeader::None => Pred::True,
        }
    }

    /// libpcap's gen_load_802_11_header_len: the payload offset is the 802.11 header's start
    /// plus 24, plus 2 for QoS data frames, rounded up to 4 when radiotap says the driver padded
    /// the header; control and management frames keep 24.
    fn header_length_code(&self, radio: RadioHeader, linkhdr: bool) -> Pred {
        let start = if radio != RadioHeader::None && linkhdr {
            self.radio_length_code(radio)
        } else {
            seq(vec![Insn::stmt(op::LDX | op::IMM, 0)])
        };
        let fc = vec![TXA, alu_k(op::ADD, 24), st(REG_LINKPL), ld_ind(1, 0)];
        let add = |n: u32| seq(vec![ld_mem(REG_LINKPL), alu_k(op::ADD, n), st(REG_LINKPL)]);
        let padding = if radio == RadioHeader::Radiotap {
            // Radiotap flags (present bit 1 of the first presence word, no extension words):
            // the flags byte is at 8, or at 16 after an 8-byte TSFT; bit 0x20 is DATAPAD.
            let round_up = seq(vec![
                ld_mem(REG_LINKPL),
                alu_k(op::ADD, 3),
                alu_k(op::AND, !3u32),
                st(REG_LINKPL),
            ]);
            let pad_at = |off: u32| {
                ite(
                    jset(vec![ld_abs(1, off)], 0x20),
                    round_up.clone(),
                    Pred::True,
                )
            };
            let tsft = ite(jset(vec![], 0x0100_0000), pad_at(16), pad_at(8));
            let ext = ite(jset(vec![], 0x0000_0080), Pred::True, tsft);
            ite(jset(vec![ld_abs(4, 4)], 0x0200_0000), ext, Pred::True)
        } else {
            Pred::True
        };
        let qos = ite(
            jset(vec![], 0x80),
            Pred::and2(add(2), padding.clone()),
            padding,
        );
        let data = ite(jset(vec![], 0x04), Pred::True, qos);
        Pred::and2(start, ite(jset(fc, 0x08), data, Pred::True))
    }
}
