//! Link-type names and numbers (`LINKTYPE_*`, as stored in pcap and pcapng files).
//!
//! Names are libpcap's (`pcap_datalink_name_to_val` without the `DLT_` prefix), matched without
//! regard to case; `-y 1` (a number) is accepted too.

pub const NULL: u32 = 0;
pub const EN10MB: u32 = 1;
pub const PPP: u32 = 9;
pub const RAW: u32 = 101;
pub const LOOP: u32 = 108;
pub const IEEE802_11: u32 = 105;
pub const LINUX_SLL: u32 = 113;
pub const PRISM_HEADER: u32 = 119;
pub const IEEE802_11_RADIO: u32 = 127;
pub const IEEE802_11_RADIO_AVS: u32 = 163;
pub const PPI: u32 = 192;
pub const IPV4: u32 = 228;
pub const IPV6: u32 = 229;
pub const LINUX_SLL2: u32 = 276;

/// (name, LINKTYPE number).
const NAMES: &[(&str, u32)] = &[
    ("NULL", NULL),
    ("EN10MB", EN10MB),
    ("EN3MB", 2),
    ("AX25", 3),
    ("PRONET", 4),
    ("CHAOS", 5),
    ("IEEE802", 6),
    ("ARCNET", 7),
    ("SLIP", 8),
    ("PPP", PPP),
    ("FDDI", 10),
    ("PPP_SERIAL", 50),
    ("PPP_ETHER", 51),
    ("ATM_RFC1483", 100),
    ("RAW", RAW),
    ("C_HDLC", 104),
    ("IEEE802_11", IEEE802_11),
    ("FRELAY", 107),
    ("LOOP", LOOP),
    ("ENC", 109),
    ("LINUX_SLL", LINUX_SLL),
    ("LTALK", 114),
    ("PFLOG", 117),
    ("PRISM_HEADER", PRISM_HEADER),
    ("IP_OVER_FC", 122),
    ("SUNATM", 123),
    ("IEEE802_11_RADIO", IEEE802_11_RADIO),
    ("ARCNET_LINUX", 129),
    ("LINUX_IRDA", 144),
    ("IEEE802_11_RADIO_AVS", IEEE802_11_RADIO_AVS),
    ("BLUETOOTH_HCI_H4", 187),
    ("USB_LINUX", 189),
    ("PPI", PPI),
    ("IEEE802_15_4", 195),
    ("SITA", 196),
    ("ERF", 197),
    ("IPMB_LINUX", 209),
    ("IPV4", IPV4),
    ("IPV6", IPV6),
    ("DBUS", 231),
    ("NETANALYZER", 240),
    ("NETANALYZER_TRANSPARENT", 241),
    ("IPOIB", 242),
    ("NFLOG", 239),
    ("PKTAP", 258),
    ("NETLINK", 253),
    ("LINUX_SLL2", LINUX_SLL2),
    ("VSOCK", 271),
];

/// The LINKTYPE number for a name such as `EN10MB` or `linux_sll`, or a decimal number.
pub fn from_name(name: &str) -> Option<u32> {
    let trimmed = name.strip_prefix("DLT_").unwrap_or(name);
    if let Ok(n) = trimmed.parse::<u32>() {
        return Some(n);
    }
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(trimmed))
        .map(|&(_, v)| v)
}

/// libpcap's name for a LINKTYPE number, if it has one.
pub fn name(linktype: u32) -> Option<&'static str> {
    NAMES.iter().find(|&&(_, v)| v == linktype).map(|&(n, _)| n)
}

/// Whether the compiler generates code for this link type.
pub fn is_supported(linktype: u32) -> bool {
    matches!(
        normalize(linktype),
        NULL | EN10MB
            | PPP
            | RAW
            | LOOP
            | LINUX_SLL
            | IPV4
            | IPV6
            | LINUX_SLL2
            | IEEE802_11
            | PRISM_HEADER
            | IEEE802_11_RADIO
            | IEEE802_11_RADIO_AVS
            | PPI
    )
}

/// Maps platform-specific DLT numbers that pcap files may carry to their LINKTYPE (12 and 14
/// are DLT_RAW on some systems).
pub fn normalize(linktype: u32) -> u32 {
    match linktype {
        12 | 14 => RAW,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(from_name("EN10MB"), Some(1));
        assert_eq!(from_name("linux_sll2"), Some(276));
        assert_eq!(from_name("DLT_RAW"), Some(101));
        assert_eq!(from_name("113"), Some(113));
        assert_eq!(from_name("NOPE"), None);
        assert_eq!(name(228), Some("IPV4"));
    }
}
