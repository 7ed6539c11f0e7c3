//! The syntax tree of a filter expression, with every qualifier already resolved.
//!
//! pcap-filter lets an identifier inherit the qualifiers of the one before it (`host a or b` means
//! `host a or host b`); the parser applies that rule, so each [`Expr::Id`] carries its own
//! complete [`Qual`]. Offsets are byte positions in the expression, for error messages.

/// The protocol qualifier (`pqual` in libpcap's grammar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Default,
    Link,
    Ip,
    Arp,
    Rarp,
    Sctp,
    Tcp,
    Udp,
    Icmp,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Atalk,
    Aarp,
    Decnet,
    Lat,
    Sca,
    Mopdl,
    Moprc,
    Ip6,
    Icmp6,
    Ah,
    Esp,
    Iso,
    Esis,
    Isis,
    IsisL1,
    IsisL2,
    IsisIih,
    IsisLsp,
    IsisSnp,
    IsisPsnp,
    IsisCsnp,
    Clnp,
    Stp,
    Ipx,
    Netbeui,
    Radio,
}

impl Proto {
    /// The keyword as written in expressions (for error messages).
    pub fn name(self) -> &'static str {
        use Proto::*;
        match self {
            Default => "",
            Link => "link",
            Ip => "ip",
            Arp => "arp",
            Rarp => "rarp",
            Sctp => "sctp",
            Tcp => "tcp",
            Udp => "udp",
            Icmp => "icmp",
            Igmp => "igmp",
            Igrp => "igrp",
            Pim => "pim",
            Vrrp => "vrrp",
            Carp => "carp",
            Atalk => "atalk",
            Aarp => "aarp",
            Decnet => "decnet",
            Lat => "lat",
            Sca => "sca",
            Mopdl => "mopdl",
            Moprc => "moprc",
            Ip6 => "ip6",
            Icmp6 => "icmp6",
            Ah => "ah",
            Esp => "esp",
            Iso => "iso",
            Esis => "esis",
            Isis => "isis",
            IsisL1 => "l1",
            IsisL2 => "l2",
            IsisIih => "iih",
            IsisLsp => "lsp",
            IsisSnp => "snp",
            IsisPsnp => "psnp",
            IsisCsnp => "csnp",
            Clnp => "clnp",
            Stp => "stp",
            Ipx => "ipx",
            Netbeui => "netbeui",
            Radio => "radio",
        }
    }
}

/// The direction qualifier (`dqual`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Default,
    Src,
    Dst,
    /// `src or dst`
    Or,
    /// `src and dst`
    And,
    Addr1,
    Addr2,
    Addr3,
    Addr4,
    Ra,
    Ta,
}

/// The address-type qualifier (`aqual`, plus `proto` and `protochain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrKind {
    Default,
    Host,
    Net,
    Port,
    Portrange,
    Gateway,
    Proto,
    Protochain,
}

/// The three qualifiers of an identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Qual {
    pub proto: Proto,
    pub dir: Dir,
    pub addr: AddrKind,
}

/// What follows the qualifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdValue {
    /// A number (`port 80`, `proto 6`, `host 10` = 0.0.0.10, `net 10` = 10/8).
    Num(u32),
    /// A name: host, network, service or protocol name, or an escaped keyword.
    Name(String),
    /// A dotted IPv4 address or prefix (`10.1` is 10.1.0.0 with mask 255.255.0.0).
    Hid(String),
    /// `HID mask HID`.
    HidMask(String, String),
    /// `HID/len`.
    HidLen(String, u32),
    /// An IPv6 address, with an optional prefix length.
    Hid6(String, Option<u32>),
    /// An Ethernet address.
    Eid(String),
    /// An ARCnet address (`$ab`).
    Aid(String),
}

/// Relations between two arithmetic expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    Gt,
    Ge,
    Eq,
    Le,
    Lt,
    Ne,
}

/// Binary arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

/// An arithmetic expression (`arth` in libpcap's grammar).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    Num(u32),
    /// `proto[index]` or `proto[index:size]`.
    Load {
        proto: Proto,
        index: Box<Arith>,
        size: u32,
        offset: usize,
    },
    /// `len`: the packet's length on the wire.
    Len,
    Binary(ArithOp, Box<Arith>, Box<Arith>, usize),
    Neg(Box<Arith>),
}

/// `byte N op M` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOp {
    And,
    Or,
    Lt,
    Gt,
    Eq,
}

/// LLC frame kinds (`llc`, `llc i`, `llc s`, `llc u`, `llc rr`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlcKind {
    Any,
    I,
    S,
    U,
    /// An S-frame subtype (RR, RNR, REJ).
    SSubtype(u32),
    /// A U-frame subtype (UI, UA, DISC, ...).
    USubtype(u32),
}

/// A filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A chain `a and b and c` (kept flat so long chains do not make a deep tree).
    And(Vec<Expr>),
    /// A chain `a or b or c`.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// Qualifiers and an identifier: `src host 10.0.0.1`, `tcp port 80`, `ether proto \arp`.
    Id {
        qual: Qual,
        value: IdValue,
        offset: usize,
    },
    /// A protocol name alone: `tcp`, `ip6`, `arp`.
    Proto {
        proto: Proto,
        offset: usize,
    },
    /// `arth relop arth`.
    Relation {
        op: RelOp,
        lhs: Arith,
        rhs: Arith,
        offset: usize,
    },
    Broadcast {
        proto: Proto,
        offset: usize,
    },
    Multicast {
        proto: Proto,
        offset: usize,
    },
    Less(u32),
    Greater(u32),
    Byte {
        index: u32,
        op: ByteOp,
        value: u32,
    },
    Inbound,
    Outbound,
    Ifindex(u32),
    Vlan(Option<u32>),
    Mpls(Option<u32>),
    Pppoed,
    Pppoes(Option<u32>),
    /// `geneve [vni]`.
    Geneve {
        vni: Option<u32>,
        offset: usize,
    },
    Llc(LlcKind),
    /// `type T [subtype S]`, `subtype S`: frame-control bits of 802.11, `value` under `mask`.
    WlanType {
        value: u32,
        mask: u32,
        offset: usize,
    },
    /// `dir D`: the 802.11 DS bits.
    WlanDir {
        value: u32,
        offset: usize,
    },
    /// A primitive of a link type jitkit does not compile for (ATM, MTP2/3, pflog): always an error.
    Unsupported {
        what: &'static str,
        offset: usize,
    },
}

impl Expr {
    /// Whether libpcap compiles this expression without its optimizer: `protochain` and
    /// `geneve` emit code with jumps inside blocks (a loop for `protochain`), so libpcap turns
    /// the optimizer off for the whole expression, which changes which loads run on truncated
    /// packets and whether "rejects all packets" is reported.
    pub fn turns_off_libpcap_optimizer(&self) -> bool {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                items.iter().any(Expr::turns_off_libpcap_optimizer)
            }
            Expr::Not(inner) => inner.turns_off_libpcap_optimizer(),
            Expr::Id { qual, .. } => qual.addr == AddrKind::Protochain,
            Expr::Geneve { .. } => true,
            _ => false,
        }
    }

    /// Where a primitive starts in the expression, when the tree records it.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Expr::Id { offset, .. }
            | Expr::Proto { offset, .. }
            | Expr::Relation { offset, .. }
            | Expr::Broadcast { offset, .. }
            | Expr::Multicast { offset, .. }
            | Expr::WlanType { offset, .. }
            | Expr::WlanDir { offset, .. }
            | Expr::Geneve { offset, .. }
            | Expr::Unsupported { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}
