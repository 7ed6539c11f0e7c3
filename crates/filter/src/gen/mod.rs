//! Code generation: the syntax tree -> predicates over packet bytes, for one link type.
//!
//! The structure follows libpcap's gencode.c, whose behaviour is the specification: the same
//! tests in the same order (the order decides which loads run, and a load past the captured
//! bytes rejects the packet), the same errors for the same expressions.
//!
//! - `link.rs`: link-layer headers: where the protocol type field and the payload are, and
//!   `gen_linktype` (does this frame carry protocol X), Ethernet addresses, broadcast/multicast.
//! - `net.rs`: hosts, networks, ports, `proto`, protocol names.
//! - `arith.rs`: `proto[expr:size]`, arithmetic and relations.
//! - `encap.rs`: vlan, mpls, pppoe, geneve, llc, inbound/outbound.
//! - `wlan.rs`: 802.11: frame types, addresses by frame direction, LLC/SNAP after the header.
//! - `varlen.rs`: offsets known only at run time (802.11 header length, radio headers): the
//!   code at the start of the program that computes them, and the indexed loads that use them.
//! - `rebase.rs`: loads after `geneve`, relative to the offsets it computes at run time.
//! - `cells.rs`: libpcap's scratch-cell allocator, simulated, for the values its temporaries
//!   leave in cells it later uses for offsets.
//!
//! Some primitives change the offsets used by the primitives after them (`vlan and ip` looks for
//! IP after the VLAN tag); like libpcap, the generator walks the expression in source order and
//! keeps that state in [`Gen`].

mod arith;
mod cells;
mod encap;
mod link;
mod net;
mod rebase;
mod varlen;
mod wlan;

pub use net::PROTOCHAIN_DEPTH;

use crate::ast::*;
use crate::pred::Pred;
use crate::{CompileError, Options};

/// Where the link layer carries its protocol type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Ethernet,
    Sll,
    Sll2,
    /// No link header: the packet starts with IPv4 or IPv6 (RAW), or only one of them.
    Raw,
    Ipv4,
    Ipv6,
    /// A 4-byte address family, host byte order (NULL) or network byte order (LOOP).
    Null,
    Loop,
    Ppp,
    /// 802.11, after a radio header or not.
    Wlan(RadioHeader),
}

/// What precedes an 802.11 header (libpcap handles these link types with the same code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RadioHeader {
    /// IEEE802_11: the 802.11 header starts the packet.
    None,
    /// IEEE802_11_RADIO: radiotap, little-endian length at 2.
    Radiotap,
    /// PPI: little-endian length at 2, and the encapsulated link type at 4 must be 802.11.
    Ppi,
    /// IEEE802_11_RADIO_AVS: big-endian length at 4.
    Avs,
    /// PRISM_HEADER: 144 bytes, or an AVS header.
    Prism,
}

