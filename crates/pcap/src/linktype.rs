//! Per-link-type limits that libpcap applies when it reads a capture.

/// `LINKTYPE_ETHERNET`.
pub const ETHERNET: u32 = 1;
const DBUS: u32 = 231;
const USBPCAP: u32 = 249;
const EBHSCR: u32 = 279;

/// The largest captured length libpcap accepts for a link type (`max_snaplen_for_dlt`).
pub fn max_snaplen(link_type: u32) -> u32 {
    match link_type {
        DBUS => 128 * 1024 * 1024,
        EBHSCR => 8 * 1024 * 1024,
        USBPCAP => 1024 * 1024,
        _ => 262_144,
    }
}

/// The snapshot length libpcap uses for a file header's value: 0 or anything above the link
/// type's maximum means the maximum (`pcap_adjust_snapshot`).
pub fn effective_snaplen(link_type: u32, snaplen: u32) -> u32 {
    let max = max_snaplen(link_type);
    if snaplen == 0 || snaplen > max {
        max
    } else {
        snaplen
    }
}
