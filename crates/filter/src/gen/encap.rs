//! Encapsulations and link metadata: vlan, mpls, pppoed/pppoes, geneve, llc, inbound/outbound,
//! ifindex. `vlan`, `mpls`, `pppoes` and `geneve` move the offsets every later primitive uses
//! (`geneve` to offsets known only at run time, see `rebase.rs`).

fn ldx_mem(cell: u32) -> Insn {
    Insn::stmt(op::LDX | op::MEM, cell)
}

use jitkit_bpf::cbpf::op;

use jitkit_bpf::cbpf::Insn;

use super::{err, rebase, Gen, LinkKind};
use crate::ast::{Dir, LlcKind};
use crate::names::{ethertype::*, ipproto};
use crate::pred::{alu_k, ld_abs, ld_ind, ldx_msh, Pred};
use crate::CompileError;

/// Linux's PACKET_OUTGOING / LINUX_SLL_OUTGOING packet type.
const OUTGOING: u32 = 4;
/// SKF_AD_OFF + SKF_AD_PKTTYPE / SKF_AD_IFINDEX: the kernel's ancillary loads, which libpcap
/// emits for link types without a direction field (libpcap's own interpreter rejects them).
const SKF_AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const SKF_AD_IFINDEX: u32 = 0xffff_f000 + 8;

/// `llc [kind]` once `is_llc` holds: the frame kind from the LLC control byte at `ctl`.
pub(super) fn llc_frame(is_llc: Pred, ctl: u32, kind: LlcKind) -> Pred {
    match kind {
        LlcKind::Any => is_llc,
        LlcKind::I => Pred::and2(is_llc, Pred::jset(1, ctl, 0x01).not()),
        LlcKind::S => Pred::and2(is_llc, Pred::mcmp(1, ctl, 0x01, 0x03)),
        LlcKind::U => Pred::and2(is_llc, Pred::mcmp(1, ctl, 0x03, 0x03)),
        LlcKind::SSubtype(s) => Pred::and2(is_llc, Pred::mcmp(1, ctl, s, 0x0f)),
        LlcKind::USubtype(s) => Pred::and2(is_llc, Pred::mcmp(1, ctl, s, 0xef)),
    }
}

fn link_name(g: &Gen) -> String {
    crate::linktype::name(g.linktype)
        .map(str::to_string)
        .unwrap_or_else(|| g.linktype.to_string())
}

impl Gen {
    pub fn vlan(&mut self, id: Option<u32>) -> Result<Pred, CompileError> {
        if self.label_stack_depth > 0 {
            return Err(err("no VLAN match after MPLS", 0));
        }
        if self.kind != LinkKind::Ethernet {
            return Err(err(format!("no VLAN support for {}", link_name(self)), 0));
        }
        let tpid = Pred::Or(vec![
            self.linktype(VLAN),
            self.linktype(QINQ),
            self.linktype(QINQ_OLD),
        ]);
        let b = match id {
            Some(v) => {
                if v > 0x0fff {
                    return Err(err(
                        format!("VLAN tag {v} greater than maximum {}", 0x0fff),
                        0,
                    ));
                }
                Pred::and2(tpid, Pred::mcmp(2, self.nl(), v, 0x0fff))
            }
            None => tpid,
        };
        self.off_linkpl += 4;
        self.off_linktype = self.off_linktype.map(|o| o + 4);
        self.vlan_stack_depth += 1;
        Ok(b)
    }

    pub fn mpls(&mut self, label: Option<u32>) -> Result<Pred, CompileError> {
        let b0 = if self.label_stack_depth > 0 {
            // Inside a label stack: the previous label must not be the bottom of the stack.
            Pred::mcmp(1, self.off_linkpl + self.off_nl - 4 + 2, 0, 0x01)
        } else {
            match self.kind {
                LinkKind::Ethernet => self.linktype(MPLS),
                LinkKind::Ppp => self.linktype(0x0281),
                _ => return Err(err(format!("no MPLS support for {}", link_name(self)), 0)),
            }
        };
        let b = match label {
            Some(l) => {
                if l > 0xfffff {
                    return Err(err(
                        format!("MPLS label {l} greater than maximum {}", 0xfffff),
                        0,
                    ));
                }
                Pred::and2(b0, Pred::mcmp(4, self.nl(), l << 12, 0xffff_f000))
            }
            None => b0,
        };
        self.off_nl_nosnap += 4;
        self.off_nl += 4;
        self.label_stack_depth += 1;
        Ok(b)
    }

