//! The differential harness: our compiler against libpcap's, both programs run by libpcap's
//! own `bpf_filter` on real captures and synthetic packets.
#![allow(dead_code)]

pub mod capture;
pub mod loops;
pub mod synth;

use std::collections::HashMap;
use std::sync::OnceLock;

use capture::Packet;
use jitkit_bpf::cbpf::Insn;
use jitkit_filter::{compile, Options};
use jitkit_testkit::libpcap::{self, RawInsn};

/// The link types the compiler supports, by libpcap's names.
pub const LINKS: &[&str] = &[
    "EN10MB",
    "LINUX_SLL",
    "LINUX_SLL2",
    "RAW",
    "IPV4",
    "IPV6",
    "NULL",
    "LOOP",
    "PPP",
    "IEEE802_11",
    "IEEE802_11_RADIO",
    "PPI",
    "IEEE802_11_RADIO_AVS",
    "PRISM_HEADER",
];

/// The 802.11 link types (802.11 alone and after a radio header).
pub const WLAN_LINKS: &[&str] = &[
    "IEEE802_11",
    "IEEE802_11_RADIO",
    "PPI",
    "IEEE802_11_RADIO_AVS",
    "PRISM_HEADER",
];

pub const SNAPLEN: u32 = 262144;

/// Packets to test a link type on: every corpus capture of that type plus synthetic frames.
pub fn packets(link: &str) -> &'static [Packet] {
    static CACHE: OnceLock<HashMap<String, Vec<Packet>>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        let mut map: HashMap<String, Vec<Packet>> = HashMap::new();
        for c in jitkit_testkit::corpus_captures() {
            if !LINKS.contains(&c.linktype.as_str()) {
                continue;
            }
            if let Some((_, pkts)) = capture::read(&c.path) {
                map.entry(c.linktype.clone()).or_default().extend(pkts);
            }
        }
        for link in LINKS {
            map.entry(link.to_string())
                .or_default()
                .extend(synth::packets(link, 3000, 1));
        }
        map
    });
    all.get(link).map(Vec::as_slice).unwrap_or(&[])
}

pub fn raw(p: &[Insn]) -> Vec<RawInsn> {
    jitkit_testkit::libpcap::to_raw(p)
}

pub fn our_linktype(link: &str) -> u32 {
    jitkit_filter::linktype::from_name(link).expect("known link type")
}

pub fn pcap_dlt(link: &str) -> i32 {
    libpcap::linktype_from_name(link).expect("libpcap knows the link type")
}

fn show(p: &[RawInsn]) -> String {
    p.iter()
        .enumerate()
        .map(|(i, x)| {
            format!(
                "({i:03}) code={:#06x} jt={} jf={} k={:#x}\n",
                x.code, x.jt, x.jf, x.k
            )
        })
        .collect()
}

/// Compares our compiler with libpcap's for one expression and link type: both accept or both
/// reject the expression, and when accepted, both programs give every packet the same verdict.
/// `optimize` selects the optimizer on both sides.
pub fn check(expr: &str, link: &str, optimize: bool) -> Result<(), String> {
    check_with(expr, link, optimize, false)
}

