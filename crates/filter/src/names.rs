//! Name tables libpcap consults while compiling: services (`port http`), IP protocols
//! (`ip proto \tcp`), Ethernet types (`ether proto \arp`) and LLC SAPs, host addresses.
//!
//! libpcap asks the system (getservbyname, getprotobyname); we carry copies of Debian's
//! /etc/services and /etc/protocols so that compiling never depends on the machine.

use std::net::{Ipv4Addr, Ipv6Addr};

/// IP protocol numbers used by code generation.
pub mod ipproto {
    pub const ICMP: u32 = 1;
    pub const IGMP: u32 = 2;
    pub const TCP: u32 = 6;
    pub const IGRP: u32 = 9;
    pub const UDP: u32 = 17;
    pub const FRAGMENT: u32 = 44;
    pub const ESP: u32 = 50;
    pub const AH: u32 = 51;
    pub const ICMPV6: u32 = 58;
    pub const PIM: u32 = 103;
    pub const VRRP: u32 = 112;
    pub const SCTP: u32 = 132;
}

/// Ethernet types and LLC SAPs.
pub mod ethertype {
    pub const IP: u32 = 0x0800;
    pub const ARP: u32 = 0x0806;
    pub const REVARP: u32 = 0x8035;
    pub const IPV6: u32 = 0x86dd;
    pub const ATALK: u32 = 0x809b;
    pub const AARP: u32 = 0x80f3;
    pub const DN: u32 = 0x6003;
    pub const LAT: u32 = 0x6004;
    pub const SCA: u32 = 0x6007;
    pub const MOPRC: u32 = 0x6002;
    pub const MOPDL: u32 = 0x6001;
    pub const IPX: u32 = 0x8137;
    pub const NS: u32 = 0x0600;
    pub const VLAN: u32 = 0x8100;
    pub const QINQ: u32 = 0x88a8;
    pub const QINQ_OLD: u32 = 0x9100;
    pub const MPLS: u32 = 0x8847;
    pub const PPPOED: u32 = 0x8863;
    pub const PPPOES: u32 = 0x8864;
    /// The largest 802.3 length; larger values in the type field are Ethernet types.
    pub const ETHERMTU: u32 = 1500;
    pub const LLCSAP_IP: u32 = 0x06;
    pub const LLCSAP_ISONS: u32 = 0xfe;
    pub const LLCSAP_8021D: u32 = 0x42;
    pub const LLCSAP_IPX: u32 = 0xe0;
    pub const LLCSAP_NETBEUI: u32 = 0xf0;
    pub const LLCSAP_SNAP: u32 = 0xaa;
}

const SERVICES: &str = include_str!("services.txt");
const PROTOCOLS: &str = include_str!("protocols.txt");

/// The transport protocols a service name is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceProto {
    Tcp,
    Udp,
    /// Both, with the same port (libpcap's PROTO_UNDEF: tcp, udp and sctp are all matched).
    Any,
}

/// A service name as libpcap's pcap_nametoport resolves it: the TCP port if there is one (and
/// "any protocol" when UDP has the same port), else the UDP port.
pub fn service(name: &str) -> Option<(u32, ServiceProto)> {
    let find = |proto: &str| {
        SERVICES.lines().find_map(|l| {
            let mut f = l.split(' ');
            let (n, p, pr) = (f.next()?, f.next()?, f.next()?);
            (n == name && pr == proto)
                .then(|| p.parse::<u32>().ok())
                .flatten()
        })
    };
    match (find("tcp"), find("udp")) {
        (Some(t), Some(u)) if t == u => Some((t, ServiceProto::Any)),
        (Some(t), _) => Some((t, ServiceProto::Tcp)),
        (None, Some(u)) => Some((u, ServiceProto::Udp)),
        (None, None) => None,
    }
}

/// An IP protocol number by name (getprotobyname).
pub fn ip_protocol(name: &str) -> Option<u32> {
    PROTOCOLS.lines().find_map(|l| {
        let mut f = l.split(' ');
        let (n, v) = (f.next()?, f.next()?);
        (n == name).then(|| v.parse().ok()).flatten()
    })
}

/// An Ethernet type by name (libpcap's pcap_nametoeproto), else an LLC SAP (pcap_nametollc).
pub fn ether_protocol(name: &str) -> Option<u32> {
    use ethertype::*;
    Some(match name {
        "aarp" => AARP,
        "arp" => ARP,
        "atalk" => ATALK,
        "decnet" => DN,
        "ip" => IP,
        "ip6" => IPV6,
        "lat" => LAT,
        "loopback" => 0x9000,
        "mopdl" => MOPDL,
        "moprc" => MOPRC,
        "rarp" => REVARP,
        "sca" => SCA,
        "iso" => LLCSAP_ISONS,
        "stp" => LLCSAP_8021D,
        "ipx" => LLCSAP_IPX,
        "netbeui" => LLCSAP_NETBEUI,
        _ => return None,
    })
}

/// libpcap's __pcap_atoin: a dotted decimal IPv4 address or prefix, and its length in bits.
pub fn atoin(s: &str) -> Option<(u32, u32)> {
    let mut addr: u32 = 0;
    let mut len = 0;
    for part in s.split('.') {
        let mut n: u32 = 0;
        for c in part.bytes() {
            if n > 25 || !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (c - b'0') as u32;
        }
        if n > 255 || len >= 32 {
            return None;
        }
        addr = (addr << 8) | n;
        len += 8;
    }
    Some((addr, len))
}

/// An Ethernet address in any of the forms scan.l accepts.
pub fn ether_aton(s: &str) -> Option<[u8; 6]> {
    let hex: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let mut out = [0u8; 6];
    if s.contains([':', '-']) || s.matches('.').count() == 5 {
        let parts: Vec<&str> = s.split([':', '-', '.']).collect();
        if parts.len() != 6 {
            return None;
        }
        for (o, p) in out.iter_mut().zip(parts) {
            *o = u8::from_str_radix(p, 16).ok()?;
        }
        return Some(out);
    }
    if hex.len() != 12 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Addresses of a host name, from the few names every system defines. libpcap would ask the
/// resolver; a compiler that depends on DNS gives different programs on different machines, so
/// other names are an error ("unknown host").
pub fn host_addresses(name: &str) -> Option<(Vec<Ipv4Addr>, Vec<Ipv6Addr>)> {
    match name {
        "localhost" => Some((vec![Ipv4Addr::LOCALHOST], vec![])),
        "ip6-localhost" | "ip6-loopback" => Some((vec![], vec![Ipv6Addr::LOCALHOST])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(service("http"), Some((80, ServiceProto::Tcp)));
        assert_eq!(service("domain"), Some((53, ServiceProto::Any)));
        assert_eq!(service("nope"), None);
        assert_eq!(ip_protocol("tcp"), Some(6));
        assert_eq!(ip_protocol("ipv6-icmp"), Some(58));
        assert_eq!(atoin("10.1"), Some((0x0a01, 16)));
        assert_eq!(atoin("256.1"), None);
        assert_eq!(ether_aton("1:2:3:4:5:6"), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(ether_aton("0102.0304.0506"), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(ether_aton("010203040506"), Some([1, 2, 3, 4, 5, 6]));
    }
}
