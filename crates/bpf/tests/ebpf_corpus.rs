//! `--engine ebpf` against libpcap: every corpus capture, a set of filters per link type, and each
//! packet's return value from libpcap's `bpf_filter` compared with the converted program run by
//! our eBPF interpreter and our eBPF JIT. Zero mismatches.

mod ebpf_support;

use ebpf_support::{read_packets, to_cbpf, FILTERS};
use jitkit_bpf::ebpf::EbpfFilter;
use jitkit_bpf::PacketFilter;
use jitkit_testkit::libpcap;
use std::collections::BTreeMap;

/// One filter for one link type: its expression, libpcap's program, and our two engines.
type Compiled = (&'static str, Vec<libpcap::RawInsn>, Vec<EbpfFilter>);

#[test]
fn converted_filters_select_exactly_libpcaps_packets_on_the_corpus() {
    let captures = jitkit_testkit::corpus_captures();
    assert!(
        captures.len() > 800,
        "corpus incomplete: {}",
        captures.len()
    );
    // Compile each filter once per link type.
    let mut programs: BTreeMap<String, Vec<Compiled>> = BTreeMap::new();
    let mut compared = 0u64;
    let mut accepted = 0u64;
    let mut mismatches = Vec::new();
    for capture in &captures {
        let Some(linktype) = libpcap::linktype_from_name(&capture.linktype)
            .or_else(|| capture.linktype.parse().ok())
        else {
            panic!("unknown link type {}", capture.linktype)
        };
        let progs = programs.entry(capture.linktype.clone()).or_insert_with(|| {
            FILTERS
                .iter()
                .filter_map(|expr| {
                    let raw = libpcap::compile(expr, linktype, 262144, true).ok()?;
                    let cbpf = to_cbpf(&raw);
                    let engines = vec![
                        EbpfFilter::interpreted(&cbpf).unwrap_or_else(|e| panic!("{expr}: {e}")),
                        EbpfFilter::jit(&cbpf).unwrap_or_else(|e| panic!("{expr}: {e}")),
                    ];
                    Some((*expr, raw, engines))
                })
                .collect()
        });
        for packet in read_packets(&capture.path) {
            for (expr, raw, engines) in progs.iter() {
                let want = libpcap::bpf_filter(raw, &packet.data, packet.wire_len);
                accepted += (want != 0) as u64;
                for (n, engine) in engines.iter().enumerate() {
                    compared += 1;
                    let got = engine.run(&packet.data, packet.wire_len);
                    if got != want && mismatches.len() < 20 {
                        mismatches.push(format!(
                            "{} `{expr}` engine {n}: libpcap {want}, ebpf {got}",
                            capture.path.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Every filter is meant to run on Ethernet; none may fall out unnoticed.
    assert_eq!(programs["EN10MB"].len(), FILTERS.len());
    assert!(compared > 500_000, "only {compared} comparisons");
    assert!(
        accepted > 10_000,
        "only {accepted} accepted: the filters select too little"
    );
}

/// The direct-packet-access form (explicit bounds checks and byte swaps in the program, for VMs
/// whose LD_ABS differs): our interpreter and JIT, rbpf's interpreter and rbpf's JIT all return
/// libpcap's value on every Ethernet packet. This is the form the benchmark gives rbpf.
#[test]
fn direct_access_programs_agree_with_libpcap_in_our_vm_and_in_rbpf() {
    use jitkit_bpf::ebpf::{
        convert_with, encode, interp, jit, verify, DirectContext, Helpers, Memory, PacketAccess,
    };
    let ether = libpcap::linktype_from_name("EN10MB").unwrap();
    let packets: Vec<_> = jitkit_testkit::corpus_captures()
        .into_iter()
        .filter(|c| c.linktype == "EN10MB")
        .flat_map(|c| read_packets(&c.path))
        .collect();
    assert!(packets.len() > 5000);
    let mut compared = 0u64;
    for expr in FILTERS {
        let raw = libpcap::compile(expr, ether, 262144, true).unwrap();
        let prog = convert_with(&to_cbpf(&raw), PacketAccess::Direct).unwrap();
        let verified = verify(&prog, &Helpers::new(), &Default::default()).unwrap();
        let ours = jit::compile(&verified).unwrap();
        let bytes = encode(&prog);
        let mut vm = rbpf::EbpfVmMbuff::new(Some(&bytes)).unwrap();
        vm.jit_compile().unwrap();
        for p in &packets {
            let want = libpcap::bpf_filter(&raw, &p.data, p.wire_len) as u64;
            let ctx = DirectContext::new(&p.data, p.wire_len).to_bytes();
            let mut c1 = ctx;
            let a = interp::run(
                &verified,
                Memory {
                    ctx: &mut c1,
                    packet: &p.data,
                },
            )
            .unwrap();
            let mut c2 = ctx;
            let b = ours
                .run(Memory {
                    ctx: &mut c2,
                    packet: &p.data,
                })
                .unwrap();
            let c = vm.execute_program(&p.data, &ctx).unwrap();
            let mut data = p.data.clone();
            let mut mbuff = DirectContext::new(&data, p.wire_len).to_bytes();
            // SAFETY: the program checks every packet access against data_end itself and only
            // touches its stack and the 20-byte context otherwise.
            let d = unsafe { vm.execute_program_jit(&mut data, &mut mbuff) }.unwrap();
            assert_eq!(
                (a, b, c, d),
                (want, want, want, want),
                "`{expr}`: ours interp/JIT, rbpf interp/JIT"
            );
            compared += 1;
        }
    }
    assert!(compared > 100_000);
}
