//! Link-layer tests: protocol type per link type (libpcap's gen_linktype), Ethernet addresses,
//! broadcast and multicast, frame length, `byte`.

use jitkit_bpf::cbpf::{op, Insn};

use super::{err, Gen, LinkKind};
use crate::ast::{ByteOp, Dir, Proto};
use crate::names::ethertype::*;
use crate::pred::{alu_k, Pred};
use crate::CompileError;

/// SLL protocol values for 802.2 / 802.3 frames.
const LINUX_SLL_P_802_3: u32 = 0x0001;
const LINUX_SLL_P_802_2: u32 = 0x0004;
const AF_INET: u32 = 2;
/// libpcap 1.10 compares with the compiling host's AF_INET6 (10 on Linux).
const AF_INET6: u32 = 10;

impl Gen {
    /// A compare at an offset from the link-layer type field.
    fn linktype_cmp(&self, size: u32, off: u32, v: u32) -> Pred {
        Pred::cmp(size, self.off_linktype.unwrap_or(0) + off, v)
    }

    /// LLC header offset (the link-layer payload).
    fn llc_off(&self) -> u32 {
        self.off_linkpl
    }

    /// SNAP header check (gen_snap): AA AA 03, organization code, protocol type.
    fn snap(&self, orgcode: u32, ptype: u32) -> Pred {
        let b = [
            LLCSAP_SNAP as u8,
            LLCSAP_SNAP as u8,
            0x03,
            (orgcode >> 16) as u8,
            (orgcode >> 8) as u8,
            orgcode as u8,
            (ptype >> 8) as u8,
            ptype as u8,
        ];
        Pred::bytes_eq(self.llc_off(), &b)
    }

    /// "This frame carries protocol `proto`" (an Ethernet type or an LLC SAP), per link type.
    pub fn linktype(&mut self, proto: u32) -> Pred {
        if self.label_stack_depth > 0 {
            return self.mpls_linktype(proto);
        }
        match self.kind {
            LinkKind::Ethernet => self.ether_linktype(proto),
            LinkKind::Sll => self.sll_linktype(proto),
            // libpcap 1.10 compares the SLL2 protocol field directly, even for LLC SAPs.
            LinkKind::Sll2 => self.linktype_cmp(2, 0, proto),
            LinkKind::Raw => match proto {
                IP => Pred::mcmp(1, self.off_linkhdr, 0x40, 0xf0),
                IPV6 => Pred::mcmp(1, self.off_linkhdr, 0x60, 0xf0),
                _ => Pred::False,
            },
            LinkKind::Ipv4 => {
                if proto == IP {
                    Pred::True
                } else {
                    Pred::False
                }
            }
            LinkKind::Ipv6 => {
                if proto == IPV6 {
                    Pred::True
                } else {
                    Pred::False
                }
            }
            LinkKind::Null | LinkKind::Loop => match proto {
                IP => self.loopback_linktype(AF_INET),
                IPV6 => self.loopback_linktype(AF_INET6),
                _ => Pred::False,
            },
            LinkKind::Ppp => {
                let ppp = match proto {
                    IP => 0x0021,
                    IPV6 => 0x0057,
                    DN => 0x0027,
                    ATALK => 0x0029,
                    NS => 0x0025,
                    LLCSAP_ISONS => 0x0023,
                    LLCSAP_8021D => 0x0201,
                    LLCSAP_IPX => 0x002b,
                    other => other,
                };
                self.linktype_cmp(2, 0, ppp)
            }
            LinkKind::Wlan(_) => self.wlan_linktype(proto),
        }
    }

    /// DLT_NULL holds the address family in the capturing host's byte order; libpcap compiles
    /// for its own (little-endian here) order. DLT_LOOP uses network byte order.
    fn loopback_linktype(&self, af: u32) -> Pred {
        let v = if self.kind == LinkKind::Null {
            af.swap_bytes()
        } else {
            af
        };
        Pred::cmp(4, self.off_linkhdr, v)
    }

    fn ether_linktype(&mut self, proto: u32) -> Pred {
        let is_8023 = || Pred::cmp_gt(2, self.off_linktype.unwrap_or(0), ETHERMTU).not();
        match proto {
            LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => Pred::and2(
                is_8023(),
                Pred::cmp(2, self.llc_off(), (proto << 8) | proto),
            ),
            LLCSAP_IPX => {
                let b1 = Pred::or(vec![
                    Pred::cmp(1, self.llc_off(), LLCSAP_IPX),
                    Pred::cmp(2, self.llc_off(), 0xffff),
                ]);
                let b1 = Pred::or2(self.snap(0, IPX), b1);
                let b1 = Pred::and2(is_8023(), b1);
                Pred::or2(self.linktype_cmp(2, 0, IPX), b1)
            }
            ATALK | AARP => {
                let snap = if proto == ATALK {
                    self.snap(0x080007, ATALK)
                } else {
                    self.snap(0, AARP)
                };
                let b1 = Pred::and2(is_8023(), snap);
                Pred::or2(self.linktype_cmp(2, 0, proto), b1)
            }
            _ if proto <= ETHERMTU => Pred::and2(is_8023(), self.linktype_cmp(1, 2, proto)),
            _ => self.linktype_cmp(2, 0, proto),
        }
    }