    /// Inside MPLS, "is IPv4/IPv6" is the bottom-of-stack bit plus the IP version nibble; any
    /// other protocol is an error (reported when generation ends, as `linktype` cannot fail).
    pub fn mpls_linktype(&mut self, proto: u32) -> Pred {
        let nl = self.nl();
        let version = match proto {
            IP => 0x40,
            IPV6 => 0x60,
            _ => {
                self.deferred_error
                    .get_or_insert_with(|| err("unsupported protocol over mpls", 0));
                return Pred::False;
            }
        };
        Pred::and2(
            Pred::mcmp(1, nl.wrapping_sub(2), 0x01, 0x01),
            Pred::mcmp(1, nl, version, 0xf0),
        )
    }

    pub fn pppoed(&mut self) -> Result<Pred, CompileError> {
        Ok(self.linktype(PPPOED))
    }

    pub fn pppoes(&mut self, id: Option<u32>) -> Result<Pred, CompileError> {
        let b0 = self.linktype(PPPOES);
        let b = match id {
            Some(v) => {
                if v > 0xffff {
                    return Err(err(
                        format!("PPPoE session number {v} greater than maximum {}", 0xffff),
                        0,
                    ));
                }
                Pred::and2(b0, Pred::mcmp(4, self.nl(), v, 0xffff))
            }
            None => b0,
        };
        // From here on the frame is PPP after the 6-byte PPPoE header.
        let hdr = self.nl() + 6;
        self.kind = LinkKind::Ppp;
        self.linktype = crate::linktype::PPP;
        self.off_linkhdr = hdr;
        self.off_linktype = Some(hdr);
        self.off_linkpl = hdr + 2;
        self.off_nl = 0;
        self.off_nl_nosnap = 0;
        // libpcap's link-layer header register is now the payload's (PUSH_LINKHDR).
        self.reg_linkhdr = self.reg_linkpl;
        self.is_pppoes = true;
        self.is_geneve = false;
        Ok(b)
    }

