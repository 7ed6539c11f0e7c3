//! tcpdump's -d/-dd/-ddd text forms against the real thing: `tcpdump -d/-dd/-ddd EXPR` output
//! for many expressions and link types (parsed, and printed back byte-for-byte), libpcap's own
//! `bpf_image()` for every opcode form and edge constant, round trips of random programs, and
//! parse errors that name the line.

use std::process::{Command, Stdio};

use jitkit_bpf::cbpf::testgen::{self, Shape, SplitMix64};
use jitkit_bpf::cbpf::text::{self, detect, format, image, parse, parse_as, TextForm};
use jitkit_bpf::cbpf::{op, Insn};
use jitkit_testkit::filter_expressions::CLASSIC;
use jitkit_testkit::libpcap;

/// libpcap's `bpf_image()`, called in-process (not exposed by testkit).
mod libpcap_image {
    use std::ffi::{c_char, c_int, CStr};
    use std::sync::Mutex;

    use jitkit_testkit::libpcap::RawInsn;

    #[link(name = "pcap")]
    extern "C" {
        fn bpf_image(insn: *const RawInsn, n: c_int) -> *const c_char;
    }

    /// bpf_image formats into one static buffer: one caller at a time.
    static LOCK: Mutex<()> = Mutex::new(());

    pub fn image(insn: RawInsn, n: i32) -> String {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `insn` outlives the call; bpf_image returns a NUL-terminated static buffer that
        // we copy before releasing the lock.
        unsafe { CStr::from_ptr(bpf_image(&insn, n)) }
            .to_string_lossy()
            .into_owned()
    }
}

/// tcpdump's three dump flags and the form each prints.
const DUMPS: [(&str, TextForm); 3] = [
    ("-d", TextForm::Listing),
    ("-dd", TextForm::CArray),
    ("-ddd", TextForm::Decimal),
];

/// `tcpdump -y LINKTYPE FLAG [-O] -- EXPRESSION` for each of [`DUMPS`]' flags, the three run at
/// once (the test spawns about 2,000 of them): their outputs, or `None` when tcpdump refuses.
fn tcpdump_dumps(linktype: &str, optimize: bool, expression: &str) -> Option<[String; 3]> {
    let children = DUMPS.map(|(flag, _)| {
        let mut cmd = Command::new("tcpdump");
        cmd.args(["-y", linktype, flag]);
        if !optimize {
            cmd.arg("-O");
        }
        // `--`: an expression may start with `-` (`-ip[8] > 100`).
        cmd.args(["--", expression])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run tcpdump")
    });
    let outputs = children.map(|child| child.wait_with_output().expect("wait for tcpdump"));
    if !outputs.iter().all(|out| out.status.success()) {
        return None;
    }
    Some(outputs.map(|out| String::from_utf8(out.stdout).expect("tcpdump prints ASCII")))
}

/// `tcpdump -d`, `-dd` and `-ddd` for every expression (for several link types, optimized and
/// not): each output parses to libpcap's program, and printing it gives tcpdump's bytes back.
#[test]
fn tcpdump_dumps_parse_and_print_back_byte_for_byte() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let mut checked = 0;
    let mut seen_codes = std::collections::BTreeSet::new();
    for (linktype, optimize) in [
        ("EN10MB", true),
        ("EN10MB", false),
        ("LINUX_SLL", true),
        ("RAW", true),
        ("IEEE802_11_RADIO", true),
    ] {
        let dlt = libpcap::linktype_from_name(linktype).unwrap();
        for &expression in CLASSIC {
            let Ok(expected) = libpcap::compile(expression, dlt, 262144, optimize) else {
                continue;
            };
            let expected = libpcap::from_raw(&expected);
            let flags = if optimize { "" } else { " -O" };
            let dumps = tcpdump_dumps(linktype, optimize, expression).unwrap_or_else(|| {
                panic!("tcpdump -y {linktype}{flags} {expression:?} failed where libpcap compiles")
            });
            for ((flag, form), dump) in DUMPS.into_iter().zip(dumps) {
                let what = format!("tcpdump -y {linktype}{flags} {flag} {expression:?}");
                assert_eq!(detect(&dump), Ok(form), "{what}");
                let program = parse(&dump).unwrap_or_else(|e| panic!("{what}: {e}\n{dump}"));
                if form == TextForm::Listing {
                    // -d does not show k of `tax`, `ret a`, ...: compare what it does show.
                    assert_eq!(format(&expected, form), dump, "{what}");
                } else {
                    assert_eq!(program, expected, "{what}");
                }
                assert_eq!(format(&program, form), dump, "{what}");
                checked += 1;
            }
            seen_codes.extend(expected.iter().map(|i| i.code));
        }
    }
    assert!(checked > 1800, "only {checked} dumps checked");
    // The expressions exercise most opcode forms; bpf_image covers the rest (test below).
    assert!(
        seen_codes.len() >= 30,
        "only {} opcodes seen",
        seen_codes.len()
    );
}

