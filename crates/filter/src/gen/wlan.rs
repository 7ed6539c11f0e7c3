//! 802.11 primitives (libpcap's gen_wlanhostop, gen_p80211_type/fcdir, gen_llc_linktype and
//! the 802.11 cases of broadcast, multicast, vlan and llc).
//!
//! The 802.11 header starts at `off_linkhdr` (after the radio header, if any: a symbolic offset
//! resolved by `varlen.rs`). Its first two bytes are the frame control field: byte 0 holds the
//! type (0x0c: 0x00 management, 0x04 control, 0x08 data) and subtype (0xf0), byte 1 the
//! distribution-system bits (0x01 To DS, 0x02 From DS). Which of the four address fields holds
//! the source or destination depends on those bits. Network-layer protocols are found only in
//! data frames, after an 802.2 LLC header (with SNAP for Ethernet types).
//!
//! The tests come in libpcap's order: on a truncated packet the order decides which load fails.

use super::{err, Gen, LinkKind, RadioHeader};
use crate::ast::{Dir, LlcKind};
use crate::names::ethertype::*;
use crate::pred::Pred;
use crate::CompileError;

/// Frame control, byte 0.
const FC0_TYPE_MASK: u32 = 0x0c;
const FC0_TYPE_CTL: u32 = 0x04;
const FC0_TYPE_DATA: u32 = 0x08;
const FC0_SUBTYPE_MASK: u32 = 0xf0;
const FC0_SUBTYPE_CTS: u32 = 0xc0;
const FC0_SUBTYPE_ACK: u32 = 0xd0;
/// Frame control, byte 1.
const FC1_TO_DS: u32 = 0x01;
const FC1_FROM_DS: u32 = 0x02;
const FC1_DIR_MASK: u32 = 0x03;
const FC1_DIR_DSTODS: u32 = 0x03;
/// The kernel's ancillary loads (SKF_AD_OFF + SKF_AD_PKTTYPE / SKF_AD_IFINDEX).
pub const SKF_AD_PKTTYPE: u32 = 0xffff_f000 + 4;
pub const SKF_AD_IFINDEX: u32 = 0xffff_f000 + 8;
/// Linux's PACKET_OUTGOING packet type.
pub const PACKET_OUTGOING: u32 = 4;

impl Gen {
    pub fn is_wlan(&self) -> bool {
        matches!(self.kind, LinkKind::Wlan(_))
    }

    /// `link[off] & bits != 0`, relative to the 802.11 header.
    fn fc_set(&self, off: u32, bits: u32) -> Pred {
        Pred::jset(1, self.off_linkhdr + off, bits)
    }

    /// A data frame: type bit 0x04 clear, then 0x08 set (gen_check_802_11_data_frame).
    pub fn wlan_data_frame(&self) -> Pred {
        Pred::and2(
            self.fc_set(0, FC0_TYPE_CTL).not(),
            self.fc_set(0, FC0_TYPE_DATA),
        )
    }

    /// "This frame carries protocol `proto`" on 802.11: a data frame whose LLC header says so.
    pub fn wlan_linktype(&self, proto: u32) -> Pred {
        Pred::and2(self.wlan_data_frame(), self.llc_linktype(proto))
    }

    /// gen_llc_linktype: an LLC SAP, or an Ethernet type in a SNAP header.
    fn llc_linktype(&self, proto: u32) -> Pred {
        let llc = self.off_linkpl;
        match proto {
            LLCSAP_IP | LLCSAP_ISONS | LLCSAP_NETBEUI => Pred::cmp(2, llc, (proto << 8) | proto),
            LLCSAP_IPX => Pred::cmp(1, llc, LLCSAP_IPX),
            ATALK => {
                let b = [
                    LLCSAP_SNAP as u8,
                    LLCSAP_SNAP as u8,
                    0x03,
                    0x08,
                    0x00,
                    0x07,
                    (ATALK >> 8) as u8,
                    ATALK as u8,
                ];
                Pred::bytes_eq(llc, &b)
            }
            _ if proto <= ETHERMTU => Pred::cmp(1, llc, proto),
            // Only the type field of the SNAP header is checked, as libpcap does.
            _ => Pred::cmp(2, llc + 6, proto),
        }
    }

    /// The source or destination address of management and data frames (control frames have
    /// none), tested with `test(offset)`: gen_wlanhostop's and 802.11 multicast's structure.
    fn wlan_src_or_dst(&self, src: bool, test: &dyn Fn(u32) -> Pred) -> Pred {
        let to_ds = || self.fc_set(1, FC1_TO_DS);
        let data_frames = if src {
            // SA: 10 without From DS; with From DS, 16 (To DS clear) or 24 (To DS set).
            let from_ds = Pred::or2(
                Pred::and2(to_ds().not(), test(16)),
                Pred::and2(to_ds(), test(24)),
            );
            Pred::or2(
                Pred::and2(self.fc_set(1, FC1_FROM_DS).not(), test(10)),
                Pred::and2(self.fc_set(1, FC1_FROM_DS), from_ds),
            )
        } else {
            // DA: 4 without To DS, 16 with it.
            Pred::or2(
                Pred::and2(to_ds().not(), test(4)),
                Pred::and2(to_ds(), test(16)),
            )
        };
        let mgt_off = if src { 10 } else { 4 };
        let any = Pred::or2(
            Pred::and2(self.fc_set(0, FC0_TYPE_DATA).not(), test(mgt_off)),
            Pred::and2(self.fc_set(0, FC0_TYPE_DATA), data_frames),
        );
        Pred::and2(self.fc_set(0, FC0_TYPE_CTL).not(), any)
    }