    /// `geneve [vni]` (gen_geneve): UDP to port 6081 over IPv4 or IPv6, Geneve version 0, the
    /// VNI if given; then every later primitive applies to the encapsulated frame. Its offsets
    /// are computed at run time into three scratch cells, as libpcap does: the protocol type
    /// (the Geneve header's, or the inner Ethernet header's when the payload is Ethernet,
    /// type 0x6558), the end of the Geneve header (link-layer header), and the payload.
    pub fn geneve(&mut self, vni: Option<u32>, offset: usize) -> Result<Pred, CompileError> {
        const GENEVE_PORT: u32 = 6081;
        const ETHERTYPE_TEB: u32 = 0x6558;
        if let Some(v) = vni {
            if v > 0xff_ffff {
                return Err(err(
                    format!("Geneve VNI {v} greater than maximum {}", 0xff_ffff),
                    offset,
                ));
            }
        }
        let outer = self.off_base;
        let udp = Some(ipproto::UDP);
        let nl = self.nl();
        // The checks use the current (outer) offsets.
        let mut v4 = vec![
            self.port(&[GENEVE_PORT], udp, Dir::Dst, offset)?,
            Pred::test(
                vec![ldx_msh(nl), ld_ind(1, nl + 8), alu_k(op::AND, 0xc0)],
                op::JEQ,
                0,
            ),
        ];
        let mut v6 = vec![
            self.port6(&[GENEVE_PORT], udp, Dir::Dst, offset)?,
            Pred::mcmp(1, nl + 40 + 8, 0, 0xc0),
        ];
        if let Some(v) = vni {
            v4.push(Pred::test(
                vec![ldx_msh(nl), ld_ind(4, nl + 12), alu_k(op::AND, 0xffff_ff00)],
                op::JEQ,
                v << 8,
            ));
            v6.push(Pred::mcmp(4, nl + 40 + 12, v << 8, 0xffff_ff00));
        }
        let (mut v4, mut v6) = (Pred::And(v4), Pred::And(v6));
        if let Some(c) = outer {
            v4 = rebase::rebase(v4, c, offset)?;
            v6 = rebase::rebase(v6, c, offset)?;
        } else {
            // On 802.11 the checks read the 802.11 registers (libpcap allocates them first).
            self.touch_first_uses(&v4);
            self.touch_first_uses(&v6);
        }
        // libpcap's three registers, in its order: link type, link header, payload.
        let cells = self.geneve_cells(offset)?;
        let regs = [cells.linktype, cells.linkhdr, cells.linkpl].map(|c| {
            let r = self.pool.new_reg(c);
            self.pool.touch(r);
            r
        });
        // The network header's offset: a symbolic one (after an outer `geneve`, or on 802.11)
        // is its register's cell plus the offset from that register's value.
        let nl_base = match outer {
            Some(c) => Some(rebase::split(nl, c)),
            None if self.outer_radio.is_some() => super::varlen::split_symbolic(nl),
            None => None,
        };
        // The Geneve header's offset into M[linkhdr], computed with the real outer offsets.
        let (geneve4, geneve6) = match nl_base {
            None => (
                vec![
                    ldx_msh(nl),
                    Insn::stmt(op::MISC | op::TXA, 0),
                    alu_k(op::ADD, nl + 8),
                ],
                vec![Insn::stmt(op::LD | op::IMM, nl + 40 + 8)],
            ),
            Some((base, rel)) => (
                vec![
                    ldx_mem(base),
                    ld_ind(1, rel),
                    alu_k(op::AND, 0xf),
                    alu_k(op::LSH, 2),
                    Insn::stmt(op::ALU | op::ADD | op::X, 0),
                    alu_k(op::ADD, rel + 8),
                ],
                vec![
                    ldx_mem(base),
                    Insn::stmt(op::LD | op::IMM, rel + 40 + 8),
                    Insn::stmt(op::ALU | op::ADD | op::X, 0),
                ],
            ),
        };
        let store = |mut s: Vec<Insn>| {
            s.push(Insn::stmt(op::ST, cells.linkhdr));
            Pred::test(s, op::JA, 0)
        };
        let found = Pred::Or(vec![
            Pred::and2(v4, store(geneve4)),
            Pred::and2(v6, store(geneve6)),
        ]);
        // X = Geneve header; protocol type at +2; header length (options in 4-byte words) in
        // the low 6 bits of its first byte, plus 8.
        let header = vec![
            ldx_mem(cells.linkhdr),
            Insn::stmt(op::MISC | op::TXA, 0),
            alu_k(op::ADD, 2),
            Insn::stmt(op::ST, cells.linktype),
            ld_ind(1, 0),
            alu_k(op::AND, 0x3f),
            alu_k(op::MUL, 4),
            alu_k(op::ADD, 8),
            Insn::stmt(op::ALU | op::ADD | op::X, 0),
            Insn::stmt(op::ST, cells.linkhdr),
            ld_ind(2, 2),
        ];
        let ethernet = Pred::test(
            vec![
                Insn::stmt(op::LD | op::MEM, cells.linkhdr),
                alu_k(op::ADD, 12),
                Insn::stmt(op::ST, cells.linktype),
                alu_k(op::ADD, 2),
                Insn::stmt(op::ST, cells.linkpl),
            ],
            op::JA,
            0,
        );
        let bare = Pred::test(
            vec![
                Insn::stmt(op::LD | op::MEM, cells.linkhdr),
                Insn::stmt(op::ST, cells.linkpl),
            ],
            op::JA,
            0,
        );
        let offsets = Pred::Or(vec![
            Pred::and2(Pred::test(header, op::JEQ, ETHERTYPE_TEB), ethernet),
            bare,
        ]);
        // From here on: an Ethernet-typed frame at the run-time offsets.
        self.off_base = Some(cells);
        self.reg_linkhdr = Some(regs[1]);
        self.reg_linkpl = Some(regs[2]);
        self.is_geneve = true;
        self.no_optimize = true;
        self.kind = LinkKind::Ethernet;
        self.linktype = crate::linktype::EN10MB;
        self.off_linkhdr = rebase::LINKHDR;
        self.off_linktype = Some(rebase::LINKTYPE);
        self.off_linkpl = rebase::LINKPL;
        self.off_nl = 0;
        Ok(Pred::and2(found, offsets))
    }