/// Every opcode (the 49 known ones and unknown ones, which print as `unimp`), with edge values
/// of k, jt and jf, at several instruction numbers: our `-d` line is libpcap's `bpf_image`.
#[test]
fn image_matches_libpcap_bpf_image_for_every_opcode() {
    let mut codes: Vec<u16> = op::ALL.to_vec();
    codes.extend([
        0x08, 0x0d, 0x0e, 0x17, 0x65, 0x8c, 0xb0, 0xc4, 0xf5, 0xff, 0x1234, 0xffff,
    ]);
    let ks = [
        0,
        1,
        5,
        15,
        16,
        31,
        32,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fffe,
        0xffff_ffff,
    ];
    let mut compared = 0;
    for code in codes {
        for k in ks {
            for (jt, jf) in [(0, 0), (3, 250), (255, 255)] {
                for n in [0usize, 7, 99, 999, 1000, 4095] {
                    let insn = Insn::new(code, jt, jf, k);
                    let raw = libpcap::RawInsn { code, jt, jf, k };
                    assert_eq!(
                        image(&insn, n),
                        libpcap_image::image(raw, n as i32),
                        "{insn:?} at {n}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 10_000);
}

/// Random valid programs (every opcode, edge constants, long jumps) survive print-then-parse in
/// all three forms. `-d` loses what `bpf_image` does not print: jt/jf outside jumps, k of
/// `ret a`/`tax`/`neg`/..., and everything but the opcode of `unimp` lines (`ldx len`, 0x81).
#[test]
fn random_programs_round_trip_through_every_form() {
    let mut e = SplitMix64(7);
    for round in 0..500 {
        let shape = Shape {
            max_len: if round % 50 == 0 { 4096 } else { 100 },
            packet_len: 64,
        };
        let program = testgen::program(&mut e, &shape);
        for form in [TextForm::CArray, TextForm::Decimal] {
            let text = format(&program, form);
            assert_eq!(parse_as(&text, form), Ok(program.clone()), "{form:?}");
            assert_eq!(parse(&text), Ok(program.clone()), "{form:?}");
        }
        let listing = format(&program, TextForm::Listing);
        let parsed = parse(&listing).unwrap_or_else(|e| panic!("{e}\n{listing}"));
        assert_eq!(parsed.len(), program.len());
        for (n, (got, want)) in parsed.iter().zip(&program).enumerate() {
            assert_eq!(got.code, want.code, "line {n}");
            // What -d prints of it is all that must survive.
            assert_eq!(image(got, n), image(want, n), "line {n}");
            if want.is_conditional_jump() {
                assert_eq!((got.jt, got.jf), (want.jt, want.jf), "line {n}");
            }
        }
    }
}

/// Hand-written, forgiving input: extra spaces, decimal where tcpdump prints hex and back,
/// negative constants, tabs, blank lines, `#len`.
#[test]
fn lenient_listing_input() {
    let text = "\n(000)   ldh [12]\n(001) jeq #2048 jt 2 jf 5\n\n(002) ldb [x+ -1]\n\
                (003) add #0xffffffff\n(004)\tret\t#-1\n(005) ld #len\n(006) ret\n";
    assert_eq!(
        parse(text),
        Ok(vec![
            Insn::stmt(op::LD | op::H | op::ABS, 12),
            Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 3),
            Insn::stmt(op::LD | op::B | op::IND, 0xffff_ffff),
            Insn::stmt(op::ALU | op::ADD | op::K, 0xffff_ffff),
            Insn::stmt(op::RET | op::K, 0xffff_ffff),
            Insn::stmt(op::LD | op::W | op::LEN, 0),
            Insn::stmt(op::RET | op::A, 0),
        ])
    );
    // `ja` targets are absolute, may be backward (libpcap's protochain), and `unimp` keeps the
    // opcode; `ldx #pktlen` is accepted for 0x81.
    assert_eq!(
        parse("(000) ja 0\n(001) unimp 0x81\n(002) ldx #pktlen\n(003) ja 5\n"),
        Ok(vec![
            Insn::stmt(op::JMP | op::JA, 0xffff_ffff),
            Insn::stmt(0x81, 0),
            Insn::stmt(0x81, 0),
            Insn::stmt(op::JMP | op::JA, 1),
        ])
    );
    // -dd without the trailing comma, -ddd with extra spaces.
    assert_eq!(
        parse("{ 0x6, 0, 0, 262144 }"),
        Ok(vec![Insn::stmt(6, 262144)])
    );
    assert_eq!(
        parse("1\n  6   0 0  0x40000 \n"),
        Ok(vec![Insn::stmt(6, 262144)])
    );
}

/// Bad input: the error names the line (1-based, counting blank lines) and what is wrong.
#[test]
fn parse_errors_name_the_line() {
    let cases: &[(&str, &str)] = &[
        ("", "line 1: the program text is empty"),
        ("\n\n  \n", "line 1: the program text is empty"),
        (
            "hello",
            "line 1: cannot tell the form of `hello`: expected `(000) op ...` (tcpdump -d), \
             `{ 0x28, 0, 0, 0x0000000c },` (-dd) or an instruction count (-ddd)",
        ),
        (
            "(000) ldh [12]\n(002) ret #0\n",
            "line 2: expected instruction number 1, found `(002) ret #0`",
        ),
        (
            "(000) ldq [12]",
            "line 1: unknown instruction `(000) ldq [12]`",
        ),
        ("(000) ret x", "line 1: unknown instruction `(000) ret x`"),
        ("(000) ld [12", "line 1: unknown instruction `(000) ld [12`"),
        (
            "(000) ld [0x1g]",
            "line 1: `0x1g` is not a valid 32-bit value",
        ),
        (
            "(000) ld #4294967296",
            "line 1: 32-bit value 4294967296 does not fit (at most 4294967295)",
        ),
        (
            "(000) ldh [12]\n\n(001) jeq #0x800 jt 1 jf 2\n(002) ret #0\n",
            "line 3: jump target 1 is not within 1 to 256 instructions after instruction 1",
        ),
        (
            "(000) jeq #0x800 jt 300 jf 1",
            "line 1: jump target 300 is not within 1 to 256 instructions after instruction 0",
        ),
        (
            "(000) jeq #0x800",
            "line 1: expected `jt N jf M` after a conditional jump, found `(000) jeq #0x800`",
        ),
        (
            "(000) jeq #1 jt 1 jx 2",
            "line 1: expected `jt N jf M`, found `jt 1 jx 2`",
        ),
        (
            "(000) ret #0 jt 1 jf 2",
            "line 1: unknown instruction `(000) ret #0 jt 1 jf 2`",
        ),
        (
            "{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0 },\n",
            "line 2: expected `{ code, jt, jf, k },`, found `{ 0x6, 0, 0 },`",
        ),
        (
            "{ 0x10000, 0, 0, 0 },",
            "line 1: opcode 65536 does not fit (at most 65535)",
        ),
        (
            "{ 0x6, 256, 0, 0 },",
            "line 1: jump offset 256 does not fit (at most 255)",
        ),
        (
            "{ 0x6, -1, 0, 0 },",
            "line 1: jump offset -1 does not fit (at most 255)",
        ),
        (
            "2\n6 0 0 1\n",
            "line 1: the count says 2 instructions but 1 follow",
        ),
        (
            "1\n6 0 0 1\n6 0 0 2\n",
            "line 1: the count says 1 instructions but 2 follow",
        ),
        (
            "1\n\n6 0 0\n",
            "line 3: expected `code jt jf k` (four numbers), found `6 0 0`",
        ),
        ("1\n6 0 0 x\n", "line 2: `x` is not a valid 32-bit value"),
        ("0\n", "line 1: the program text is empty"),
    ];
    for (input, expected) in cases {
        let err = parse(input).expect_err(input);
        assert_eq!(err.to_string(), *expected, "input {input:?}");
    }
}

#[test]
fn text_module_is_reachable_for_other_crates() {
    // The CLI and the filter compiler print through these.
    let program = vec![Insn::stmt(op::RET | op::K, 262144)];
    assert_eq!(
        text::format(&program, TextForm::Decimal),
        "1\n6 0 0 262144\n"
    );
    assert_eq!(
        text::format(&program, TextForm::CArray),
        "{ 0x6, 0, 0, 0x00040000 },\n"
    );
    assert_eq!(
        text::format(&program, TextForm::Listing),
        "(000) ret      #262144\n"
    );
}
