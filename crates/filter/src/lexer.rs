//! Tokens of the pcap-filter language, as libpcap's scanner (scan.l) produces them.
//!
//! libpcap's scanner is a flex program: at each position the longest match wins, and among equally
//! long matches the earliest rule wins (keywords and numbers before plain identifiers). We compute
//! the candidate lengths of each token class at a position and pick the same winner. Work per token
//! is linear in the token's length (IPv6 candidates are bounded to 64 bytes).

use crate::CompileError;

/// A token and where it starts in the expression (byte offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: Tok,
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A number (decimal, 0x hex or leading-0 octal), or a named constant such as `tcp-syn`.
    Num(u32),
    /// A dotted IPv4 address or network: `10.0.0.1`, `10.1`.
    Hid(String),
    /// An IPv6 address.
    Hid6(String),
    /// An Ethernet (MAC) address.
    Eid(String),
    /// An ARCnet address: `$ab`.
    Aid(String),
    /// An identifier: a host or service name, or a backslash-escaped keyword (`\tcp`).
    Id(String),
    /// A keyword.
    Kw(Kw),
    /// Punctuation and operators.
    Op(Op),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Shl,
    Shr,
    Bang,
    AndAnd,
    OrOr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

macro_rules! keywords {
    ($($name:ident = $($text:literal)|+;)*) => {
        /// A keyword of the language. Several spellings may map to one keyword.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kw { $($name),* }

        fn keyword(word: &str) -> Option<Kw> {
            match word {
                $($($text)|+ => Some(Kw::$name),)*
                _ => None,
            }
        }
    };
}

keywords! {
    Dst = "dst";
    Src = "src";
    Host = "host";
    Gateway = "gateway";
    Net = "net";
    Mask = "mask" | "netmask";
    Port = "port";
    Portrange = "portrange";
    Less = "less";
    Greater = "greater";
    Proto = "proto";
    Protochain = "protochain";
    Byte = "byte";
    Link = "link" | "ether" | "ppp" | "slip" | "fddi" | "tr" | "wlan";
    Arp = "arp";
    Rarp = "rarp";
    Ip = "ip";
    Sctp = "sctp";
    Tcp = "tcp";
    Udp = "udp";
    Icmp = "icmp";
    Igmp = "igmp";
    Igrp = "igrp";
    Pim = "pim";
    Vrrp = "vrrp";
    Carp = "carp";
    Radio = "radio";
    Ip6 = "ip6";
    Icmp6 = "icmp6";
    Ah = "ah";
    Esp = "esp";
    Atalk = "atalk";
    Aarp = "aarp";
    Decnet = "decnet";
    Lat = "lat";
    Sca = "sca";
    Moprc = "moprc";
    Mopdl = "mopdl";
    Iso = "iso";
    Esis = "esis" | "es-is";
    Isis = "isis" | "is-is";
    L1 = "l1";
    L2 = "l2";
    Iih = "iih";
    Lsp = "lsp";
    Snp = "snp";
    Csnp = "csnp";
    Psnp = "psnp";
    Clnp = "clnp";
    Stp = "stp";
    Ipx = "ipx";
    Netbeui = "netbeui";
    Broadcast = "broadcast";
    Multicast = "multicast";
    And = "and";
    Or = "or";
    Not = "not";
    Len = "len" | "length";
    Inbound = "inbound";
    Outbound = "outbound";
    Ifindex = "ifindex";
    Vlan = "vlan";
    Mpls = "mpls";
    Pppoed = "pppoed";
    Pppoes = "pppoes";
    Geneve = "geneve";
    Lane = "lane";
    Llc = "llc";
    Metac = "metac";
    Bcc = "bcc";
    Oam = "oam";
    Oamf4 = "oamf4";
    Oamf4ec = "oamf4ec";
    Oamf4sc = "oamf4sc";
    Sc = "sc";
    Ilmic = "ilmic";
    Vpi = "vpi";
    Vci = "vci";
    Connectmsg = "connectmsg";
    Metaconnect = "metaconnect";
    On = "on" | "ifname";
    Rnr = "rnr" | "rulenum";
    Srnr = "srnr" | "subrulenum";
    Reason = "reason";
    Rset = "rset" | "ruleset";
    Action = "action";
    Type = "type";
    Subtype = "subtype";
    Dir = "dir" | "direction";
    Addr1 = "addr1" | "address1";
    Addr2 = "addr2" | "address2";
    Addr3 = "addr3" | "address3";
    Addr4 = "addr4" | "address4";
    Ra = "ra";
    Ta = "ta";
    Fisu = "fisu";
    Lssu = "lssu";
    Msu = "msu";
    Hfisu = "hfisu";
    Hlssu = "hlssu";
    Hmsu = "hmsu";
    Sio = "sio";
    Opc = "opc";
    Dpc = "dpc";
    Sls = "sls";
    Hsio = "hsio";
    Hopc = "hopc";
    Hdpc = "hdpc";
    Hsls = "hsls";
}