    /// Our cells for the next `geneve`: three below those already taken, and the temporary the
    /// rewritten code uses (see `rebase.rs`), shared by every level. `generate` reserved them
    /// for every `geneve` of the expression, so the cells below `cell_floor` stay free for
    /// arithmetic.
    fn geneve_cells(&mut self, offset: usize) -> Result<rebase::Cells, CompileError> {
        let (temp, top) = self.geneve_top;
        if top < 3 {
            return Err(err(
                "too many registers needed to evaluate expression",
                offset,
            ));
        }
        self.geneve_top.1 = top - 3;
        Ok(rebase::Cells {
            linktype: top - 1,
            linkhdr: top - 2,
            linkpl: top - 3,
            temp,
            floor: self.cell_floor,
        })
    }

    /// Inside Geneve, "there is a link-layer header" (the payload does not start where the
    /// Geneve header ends): libpcap's gen_geneve_ll_check, which Ethernet address tests need.
    pub fn geneve_ll_check(&self) -> Pred {
        let Some(c) = self.off_base else {
            return Pred::True;
        };
        Pred::test(
            vec![Insn::stmt(op::LD | op::MEM, c.linkhdr), ldx_mem(c.linkpl)],
            op::JEQ | op::X,
            0,
        )
        .not()
    }

    /// An Ethernet address test, after libpcap's gen_prevlinkhdr_check.
    pub fn ether_host_checked(
        &self,
        mac: &[u8; 6],
        dir: crate::ast::Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let b = self.ether_host(mac, dir, offset)?;
        Ok(if self.is_geneve {
            Pred::and2(self.geneve_ll_check(), b)
        } else {
            b
        })
    }

    /// A primitive generated at symbolic offsets, rewritten for the run-time ones (after
    /// `geneve`); link-layer broadcast and multicast also check for a link-layer header.
    pub fn rebased_primitive(
        &mut self,
        e: &crate::ast::Expr,
        cells: rebase::Cells,
    ) -> Result<Pred, CompileError> {
        use crate::ast::{Expr, Proto};
        self.rebasing = true;
        let p = self.expr(e);
        self.rebasing = false;
        let p = rebase::rebase(p?, cells, e.offset().unwrap_or(0))?;
        Ok(match e {
            Expr::Broadcast {
                proto: Proto::Default | Proto::Link,
                ..
            }
            | Expr::Multicast {
                proto: Proto::Default | Proto::Link,
                ..
            } if self.is_geneve => Pred::and2(self.geneve_ll_check(), p),
            _ => p,
        })
    }

    /// `llc` and its frame kinds (802.2 LLC on Ethernet).
    pub fn llc(&mut self, kind: LlcKind) -> Result<Pred, CompileError> {
        if self.kind != LinkKind::Ethernet {
            return Err(err(
                format!("'llc' not supported for {}", link_name(self)),
                0,
            ));
        }
        let at = self.off_linkpl;
        let is_llc = Pred::and2(
            Pred::cmp_gt(2, self.off_linktype.unwrap_or(0), ETHERMTU).not(),
            Pred::cmp(2, at, 0xffff).not(),
        );
        Ok(llc_frame(is_llc, at + 2, kind))
    }

    pub fn inbound(&mut self, outbound: bool) -> Result<Pred, CompileError> {
        let b0 = match self.kind {
            LinkKind::Sll => Pred::cmp(2, self.off_linkhdr, OUTGOING),
            LinkKind::Sll2 => Pred::cmp(1, self.off_linkhdr + 10, OUTGOING),
            _ => Pred::test(vec![ld_abs(2, SKF_AD_PKTTYPE)], op::JEQ, OUTGOING),
        };
        Ok(if outbound { b0 } else { b0.not() })
    }

    pub fn ifindex(&mut self, index: u32) -> Result<Pred, CompileError> {
        Ok(match self.kind {
            LinkKind::Sll2 => Pred::cmp(4, self.off_linkhdr + 4, index),
            _ => Pred::test(vec![ld_abs(4, SKF_AD_IFINDEX)], op::JEQ, index),
        })
    }
}