/// `check`, optionally tolerating libpcap's own optimizer artifacts: where libpcap's optimized
/// and unoptimized programs disagree on a packet (its optimizer drops or keeps loads that reject
/// truncated packets, in ways that depend on its block structure), either verdict is accepted;
/// and where one optimizer proves that an expression rejects every packet and the other does
/// not, the expression is accepted when the other's program indeed rejects every test packet.
pub fn check_with(expr: &str, link: &str, optimize: bool, tolerant: bool) -> Result<(), String> {
    let unoptimized = if tolerant && optimize {
        libpcap::compile(expr, pcap_dlt(link), SNAPLEN as i32, false).ok()
    } else {
        None
    };
    let theirs = libpcap::compile(expr, pcap_dlt(link), SNAPLEN as i32, optimize);
    let options = Options {
        optimize,
        ..Options::default()
    };
    let ours = compile(expr, our_linktype(link), &options);
    let (theirs, ours) = match (theirs, ours) {
        (Err(_), Err(_)) => return Ok(()),
        (Ok(t), Err(_)) if reads_unset_cell(&t) => return Ok(()),
        // Our optimizer proved what libpcap's did not: accepted when libpcap's program indeed
        // rejects every test packet (the verdicts agree; only the compile-time diagnosis differs).
        (Ok(t), Err(e))
            if tolerant
                && e.to_string().contains("rejects all packets")
                && packets(link)
                    .iter()
                    .all(|p| libpcap::bpf_filter(&t, &p.data, p.wire_len) == 0) =>
        {
            return Ok(())
        }
        (Ok(_), Err(e)) => {
            return Err(format!("{link}: `{expr}`: libpcap accepts, we reject: {e}"))
        }
        (Err(e), Ok(o)) => {
            let o = raw(&o);
            let all_rejected = packets(link)
                .iter()
                .all(|p| libpcap::bpf_filter(&o, &p.data, p.wire_len) == 0);
            if tolerant && e.contains("rejects all packets") && all_rejected {
                return Ok(());
            }
            return Err(format!(
                "{link}: `{expr}`: libpcap rejects ({e}), we accept"
            ));
        }
        (Ok(t), Ok(o)) => (t, raw(&o)),
    };
    if let Err(e) = jitkit_bpf::cbpf::validate(&ours_insns(&ours)) {
        if ours.len() <= 4096 {
            return Err(format!("{link}: `{expr}`: our program is invalid: {e}"));
        }
    }
    // Packets on which libpcap's verdict is undefined are not compared (see loops.rs).
    let watch =
        loops::has_loops(&theirs) || loops::reads_memory(&theirs) || loops::reads_memory(&ours);
    let depth = jitkit_filter::PROTOCHAIN_DEPTH;
    for p in packets(link) {
        if watch
            && !(loops::defined(&theirs, &p.data, p.wire_len, depth)
                && loops::defined(&ours, &p.data, p.wire_len, depth))
        {
            continue;
        }
        let want = libpcap::bpf_filter(&theirs, &p.data, p.wire_len);
        let got = libpcap::bpf_filter(&ours, &p.data, p.wire_len);
        let artifact = || {
            unoptimized.as_ref().is_some_and(|u| {
                let plain = libpcap::bpf_filter(u, &p.data, p.wire_len);
                plain != want && plain == got
            })
        };
        if want != got && !artifact() {
            return Err(format!(
                "{link}: `{expr}`: verdict {got} (ours) != {want} (libpcap) on packet {:02x?} (wire {})\nours:\n{}libpcap:\n{}",
                &p.data[..p.data.len().min(80)],
                p.wire_len,
                show(&ours),
                show(&theirs)
            ));
        }
    }
    Ok(())
}

fn ours_insns(p: &[RawInsn]) -> Vec<Insn> {
    jitkit_testkit::libpcap::from_raw(p)
}

/// Runs `check` for every expression on every link type (and both optimizer settings when
/// `both` is set) and fails with every mismatch found.
pub fn check_all(exprs: &[String], both: bool) {
    let mut failures = Vec::new();
    for expr in exprs {
        for link in LINKS {
            let settings: &[bool] = if both { &[true, false] } else { &[true] };
            for &opt in settings {
                if let Err(e) = check_with(expr, link, opt, true) {
                    failures.push(format!("[-O{}] {e}", if opt { 1 } else { 0 }));
                }
            }
        }
    }
    if !failures.is_empty() {
        let n = failures.len();
        if std::env::var_os("JITKIT_ALL_MISMATCHES").is_none() {
            failures.truncate(30);
        }
        panic!("{n} mismatches with libpcap:\n{}", failures.join("\n\n"));
    }
}

/// Whether some path through `p` reads a scratch cell (`ld M[k]`, `ldx M[k]`) that no earlier
/// instruction on that path stored: libpcap's `bpf_filter` does not initialize its cells, so the
/// verdicts of such a program depend on leftover memory (libpcap 1.10 produces these for
/// `pppoes` and `geneve` after an 802.11 radio header). jitkit refuses those expressions.
pub fn reads_unset_cell(p: &[RawInsn]) -> bool {
    let n = p.len();
    // Per instruction: the cells stored on every path into it.
    let mut set: Vec<Option<u16>> = vec![None; n];
    if n > 0 {
        set[0] = Some(0);
    }
    for i in 0..n {
        let Some(mut cells) = set[i] else { continue };
        let (code, k) = (p[i].code, p[i].k);
        let bit = 1u16 << (k & 15);
        match code & 0x07 {
            0x00 | 0x01 if code & 0xe0 == 0x60 && cells & bit == 0 => return true,
            0x02 | 0x03 => cells |= bit,
            _ => {}
        }
        let next: Vec<usize> = match code & 0x07 {
            0x06 => Vec::new(),
            0x05 if code & 0xf0 == 0 => vec![i + 1 + k as usize],
            0x05 => vec![i + 1 + p[i].jt as usize, i + 1 + p[i].jf as usize],
            _ => vec![i + 1],
        };
        for t in next.into_iter().filter(|&t| t < n) {
            set[t] = Some(set[t].map_or(cells, |c| c & cells));
        }
    }
    false
}

/// The expression list: one per line, `#` comments.
pub fn expressions(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}
