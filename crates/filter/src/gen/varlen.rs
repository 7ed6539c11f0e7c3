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
//! short to hold them, so its presence is part of the verdict), and it sets the registers that
//! are the link header's and payload's at the end of the expression: after `pppoes` or
//! `geneve` those are no longer the 802.11 ones (see `cells.rs` for what then reads them).
//!
//! Limits of the symbolic offsets: an index in `proto[...]` of 2^29 or more (or that far
//! below zero) is taken for an absolute offset. No packet is that long, so such loads fail
//! either way; only a few wrap-around indexes (`byte 4294967295 = 1`) differ from libpcap.

use jitkit_bpf::cbpf::{op, Insn};

use super::cells::RegId;
use super::{Gen, LinkKind, RadioHeader};
use crate::pred::{alu_k, ld_abs, ld_ind, Pred, Test};

/// Symbolic offset of the 802.11 header when a variable-length radio header precedes it.
pub const LINKHDR_BASE: u32 = 0x4000_0000;
/// Symbolic offset of the 802.11 payload (the LLC header).
pub const LINKPL_BASE: u32 = 0x8000_0000;
/// Offsets within this distance of a base are relative to it.
const WINDOW: u32 = 0x2000_0000;

/// Our cells for libpcap's two 802.11 offset registers (the 802.11 header after a radio
/// header, and the 802.11 payload): the run-time values of the symbolic bases. Arithmetic uses
/// cells from 0 up; `geneve` takes cells below these (see `cells.rs`).
pub const REG_LINKHDR: u32 = 15;
pub const REG_LINKPL: u32 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Base {
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

/// A symbolic offset as (our cell holding its register's value, offset from that value).
pub fn split_symbolic(k: u32) -> Option<(u32, u32)> {
    base_of(k).map(|b| (b.reg(), k.wrapping_sub(b.value())))
}

const TAX: Insn = Insn::stmt(op::MISC | op::TAX, 0);

/// The first use of each variable offset in `p`, in code order (which base, in order).
pub(super) fn first_uses(p: &Pred, out: &mut Vec<Base>) {
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

/// Rewrites the statements of one test. Tracks which registers already include a variable
/// part (after `4*([k]&0xf)` relative to the payload, X holds the payload offset plus the IP
/// header length, so the transport load that follows only drops the base).
fn rewrite_stmts(stmts: &[Insn]) -> Vec<Insn> {
    let mut out = Vec::with_capacity(stmts.len() + 4);
    // Which base's variable part A / X / M[i] include, and whether A == X.
    let mut a_var: Option<Base> = None;
    let mut x_var: Option<Base> = None;
    let mut mem_var: [Option<Base>; 16] = [None; 16];
    let mut a_is_x = false;
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

fn rewrite(p: Pred) -> Pred {
    match p {
        Pred::True | Pred::False => p,
        Pred::Test(Test { stmts, jump, k }) => Pred::Test(Test {
            stmts: rewrite_stmts(&stmts),
            jump,
            k,
        }),
        Pred::InSet { stmts, values } => Pred::InSet {
            stmts: rewrite_stmts(&stmts),
            values,
        },
        Pred::And(items) => Pred::And(items.into_iter().map(rewrite).collect()),
        Pred::Or(items) => Pred::Or(items.into_iter().map(rewrite).collect()),
        Pred::Not(inner) => Pred::Not(Box::new(rewrite(*inner))),
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

    /// libpcap's insert_compute_vloffsets allocates the 802.11 header's register last, when the
    /// payload's register has one and the header's (after a radio header) has none yet.
    pub fn allocate_final_registers(&mut self) {
        if let (Some(hdr), Some(pl)) = (self.reg_linkhdr, self.reg_linkpl) {
            if !self.pool.is_allocated(hdr) && self.pool.is_allocated(pl) {
                self.pool.touch(hdr);
            }
        }
    }

    /// Rewrites symbolic offsets into indexed loads and puts first the code that computes the
    /// run-time offsets (libpcap's insert_compute_vloffsets and, for PPI, the check of the
    /// encapsulated link type).
    ///
    /// As in libpcap, that code stores the radio header's length in whatever register is the
    /// link-layer header's at the end of the expression, and the 802.11 payload's offset in
    /// whatever register is the payload's: after `pppoes` both are the 802.11 payload's register,
    /// after `geneve` they are Geneve's (so the 802.11 registers the code before them reads are
    /// never set). Registers nothing sets at the start are zeroed there: libpcap leaves them
    /// uninitialized, our semantics start every cell at 0, and the kernel's checker refuses
    /// reads of cells never written.
    pub fn finish_variable_offsets(&mut self, p: Pred) -> Pred {
        let radio = self.outer_radio;
        let hdr_variable = radio.is_some_and(|r| r != RadioHeader::None);
        let (p, radio_reg, payload_reg) = match radio {
            Some(_) => {
                let p = rewrite(p);
                let allocated = |r: &RegId| self.pool.is_allocated(*r);
                let hdr = self.reg_linkhdr.filter(|r| hdr_variable && allocated(r));
                (p, hdr, self.reg_linkpl.filter(allocated))
            }
            None => (p, None, None),
        };
        let set_at_start: Vec<u32> = [radio_reg, payload_reg]
            .into_iter()
            .flatten()
            .map(|r| self.pool.ours(r))
            .collect();
        let mut unset: Vec<u32> = self
            .pool
            .allocated_cells()
            .filter(|c| !set_at_start.contains(c))
            .collect();
        unset.sort_unstable_by(|a, b| b.cmp(a));
        unset.dedup();
        let zero = (!unset.is_empty()).then(|| {
            let mut s = vec![Insn::stmt(op::LD | op::IMM, 0)];
            s.extend(unset.iter().map(|&c| st(c)));
            seq(s)
        });
        let Some(radio) = radio else {
            return match zero {
                Some(z) => Pred::and2(z, p),
                None => p,
            };
        };
        if radio == RadioHeader::Prism {
            // libpcap turns its optimizer off for every Prism capture (its length code has a
            // jump inside a block), and for the 802.11 header length code below.
            self.no_optimize = true;
        }
        let radio_cell = radio_reg.map(|r| self.pool.ours(r));
        let prefix = match (payload_reg, radio_cell) {
            (Some(pl), _) => {
                self.no_optimize = true;
                Some(self.header_length_code(radio, radio_cell, self.pool.ours(pl)))
            }
            (None, Some(cell)) => Some(self.radio_length_code(radio, cell)),
            (None, None) => None,
        };
        let mut p = p;
        if let Some(prefix) = prefix {
            p = Pred::and2(prefix, p);
        }
        if let Some(z) = zero {
            p = Pred::and2(z, p);
        }
        // (libpcap checks the link type it compiled for at the end: after `pppoes` or `geneve`
        // that is no longer PPI, and there is no check.)
        if radio == RadioHeader::Ppi && self.linktype == crate::linktype::PPI {
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

    /// Code that leaves the radio header's length in M[cell] and X.
    fn radio_length_code(&self, radio: RadioHeader, cell: u32) -> Pred {
        let store = [st(cell), TAX];
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
    /// `radio_cell` receives the radio header's length, `pl` the payload's offset.
    fn header_length_code(&self, radio: RadioHeader, radio_cell: Option<u32>, pl: u32) -> Pred {
        let start = match radio_cell {
            Some(cell) if radio != RadioHeader::None => self.radio_length_code(radio, cell),
            _ => seq(vec![Insn::stmt(op::LDX | op::IMM, 0)]),
        };
        let fc = vec![TXA, alu_k(op::ADD, 24), st(pl), ld_ind(1, 0)];
        let add = |n: u32| seq(vec![ld_mem(pl), alu_k(op::ADD, n), st(pl)]);
        // (libpcap tests the link type it compiled for at the end: after `pppoes` or `geneve`
        // that is no longer radiotap, and the padding is not looked for.)
        let padding = if radio == RadioHeader::Radiotap
            && self.linktype == crate::linktype::IEEE802_11_RADIO
        {
            // Radiotap flags (present bit 1 of the first presence word, no extension words):
            // the flags byte is at 8, or at 16 after an 8-byte TSFT; bit 0x20 is DATAPAD.
            let round_up = seq(vec![
                ld_mem(pl),
                alu_k(op::ADD, 3),
                alu_k(op::AND, !3u32),
                st(pl),
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
