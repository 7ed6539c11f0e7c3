//! `jitkit bpf convert` and `jitkit bpf run-ebpf`: a tcpdump program converted to eBPF, printed in
//! both syntaxes, run from text, raw bytes and a clang-built ELF object, with libpcap's answer
//! (through `jitkit bpf run`, the classic interpreter) as the reference; errors are one line.

use std::process::{Command, Output};

fn jitkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitkit"))
        .args(args)
        .output()
        .expect("the jitkit binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jitkit-cli-ebpf-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An Ethernet/IPv4/TCP frame from port `sport` to port 80.
fn tcp_frame(sport: u16) -> String {
    let mut f = [0u8; 54];
    f[12] = 0x08;
    f[14] = 0x45;
    f[23] = 6;
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn convert_prints_both_syntaxes_and_runs_like_the_classic_program() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = scratch("convert");
    let dump = Command::new("tcpdump")
        .args(["-y", "EN10MB", "-ddd", "tcp dst port 80 and len > 60"])
        .output()
        .unwrap();
    let prog = dir.join("prog.txt");
    std::fs::write(&prog, &dump.stdout).unwrap();
    let prog = prog.to_str().unwrap();

    let ubpf = jitkit(&["bpf", "convert", prog]);
    assert!(ubpf.status.success());
    let ubpf_text = stdout(&ubpf);
    assert!(ubpf_text.starts_with("mov r6, r1\n"), "{ubpf_text}");
    assert!(ubpf_text.contains("ldabsh 0xc\n"), "{ubpf_text}");
    let llvm = stdout(&jitkit(&["bpf", "convert", "--syntax", "llvm", prog]));
    assert!(llvm.contains("r0 = *(u16 *)skb[12]\n"), "{llvm}");
    assert_eq!(ubpf_text.lines().count(), llvm.lines().count());

    let text = dir.join("prog.s");
    std::fs::write(&text, &ubpf_text).unwrap();
    let raw = dir.join("prog.bin");
    assert!(
        jitkit(&["bpf", "convert", prog, "-o", raw.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        std::fs::metadata(&raw).unwrap().len() as usize,
        8 * ubpf_text.lines().count()
    );
    for (packet, extra) in [(tcp_frame(1234), ""), (tcp_frame(80), "00")] {
        // 54 bytes: `len > 60` fails; 55 still fails; the classic interpreter says so too.
        let packet = packet + extra;
        let want = stdout(&jitkit(&["bpf", "run", prog, "--packet", &packet]));
        for (file, interp) in [(&text, false), (&raw, false), (&text, true)] {
            let mut args = vec![
                "bpf",
                "run-ebpf",
                file.to_str().unwrap(),
                "--ctx",
                "skb",
                "--packet",
                &packet,
            ];
            if interp {
                args.push("--interp");
            }
            let out = jitkit(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(stdout(&out), want, "{args:?}");
        }
    }
    // A long enough packet is accepted.
    let long = tcp_frame(1234) + &"00".repeat(10);
    let run = |extra: &[&str]| {
        let mut args = vec!["bpf", "run-ebpf", text.to_str().unwrap(), "--ctx", "skb"];
        args.extend(extra);
        args.extend(["--packet", &long]);
        stdout(&jitkit(&args))
    };
    assert_eq!(run(&[]), "262144\n");
    // `len` is the context's wire length, not the number of captured bytes.
    assert_eq!(run(&["--wire-len", "60"]), "0\n");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn run_ebpf_runs_a_clang_object_and_reports_errors_in_one_line() {
    jitkit_testkit::require_tool("clang-14", "clang-14");
    let dir = scratch("elf");
    let src = dir.join("p.c");
    std::fs::write(
        &src,
        "__attribute__((section(\"socket\"), used)) int f(unsigned char *p) {\n\
         unsigned s = 0; for (int i = 0; i < 4; i++) s = s * 31 + p[i]; return s; }\n",
    )
    .unwrap();
    let obj = dir.join("p.o");
    let ok = Command::new("clang-14")
        .args(["-target", "bpf", "-O2", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap();
    assert!(ok.success());
    let obj = obj.to_str().unwrap();
    let out = jitkit(&[
        "bpf",
        "run-ebpf",
        obj,
        "--section",
        "socket",
        "--packet",
        "01020304",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), format!("{}\n", ((31 + 2) * 31 + 3) * 31 + 4));

    // Reading past the 2-byte packet: a bounds error, one line, exit code 1.
    let out = jitkit(&["bpf", "run-ebpf", obj, "--packet", "0102"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("jitkit: ") && err.contains("outside the stack"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = jitkit(&[
        "bpf",
        "run-ebpf",
        obj,
        "--section",
        "nope",
        "--packet",
        "00",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no executable section named `nope`"));
    std::fs::remove_dir_all(dir).ok();
}
