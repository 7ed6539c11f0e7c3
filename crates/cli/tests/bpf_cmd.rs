//! `jitkit bpf disasm|check|run` against tcpdump's own dumps: conversions between -d, -dd and
//! -ddd are tcpdump's bytes, checks name the instruction, runs print the filter's return value.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn jitkit(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jitkit binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn tcpdump(flag: &str, expression: &str) -> String {
    let out = Command::new("tcpdump")
        .args(["-y", "EN10MB", flag, expression])
        .output()
        .expect("run tcpdump");
    assert!(out.status.success(), "tcpdump {flag} {expression}");
    String::from_utf8(out.stdout).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn disasm_converts_between_tcpdump_forms_byte_for_byte() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    for expression in [
        "tcp port 80",
        "ip[2:2] / 3 > ip[4] % 5",
        "vlan and udp",
        "len > 100",
    ] {
        let forms = [
            ("-d", tcpdump("-d", expression)),
            ("--dd", tcpdump("-dd", expression)),
            ("--ddd", tcpdump("-ddd", expression)),
        ];
        for (from, input) in &forms {
            for (flag, expected) in &forms {
                // -d does not print every field (k of `tax`, for one): convert from it only to -d.
                if *from == "-d" && *flag != "-d" {
                    continue;
                }
                let out = jitkit(&["bpf", "disasm", flag, "-"], input);
                assert!(out.status.success(), "{expression}: {}", stderr(&out));
                assert_eq!(&stdout(&out), expected, "{expression} to {flag}");
            }
        }
        // -d is the default.
        let out = jitkit(&["bpf", "disasm", "-"], &forms[2].1);
        assert_eq!(stdout(&out), forms[0].1);
    }
}

#[test]
fn check_accepts_valid_and_names_the_broken_instruction() {
    let out = jitkit(&["bpf", "check", "-"], &tcpdump("-ddd", "udp port 53"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("<stdin>: valid ("),
        "{}",
        stdout(&out)
    );

    for (program, message) in [
        (
            "(000) ldh [12]\n(001) st M[16]\n(002) ret #0\n",
            "jitkit: <stdin>: instruction 1: scratch memory M[16] does not exist",
        ),
        (
            "2\n40 0 0 12\n21 0 1 2048\n",
            "jitkit: <stdin>: instruction 1: jump to instruction 2 is past the end",
        ),
        (
            "1\n52 0 0 0\n",
            "jitkit: <stdin>: instruction 0: division by the constant 0",
        ),
        (
            "(000) ldh [12]\n",
            "jitkit: <stdin>: instruction 0: the last instruction must be `ret`",
        ),
        (
            "(000) ldq [12]\n",
            "jitkit: <stdin>: line 1: unknown instruction `(000) ldq [12]`",
        ),
    ] {
        let out = jitkit(&["bpf", "check", "-"], program);
        assert_eq!(out.status.code(), Some(1), "{program}");
        let err = stderr(&out);
        assert!(err.starts_with(message), "{program}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn run_prints_the_return_value() {
    let program = tcpdump("-ddd", "tcp port 80");
    // Ethernet + IPv4 + the first bytes of a TCP header from port 80.
    let packet = "00 11 22 33 44 55 66 77 88 99 aa bb 08 00 45 00 00 28 00 00 40 00 40 06 \
                  00 00 0a 00 00 01 0a 00 00 02 00 50 12 34";
    let out = jitkit(&["bpf", "run", "-", "--packet", packet], &program);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "262144\n");
    // Cut before the ports: the load past the captured bytes rejects.
    let out = jitkit(&["bpf", "run", "-", "--packet", &packet[..60]], &program);
    assert_eq!(stdout(&out), "0\n");
    // `len` is the wire length.
    let program = tcpdump("-d", "len > 100");
    for (wire_len, expected) in [("100", "0\n"), ("101", "262144\n")] {
        let out = jitkit(
            &["bpf", "run", "-", "--packet", "00", "--wire-len", wire_len],
            &program,
        );
        assert_eq!(stdout(&out), expected, "wire length {wire_len}");
    }
    let out = jitkit(&["bpf", "run", "-", "--packet", "0g"], &program);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("jitkit: --packet: `g` is not a hex digit"));
}