/// Code-generation state for one expression.
pub struct Gen {
    pub kind: LinkKind,
    pub linktype: u32,
    /// Offset of the link-layer header (moves after `mpls`/`pppoes`... for encapsulated frames).
    pub off_linkhdr: u32,
    /// Offset of the protocol type field, when the link layer has one.
    pub off_linktype: Option<u32>,
    /// Offset of the link-layer payload (the network-layer header).
    pub off_linkpl: u32,
    /// Offset of the network layer within the payload (after an LLC/SNAP header, if any).
    pub off_nl: u32,
    /// The same for frames without SNAP (OSI protocols over 802.2).
    pub off_nl_nosnap: u32,
    /// The link type of the encapsulating frame for `pppoes` (its header precedes the PPP one).
    pub is_pppoes: bool,
    pub label_stack_depth: u32,
    pub vlan_stack_depth: u32,
    pub netmask: u32,
    /// Whether the program will be optimized. libpcap's optimizer reorders `host a or host b`
    /// (all source tests, then all destination tests), which changes which loads run on a
    /// truncated packet; sets of hosts and ports are only formed when it would.
    pub optimize: bool,
    /// An error found where the generator cannot fail on the spot (see `mpls_linktype`).
    pub deferred_error: Option<CompileError>,
    /// The radio header of the outermost (capture) link type when it is 802.11: its offsets
    /// are variable (see `varlen.rs`).
    pub outer_radio: Option<RadioHeader>,
    /// libpcap would not run its optimizer on this program (it turns it off for code with
    /// jumps inside blocks), so it never reports "expression rejects all packets" for it.
    pub no_optimize: bool,
    /// Whether libpcap's cell allocation is simulated (see `cells.rs`): when the expression
    /// has offset registers (802.11, `geneve`) a temporary's leftover could be read from.
    pub tracks_cells: bool,
    /// libpcap's cells, simulated.
    pub pool: cells::CellPool,
    /// The offset registers of libpcap's `off_linkhdr` and `off_linkpl` (None: constant).
    pub reg_linkhdr: Option<cells::RegId>,
    pub reg_linkpl: Option<cells::RegId>,
    /// The 802.11 registers (the header after a radio header, the payload): the ones behind the
    /// symbolic bases of `varlen.rs`.
    pub wlan_regs: (Option<cells::RegId>, Option<cells::RegId>),
    /// Our lowest cell reserved for offsets; arithmetic stores only below it.
    pub cell_floor: u32,
    /// For `geneve`: the temporary cell of the rewritten code, and the cell below which the
    /// next `geneve` takes its three.
    pub geneve_top: (u32, u32),
    /// After `geneve`: the scratch cells holding the run-time offsets that the symbolic bases
    /// in `off_linkhdr`/`off_linktype`/`off_linkpl` stand for (see `rebase.rs`).
    pub off_base: Option<rebase::Cells>,
    /// The link layer is the frame inside Geneve (libpcap's `is_geneve`).
    pub is_geneve: bool,
    /// Set while a primitive is generated for rebasing (so it is rebased once).
    rebasing: bool,
}

pub fn err(message: impl Into<String>, offset: usize) -> CompileError {
    CompileError {
        message: message.into(),
        offset: Some(offset),
    }
}