    fn sll_linktype(&mut self, proto: u32) -> Pred {
        match proto {
            LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => Pred::and2(
                self.linktype_cmp(2, 0, LINUX_SLL_P_802_2),
                Pred::cmp(2, self.llc_off(), (proto << 8) | proto),
            ),
            LLCSAP_IPX => {
                let b1 = Pred::or2(Pred::cmp(1, self.llc_off(), LLCSAP_IPX), self.snap(0, IPX));
                let b1 = Pred::and2(self.linktype_cmp(2, 0, LINUX_SLL_P_802_2), b1);
                let b1 = Pred::or2(self.linktype_cmp(2, 0, LINUX_SLL_P_802_3), b1);
                Pred::or2(self.linktype_cmp(2, 0, IPX), b1)
            }
            ATALK | AARP => {
                let snap = if proto == ATALK {
                    self.snap(0x080007, ATALK)
                } else {
                    self.snap(0, AARP)
                };
                let b1 = Pred::and2(self.linktype_cmp(2, 0, LINUX_SLL_P_802_2), snap);
                Pred::or2(self.linktype_cmp(2, 0, proto), b1)
            }
            _ if proto <= ETHERMTU => Pred::and2(
                self.linktype_cmp(2, 0, LINUX_SLL_P_802_2),
                Pred::cmp(1, self.off_linkhdr + self.off_linkpl, proto),
            ),
            _ => self.linktype_cmp(2, 0, proto),
        }
    }

    /// MAC address match for a direction (gen_ehostop, or gen_wlanhostop on 802.11).
    pub fn ether_host(&self, mac: &[u8; 6], dir: Dir, offset: usize) -> Result<Pred, CompileError> {
        if self.is_wlan() {
            return Ok(self.wlan_host(mac, dir));
        }
        if self.kind != LinkKind::Ethernet {
            return Err(err(
                "ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel",
                offset,
            ));
        }
        let src = || Pred::bytes_eq(self.off_linkhdr + 6, mac);
        let dst = || Pred::bytes_eq(self.off_linkhdr, mac);
        Ok(match dir {
            Dir::Src => src(),
            Dir::Dst => dst(),
            Dir::And => Pred::and2(src(), dst()),
            Dir::Default | Dir::Or => Pred::or2(src(), dst()),
            d => {
                let q = match d {
                    Dir::Addr1 => "'addr1' and 'address1' are",
                    Dir::Addr2 => "'addr2' and 'address2' are",
                    Dir::Addr3 => "'addr3' and 'address3' are",
                    Dir::Addr4 => "'addr4' and 'address4' are",
                    Dir::Ra => "'ra' is",
                    _ => "'ta' is",
                };
                return Err(err(
                    format!("{q} only supported on 802.11 with 802.11 headers"),
                    offset,
                ));
            }
        })
    }

    pub fn broadcast(&mut self, proto: Proto, offset: usize) -> Result<Pred, CompileError> {
        match proto {
            Proto::Default | Proto::Link => {
                if self.is_wlan() {
                    return Ok(self.wlan_host(&[0xff; 6], Dir::Dst));
                }
                if self.kind != LinkKind::Ethernet {
                    return Err(err("not a broadcast link", offset));
                }
                self.ether_host(&[0xff; 6], Dir::Dst, offset)
            }
            Proto::Ip => {
                if self.netmask == 0xffff_ffff {
                    return Err(err(
                        "netmask not known, so 'ip broadcast' not supported",
                        offset,
                    ));
                }
                let b0 = self.linktype(IP);
                let hostmask = !self.netmask;
                let nl = self.nl();
                let b1 = Pred::mcmp(4, nl + 16, 0, hostmask);
                let b2 = Pred::mcmp(4, nl + 16, hostmask, hostmask);
                Ok(Pred::and2(b0, Pred::or2(b1, b2)))
            }
            _ => Err(err(
                "only link-layer/IP broadcast filters supported",
                offset,
            )),
        }
    }

    pub fn multicast(&mut self, proto: Proto, offset: usize) -> Result<Pred, CompileError> {
        match proto {
            Proto::Default | Proto::Link => {
                if self.is_wlan() {
                    return Ok(self.wlan_multicast());
                }
                if self.kind != LinkKind::Ethernet {
                    return Err(err("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel", offset));
                }
                Ok(Pred::jset(1, self.off_linkhdr, 1))
            }
            Proto::Ip => {
                let b0 = self.linktype(IP);
                Ok(Pred::and2(b0, Pred::cmp_ge(1, self.nl() + 16, 224)))
            }
            Proto::Ip6 => {
                let b0 = self.linktype(IPV6);
                Ok(Pred::and2(b0, Pred::cmp(1, self.nl() + 24, 255)))
            }
            _ => Err(err(
                "only link-layer/IP/IPv6 multicast filters supported",
                offset,
            )),
        }
    }

    /// `len <jump> n` on the wire length.
    pub fn len_cmp(&self, jump: u16, n: u32) -> Pred {
        Pred::test(vec![Insn::stmt(op::LD | op::W | op::LEN, 0)], jump, n)
    }

    /// `byte idx op value` (gen_byteop). `&` and `|` test the accumulator without loading the
    /// byte, exactly as libpcap does.
    pub fn byteop(&self, bop: ByteOp, idx: u32, value: u32) -> Pred {
        let at = self.off_linkhdr + idx;
        match bop {
            ByteOp::Eq => Pred::cmp(1, at, value),
            ByteOp::Lt => Pred::cmp_ge(1, at, value).not(),
            ByteOp::Gt => Pred::cmp_gt(1, at, value),
            ByteOp::Or => Pred::test(vec![alu_k(op::OR, value)], op::JEQ, 0).not(),
            ByteOp::And => Pred::test(vec![alu_k(op::AND, value)], op::JEQ, 0).not(),
        }
    }
}
