//! Name tables libpcap consults while compiling: services (`port http`), IP protocols
//! (`ip proto \tcp`), Ethernet types (`ether proto \arp`) and LLC SAPs, host addresses.
//!
//! libpcap asks the system (getservbyname, getprotobyname); we carry copies of Debian's
//! /etc/services and /etc/protocols so that ports and protocols never depend on the machine.
//! Host, network and Ethernet names are the machine's by nature: they are resolved as libpcap
//! resolves them (getaddrinfo, /etc/networks, /etc/ethers) when the expression is compiled.

use std::net::IpAddr;

/// IP protocol numbers used by code generation.
pub mod ipproto {
    pub const HOPOPTS: u32 = 0;
    pub const ICMP: u32 = 1;
    pub const IGMP: u32 = 2;
    pub const TCP: u32 = 6;
    pub const IGRP: u32 = 9;
    pub const UDP: u32 = 17;
    pub const ROUTING: u32 = 43;
    pub const FRAGMENT: u32 = 44;
    pub const ESP: u32 = 50;
    pub const AH: u32 = 51;
    pub const ICMPV6: u32 = 58;
    /// "No next header".
    pub const NONE: u32 = 59;
    pub const DSTOPTS: u32 = 60;
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

/// Addresses of a host name, as libpcap's `pcap_nametoaddrinfo` finds them: the system resolver
/// (`getaddrinfo`, stream sockets, any family: /etc/hosts, then DNS as nsswitch.conf says), in
/// the resolver's order, one entry per address. `None` when the name does not resolve.
pub fn host_addresses(name: &str) -> Option<Vec<IpAddr>> {
    use std::net::ToSocketAddrs;
    // std asks getaddrinfo with the same hints as libpcap (AF_UNSPEC, SOCK_STREAM).
    let addrs: Vec<IpAddr> = (name, 0u16)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .collect();
    (!addrs.is_empty()).then_some(addrs)
}

/// The networks database libpcap's `pcap_nametonetaddr` consults through `getnetbyname`
/// (nsswitch.conf's `networks: files` on Linux).
pub const NETWORKS_FILE: &str = "/etc/networks";
/// The Ethernet address database behind `ether_hostton` (`ethers: files`).
pub const ETHERS_FILE: &str = "/etc/ethers";

/// A network number by name, as `getnetbyname` returns it from [`NETWORKS_FILE`] (host order,
/// missing trailing parts filled with zeros as glibc does: `10` is 10.0.0.0). `None` when the
/// name is unknown or the file cannot be read.
pub fn network_address(name: &str) -> Option<u32> {
    network_in(&std::fs::read_to_string(NETWORKS_FILE).ok()?, name)
}

/// [`network_address`] over the text of a networks file: `name number [aliases...]` lines, `#`
/// comments, names matched without regard to case, the first match wins.
pub fn network_in(text: &str, name: &str) -> Option<u32> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(net_name), Some(number)) = (fields.next(), fields.next()) else {
            continue;
        };
        let aliases = fields;
        if net_name.eq_ignore_ascii_case(name)
            || aliases.clone().any(|a| a.eq_ignore_ascii_case(name))
        {
            let parts = number.matches('.').count() + 1;
            let padded = format!("{number}{}", ".0".repeat(4usize.saturating_sub(parts)));
            return Some(inet_network(&padded).unwrap_or(u32::MAX));
        }
    }
    None
}

/// glibc's `inet_network`: up to four dot-separated parts, each decimal, octal (`0` prefix) or
/// hexadecimal (`0x`), at most 255, packed left to right. `None` is glibc's INADDR_NONE.
fn inet_network(s: &str) -> Option<u32> {
    let mut val: u32 = 0;
    for (n, part) in s.split('.').enumerate() {
        let (digits, base) =
            if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (h, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (part, 10)
            };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
            return None;
        }
        let v = u32::from_str_radix(digits, base).ok()?;
        if v > 0xff || n == 4 {
            return None;
        }
        val = (val << 8) | v;
    }
    Some(val)
}

/// An Ethernet address by host name, as glibc's `ether_hostton` finds it in [`ETHERS_FILE`].
/// `None` when the name is unknown or the file is missing (libpcap: "unknown ether host").
pub fn ether_host(name: &str) -> Option<[u8; 6]> {
    ether_in(&std::fs::read_to_string(ETHERS_FILE).ok()?, name)
}

/// [`ether_host`] over the text of an ethers file: `xx:xx:xx:xx:xx:xx name` lines (hexadecimal
/// octets, one or two digits), `#` comments, names matched without regard to case.
pub fn ether_in(text: &str, name: &str) -> Option<[u8; 6]> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (addr, host) = (fields.next()?, fields.next()?);
        if !host.eq_ignore_ascii_case(name) {
            return None;
        }
        let mut out = [0u8; 6];
        let mut octets = addr.split(':');
        for o in out.iter_mut() {
            let v = u32::from_str_radix(octets.next()?, 16).ok()?;
            *o = u8::try_from(v).ok()?;
        }
        octets.next().is_none().then_some(out)
    })
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

    #[test]
    fn networks_file_as_glibc_reads_it() {
        let text = "# comment\ndefault 0.0.0.0\nloopback\t127.0.0.0 lo # x\nten 10\nodd 012.0x1\n";
        assert_eq!(network_in(text, "loopback"), Some(0x7f00_0000));
        assert_eq!(network_in(text, "LO"), Some(0x7f00_0000));
        assert_eq!(network_in(text, "default"), Some(0));
        assert_eq!(network_in(text, "ten"), Some(0x0a00_0000));
        assert_eq!(network_in(text, "odd"), Some(0x0a01_0000));
        assert_eq!(network_in(text, "comment"), None);
        assert_eq!(network_in(text, "nope"), None);
    }

    #[test]
    fn ethers_file_as_glibc_reads_it() {
        let text = "# c\n0:1:2:3:4:5 alpha\n00:11:22:33:44:55\tBeta # x\n1:2:3 short\n";
        assert_eq!(ether_in(text, "alpha"), Some([0, 1, 2, 3, 4, 5]));
        assert_eq!(
            ether_in(text, "beta"),
            Some([0, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(ether_in(text, "short"), None);
        assert_eq!(ether_in(text, "c"), None);
    }
}
