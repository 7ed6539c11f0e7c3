//! Program length against libpcap's optimizer: for the 30 everyday filters of BENCHMARKS.md
//! (`data/everyday.txt`), our optimized program is never longer than what libpcap 1.10's
//! `pcap_compile` produces, and gives every packet the same verdict. The counts are computed here
//! from libpcap itself, not written down, so a regression in our optimizer (or an improvement in
//! libpcap's) fails the test.
//!
//! `JITKIT_LENGTH_REPORT=1 cargo test -p jitkit-filter --release --test program_length --
//! --nocapture` also prints the side-by-side counts and the summary for `data/expressions.txt`.

mod common;

use jitkit_filter::{compile, Options};
use jitkit_testkit::libpcap;

/// Our length and libpcap's for `expr` on `link`, when both compile it (optimized).
fn lengths(expr: &str, link: &str) -> Option<(usize, usize)> {
    let theirs =
        libpcap::compile(expr, common::pcap_dlt(link), common::SNAPLEN as i32, true).ok()?;
    let ours = compile(expr, common::our_linktype(link), &Options::default()).ok()?;
    Some((ours.len(), theirs.len()))
}

fn report() -> bool {
    std::env::var_os("JITKIT_LENGTH_REPORT").is_some()
}

#[test]
fn everyday_filters_are_no_longer_than_libpcap() {
    let exprs = common::expressions(include_str!("data/everyday.txt"));
    assert_eq!(exprs.len(), 30);
    let mut longer = Vec::new();
    let (mut total_ours, mut total_theirs) = (0, 0);
    for expr in &exprs {
        let (ours, theirs) = lengths(expr, "EN10MB")
            .unwrap_or_else(|| panic!("`{expr}` must compile with both compilers"));
        total_ours += ours;
        total_theirs += theirs;
        if report() {
            println!("{expr:<66} {ours:>5} {theirs:>7}");
        }
        if ours > theirs {
            longer.push(format!("`{expr}`: {ours} instructions, libpcap {theirs}"));
        }
    }
    if report() {
        println!("total: ours {total_ours}, libpcap {total_theirs}");
    }
    assert!(
        longer.is_empty(),
        "longer than libpcap's optimized program:\n{}",
        longer.join("\n")
    );
    // Shorter is only worth having if it is still right: same verdict as libpcap on every corpus
    // and synthetic packet (truncated ones included).
    let mismatches: Vec<String> = exprs
        .iter()
        .filter_map(|e| common::check_with(e, "EN10MB", true, true).err())
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

/// A packet, cut short, that libpcap's optimized program accepts and its unoptimized program
/// rejects: proof that libpcap's optimizer dropped a load that can fail. Ours never does (it
/// never changes a verdict), so where that is what makes libpcap's program shorter, ours may be
/// longer.
fn libpcap_optimizer_changes_a_verdict(expr: &str, link: &str) -> Option<String> {
    let dlt = common::pcap_dlt(link);
    let opt = libpcap::compile(expr, dlt, common::SNAPLEN as i32, true).ok()?;
    let plain = libpcap::compile(expr, dlt, common::SNAPLEN as i32, false).ok()?;
    for p in common::packets(link) {
        if libpcap::bpf_filter(&opt, &p.data, p.wire_len) == 0 {
            continue;
        }
        for cut in 0..p.data.len() {
            let data = &p.data[..cut];
            if libpcap::bpf_filter(&opt, data, p.wire_len) != 0
                && libpcap::bpf_filter(&plain, data, p.wire_len) == 0
            {
                return Some(format!("{:02x?}", data));
            }
        }
    }
    None
}

/// Every expression of the differential list that libpcap compiles for the link type: counts of
/// shorter, equal and longer programs. Ours may be longer only where libpcap's optimizer changes
/// a verdict (drops a load that rejects a truncated packet), which ours must not do, and then
/// only by the few loads it keeps.
#[test]
fn expression_list_is_no_longer_than_libpcap() {
    let exprs = common::expressions(include_str!("data/expressions.txt"));
    let mut unexplained = Vec::new();
    // Not 802.11: libpcap leaves most of those programs unoptimized (see gen/varlen.rs).
    for link in common::LINKS
        .iter()
        .filter(|l| !common::WLAN_LINKS.contains(l))
    {
        let (mut shorter, mut equal, mut longer) = (0, 0, Vec::new());
        let (mut total_ours, mut total_theirs) = (0, 0);
        for expr in &exprs {
            let Some((ours, theirs)) = lengths(expr, link) else {
                continue;
            };
            total_ours += ours;
            total_theirs += theirs;
            match ours.cmp(&theirs) {
                std::cmp::Ordering::Less => shorter += 1,
                std::cmp::Ordering::Equal => equal += 1,
                std::cmp::Ordering::Greater => {
                    let line = format!("{link}: `{expr}`: {ours} instructions, libpcap {theirs}");
                    // Keeping a load costs an instruction or two, not a multiple: beyond half
                    // again libpcap's length, something else went wrong.
                    let modest = ours <= theirs + theirs / 2 + 1;
                    match libpcap_optimizer_changes_a_verdict(expr, link) {
                        Some(_) if modest => longer.push(line),
                        Some(_) => unexplained.push(format!("{line} (far longer)")),
                        None => unexplained.push(line),
                    }
                }
            }
        }
        if report() {
            println!(
                "{link:<10} shorter {shorter:>4}  equal {equal:>4}  longer {:>3}  (total {total_ours} vs {total_theirs})",
                longer.len()
            );
            for l in &longer {
                println!("  {l} (libpcap's optimizer changes a verdict)");
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "{} expressions longer than libpcap's optimized program although libpcap's optimizer \
         keeps every verdict:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}