impl Gen {
    pub fn new(linktype: u32, options: &Options) -> Result<Gen, CompileError> {
        use crate::linktype as lt;
        let radio = match lt::normalize(linktype) {
            lt::IEEE802_11 => Some(RadioHeader::None),
            lt::IEEE802_11_RADIO => Some(RadioHeader::Radiotap),
            lt::PPI => Some(RadioHeader::Ppi),
            lt::IEEE802_11_RADIO_AVS => Some(RadioHeader::Avs),
            lt::PRISM_HEADER => Some(RadioHeader::Prism),
            _ => None,
        };
        let (kind, off_linktype, off_linkpl, off_nl_nosnap) = match lt::normalize(linktype) {
            lt::EN10MB => (LinkKind::Ethernet, Some(12), 14, 3),
            lt::LINUX_SLL => (LinkKind::Sll, Some(14), 16, 0),
            lt::LINUX_SLL2 => (LinkKind::Sll2, Some(0), 20, 0),
            lt::RAW => (LinkKind::Raw, None, 0, 0),
            lt::IPV4 => (LinkKind::Ipv4, None, 0, 0),
            lt::IPV6 => (LinkKind::Ipv6, None, 0, 0),
            lt::NULL => (LinkKind::Null, Some(0), 4, 0),
            lt::LOOP => (LinkKind::Loop, Some(0), 4, 0),
            lt::PPP => (LinkKind::Ppp, Some(2), 4, 0),
            // libpcap's "link type offset" for 802.11 is 24 (unused: protocols are found in the
            // LLC header at the variable payload offset).
            _ if radio.is_some() => (
                LinkKind::Wlan(radio.unwrap_or(RadioHeader::None)),
                Some(24),
                varlen::LINKPL_BASE,
                3,
            ),
            other => {
                let name = lt::name(other)
                    .map(str::to_string)
                    .unwrap_or_else(|| other.to_string());
                return Err(CompileError {
                    message: format!("link type {name} is not supported by the filter compiler"),
                    offset: None,
                });
            }
        };
        let variable_prefix = radio.is_some_and(|r| r != RadioHeader::None);
        let mut pool = cells::CellPool::default();
        let wlan_regs = match radio {
            Some(_) => (
                variable_prefix.then(|| pool.new_reg(varlen::REG_LINKHDR)),
                Some(pool.new_reg(varlen::REG_LINKPL)),
            ),
            None => (None, None),
        };
        let top = if radio.is_some() {
            varlen::REG_LINKPL
        } else {
            cells::MEMWORDS as u32
        };
        Ok(Gen {
            kind,
            linktype: lt::normalize(linktype),
            off_linkhdr: if variable_prefix {
                varlen::LINKHDR_BASE
            } else {
                0
            },
            off_linktype,
            off_linkpl,
            // 802.11 payloads start with an 802.2 LLC + SNAP header.
            off_nl: if radio.is_some() { 8 } else { 0 },
            off_nl_nosnap,
            is_pppoes: false,
            label_stack_depth: 0,
            vlan_stack_depth: 0,
            netmask: options.netmask,
            // libpcap does not optimize 802.11 programs that use the payload offset (every
            // host and port test does), so host and port sets, which follow its optimizer's
            // order, are not formed.
            optimize: options.optimize && radio.is_none(),
            deferred_error: None,
            outer_radio: radio,
            no_optimize: false,
            tracks_cells: false,
            pool,
            reg_linkhdr: wlan_regs.0,
            reg_linkpl: wlan_regs.1,
            wlan_regs,
            cell_floor: top,
            geneve_top: (top, top),
            off_base: None,
            is_geneve: false,
            rebasing: false,
        })
    }

    /// Offset of the network-layer header from the start of the packet.
    pub fn nl(&self) -> u32 {
        self.off_linkpl + self.off_nl
    }

    /// Generates the predicate for a whole expression.
    pub fn generate(&mut self, e: &Expr) -> Result<Pred, CompileError> {
        if e.turns_off_libpcap_optimizer() {
            // libpcap compiles the whole expression without its optimizer, so no host or port
            // sets (which follow that optimizer's order) and no "rejects all packets".
            self.optimize = false;
            self.no_optimize = true;
        }
        let geneves = count_geneves(e);
        self.tracks_cells = self.outer_radio.is_some() || geneves > 0;
        if geneves > 0 {
            // Cells for every `geneve`, from the top down: one temporary, three each.
            let top = self.cell_floor;
            let temp = top.saturating_sub(1);
            self.geneve_top = (temp, temp);
            self.cell_floor = temp.saturating_sub(3 * geneves);
        }
        let p = self.expr(e)?;
        if let Some(e) = self.deferred_error.take() {
            return Err(e);
        }
        self.allocate_final_registers();
        let p = self.place_leftovers(p);
        Ok(self.finish_variable_offsets(p))
    }

