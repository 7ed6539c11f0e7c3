//! Network and transport primitives: host, net, port, portrange, proto, protocol names.

use jitkit_bpf::cbpf::{op, Insn};

use super::cells::{Leftover, PROTOCHAIN_MARK};
use super::{err, Gen, LinkKind};
use crate::ast::*;
use crate::names::{self, ethertype::*, ipproto, ServiceProto};
use crate::pred::{alu_k, ld_abs, ld_ind, ldx_msh, Pred};
use crate::CompileError;

/// Pseudo link protocol for "ARP or RARP" (their address fields are at the same offsets).
const ARP_OR_RARP: u32 = 0x1_0000;

/// An `or` run of this many same-qualified hosts or ports becomes one set test.
pub const MIN_SET: usize = 2;

/// The transport protocol a port primitive applies to (`None`: tcp, udp and sctp).
type PortProto = Option<u32>;

/// How many items at the start of `items` can be compiled together as one host or port set.
pub fn set_run(items: &[Expr]) -> usize {
    let Some(Expr::Id { qual, .. }) = items.first() else {
        return 0;
    };
    if set_value(&items[0]).is_none() {
        return 0;
    }
    items
        .iter()
        .take_while(|e| {
            matches!(e, Expr::Id { qual: q, .. } if q == qual) && set_value(e).is_some()
        })
        .count()
}

