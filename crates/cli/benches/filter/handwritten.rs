//! The "limit" of the filter benchmark: each everyday filter written by hand in plain Rust.
//!
//! Each function follows libpcap's program for the expression (`tcpdump -d EXPR` on Ethernet)
//! load for load: a load past the captured bytes rejects the packet (`?` on `None`), and loads
//! happen in the same order, so truncated packets get the same verdict. The benchmark checks
//! every function against libpcap's `bpf_filter` on every corpus packet before timing it.

/// What tcpdump's programs return on a match (the default snap length).
pub const ACCEPT: u32 = 262_144;

#[inline(always)]
fn u8_at(p: &[u8], k: usize) -> Option<u32> {
    p.get(k).map(|&b| b as u32)
}

#[inline(always)]
fn u16_at(p: &[u8], k: usize) -> Option<u32> {
    let b = p.get(k..k + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]) as u32)
}

#[inline(always)]
fn u32_at(p: &[u8], k: usize) -> Option<u32> {
    let b = p.get(k..k + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

const ETH_IP: u32 = 0x0800;
const ETH_IP6: u32 = 0x86dd;
const ETH_ARP: u32 = 0x0806;
const ETH_RARP: u32 = 0x8035;
const PROTO_TCP: u32 = 6;
const PROTO_UDP: u32 = 17;
const PROTO_SCTP: u32 = 132;
const IP6_FRAGMENT: u32 = 44;

/// The IPv4 header length of the packet at offset 14 (`ldxb 4*([14]&0xf)`).
#[inline(always)]
fn ip_header_len(p: &[u8]) -> Option<usize> {
    Some(((u8_at(p, 14)? & 0xf) << 2) as usize)
}

/// Whether the IPv4 packet is a fragment other than the first (`jset #0x1fff` on `[20]`).
#[inline(always)]
fn ip_is_later_fragment(p: &[u8]) -> Option<bool> {
    Some(u16_at(p, 20)? & 0x1fff != 0)
}

fn verdict(matched: Option<bool>) -> u32 {
    if matched == Some(true) {
        ACCEPT
    } else {
        0
    }
}

/// `tcp port 80`
pub fn tcp_port_80(p: &[u8]) -> u32 {
    verdict((|| match u16_at(p, 12)? {
        ETH_IP6 => {
            Some(u8_at(p, 20)? == PROTO_TCP && (u16_at(p, 54)? == 80 || u16_at(p, 56)? == 80))
        }
        ETH_IP => {
            if u8_at(p, 23)? != PROTO_TCP || ip_is_later_fragment(p)? {
                return Some(false);
            }
            let x = ip_header_len(p)?;
            Some(u16_at(p, x + 14)? == 80 || u16_at(p, x + 16)? == 80)
        }
        _ => Some(false),
    })())
}

/// `host 10.0.0.1`: IPv4 source or destination, or ARP/RARP sender or target.
pub fn host_10_0_0_1(p: &[u8]) -> u32 {
    const HOST: u32 = 0x0a00_0001;
    verdict((|| match u16_at(p, 12)? {
        ETH_IP => Some(u32_at(p, 26)? == HOST || u32_at(p, 30)? == HOST),
        ETH_ARP | ETH_RARP => Some(u32_at(p, 28)? == HOST || u32_at(p, 38)? == HOST),
        _ => Some(false),
    })())
}

/// `udp and dst port 53`
pub fn udp_dst_port_53(p: &[u8]) -> u32 {
    verdict((|| match u16_at(p, 12)? {
        ETH_IP => {
            if u8_at(p, 23)? != PROTO_UDP || ip_is_later_fragment(p)? {
                return Some(false);
            }
            let x = ip_header_len(p)?;
            Some(u16_at(p, x + 16)? == 53)
        }
        ETH_IP6 => Some(u8_at(p, 20)? == PROTO_UDP && u16_at(p, 56)? == 53),
        _ => Some(false),
    })())
}

/// `ip and tcp[tcpflags] & tcp-syn != 0`
pub fn tcp_syn(p: &[u8]) -> u32 {
    verdict((|| {
        if u16_at(p, 12)? != ETH_IP || u8_at(p, 23)? != PROTO_TCP || ip_is_later_fragment(p)? {
            return Some(false);
        }
        let x = ip_header_len(p)?;
        Some(u8_at(p, x + 27)? & 0x02 != 0)
    })())
}

/// `net 192.168.0.0/16 and not port 22`
pub fn net_192_168_not_port_22(p: &[u8]) -> u32 {
    const MASK: u32 = 0xffff_0000;
    const NET: u32 = 0xc0a8_0000;
    verdict((|| match u16_at(p, 12)? {
        ETH_IP => {
            if u32_at(p, 26)? & MASK != NET && u32_at(p, 30)? & MASK != NET {
                return Some(false);
            }
            if !matches!(u8_at(p, 23)?, PROTO_SCTP | PROTO_TCP | PROTO_UDP) {
                return Some(true);
            }
            if ip_is_later_fragment(p)? {
                return Some(true);
            }
            let x = ip_header_len(p)?;
            Some(u16_at(p, x + 14)? != 22 && u16_at(p, x + 16)? != 22)
        }
        ETH_ARP | ETH_RARP => Some(u32_at(p, 28)? & MASK == NET || u32_at(p, 38)? & MASK == NET),
        _ => Some(false),
    })())
}

/// `vlan and tcp`
pub fn vlan_tcp(p: &[u8]) -> u32 {
    verdict((|| {
        if !matches!(u16_at(p, 12)?, 0x8100 | 0x88a8 | 0x9100) {
            return Some(false);
        }
        match u16_at(p, 16)? {
            ETH_IP => Some(u8_at(p, 27)? == PROTO_TCP),
            ETH_IP6 => match u8_at(p, 24)? {
                PROTO_TCP => Some(true),
                IP6_FRAGMENT => Some(u8_at(p, 58)? == PROTO_TCP),
                _ => Some(false),
            },
            _ => Some(false),
        }
    })())
}

/// `ip6 and udp`
pub fn ip6_udp(p: &[u8]) -> u32 {
    verdict((|| {
        if u16_at(p, 12)? != ETH_IP6 {
            return Some(false);
        }
        match u8_at(p, 20)? {
            PROTO_UDP => Some(true),
            IP6_FRAGMENT => Some(u8_at(p, 54)? == PROTO_UDP),
            _ => Some(false),
        }
    })())
}

/// `icmp or arp`
pub fn icmp_or_arp(p: &[u8]) -> u32 {
    verdict((|| match u16_at(p, 12)? {
        ETH_IP => Some(u8_at(p, 23)? == 1),
        ETH_ARP => Some(true),
        _ => Some(false),
    })())
}

/// The 50 addresses of the host-list filter, `10.0.{i/8}.{i*5%256}` for i in 1..=50.
pub const HOSTS: [u32; 50] = {
    let mut hosts = [0u32; 50];
    let mut n = 0;
    while n < 50 {
        let i = n as u32 + 1;
        hosts[n] = 0x0a00_0000 | ((i / 8) << 8) | (i * 5 % 256);
        n += 1;
    }
    hosts
};

/// The expression for [`HOSTS`]: `host A or host B or ...`.
pub fn host_list_expression() -> String {
    HOSTS
        .iter()
        .map(|a| format!("host {}", std::net::Ipv4Addr::from(*a)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `host A or host B or ...` over the 50 addresses of [`HOSTS`].
pub fn fifty_hosts(p: &[u8]) -> u32 {
    verdict((|| match u16_at(p, 12)? {
        ETH_IP => Some(HOSTS.contains(&u32_at(p, 26)?) || HOSTS.contains(&u32_at(p, 30)?)),
        ETH_ARP | ETH_RARP => {
            Some(HOSTS.contains(&u32_at(p, 28)?) || HOSTS.contains(&u32_at(p, 38)?))
        }
        _ => Some(false),
    })())
}
