//! Differential tests against libpcap: for every expression of `data/expressions.txt` and every
//! supported link type, jitkit and libpcap agree on whether the expression compiles, and on the
//! verdict for every packet of the corpus and of the synthetic packet sets.

mod common;

#[test]
fn expression_list_matches_libpcap_optimized() {
    let exprs = common::expressions(include_str!("data/expressions.txt"));
    common::check_all(&exprs, false);
    // (tolerant of libpcap's own optimizer artifacts: see common::check_with)
}

/// 802.11 expressions on every link type: on 802.11 and the radio headers they compile and give
/// libpcap's verdicts (with and without the optimizer), elsewhere both refuse them.
#[test]
fn wlan_expression_list_matches_libpcap() {
    let exprs = common::expressions(include_str!("data/expressions-wlan.txt"));
    common::check_all(&exprs, true);
}

/// What libpcap refuses only because the 802.11 header length varies: `protochain`.
#[test]
fn variable_length_headers_refuse_protochain() {
    let mut failures = Vec::new();
    for expr in ["protochain 6", "ip protochain 17", "ip6 protochain \\tcp"] {
        for link in common::WLAN_LINKS {
            let theirs =
                jitkit_testkit::libpcap::compile(expr, common::pcap_dlt(link), 65535, true);
            let ours = jitkit_filter::compile(
                expr,
                common::our_linktype(link),
                &jitkit_filter::Options::default(),
            );
            match (theirs, ours) {
                (Err(t), Err(o)) if o.message == t.trim_end() => {}
                (t, o) => failures.push(format!("{link} `{expr}`: libpcap {t:?}, ours {o:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// libpcap's scratch cells reused as offset registers (data/expressions-cells.txt: a relation's
/// or protochain's leftovers read as `geneve`'s or 802.11's offsets, `geneve` on 802.11,
/// `pppoes` after a radio header), on every link type, with and without the optimizer; and on
/// the packets where libpcap's program reads a cell it never set (which the comparison above
/// skips: libpcap's memory is uninitialized there), the same verdict as that program run with
/// every cell starting at 0.
#[test]
fn scratch_cell_reuse_matches_libpcap() {
    let exprs = common::expressions(include_str!("data/expressions-cells.txt"));
    common::check_all(&exprs, true);
    let mut failures = Vec::new();
    let mut compared = 0;
    for expr in &exprs {
        for link in common::LINKS {
            for optimize in [true, false] {
                match check_zeroed_memory(expr, link, optimize) {
                    Ok(n) => compared += n,
                    Err(e) => failures.push(e),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n\n")
    );
    // (the list is there to reach such paths)
    assert!(compared > 1000, "only {compared} packets read unset cells");
}

/// Our verdict against libpcap's program run with zeroed cells (by jitkit's interpreter, with
/// libpcap's rules), on the packets where libpcap's program reads a cell before writing it;
/// returns how many packets were compared.
fn check_zeroed_memory(expr: &str, link: &str, optimize: bool) -> Result<usize, String> {
    use jitkit_bpf::cbpf::{Interpreter, Rules};
    use jitkit_bpf::PacketFilter;
    let theirs = jitkit_testkit::libpcap::compile(
        expr,
        common::pcap_dlt(link),
        common::SNAPLEN as i32,
        optimize,
    );
    let options = jitkit_filter::Options {
        optimize,
        ..Default::default()
    };
    let ours = jitkit_filter::compile(expr, common::our_linktype(link), &options);
    let (Ok(theirs), Ok(ours)) = (theirs, ours) else {
        return Ok(0);
    };
    if common::loops::has_loops(&theirs) || !common::loops::reads_memory(&theirs) {
        return Ok(0);
    }
    let insns = jitkit_testkit::libpcap::from_raw(&theirs);
    let zeroed = Interpreter::with_rules(&insns, Rules::Libpcap)
        .map_err(|e| format!("{link} `{expr}`: libpcap's program: {e}"))?;
    let ours_run = Interpreter::with_rules(&ours, Rules::Libpcap)
        .map_err(|e| format!("{link} `{expr}`: our program: {e}"))?;
    let depth = jitkit_filter::PROTOCHAIN_DEPTH;
    let mut compared = 0;
    for p in common::packets(link) {
        if common::loops::defined(&theirs, &p.data, p.wire_len, depth) {
            continue;
        }
        compared += 1;
        let want = zeroed.run(&p.data, p.wire_len);
        let got = ours_run.run(&p.data, p.wire_len);
        if want != got {
            return Err(format!(
                "{link} -O{}: `{expr}`: verdict {got} (ours) != {want} (libpcap, cells at 0) on {:02x?} (wire {})",
                optimize as u8,
                &p.data[..p.data.len().min(80)],
                p.wire_len
            ));
        }
    }
    Ok(compared)
}

#[test]
fn expression_list_matches_libpcap_unoptimized() {
    let exprs = common::expressions(include_str!("data/expressions.txt"));
    let mut failures = Vec::new();
    for expr in &exprs {
        for link in common::LINKS {
            if let Err(e) = common::check(expr, link, false) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n\n")
    );
}

/// The optimizer never changes a verdict: our optimized and unoptimized programs agree on every
/// packet, except where libpcap's own optimizer changes that packet's verdict too (it reorders
/// `host a or host b` and drops some loads, which matters only for truncated packets; we follow
/// its optimized output there).
#[test]
fn optimizer_never_changes_a_verdict() {
    use jitkit_filter::{compile, Options};
    use jitkit_testkit::libpcap;
    let exprs = common::expressions(include_str!("data/expressions.txt"));
    let mut failures = Vec::new();
    for expr in &exprs {
        for link in common::LINKS {
            let lt = common::our_linktype(link);
            let opt = compile(expr, lt, &Options::default());
            let plain = compile(
                expr,
                lt,
                &Options {
                    optimize: false,
                    ..Options::default()
                },
            );
            let (Ok(opt), Ok(plain)) = (opt, plain) else {
                continue;
            };
            let (opt, plain) = (common::raw(&opt), common::raw(&plain));
            let dlt = common::pcap_dlt(link);
            let theirs_opt = libpcap::compile(expr, dlt, common::SNAPLEN as i32, true).ok();
            let theirs_plain = libpcap::compile(expr, dlt, common::SNAPLEN as i32, false).ok();
            let watch = common::loops::reads_memory(&opt) || common::loops::reads_memory(&plain);
            let depth = jitkit_filter::PROTOCHAIN_DEPTH;
            for p in common::packets(link) {
                if watch
                    && !(common::loops::defined(&opt, &p.data, p.wire_len, depth)
                        && common::loops::defined(&plain, &p.data, p.wire_len, depth))
                {
                    continue;
                }
                let a = libpcap::bpf_filter(&opt, &p.data, p.wire_len);
                let b = libpcap::bpf_filter(&plain, &p.data, p.wire_len);
                if a == b {
                    continue;
                }
                let libpcap_differs = match (&theirs_opt, &theirs_plain) {
                    // (libpcap's protochain loop may not stop: not run here)
                    (Some(o), Some(u)) if !common::loops::has_loops(o) => {
                        libpcap::bpf_filter(o, &p.data, p.wire_len)
                            != libpcap::bpf_filter(u, &p.data, p.wire_len)
                    }
                    _ => false,
                };
                if !libpcap_differs {
                    failures.push(format!(
                        "{link}: `{expr}`: optimized {a} != unoptimized {b} on {:02x?}",
                        &p.data[..p.data.len().min(64)]
                    ));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

/// `protochain` and `geneve` (data/expressions-tunnels.txt), with and without the optimizer.
#[test]
fn protochain_and_geneve_match_libpcap() {
    let exprs = common::expressions(include_str!("data/expressions-tunnels.txt"));
    common::check_all(&exprs, true);
}

/// `protochain` follows libpcap's loop (a backward `ja`, which libpcap's `bpf_filter` runs by
/// sign-extending the offset) for up to PROTOCHAIN_DEPTH turns (see `Gen::protochain`), on
/// packets built here: n IPv6 extension headers before TCP, and IPv4 AH headers, whose length
/// libpcap takes as the absolute offset of the next header.
#[test]
fn protochain_follows_libpcaps_loop_for_24_turns() {
    use jitkit_testkit::libpcap;
    let ether = |ethertype: u16, l3: &[u8]| {
        let mut p = vec![0u8; 12];
        p.extend(ethertype.to_be_bytes());
        p.extend(l3);
        p
    };
    // IPv6, then n extension headers (hop-by-hop first, then destination options, routing and
    // fragment in turn, 8 bytes each), then a TCP header.
    let ipv6_chain = |n: usize| {
        let kinds = [0u8, 60, 43, 44];
        let first = if n == 0 { 6 } else { kinds[0] };
        let mut l3 = vec![0x60, 0, 0, 0, 0, (n * 8 + 20) as u8, first, 64];
        l3.extend([0u8; 32]);
        for i in 0..n {
            let next = if i + 1 == n { 6 } else { kinds[(i + 1) % 4] };
            l3.extend([next, 0, 0, 0, 0, 0, 0, 0]);
        }
        l3.extend([0u8; 20]);
        ether(0x86dd, &l3)
    };
    // IPv4 (20 bytes), protocol AH, then `ah` (the bytes from the AH header on).
    let ipv4_ah = |ah: &[u8]| {
        let mut l3 = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 51, 0, 0];
        l3.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        l3.extend(ah);
        l3.extend([0u8; 40]);
        ether(0x0800, &l3)
    };
    let dlt = common::pcap_dlt("EN10MB");
    let depth = jitkit_filter::PROTOCHAIN_DEPTH as usize;
    let mut failures = Vec::new();
    for expr in [
        "ip6 protochain 6",
        "protochain 6",
        "ip6 protochain 17",
        "ip6 protochain 44",
    ] {
        let theirs =
            libpcap::compile(expr, dlt, common::SNAPLEN as i32, true).expect("libpcap compiles it");
        let ours = jitkit_filter::compile(expr, 1, &jitkit_filter::Options::default())
            .expect("jitkit compiles it");
        let ours = common::raw(&ours);
        for n in 0..=depth + 1 {
            let p = ipv6_chain(n);
            let want = libpcap::bpf_filter(&theirs, &p, p.len() as u32);
            let got = libpcap::bpf_filter(&ours, &p, p.len() as u32);
            // Within the limit, libpcap's verdict; one header more, libpcap takes one turn more
            // and finds TCP, jitkit gives up (and rejects).
            let expected = if n <= depth || !expr.ends_with(" 6") {
                want
            } else {
                0
            };
            if got != expected || (n > depth && expr.ends_with(" 6") && want == 0) {
                failures.push(format!(
                    "`{expr}`, {n} extension headers: ours {got}, libpcap {want}"
                ));
            }
        }
    }
    // IPv4, two AH headers (24 bytes each, length field 4), then TCP: libpcap reads the first AH
    // header's next header right, but takes 4 * (4 + 2) = 24 as the offset of the second AH
    // header from the IPv4 header (it is at 20 + 24), so it reads the next "header" in the first
    // one's SPI: its verdict depends on the SPI's first byte, not on the TCP header. Both
    // programs read it there.
    let theirs = libpcap::compile("ip protochain 6", dlt, common::SNAPLEN as i32, true)
        .expect("libpcap compiles it");
    let ours = jitkit_filter::compile("ip protochain 6", 1, &jitkit_filter::Options::default())
        .expect("jitkit compiles it");
    let ours = common::raw(&ours);
    for (spi_first_byte, accepted) in [(6u8, true), (17, false), (59, false)] {
        let mut ah = vec![51, 4, 0, 0, spi_first_byte, 0, 0, 1, 0, 0, 0, 1];
        ah.extend([0u8; 12]);
        ah.extend([6, 4, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1]);
        ah.extend([0u8; 12]);
        let p = ipv4_ah(&ah);
        let want = libpcap::bpf_filter(&theirs, &p, p.len() as u32);
        let got = libpcap::bpf_filter(&ours, &p, p.len() as u32);
        if got != want || (want != 0) != accepted {
            failures.push(format!(
                "IPv4 AH, SPI byte {spi_first_byte}: ours {got}, libpcap {want}"
            ));
        }
    }
    // An AH header of length 3 whose next header is AH: libpcap sets X = 4 * (3 + 2) = 20, the
    // same AH header, and its loop never ends (shown by the step-limited tracer; libpcap's own
    // interpreter is not run on it). jitkit rejects the packet.
    let p = ipv4_ah(&[51, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    if common::loops::defined(&theirs, &p, p.len() as u32, u32::MAX) {
        failures.push("the self-referencing AH header: libpcap's loop stops".into());
    }
    if libpcap::bpf_filter(&ours, &p, p.len() as u32) != 0 {
        failures.push("the self-referencing AH header: jitkit accepts".into());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Host names resolve as libpcap resolves them: the machine's own name, when /etc/hosts lists
/// it (so that no DNS server is asked), compiles to the same verdicts.
#[test]
fn own_hostname_matches_libpcap() {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let listed = hosts.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("");
        l.split_whitespace().skip(1).any(|n| n == name)
    });
    if name.is_empty() || !listed || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        eprintln!("hostname {name:?} is not in /etc/hosts: nothing to compare without DNS");
        return;
    }
    let mut failures = Vec::new();
    for expr in [
        format!("host {name}"),
        format!("ip host {name}"),
        format!("ip6 host {name}"),
        format!("src host {name} or dst host localhost"),
        format!("tcp host {name}"),
    ] {
        for link in common::LINKS {
            if let Err(e) = common::check(&expr, link, true) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The errors of names, `gateway`, `protochain` and `geneve` read as libpcap's (its text, up to
/// a trailing newline) and say where in the expression they are.
#[test]
fn name_protochain_and_geneve_errors_read_like_libpcap() {
    // (link type, expression, the text of the primitive the error points at)
    let mut cases = vec![
        ("EN10MB", "gateway localhost", "localhost"),
        ("EN10MB", "tcp or gateway 10.0.0.1", "10.0.0.1"),
        ("RAW", "ip gateway localhost", "localhost"),
        ("EN10MB", "tcp host localhost", "localhost"),
        ("EN10MB", "udp and net default", "default"),
        ("EN10MB", "net nosuchnetwork", "nosuchnetwork"),
        ("EN10MB", "ether host localhost", "localhost"),
        ("EN10MB", "ether src nosuchhost", "nosuchhost"),
        ("RAW", "ether host localhost", "localhost"),
        ("EN10MB", "decnet host localhost", "localhost"),
        ("EN10MB", "ether protochain 6", "6"),
        ("EN10MB", "protochain nosuch", "nosuch"),
        ("EN10MB", "tcp protochain foo", "foo"),
        ("EN10MB", "ip and geneve and protochain 6", "6"),
        ("EN10MB", "tcp or geneve 16777216", "geneve"),
    ];
    // "for specified address family" where localhost has no IPv6 address (no `::1 localhost`
    // line in /etc/hosts, as in some containers).
    let localhost_v6 = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 0))
        .map(|mut a| a.any(|a| a.is_ipv6()))
        .unwrap_or(false);
    if !localhost_v6 {
        cases.push(("EN10MB", "ip6 host localhost", "localhost"));
    }
    let mut failures = Vec::new();
    for (link, expr, at) in cases {
        let theirs = jitkit_testkit::libpcap::compile(expr, common::pcap_dlt(link), 65535, true);
        let ours = jitkit_filter::compile(
            expr,
            common::our_linktype(link),
            &jitkit_filter::Options::default(),
        );
        match (theirs, ours) {
            (Err(t), Err(o)) => {
                if o.message != t.trim_end() {
                    failures.push(format!(
                        "{link} `{expr}`: ours {:?}, libpcap {t:?}",
                        o.message
                    ));
                }
                let want = if at.is_empty() {
                    Some(0)
                } else {
                    expr.rfind(at)
                };
                if o.offset != want {
                    failures.push(format!(
                        "{link} `{expr}`: offset {:?}, want {want:?}",
                        o.offset
                    ));
                }
            }
            (t, o) => failures.push(format!(
                "{link} `{expr}`: both must refuse: libpcap {:?}, ours {:?}",
                t.err(),
                o.err()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