    /// Generates the predicate for an expression, in source order.
    pub fn expr(&mut self, e: &Expr) -> Result<Pred, CompileError> {
        if let Some(cells) = self.off_base.filter(|_| !self.rebasing) {
            if !matches!(
                e,
                Expr::And(_) | Expr::Or(_) | Expr::Not(_) | Expr::Geneve { .. }
            ) {
                return self.rebased_primitive(e, cells);
            }
        }
        let p = match e {
            Expr::And(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.expr(item)?);
                }
                Pred::And(out)
            }
            Expr::Or(items) => self.or_list(items)?,
            Expr::Not(inner) => self.expr(inner)?.not(),
            Expr::Id { qual, offset, .. }
                if qual.addr == AddrKind::Protochain && self.has_variable_offsets() =>
            {
                return Err(err(
                    "'protochain' not supported with variable length headers",
                    *offset,
                ))
            }
            Expr::Id {
                qual,
                value,
                offset,
            } => self.id(*qual, value, *offset)?,
            Expr::Proto { proto, offset } => self.proto_abbrev(*proto, *offset)?,
            Expr::Relation {
                op,
                lhs,
                rhs,
                offset,
            } => self.relation(*op, lhs, rhs, *offset)?,
            Expr::Broadcast { proto, offset } => self.broadcast(*proto, *offset)?,
            Expr::Multicast { proto, offset } => self.multicast(*proto, *offset)?,
            Expr::Less(n) => self.len_cmp(jitkit_bpf::cbpf::op::JGT, *n).not(),
            Expr::Greater(n) => self.len_cmp(jitkit_bpf::cbpf::op::JGE, *n),
            Expr::Byte { index, op, value } => self.byteop(*op, *index, *value),
            Expr::Inbound if self.is_wlan() => self
                .wlan_ancillary(wlan::SKF_AD_PKTTYPE, wlan::PACKET_OUTGOING)
                .not(),
            Expr::Outbound if self.is_wlan() => {
                self.wlan_ancillary(wlan::SKF_AD_PKTTYPE, wlan::PACKET_OUTGOING)
            }
            Expr::Ifindex(n) if self.is_wlan() => self.wlan_ancillary(wlan::SKF_AD_IFINDEX, *n),
            Expr::Inbound => self.inbound(false)?,
            Expr::Outbound => self.inbound(true)?,
            Expr::Ifindex(n) => self.ifindex(*n)?,
            Expr::Vlan(id) if self.is_wlan() => self.wlan_vlan(*id)?,
            Expr::Vlan(id) => self.vlan(*id)?,
            Expr::Mpls(label) => self.mpls(*label)?,
            Expr::Pppoed => self.pppoed()?,
            Expr::Pppoes(id) => self.pppoes(*id)?,
            Expr::Geneve { vni, offset } => self.geneve(*vni, *offset)?,
            Expr::Llc(kind) if self.is_wlan() => self.wlan_llc(*kind),
            Expr::Llc(kind) => self.llc(*kind)?,
            Expr::WlanType {
                value,
                mask,
                offset,
            } => self.wlan_type(*value, *mask, *offset)?,
            Expr::WlanDir { value, offset } => self.wlan_dir(*value, *offset)?,
            Expr::Unsupported { what, offset } => {
                return Err(err(
                    match *what {
                        "atm" => "'vpi'/'vci'/ATM types supported only on raw ATM",
                        "mtp2" => "'fisu'/'lssu'/'msu' supported only on MTP2",
                        "mtp3" => "'sio'/'opc'/'dpc'/'sls' supported only on SS7",
                        _ => "pf filters supported only on pflog captures",
                    },
                    *offset,
                ))
            }
        };
        self.track_registers(e, p)
    }

    /// An `or` chain. Runs of same-qualified IPv4 hosts or ports become one set membership test
    /// (a balanced comparison tree) instead of one comparison each.
    fn or_list(&mut self, items: &[Expr]) -> Result<Pred, CompileError> {
        let mut out = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            let run = if self.optimize {
                net::set_run(&items[i..])
            } else {
                0
            };
            if run >= net::MIN_SET {
                if let Some(p) = self.id_set(&items[i..i + run])? {
                    out.push(p);
                    i += run;
                    continue;
                }
            }
            out.push(self.expr(&items[i])?);
            i += 1;
        }
        Ok(Pred::Or(out))
    }
}

/// How many `geneve` primitives `e` has.
fn count_geneves(e: &Expr) -> u32 {
    match e {
        Expr::And(items) | Expr::Or(items) => items.iter().map(count_geneves).sum(),
        Expr::Not(inner) => count_geneves(inner),
        Expr::Geneve { .. } => 1,
        _ => 0,
    }
}
