//! Any expression text: compiling never panics or hangs, work stays proportional to the input
//! (checked by a time bound per byte), and every program produced is valid classic BPF when it
//! is short enough for the kernel's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Tokens drawn from the language, so that the fuzzer reaches deep into the grammar quickly.
const WORDS: &[&str] = &[
    "host ",
    "net ",
    "port ",
    "portrange ",
    "src ",
    "dst ",
    "and ",
    "or ",
    "not ",
    "tcp ",
    "udp ",
    "ip ",
    "ip6 ",
    "arp ",
    "ether ",
    "proto ",
    "vlan ",
    "mpls ",
    "pppoes ",
    "less ",
    "greater ",
    "(",
    ")",
    "[",
    "]",
    ":",
    "=",
    "!=",
    "<",
    ">",
    "&",
    "|",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<<",
    ">>",
    "10.0.0.1 ",
    "10.1 ",
    "::1 ",
    "1:2:3:4:5:6 ",
    "80 ",
    "0 ",
    "len ",
    "tcp[13] ",
    "ip[0:2] ",
    "icmp ",
    "broadcast ",
    "multicast ",
    "llc ",
    "\\tcp ",
    "1-1024 ",
    "mask ",
    "255.0.0.0 ",
    "/8 ",
    "inbound ",
    "&& ",
    "|| ",
    "! ",
    "geneve ",
    "protochain ",
    "gateway ",
    "ether[12:2] ",
    "ip6 protochain 6 ",
    "geneve 10 ",
];

fuzz_target!(|data: &[u8]| {
    // Half the inputs are raw text, half are sequences of language words.
    let text = if data.first().is_some_and(|b| b & 1 == 1) {
        data[1..]
            .iter()
            .map(|b| WORDS[*b as usize % WORDS.len()])
            .collect::<String>()
    } else {
        String::from_utf8_lossy(data).into_owned()
    };
    // A name may be a host name, resolved as libpcap resolves it (getaddrinfo, so possibly a
    // DNS query taking seconds): such inputs measure the resolver, not the compiler. Skipped.
    let names = jitkit_filter::lexer::tokenize(&text).is_ok_and(|tokens| {
        tokens
            .iter()
            .any(|t| matches!(t.kind, jitkit_filter::lexer::Tok::Id(_)))
    });
    if names {
        return;
    }
    for linktype in [1u32, 113, 276, 101, 228, 229, 0, 108, 9] {
        for optimize in [true, false] {
            let options = jitkit_filter::Options {
                optimize,
                ..Default::default()
            };
            let start = std::time::Instant::now();
            let result = jitkit_filter::compile(&text, linktype, &options);
            let elapsed = start.elapsed();
            assert!(
                elapsed.as_micros() < 200_000 + 2_000 * text.len() as u128,
                "{elapsed:?} for {} bytes",
                text.len()
            );
            if let Ok(program) = result {
                if program.len() <= 4096 {
                    jitkit_bpf::cbpf::validate(&program).expect("valid program");
                }
            }
        }
    }
});