/// Named constants that scan.l turns into numbers.
fn named_number(word: &str) -> Option<u32> {
    Some(match word {
        "icmptype" => 0,
        "icmpcode" => 1,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6type" => 0,
        "icmp6code" => 1,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-routerrenum" => 138,
        "icmp6-nodeinformationquery" => 139,
        "icmp6-nodeinformationresponse" => 140,
        "icmp6-ineighbordiscoverysolicit" => 141,
        "icmp6-ineighbordiscoveryadvert" => 142,
        "icmp6-multicastlistenerreportv2" => 143,
        "icmp6-homeagentdiscoveryrequest" => 144,
        "icmp6-homeagentdiscoveryreply" => 145,
        "icmp6-mobileprefixsolicit" => 146,
        "icmp6-mobileprefixadvert" => 147,
        "icmp6-certpathsolicit" => 148,
        "icmp6-certpathadvert" => 149,
        "icmp6-multicastrouteradvert" => 151,
        "icmp6-multicastroutersolicit" => 152,
        "icmp6-multicastrouterterm" => 153,
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        _ => return None,
    })
}

fn err(message: String, offset: usize) -> CompileError {
    CompileError {
        message,
        offset: Some(offset),
    }
}

/// Splits an expression into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Token>, CompileError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            pos += 1;
            continue;
        }
        let (kind, len) = next_token(text, pos)?;
        tokens.push(Token {
            kind,
            offset: pos,
            len,
        });
        pos += len;
    }
    Ok(tokens)
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// Length of `N` (a decimal or 0x-hex number) at `pos`, 0 if none.
fn number_len(b: &[u8], pos: usize) -> usize {
    if b.len() > pos + 2
        && b[pos] == b'0'
        && (b[pos + 1] == b'x' || b[pos + 1] == b'X')
        && is_hex(b[pos + 2])
    {
        let mut i = pos + 2;
        while i < b.len() && is_hex(b[i]) {
            i += 1;
        }
        return i - pos;
    }
    b[pos..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Length of the longest `N(.N){1,3}` at `pos`.
fn hid_len(b: &[u8], pos: usize) -> usize {
    let mut best = 0;
    let mut i = pos;
    for part in 0..4 {
        let n = number_len(b, i);
        if n == 0 {
            break;
        }
        i += n;
        if part >= 1 {
            best = i - pos;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
        } else {
            break;
        }
    }
    best
}

/// Length of 1-2 hex digits at `pos`.
fn hexbyte_len(b: &[u8], pos: usize) -> usize {
    b[pos..].iter().take(2).take_while(|c| is_hex(**c)).count()
}

/// Length of the longest MAC address form at `pos`: `B:B:B:B:B:B`, `B-B-...`, `B.B.....`,
/// `B2.B2.B2` or twelve hex digits.
fn mac_len(b: &[u8], pos: usize) -> usize {
    let mut best = 0;
    for sep in [b':', b'-', b'.'] {
        let mut i = pos;
        let mut ok = true;
        for part in 0..6 {
            let n = hexbyte_len(b, i);
            if n == 0 {
                ok = false;
                break;
            }
            i += n;
            if part < 5 {
                if i < b.len() && b[i] == sep {
                    i += 1;
                } else {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            best = best.max(i - pos);
        }
    }
    // xxxx.xxxx.xxxx
    let four = |i: usize| b.len() >= i + 4 && b[i..i + 4].iter().all(|c| is_hex(*c));
    if four(pos) && four(pos + 5) && four(pos + 10) && b[pos + 4] == b'.' && b[pos + 9] == b'.' {
        best = best.max(14);
    }
    if b.len() >= pos + 12 && b[pos..pos + 12].iter().all(|c| is_hex(*c)) {
        best = best.max(12);
    }
    best
}

/// Length of the longest IPv6 address at `pos` (only tried when the run contains a colon).
fn ipv6_len(text: &str, pos: usize) -> usize {
    let b = text.as_bytes();
    let run = b[pos..]
        .iter()
        .take(64)
        .take_while(|c| is_hex(**c) || **c == b':' || **c == b'.')
        .count();
    if !b[pos..pos + run].contains(&b':') {
        return 0;
    }
    (2..=run)
        .rev()
        .find(|&n| text[pos..pos + n].parse::<std::net::Ipv6Addr>().is_ok())
        .unwrap_or(0)
}

/// Length of the longest match of `{B}:+({B}:+)+` at `pos`, 0 if none.
fn bogus_mac_len(b: &[u8], pos: usize) -> usize {
    let mut i = pos;
    let mut groups = 0;
    let mut best = 0;
    loop {
        let n = hexbyte_len(b, i);
        let colons = b[(i + n).min(b.len())..]
            .iter()
            .take_while(|c| **c == b':')
            .count();
        if n == 0 || colons == 0 {
            return best;
        }
        i += n + colons;
        groups += 1;
        if groups >= 2 {
            best = i - pos;
        }
    }
}

/// Length of the identifier pattern `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`.
fn id_len(b: &[u8], pos: usize) -> usize {
    if !b[pos].is_ascii_alphanumeric() {
        return 0;
    }
    let run = b[pos..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        .count();
    let mut n = run;
    while n > 1 && matches!(b[pos + n - 1], b'-' | b'_') {
        n -= 1;
    }
    n
}

fn next_token(text: &str, pos: usize) -> Result<(Tok, usize), CompileError> {
    let b = text.as_bytes();
    let c = b[pos];
    let two = if pos + 1 < b.len() {
        &b[pos..pos + 2]
    } else {
        &b[pos..pos + 1]
    };
    let op2 = match two {
        b">=" => Some(Op::Ge),
        b"<=" => Some(Op::Le),
        b"!=" => Some(Op::Ne),
        b"==" => Some(Op::Eq),
        b"<<" => Some(Op::Shl),
        b">>" => Some(Op::Shr),
        b"&&" => Some(Op::AndAnd),
        b"||" => Some(Op::OrOr),
        _ => None,
    };
    if let Some(op) = op2 {
        return Ok((Tok::Op(op), 2));
    }
    let op1 = match c {
        b'(' => Some(Op::LParen),
        b')' => Some(Op::RParen),
        b'[' => Some(Op::LBracket),
        b']' => Some(Op::RBracket),
        b':' => Some(Op::Colon),
        b'+' => Some(Op::Plus),
        b'-' => Some(Op::Minus),
        b'*' => Some(Op::Star),
        b'/' => Some(Op::Slash),
        b'%' => Some(Op::Percent),
        b'&' => Some(Op::Amp),
        b'|' => Some(Op::Pipe),
        b'^' => Some(Op::Caret),
        b'!' => Some(Op::Bang),
        b'<' => Some(Op::Lt),
        b'>' => Some(Op::Gt),
        b'=' => Some(Op::Eq),
        _ => None,
    };
    // A ':' may begin an IPv6 address ("::1").
    if let Some(op) = op1 {
        let v6 = if c == b':' { ipv6_len(text, pos) } else { 0 };
        if v6 > 1 {
            return Ok((Tok::Hid6(text[pos..pos + v6].to_string()), v6));
        }
        return Ok((Tok::Op(op), 1));
    }
    if c == b'$' {
        let n = hexbyte_len(b, pos + 1);
        if n > 0 {
            return Ok((Tok::Aid(text[pos..pos + 1 + n].to_string()), 1 + n));
        }
        return Err(err("illegal character '$'".to_string(), pos));
    }
    if c == b'\\' {
        let n = b[pos + 1..]
            .iter()
            .take_while(|c| !matches!(c, b' ' | b'!' | b'(' | b')' | b'\n' | b'\t'))
            .count();
        if n == 0 {
            return Err(err("syntax error: '\\' escapes nothing".into(), pos));
        }
        return Ok((Tok::Id(text[pos + 1..pos + 1 + n].to_string()), n + 1));
    }
    if !c.is_ascii_alphanumeric() {
        let ch = text[pos..].chars().next().unwrap_or('?');
        return Err(err(format!("illegal character '{ch}'"), pos));
    }
    // Candidates in scan.l's rule order; the longest wins, the earliest among equals.
    let idl = id_len(b, pos);
    let word = &text[pos..pos + idl];
    let v6 = ipv6_len(text, pos);
    let mac = mac_len(b, pos);
    let hid = hid_len(b, pos);
    let num = number_len(b, pos);
    // The bogus-ethernet rule `{B}:+({B}:+)+` (flex sees it as longer than any valid match).
    let best = idl.max(v6).max(mac).max(hid).max(num);
    if best == idl && idl > 0 {
        if let Some(kw) = keyword(word) {
            return Ok((Tok::Kw(kw), idl));
        }
        if let Some(v) = named_number(word) {
            return Ok((Tok::Num(v), idl));
        }
    }
    if mac == best {
        return Ok((Tok::Eid(text[pos..pos + mac].to_string()), mac));
    }
    if num == best {
        return Ok((Tok::Num(parse_number(&text[pos..pos + num], pos)?), num));
    }
    if hid == best {
        return Ok((Tok::Hid(text[pos..pos + hid].to_string()), hid));
    }
    if v6 == best {
        return Ok((Tok::Hid6(text[pos..pos + v6].to_string()), v6));
    }
    // scan.l's `{B}:+({B}:+)+`: a run of hex bytes and colons that is no valid address.
    let bogus = bogus_mac_len(b, pos);
    if bogus > idl {
        let s = &text[pos..pos + bogus];
        return Err(err(format!("bogus ethernet address {s}"), pos));
    }
    Ok((Tok::Id(word.to_string()), idl))
}

/// Parses `N` as scan.l's `stoulen` does: 0x hex, leading-0 octal, or decimal, at most 32 bits.
pub fn parse_number(s: &str, offset: usize) -> Result<u32, CompileError> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let mut v: u64 = 0;
    for ch in digits.chars() {
        let d = match ch.to_digit(radix) {
            Some(d) => d,
            None if radix == 8 => {
                return Err(err(format!("number {s} contains non-octal digit"), offset))
            }
            None => return Err(err(format!("number {s} is not a number"), offset)),
        };
        v = v * radix as u64 + d as u64;
        if v > u32::MAX as u64 {
            return Err(err(format!("number {s} overflows 32 bits"), offset));
        }
    }
    Ok(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn token_classes_like_scan_l() {
        let cases: &[(&str, Tok)] = &[
            ("80", Tok::Num(80)),
            ("0x50", Tok::Num(0x50)),
            ("010", Tok::Num(8)),
            ("tcp-syn", Tok::Num(2)),
            ("tcp", Tok::Kw(Kw::Tcp)),
            ("es-is", Tok::Kw(Kw::Esis)),
            ("10.1", Tok::Hid("10.1".into())),
            ("10.0.0.1", Tok::Hid("10.0.0.1".into())),
            ("::1", Tok::Hid6("::1".into())),
            ("fe80::1", Tok::Hid6("fe80::1".into())),
            ("1:2:3:4:5:6", Tok::Eid("1:2:3:4:5:6".into())),
            ("aa-bb-cc-dd-ee-ff", Tok::Eid("aa-bb-cc-dd-ee-ff".into())),
            ("0102.0304.0506", Tok::Eid("0102.0304.0506".into())),
            ("010203040506", Tok::Eid("010203040506".into())),
            ("www.example.com", Tok::Id("www.example.com".into())),
            ("\\tcp", Tok::Id("tcp".into())),
            ("$1f", Tok::Aid("$1f".into())),
            ("TCP", Tok::Id("TCP".into())),
        ];
        for (text, want) in cases {
            assert_eq!(kinds(text), vec![want.clone()], "{text}");
        }
        assert_eq!(
            kinds("ip[2:2]>=0x10&&!tcp"),
            vec![
                Tok::Kw(Kw::Ip),
                Tok::Op(Op::LBracket),
                Tok::Num(2),
                Tok::Op(Op::Colon),
                Tok::Num(2),
                Tok::Op(Op::RBracket),
                Tok::Op(Op::Ge),
                Tok::Num(16),
                Tok::Op(Op::AndAnd),
                Tok::Op(Op::Bang),
                Tok::Kw(Kw::Tcp),
            ]
        );
        assert!(tokenize("08").unwrap_err().message.contains("non-octal"));
        assert!(tokenize("4294967296").is_err());
        assert!(tokenize("a # b").is_err());
    }
}
