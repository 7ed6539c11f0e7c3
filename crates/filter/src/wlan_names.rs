//! 802.11 frame type, subtype and direction names (`type mgt subtype beacon`, `dir tods`).

pub const TYPE_MASK: u32 = 0x0c;
pub const SUBTYPE_MASK: u32 = 0xf0;

const TYPES: &[(&str, u32)] = &[
    ("data", 0x08),
    ("mgt", 0x00),
    ("management", 0x00),
    ("ctl", 0x04),
    ("control", 0x04),
];

const MGT: &[(&str, u32)] = &[
    ("assoc-req", 0x00),
    ("assocreq", 0x00),
    ("assoc-resp", 0x10),
    ("assocresp", 0x10),
    ("reassoc-req", 0x20),
    ("reassocreq", 0x20),
    ("reassoc-resp", 0x30),
    ("reassocresp", 0x30),
    ("probe-req", 0x40),
    ("probereq", 0x40),
    ("probe-resp", 0x50),
    ("proberesp", 0x50),
    ("beacon", 0x80),
    ("atim", 0x90),
    ("disassoc", 0xa0),
    ("disassociation", 0xa0),
    ("auth", 0xb0),
    ("authentication", 0xb0),
    ("deauth", 0xc0),
    ("deauthentication", 0xc0),
];

const CTL: &[(&str, u32)] = &[
    ("ps-poll", 0xa0),
    ("rts", 0xb0),
    ("cts", 0xc0),
    ("ack", 0xd0),
    ("cf-end", 0xe0),
    ("cf-end-ack", 0xf0),
];

const DATA: &[(&str, u32)] = &[
    ("data", 0x00),
    ("data-cf-ack", 0x10),
    ("data-cf-poll", 0x20),
    ("data-cf-ack-poll", 0x30),
    ("null", 0x40),
    ("cf-ack", 0x50),
    ("cf-poll", 0x60),
    ("cf-ack-poll", 0x70),
    ("qos-data", 0x80),
    ("qos-data-cf-ack", 0x90),
    ("qos-data-cf-poll", 0xa0),
    ("qos-data-cf-ack-poll", 0xb0),
    ("qos", 0xc0),
    ("qos-cf-poll", 0xe0),
    ("qos-cf-ack-poll", 0xf0),
];

fn find(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

pub fn frame_type(name: &str) -> Option<u32> {
    find(TYPES, name)
}

fn subtypes(ty: u32) -> &'static [(&'static str, u32)] {
    match ty {
        0x00 => MGT,
        0x04 => CTL,
        0x08 => DATA,
        _ => &[],
    }
}

/// A subtype name within a given type.
pub fn subtype(ty: u32, name: &str) -> Option<u32> {
    find(subtypes(ty), name)
}

/// `subtype NAME` alone: the first type that has that subtype, combined with it.
pub fn any_subtype(name: &str) -> Option<u32> {
    [0x00, 0x04, 0x08]
        .into_iter()
        .find_map(|ty| subtype(ty, name).map(|s| s | ty))
}

pub fn direction(name: &str) -> Option<u32> {
    match name.to_ascii_lowercase().as_str() {
        "nods" => Some(0),
        "tods" => Some(1),
        "fromds" => Some(2),
        "dstods" => Some(3),
        _ => None,
    }
}