/// The number an item contributes to a set: an IPv4 host address or a port.
fn set_value(e: &Expr) -> Option<u32> {
    let Expr::Id { qual, value, .. } = e else {
        return None;
    };
    if !matches!(qual.dir, Dir::Default | Dir::Or | Dir::Src | Dir::Dst) {
        return None;
    }
    match qual.addr {
        AddrKind::Default | AddrKind::Host => {
            if !matches!(
                qual.proto,
                Proto::Default | Proto::Ip | Proto::Arp | Proto::Rarp
            ) {
                return None;
            }
            match value {
                IdValue::Num(n) => Some(*n),
                IdValue::Hid(s) => match names::atoin(s) {
                    Some((v, 32)) => Some(v),
                    _ => None,
                },
                _ => None,
            }
        }
        AddrKind::Port => {
            if !matches!(
                qual.proto,
                Proto::Default | Proto::Tcp | Proto::Udp | Proto::Sctp
            ) {
                return None;
            }
            match value {
                IdValue::Num(n) if *n <= 65535 => Some(*n),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `load` then "A is one of `values`" (a comparison tree for many values).
fn member(load: &[jitkit_bpf::cbpf::Insn], values: &[u32]) -> Pred {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() == 1 {
        return Pred::test(load.to_vec(), op::JEQ, sorted[0]);
    }
    Pred::InSet {
        stmts: load.to_vec(),
        values: sorted,
    }
}

/// Source-or-destination membership: every source test, then every destination test, the
/// order libpcap's optimizer leaves `host a or host b` in.
fn either_member(
    src: &[jitkit_bpf::cbpf::Insn],
    dst: &[jitkit_bpf::cbpf::Insn],
    values: &[u32],
) -> Pred {
    Pred::or2(member(src, values), member(dst, values))
}

fn dir_error(dir: Dir, what: &str, offset: usize) -> CompileError {
    let q = match dir {
        Dir::Addr1 => "'addr1' and 'address1'",
        Dir::Addr2 => "'addr2' and 'address2'",
        Dir::Addr3 => "'addr3' and 'address3'",
        Dir::Addr4 => "'addr4' and 'address4'",
        Dir::Ra => "'ra'",
        _ => "'ta'",
    };
    err(format!("{q} are not valid qualifiers for {what}"), offset)
}

impl Gen {
    /// A qualified identifier (`head id` in the grammar).
    pub fn id(&mut self, q: Qual, value: &IdValue, offset: usize) -> Result<Pred, CompileError> {
        match value {
            IdValue::Num(v) => self.ncode(None, *v, q, offset),
            IdValue::Hid(s) => self.ncode(Some(s), 0, q, offset),
            IdValue::HidLen(s, len) => self.mcode(s, None, *len, q, offset),
            IdValue::HidMask(s, m) => self.mcode(s, Some(m), 0, q, offset),
            IdValue::Hid6(s, len) => self.mcode6(s, *len, q, offset),
            IdValue::Eid(s) => {
                let mac = names::ether_aton(s)
                    .ok_or_else(|| err(format!("bogus ethernet address {s}"), offset))?;
                if matches!(q.addr, AddrKind::Host | AddrKind::Default) && q.proto == Proto::Link {
                    return self.ether_host_checked(&mac, q.dir, offset);
                }
                Err(err("ethernet address used in non-ether expression", offset))
            }
            IdValue::Aid(_) => Err(err("ARCnet address used in non-arc expression", offset)),
            IdValue::Name(name) => self.scode(name, q, offset),
        }
    }

    /// A set of same-qualified hosts or ports from an `or` run (see [`set_run`]).
    pub fn id_set(&mut self, items: &[Expr]) -> Result<Option<Pred>, CompileError> {
        let Some(Expr::Id { qual, offset, .. }) = items.first() else {
            return Ok(None);
        };
        let values: Vec<u32> = items.iter().filter_map(set_value).collect();
        let (q, offset) = (*qual, *offset);
        match q.addr {
            AddrKind::Port => {
                let proto = self.port_proto(q.proto, offset)?;
                let b = self.port(&values, proto, q.dir, offset)?;
                let b6 = self.port6(&values, proto, q.dir, offset)?;
                Ok(Some(Pred::or2(b6, b)))
            }
            _ => Ok(Some(self.host(&values, 0xffff_ffff, q, offset)?)),
        }
    }

    /// gen_ncode: a number or dotted address with qualifiers.
    fn ncode(
        &mut self,
        s: Option<&str>,
        v: u32,
        q: Qual,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let (mut v, vlen) = match s {
            None => (v, 32),
            Some(s) => {
                names::atoin(s).ok_or_else(|| err(format!("invalid IPv4 address '{s}'"), offset))?
            }
        };
        match q.addr {
            AddrKind::Default | AddrKind::Host | AddrKind::Net => {
                if q.proto == Proto::Link {
                    return Err(err("illegal link layer address", offset));
                }
                let mut mask: u32 = 0xffff_ffff;
                if s.is_none() && q.addr == AddrKind::Net {
                    while v != 0 && v & 0xff00_0000 == 0 {
                        v <<= 8;
                        mask <<= 8;
                    }
                } else {
                    v = v.checked_shl(32 - vlen).unwrap_or(0);
                    mask = mask.checked_shl(32 - vlen).unwrap_or(0);
                }
                self.host(&[v], mask, q, offset)
            }
            AddrKind::Port => {
                let proto = self.port_proto(q.proto, offset)?;
                if v > 65535 {
                    return Err(err(format!("illegal port number {v} > 65535"), offset));
                }
                let b = self.port(&[v], proto, q.dir, offset)?;
                let b6 = self.port6(&[v], proto, q.dir, offset)?;
                Ok(Pred::or2(b6, b))
            }
            AddrKind::Portrange => {
                let proto = self.portrange_proto(q.proto, offset)?;
                if v > 65535 {
                    return Err(err(format!("illegal port number {v} > 65535"), offset));
                }
                self.portrange_both(v, v, proto, q.dir, offset)
            }
            AddrKind::Gateway => Err(err("'gateway' requires a name", offset)),
            AddrKind::Proto => self.proto(v, q.proto, q.dir, offset),
            AddrKind::Protochain => self.protochain(v, q.proto, offset),
        }
    }

    /// gen_mcode: `net A/len` and `net A mask M`.
    fn mcode(
        &mut self,
        s1: &str,
        s2: Option<&str>,
        masklen: u32,
        q: Qual,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let (n, nlen) =
            names::atoin(s1).ok_or_else(|| err(format!("invalid IPv4 address '{s1}'"), offset))?;
        let n = n.checked_shl(32 - nlen).unwrap_or(0);
        let m = match s2 {
            Some(s2) => {
                let (m, mlen) = names::atoin(s2)
                    .ok_or_else(|| err(format!("invalid IPv4 address '{s2}'"), offset))?;
                let m = m.checked_shl(32 - mlen).unwrap_or(0);
                if n & !m != 0 {
                    return Err(err(
                        format!("non-network bits set in \"{s1} mask {s2}\""),
                        offset,
                    ));
                }
                m
            }
            None => {
                if masklen > 32 {
                    return Err(err("mask length must be <= 32", offset));
                }
                let m = if masklen == 0 {
                    0
                } else {
                    0xffff_ffffu32 << (32 - masklen)
                };
                if n & !m != 0 {
                    return Err(err(
                        format!("non-network bits set in \"{s1}/{masklen}\""),
                        offset,
                    ));
                }
                m
            }
        };
        if q.addr != AddrKind::Net {
            return Err(err("Mask syntax for networks only", offset));
        }
        self.host(&[n], m, q, offset)
    }

    /// gen_mcode6: IPv6 addresses and prefixes.
    fn mcode6(
        &mut self,
        s: &str,
        len: Option<u32>,
        q: Qual,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let masklen = len.unwrap_or(128);
        if masklen > 128 {
            return Err(err("mask length must be <= 128", offset));
        }
        let addr: std::net::Ipv6Addr = s
            .parse()
            .map_err(|_| err(format!("invalid ip6 address {s}"), offset))?;
        let a = u128::from(addr);
        let m: u128 = if masklen == 0 {
            0
        } else {
            u128::MAX << (128 - masklen)
        };
        if a & !m != 0 {
            return Err(err(
                format!("non-network bits set in \"{s}/{masklen}\""),
                offset,
            ));
        }
        match q.addr {
            AddrKind::Default | AddrKind::Host if masklen != 128 => {
                Err(err("Mask syntax for networks only", offset))
            }
            AddrKind::Default | AddrKind::Host | AddrKind::Net => self.host6(a, m, q, offset),
            _ => Err(err("invalid qualifier against IPv6 address", offset)),
        }
    }

    /// gen_scode: a name with qualifiers. Host, network and Ethernet names are looked up the
    /// way libpcap looks them up (see `names.rs`), when the expression is compiled.
    fn scode(&mut self, name: &str, q: Qual, offset: usize) -> Result<Pred, CompileError> {
        match q.addr {
            AddrKind::Net => {
                let mut addr = names::network_address(name)
                    .filter(|&a| a != 0)
                    .ok_or_else(|| err(format!("unknown network '{name}'"), offset))?;
                // Left-justified, the mask covering the bytes given (a full 32-bit number
                // from /etc/networks keeps the whole mask).
                let mut mask = 0xffff_ffffu32;
                while addr & 0xff00_0000 == 0 {
                    addr <<= 8;
                    mask <<= 8;
                }
                self.host(&[addr], mask, q, offset)
            }
            AddrKind::Default | AddrKind::Host => match q.proto {
                Proto::Link => {
                    let what = if self.is_wlan() {
                        "802.11"
                    } else if self.kind == LinkKind::Ethernet {
                        "ether"
                    } else {
                        return Err(err("only ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel supports link-level host name", offset));
                    };
                    let mac = names::ether_host(name)
                        .ok_or_else(|| err(format!("unknown {what} host '{name}'"), offset))?;
                    self.ether_host_checked(&mac, q.dir, offset)
                }
                Proto::Decnet => Err(err(
                    format!("decnet name support not included, '{name}' cannot be translated"),
                    offset,
                )),
                _ => self.host_name(name, q, offset),
            },
            AddrKind::Port => {
                let proto = self.port_proto(q.proto, offset)?;
                let (port, sp) = names::service(name)
                    .ok_or_else(|| err(format!("unknown port '{name}'"), offset))?;
                let real = self.service_proto(name, proto, sp, offset)?;
                let b = self.port(&[port], real, q.dir, offset)?;
                let b6 = self.port6(&[port], real, q.dir, offset)?;
                Ok(Pred::or2(b6, b))
            }
            AddrKind::Portrange => {
                let proto = self.portrange_proto(q.proto, offset)?;
                let (lo, hi, real) = self.port_range_name(name, proto, offset)?;
                self.portrange_both(lo, hi, real, q.dir, offset)
            }
            // libpcap built with IPv6 support (every Linux distribution's) has no `gateway`.
            AddrKind::Gateway => Err(err("'gateway' not supported in this configuration", offset)),
            AddrKind::Proto => {
                let v = self.lookup_proto(name, q.proto, offset)?;
                self.proto(v, q.proto, q.dir, offset)
            }
            AddrKind::Protochain => {
                let v = self.lookup_proto(name, q.proto, offset)?;
                self.protochain(v, q.proto, offset)
            }
        }
    }

    /// `host NAME`: every address the resolver gives, in its order, each through gen_host or
    /// gen_host6. `ip host NAME` skips IPv6 addresses and `ip6 host NAME` IPv4 ones; without a
    /// link-layer type field (RAW, IPV4, IPV6) the default qualifier means exactly that.
    fn host_name(&mut self, name: &str, q: Qual, offset: usize) -> Result<Pred, CompileError> {
        let addrs = names::host_addresses(name)
            .ok_or_else(|| err(format!("unknown host '{name}'"), offset))?;
        let (mut q4, mut q6) = (q, q);
        if self.off_linktype.is_none() && q.proto == Proto::Default {
            q4.proto = Proto::Ip;
            q6.proto = Proto::Ip6;
        }
        let mut parts = Vec::new();
        for a in addrs {
            match a {
                std::net::IpAddr::V4(a) if q4.proto != Proto::Ip6 => {
                    parts.push(self.host(&[u32::from(a)], 0xffff_ffff, q4, offset)?)
                }
                std::net::IpAddr::V6(a) if q6.proto != Proto::Ip => {
                    parts.push(self.host6(u128::from(a), u128::MAX, q6, offset)?)
                }
                _ => {}
            }
        }
        if parts.is_empty() {
            let family = if q.proto == Proto::Default {
                ""
            } else {
                " for specified address family"
            };
            return Err(err(format!("unknown host '{name}'{family}"), offset));
        }
        Ok(Pred::Or(parts))
    }

    /// Reconciles a `tcp`/`udp`/`sctp` qualifier with the protocols a service is defined for.
    fn service_proto(
        &self,
        name: &str,
        wanted: PortProto,
        have: ServiceProto,
        offset: usize,
    ) -> Result<PortProto, CompileError> {
        let have_proto = match have {
            ServiceProto::Tcp => Some(ipproto::TCP),
            ServiceProto::Udp => Some(ipproto::UDP),
            ServiceProto::Any => None,
        };
        match (wanted, have_proto) {
            (None, p) => Ok(p),
            (Some(w), None) => Ok(Some(w)),
            (Some(w), Some(h)) if w == h => Ok(Some(w)),
            (Some(_), Some(h)) => Err(err(
                format!(
                    "port '{name}' is {}",
                    if h == ipproto::TCP { "tcp" } else { "udp" }
                ),
                offset,
            )),
        }
    }

    /// `portrange lo-hi` with numbers or service names on either side.
    fn port_range_name(
        &self,
        name: &str,
        wanted: PortProto,
        offset: usize,
    ) -> Result<(u32, u32, PortProto), CompileError> {
        let Some((a, b)) = name.split_once('-') else {
            return Err(err(format!("port range '{name}' contains no '-'"), offset));
        };
        let one = |s: &str| -> Result<(u32, PortProto), CompileError> {
            if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
                let v: u64 = s.parse().unwrap_or(u64::MAX);
                if v > 65535 {
                    return Err(err(format!("port number {s} is > 65535"), offset));
                }
                return Ok((v as u32, wanted));
            }
            let (p, sp) = names::service(s)
                .ok_or_else(|| err(format!("unknown port in range '{s}'"), offset))?;
            Ok((p, self.service_proto(s, wanted, sp, offset)?))
        };
        let (lo, p1) = one(a)?;
        let (hi, p2) = one(b)?;
        let real = if p1 == p2 { p1 } else { wanted };
        Ok((lo, hi, real))
    }

    fn port_proto(&self, proto: Proto, offset: usize) -> Result<PortProto, CompileError> {
        match proto {
            Proto::Udp => Ok(Some(ipproto::UDP)),
            Proto::Tcp => Ok(Some(ipproto::TCP)),
            Proto::Sctp => Ok(Some(ipproto::SCTP)),
            Proto::Default => Ok(None),
            _ => Err(err("illegal qualifier of 'port'", offset)),
        }
    }

    fn portrange_proto(&self, proto: Proto, offset: usize) -> Result<PortProto, CompileError> {
        self.port_proto(proto, offset)
            .map_err(|_| err("illegal qualifier of 'portrange'", offset))
    }

    /// gen_host: IPv4 hosts/networks (`values` are alternatives, all under `mask`).
    pub fn host(
        &mut self,
        values: &[u32],
        mask: u32,
        q: Qual,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let what = if q.addr == AddrKind::Net {
            "net"
        } else {
            "host"
        };
        match q.proto {
            Proto::Default => {
                let ip = self.hostop(values, mask, q.dir, IP, 12, 16, offset)?;
                if self.label_stack_depth > 0 {
                    return Ok(ip);
                }
                if values.len() > 1 {
                    // A set: ARP and RARP share their address fields, so one comparison tree
                    // per field serves both (the same loads run, so verdicts are unchanged).
                    let both = self.hostop(values, mask, q.dir, ARP_OR_RARP, 14, 24, offset)?;
                    return Ok(Pred::Or(vec![ip, both]));
                }
                let arp = self.hostop(values, mask, q.dir, ARP, 14, 24, offset)?;
                let rarp = self.hostop(values, mask, q.dir, REVARP, 14, 24, offset)?;
                Ok(Pred::Or(vec![ip, arp, rarp]))
            }
            Proto::Ip => self.hostop(values, mask, q.dir, IP, 12, 16, offset),
            Proto::Arp => self.hostop(values, mask, q.dir, ARP, 14, 24, offset),
            Proto::Rarp => self.hostop(values, mask, q.dir, REVARP, 14, 24, offset),
            Proto::Link => Err(err(
                format!("link-layer modifier applied to {what}"),
                offset,
            )),
            Proto::Ip6 => Err(err(format!("'ip6' modifier applied to ip {what}"), offset)),
            p => Err(err(
                format!("'{}' modifier applied to {what}", p.name()),
                offset,
            )),
        }
    }

    /// gen_hostop: one protocol's source/destination address fields.
    #[allow(clippy::too_many_arguments)]
    fn hostop(
        &mut self,
        values: &[u32],
        mask: u32,
        dir: Dir,
        ll: u32,
        src_off: u32,
        dst_off: u32,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let nl = self.nl();
        let load = |off: u32| {
            let mut s = vec![ld_abs(4, nl + off)];
            if mask != 0xffff_ffff {
                s.push(alu_k(op::AND, mask));
            }
            s
        };
        let is_ll = |this: &mut Self| {
            if ll == ARP_OR_RARP {
                Pred::or2(this.linktype(ARP), this.linktype(REVARP))
            } else {
                this.linktype(ll)
            }
        };
        let one = |this: &mut Self, off: u32| Pred::and2(is_ll(this), member(&load(off), values));
        Ok(match dir {
            Dir::Src => one(self, src_off),
            Dir::Dst => one(self, dst_off),
            Dir::And => Pred::and2(one(self, src_off), one(self, dst_off)),
            Dir::Default | Dir::Or => {
                if values.len() == 1 {
                    Pred::or2(one(self, src_off), one(self, dst_off))
                } else {
                    let lt = is_ll(self);
                    Pred::and2(lt, either_member(&load(src_off), &load(dst_off), values))
                }
            }
            d => {
                return Err(dir_error(
                    d,
                    "addresses other than 802.11 MAC addresses",
                    offset,
                ))
            }
        })
    }

    /// gen_host6: IPv6 hosts and networks.
    fn host6(&mut self, a: u128, m: u128, q: Qual, offset: usize) -> Result<Pred, CompileError> {
        let what = if q.addr == AddrKind::Net {
            "net"
        } else {
            "host"
        };
        match q.proto {
            Proto::Default | Proto::Ip6 => {}
            Proto::Link => {
                return Err(err(
                    format!("link-layer modifier applied to ip6 {what}"),
                    offset,
                ))
            }
            p => {
                return Err(err(
                    format!("'{}' modifier applied to ip6 {what}", p.name()),
                    offset,
                ))
            }
        }
        let nl = self.nl();
        let word = |x: u128, i: u32| (x >> (96 - 32 * i)) as u32;
        let one = |this: &mut Self, off: u32| {
            let mut parts = vec![this.linktype(IPV6)];
            for i in 0..4 {
                parts.push(Pred::mcmp(4, nl + off + 4 * i, word(a, i), word(m, i)));
            }
            Pred::And(parts)
        };
        Ok(match q.dir {
            Dir::Src => one(self, 8),
            Dir::Dst => one(self, 24),
            Dir::And => Pred::and2(one(self, 8), one(self, 24)),
            Dir::Default | Dir::Or => Pred::or2(one(self, 8), one(self, 24)),
            d => {
                return Err(dir_error(
                    d,
                    "addresses other than 802.11 MAC addresses",
                    offset,
                ))
            }
        })
    }

    /// The IPv4 header length into X, then `ldh [x + nl + off]`: a transport-layer field.
    fn tran4(&self, off: u32) -> Vec<jitkit_bpf::cbpf::Insn> {
        vec![ldx_msh(self.nl()), ld_ind(2, self.nl() + off)]
    }

    /// Not a fragment other than the first (gen_ipfrag).
    pub fn ipfrag(&self) -> Pred {
        Pred::jset(2, self.nl() + 6, 0x1fff).not()
    }

    /// gen_port: IPv4 ports, for one transport protocol or all three.
    pub fn port(
        &mut self,
        ports: &[u32],
        proto: PortProto,
        dir: Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let b0 = self.linktype(IP);
        let b1 = match proto {
            Some(p) => self.portop(ports, p, dir, offset)?,
            None => Pred::Or(vec![
                self.portop(ports, ipproto::SCTP, dir, offset)?,
                self.portop(ports, ipproto::TCP, dir, offset)?,
                self.portop(ports, ipproto::UDP, dir, offset)?,
            ]),
        };
        Ok(Pred::and2(b0, b1))
    }

    fn portop(
        &mut self,
        ports: &[u32],
        proto: u32,
        dir: Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let tmp = Pred::cmp(1, self.nl() + 9, proto);
        let b0 = Pred::and2(tmp, self.ipfrag());
        let (src, dst) = (self.tran4(0), self.tran4(2));
        let b1 = match dir {
            Dir::Src => member(&src, ports),
            Dir::Dst => member(&dst, ports),
            Dir::And => Pred::and2(member(&src, ports), member(&dst, ports)),
            Dir::Default | Dir::Or => either_member(&src, &dst, ports),
            d => return Err(dir_error(d, "ports", offset)),
        };
        Ok(Pred::and2(b0, b1))
    }

    /// gen_port6: IPv6 ports (no extension headers are skipped, as in libpcap).
    pub fn port6(
        &mut self,
        ports: &[u32],
        proto: PortProto,
        dir: Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let b0 = self.linktype(IPV6);
        let b1 = match proto {
            Some(p) => self.portop6(ports, p, dir, offset)?,
            None => Pred::Or(vec![
                self.portop6(ports, ipproto::SCTP, dir, offset)?,
                self.portop6(ports, ipproto::TCP, dir, offset)?,
                self.portop6(ports, ipproto::UDP, dir, offset)?,
            ]),
        };
        Ok(Pred::and2(b0, b1))
    }

    fn portop6(
        &mut self,
        ports: &[u32],
        proto: u32,
        dir: Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let nl = self.nl();
        let tmp = Pred::cmp(1, nl + 6, proto);
        let src = vec![ld_abs(2, nl + 40)];
        let dst = vec![ld_abs(2, nl + 42)];
        let b1 = match dir {
            Dir::Src => member(&src, ports),
            Dir::Dst => member(&dst, ports),
            Dir::And => Pred::and2(member(&src, ports), member(&dst, ports)),
            Dir::Default | Dir::Or => either_member(&src, &dst, ports),
            d => return Err(dir_error(d, "ports", offset)),
        };
        Ok(Pred::and2(tmp, b1))
    }

    /// Port ranges over IPv6, then IPv4 (gen_portrange6 or gen_portrange).
    fn portrange_both(
        &mut self,
        lo: u32,
        hi: u32,
        proto: PortProto,
        dir: Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
        let protos: Vec<u32> = match proto {
            Some(p) => vec![p],
            None => vec![ipproto::SCTP, ipproto::TCP, ipproto::UDP],
        };
        let nl = self.nl();
        let range = |load: Vec<jitkit_bpf::cbpf::Insn>| {
            Pred::and2(
                Pred::test(load.clone(), op::JGE, lo),
                Pred::test(load, op::JGT, hi).not(),
            )
        };
        let dirs = |src: Pred, dst: Pred| -> Result<Pred, CompileError> {
            Ok(match dir {
                Dir::Src => src,
                Dir::Dst => dst,
                Dir::And => Pred::and2(src, dst),
                Dir::Default | Dir::Or => Pred::or2(src, dst),
                d => return Err(dir_error(d, "port ranges", offset)),
            })
        };
        let mut v6 = Vec::new();
        for &p in &protos {
            let b = dirs(
                range(vec![ld_abs(2, nl + 40)]),
                range(vec![ld_abs(2, nl + 42)]),
            )?;
            v6.push(Pred::and2(Pred::cmp(1, nl + 6, p), b));
        }
        let mut v4 = Vec::new();
        for &p in &protos {
            let b0 = Pred::and2(Pred::cmp(1, nl + 9, p), self.ipfrag());
            let b = dirs(range(self.tran4(0)), range(self.tran4(2)))?;
            v4.push(Pred::and2(b0, b));
        }
        let b6 = Pred::and2(self.linktype(IPV6), Pred::Or(v6));
        let b4 = Pred::and2(self.linktype(IP), Pred::Or(v4));
        Ok(Pred::or2(b6, b4))
    }

    /// lookup_proto: a protocol name for `proto NAME` under a qualifier.
    fn lookup_proto(&self, name: &str, proto: Proto, offset: usize) -> Result<u32, CompileError> {
        match proto {
            Proto::Default | Proto::Ip | Proto::Ip6 => names::ip_protocol(name)
                .ok_or_else(|| err(format!("unknown ip proto '{name}'"), offset)),
            Proto::Link => names::ether_protocol(name)
                .ok_or_else(|| err(format!("unknown ether proto '{name}'"), offset)),
            Proto::Iso => match name {
                "esis" => Ok(0x82),
                "isis" => Ok(0x83),
                "clnp" => Ok(0x81),
                _ => Err(err(format!("unknown osi proto '{name}'"), offset)),
            },
            _ => Err(err(format!("unknown protocol: {name}"), offset)),
        }
    }

    /// gen_proto: `[ip|ip6|ether|iso|isis] proto N`.
    pub fn proto(
        &mut self,
        v: u32,
        proto: Proto,
        dir: Dir,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        if dir != Dir::Default {
            return Err(err("direction applied to 'proto'", offset));
        }
        let nl = self.nl();
        Ok(match proto {
            Proto::Default => {
                let b0 = self.proto(v, Proto::Ip, dir, offset)?;
                let b1 = self.proto(v, Proto::Ip6, dir, offset)?;
                Pred::or2(b0, b1)
            }
            Proto::Link => self.linktype(v),
            Proto::Ip => Pred::and2(self.linktype(IP), Pred::cmp(1, nl + 9, v)),
            Proto::Ip6 => {
                let b0 = self.linktype(IPV6);
                let frag = Pred::and2(
                    Pred::cmp(1, nl + 6, ipproto::FRAGMENT),
                    Pred::cmp(1, nl + 40, v),
                );
                let b1 = Pred::or2(Pred::cmp(1, nl + 6, v), frag);
                Pred::and2(b0, b1)
            }
            Proto::Arp | Proto::Rarp => {
                return Err(err(
                    format!("{} does not encapsulate another protocol", proto.name()),
                    offset,
                ))
            }
            Proto::Iso => {
                let b0 = self.linktype(LLCSAP_ISONS);
                Pred::and2(b0, Pred::cmp(1, self.off_linkpl + self.off_nl_nosnap, v))
            }
            Proto::Isis => {
                let b0 = self.proto(0x83, Proto::Iso, Dir::Default, offset)?;
                Pred::and2(
                    b0,
                    Pred::cmp(1, self.off_linkpl + self.off_nl_nosnap + 4, v),
                )
            }
            p => return Err(err(format!("'{} proto' is bogus", p.name()), offset)),
        })
    }

    /// gen_protochain: `[ip|ip6] protochain N`, the protocol found after following the header
    /// chain. libpcap emits a loop (a backward `ja`, which only its own interpreter runs): for
    /// IPv6 it steps over hop-by-hop, destination options, routing and fragment headers
    /// (`X += (len + 1) * 8`) and AH; for IPv4 over AH only. Its AH step sets `X = (len + 2) * 4`
    /// rather than adding to X, a libpcap quirk kept here because verdicts depend on it.
    ///
    /// cBPF jumps only forward, so the loop is unrolled [`PROTOCHAIN_DEPTH`] times: every packet
    /// on which libpcap's loop turns at most that many times (steps over at most 24 headers)
    /// gets libpcap's verdict (the same loads run in the same order, so truncated packets are
    /// rejected where libpcap rejects them). A packet whose chain needs more turns is rejected:
    /// libpcap keeps walking, so it accepts `ip6 protochain 6` on an IPv6 packet with 25 or more
    /// extension headers before TCP (at least 240 bytes of headers), and on an AH header whose
    /// length leads back to itself (X is set, not advanced) its interpreter never returns.
    /// Following every chain a packet can hold would take a loop (a 1500-byte packet can hold
    /// 182 extension headers: over 4,000 unrolled instructions for `ip6` alone, the kernel's
    /// limit being 4,096), and no real traffic has chains that long.
    pub fn protochain(
        &mut self,
        v: u32,
        proto: Proto,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        let ip6 = match proto {
            Proto::Ip => false,
            Proto::Ip6 => true,
            Proto::Default => {
                // (libpcap allocates a cell here too, and never frees it.)
                if self.tracks_cells {
                    self.pool.alloc();
                }
                let b0 = self.protochain(v, Proto::Ip, offset)?;
                let b1 = self.protochain(v, Proto::Ip6, offset)?;
                return Ok(Pred::or2(b0, b1));
            }
            _ => return Err(err("bad protocol applied for 'protochain'", offset)),
        };
        if self.off_base.is_some() {
            return Err(err(
                "'protochain' not supported with variable length headers",
                offset,
            ));
        }
        let nl = self.nl();
        let (b0, start) = if ip6 {
            let start = vec![ld_abs(1, nl + 6), Insn::stmt(op::LDX | op::IMM, 40)];
            (self.linktype(IPV6), start)
        } else {
            (self.linktype(IP), vec![ld_abs(1, nl + 9), ldx_msh(nl)])
        };
        // libpcap keeps the next-header value in a cell of its own for the length of the loop,
        // freed afterwards: a later `geneve` may get it and read what the loop left there.
        let store = if self.tracks_cells {
            let cell = self.pool.alloc();
            let id = self.pool.add_writer(vec![(cell, Leftover::Protochain)]);
            self.pool.free(cell);
            Insn::stmt(op::ST, PROTOCHAIN_MARK | id as u32)
        } else {
            Insn::stmt(op::ST, PROTOCHAIN_CELL)
        };
        let chain = Pred::and2(
            Pred::test(start, op::JA, 0),
            chain_step(v, ip6, nl, store, 0),
        );
        Ok(Pred::and2(b0, chain))
    }

    /// A protocol name alone (gen_proto_abbrev).
    pub fn proto_abbrev(&mut self, proto: Proto, offset: usize) -> Result<Pred, CompileError> {
        use ipproto as ipp;
        let d = Dir::Default;
        let isis = |this: &mut Self, pdus: &[u32]| -> Result<Pred, CompileError> {
            let mut parts = Vec::new();
            for &p in pdus {
                parts.push(this.proto(p, Proto::Isis, d, offset)?);
            }
            Ok(Pred::Or(parts))
        };
        Ok(match proto {
            Proto::Sctp => self.proto(ipp::SCTP, Proto::Default, d, offset)?,
            Proto::Tcp => self.proto(ipp::TCP, Proto::Default, d, offset)?,
            Proto::Udp => self.proto(ipp::UDP, Proto::Default, d, offset)?,
            Proto::Icmp => self.proto(ipp::ICMP, Proto::Ip, d, offset)?,
            Proto::Igmp => self.proto(ipp::IGMP, Proto::Ip, d, offset)?,
            Proto::Igrp => self.proto(ipp::IGRP, Proto::Ip, d, offset)?,
            Proto::Pim => self.proto(ipp::PIM, Proto::Default, d, offset)?,
            Proto::Vrrp | Proto::Carp => self.proto(ipp::VRRP, Proto::Ip, d, offset)?,
            Proto::Ip => self.linktype(IP),
            Proto::Arp => self.linktype(ARP),
            Proto::Rarp => self.linktype(REVARP),
            Proto::Atalk => self.linktype(ATALK),
            Proto::Aarp => self.linktype(AARP),
            Proto::Decnet => self.linktype(DN),
            Proto::Sca => self.linktype(SCA),
            Proto::Lat => self.linktype(LAT),
            Proto::Mopdl => self.linktype(MOPDL),
            Proto::Moprc => self.linktype(MOPRC),
            Proto::Ip6 => self.linktype(IPV6),
            Proto::Icmp6 => self.proto(ipp::ICMPV6, Proto::Ip6, d, offset)?,
            Proto::Ah => self.proto(ipp::AH, Proto::Default, d, offset)?,
            Proto::Esp => self.proto(ipp::ESP, Proto::Default, d, offset)?,
            Proto::Iso => self.linktype(LLCSAP_ISONS),
            Proto::Esis => self.proto(0x82, Proto::Iso, d, offset)?,
            Proto::Isis => self.proto(0x83, Proto::Iso, d, offset)?,
            Proto::Clnp => self.proto(0x81, Proto::Iso, d, offset)?,
            Proto::IsisL1 => isis(self, &[15, 17, 18, 24, 26])?,
            Proto::IsisL2 => isis(self, &[16, 17, 20, 25, 27])?,
            Proto::IsisIih => isis(self, &[15, 16, 17])?,
            Proto::IsisLsp => isis(self, &[18, 20])?,
            Proto::IsisSnp => isis(self, &[24, 25, 26, 27])?,
            Proto::IsisCsnp => isis(self, &[24, 25])?,
            Proto::IsisPsnp => isis(self, &[26, 27])?,
            Proto::Stp => self.linktype(LLCSAP_8021D),
            Proto::Ipx => self.linktype(LLCSAP_IPX),
            Proto::Netbeui => self.linktype(LLCSAP_NETBEUI),
            Proto::Link => return Err(err("link layer applied in wrong context", offset)),
            Proto::Radio => {
                return Err(err(
                    "'radio' supported only on 802.11 radio headers",
                    offset,
                ))
            }
            Proto::Default => return Err(err("syntax error", offset)),
        })
    }
}

/// How many headers `protochain` steps over (turns of libpcap's loop) before it gives up (see
/// [`Gen::protochain`]).
pub const PROTOCHAIN_DEPTH: u32 = 24;
/// The scratch cell that holds the next-header value while X moves to the next header.
pub const PROTOCHAIN_CELL: u32 = 0;

/// One unrolled turn of the protochain loop, entered with A = the next-header value and X =
/// the offset (from the network header) of the header it describes: true when A is `v`; false
/// at "no next header" or any header the loop does not step over; otherwise step over the
/// header (A = its next-header byte, X = the offset after it) and take the next turn.
/// `store` saves the next-header value in protochain's cell (see `cells.rs` for its mark).
fn chain_step(v: u32, ip6: bool, nl: u32, store: Insn, depth: u32) -> Pred {
    let a_is = |k: u32| Pred::test(Vec::new(), op::JEQ, k);
    if depth == PROTOCHAIN_DEPTH {
        // libpcap's loop has turned PROTOCHAIN_DEPTH times: it takes the header it reached if
        // it is `v`; it rejects at any header it would not step over; it would step over this
        // one too, which the unrolled code does not follow.
        return a_is(v);
    }
    let next_header = [ld_ind(1, nl), store, ld_ind(1, nl + 1)];
    let restore = Insn::stmt(op::LD | op::MEM, PROTOCHAIN_CELL);
    // AH: X = (P[X + 1] + 2) * 4, not added to X (libpcap's arithmetic).
    let mut ah = next_header.to_vec();
    ah.extend([
        alu_k(op::ADD, 2),
        alu_k(op::MUL, 4),
        Insn::stmt(op::MISC | op::TAX, 0),
        restore,
    ]);
    let ah = Pred::and2(a_is(ipproto::AH), Pred::test(ah, op::JA, 0));
    let step = if ip6 {
        // Hop-by-hop, destination options, routing, fragment: X += (P[X + 1] + 1) * 8.
        let mut ext = next_header.to_vec();
        ext.extend([
            alu_k(op::ADD, 1),
            alu_k(op::MUL, 8),
            Insn::stmt(op::ALU | op::ADD | op::X, 0),
            Insn::stmt(op::MISC | op::TAX, 0),
            restore,
        ]);
        let is_ext = Pred::Or(vec![
            a_is(ipproto::HOPOPTS),
            a_is(ipproto::DSTOPTS),
            a_is(ipproto::ROUTING),
            a_is(ipproto::FRAGMENT),
        ]);
        Pred::or2(Pred::and2(is_ext, Pred::test(ext, op::JA, 0)), ah)
    } else {
        ah
    };
    Pred::or2(
        a_is(v),
        Pred::And(vec![
            a_is(ipproto::NONE).not(),
            step,
            chain_step(v, ip6, nl, store, depth + 1),
        ]),
    )
}