    /// Frames that carry a transmitter address: not CTS or ACK control frames.
    fn has_addr2(&self) -> Pred {
        let fc0 = |v: u32, mask: u32| Pred::mcmp(1, self.off_linkhdr, v, mask);
        Pred::or2(
            fc0(FC0_TYPE_CTL, FC0_TYPE_MASK).not(),
            Pred::and2(
                fc0(FC0_SUBTYPE_CTS, FC0_SUBTYPE_MASK).not(),
                fc0(FC0_SUBTYPE_ACK, FC0_SUBTYPE_MASK).not(),
            ),
        )
    }

    /// gen_wlanhostop: an 802.11 MAC address in the field(s) `dir` names.
    pub fn wlan_host(&self, mac: &[u8; 6], dir: Dir) -> Pred {
        let at = |off: u32| Pred::bytes_eq(self.off_linkhdr + off, mac);
        match dir {
            Dir::Src => self.wlan_src_or_dst(true, &at),
            Dir::Dst => self.wlan_src_or_dst(false, &at),
            Dir::And => Pred::and2(self.wlan_host(mac, Dir::Src), self.wlan_host(mac, Dir::Dst)),
            Dir::Default | Dir::Or => {
                Pred::or2(self.wlan_host(mac, Dir::Src), self.wlan_host(mac, Dir::Dst))
            }
            Dir::Addr1 => at(4),
            Dir::Addr2 => Pred::and2(self.has_addr2(), at(10)),
            Dir::Addr3 => Pred::and2(
                Pred::mcmp(1, self.off_linkhdr, FC0_TYPE_CTL, FC0_TYPE_MASK).not(),
                at(16),
            ),
            Dir::Addr4 => Pred::and2(
                Pred::mcmp(1, self.off_linkhdr + 1, FC1_DIR_DSTODS, FC1_DIR_MASK),
                at(24),
            ),
            // libpcap 1.10 takes "not a management frame" to be "a data frame" here.
            Dir::Ra => Pred::and2(self.fc_set(0, FC0_TYPE_DATA), at(4)),
            Dir::Ta => Pred::And(vec![
                self.fc_set(0, FC0_TYPE_DATA),
                self.has_addr2(),
                at(10),
            ]),
        }
    }

    /// Link-layer multicast on 802.11: the group bit of the destination address.
    pub fn wlan_multicast(&self) -> Pred {
        self.wlan_src_or_dst(false, &|off| self.fc_set(off, 0x01))
    }

    /// `type T [subtype S]`, `subtype S` (gen_p80211_type).
    pub fn wlan_type(&self, value: u32, mask: u32, offset: usize) -> Result<Pred, CompileError> {
        match self.kind {
            LinkKind::Wlan(r) if r != RadioHeader::Ppi => {
                Ok(Pred::mcmp(1, self.off_linkhdr, value, mask))
            }
            _ => Err(err(
                "802.11 link-layer types supported only on 802.11",
                offset,
            )),
        }
    }

    /// `dir D` (gen_p80211_fcdir).
    pub fn wlan_dir(&self, value: u32, offset: usize) -> Result<Pred, CompileError> {
        match self.kind {
            LinkKind::Wlan(r) if r != RadioHeader::Ppi => {
                Ok(Pred::mcmp(1, self.off_linkhdr + 1, value, FC1_DIR_MASK))
            }
            _ => Err(err(
                "frame direction supported only with 802.11 headers",
                offset,
            )),
        }
    }

    /// `vlan [id]` on 802.11 (not PPI): a SNAP-encapsulated 802.1Q/802.1ad tag; later
    /// primitives look past it.
    pub fn wlan_vlan(&mut self, id: Option<u32>) -> Result<Pred, CompileError> {
        if matches!(self.kind, LinkKind::Wlan(RadioHeader::Ppi)) || self.label_stack_depth > 0 {
            return self.vlan(id);
        }
        let tpid = Pred::Or(vec![
            self.linktype(VLAN),
            self.linktype(QINQ),
            self.linktype(QINQ_OLD),
        ]);
        let b = match id {
            Some(v) if v > 0x0fff => {
                return Err(err(
                    format!("VLAN tag {v} greater than maximum {}", 0x0fff),
                    0,
                ))
            }
            Some(v) => Pred::and2(tpid, Pred::mcmp(2, self.nl(), v, 0x0fff)),
            None => tpid,
        };
        self.off_linkpl += 4;
        self.off_linktype = self.off_linktype.map(|o| o + 4);
        self.vlan_stack_depth += 1;
        Ok(b)
    }

    /// `inbound`/`outbound` and `ifindex N` on 802.11: the kernel's ancillary fields, which
    /// libpcap addresses relative to the 802.11 header (so after a radio header, an indexed
    /// load that libpcap's own interpreter always fails).
    pub fn wlan_ancillary(&self, field: u32, value: u32) -> Pred {
        let size = if field == SKF_AD_PKTTYPE { 2 } else { 4 };
        Pred::cmp(size, self.off_linkhdr.wrapping_add(field), value)
    }

    /// `llc [kind]` on 802.11: any data frame is an LLC frame.
    pub fn wlan_llc(&self, kind: LlcKind) -> Pred {
        super::encap::llc_frame(self.wlan_data_frame(), self.off_linkpl + 2, kind)
    }
}
