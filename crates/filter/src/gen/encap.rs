//! Encapsulations and link metadata: vlan, mpls, pppoed/pppoes, llc, inbound/outbound,
//! ifindex. `vlan`, `mpls` and `pppoes` move the offsets every later primitive uses.

use jitkit_bpf::cbpf::op;

use super::{err, Gen, LinkKind};
use crate::ast::LlcKind;
use crate::names::ethertype::*;
use crate::pred::{ld_abs, Pred};
use crate::CompileError;

/// Linux's PACKET_OUTGOING / LINUX_SLL_OUTGOING packet type.
const OUTGOING: u32 = 4;
/// SKF_AD_OFF + SKF_AD_PKTTYPE / SKF_AD_IFINDEX: the kernel's ancillary loads, which libpcap
/// emits for link types without a direction field (libpcap's own interpreter rejects them).
const SKF_AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const SKF_AD_IFINDEX: u32 = 0xffff_f000 + 8;

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
        self.is_pppoes = true;
        Ok(b)
    }

    pub fn geneve(&mut self, _vni: Option<u32>) -> Result<Pred, CompileError> {
        Err(err(
            "'geneve' is not supported by jitkit's filter compiler",
            0,
        ))
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
        let ctl = at + 2;
        Ok(match kind {
            LlcKind::Any => is_llc,
            LlcKind::I => Pred::and2(is_llc, Pred::jset(1, ctl, 0x01).not()),
            LlcKind::S => Pred::and2(is_llc, Pred::mcmp(1, ctl, 0x01, 0x03)),
            LlcKind::U => Pred::and2(is_llc, Pred::mcmp(1, ctl, 0x03, 0x03)),
            LlcKind::SSubtype(s) => Pred::and2(is_llc, Pred::mcmp(1, ctl, s, 0x0f)),
            LlcKind::USubtype(s) => Pred::and2(is_llc, Pred::mcmp(1, ctl, s, 0xef)),
        })
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
