//! Debian's busybox-static (`/bin/busybox`) applets run natively and in the emulator: stdout and
//! exit status must match. `sh -c` cases exercise fork/vfork, execve, pipes, dup2 and wait4.

mod common;

use std::path::Path;

/// Arguments to busybox, and whether the shared text is fed on stdin.
const CASES: &[(&[&str], bool)] = &[
    (&["echo", "hello", "world"], false),
    (
        &["printf", "%s-%d-%x-%5.2f\\n", "a", "42", "255", "3.14159"],
        false,
    ),
    (&["seq", "1", "10"], false),
    (&["seq", "-s", ",", "-w", "1", "3", "40"], false),
    (&["expr", "3", "*", "7", "+", "2"], false),
    (&["expr", "length", "hello"], false),
    (&["wc"], true),
    (&["wc", "-l"], true),
    (&["sort"], true),
    (&["sort", "-n", "-r", "-k", "2"], true),
    (&["sort", "-u", "-t", " ", "-k", "3"], true),
    (&["sha256sum"], true),
    (&["md5sum"], true),
    (&["sha1sum"], true),
    (&["awk", "{ s += $2; n++ } END { print s, n, s / n }"], true),
    (
        &[
            "awk",
            "-F",
            " ",
            "$2 % 7 == 0 { print NR \": \" toupper($3) }",
        ],
        true,
    ),
    (&["sed", "-e", "s/[0-9]\\+/<&>/g", "-e", "3d"], true),
    (&["sed", "-n", "/word1[0-9]/p"], true),
    (&["grep", "-c", "7"], true),
    (&["grep", "-v", "-e", "1", "-e", "2"], true),
    (&["grep", "-E", "^line (1|22)"], true),
    (&["cat"], true),
    (&["tr", "a-z", "A-Z"], true),
    (&["cut", "-d", " ", "-f", "2,3"], true),
    (&["uniq", "-c"], true),
    (&["head", "-n", "5"], true),
    (&["tail", "-n", "3"], true),
    (&["od", "-A", "x", "-t", "x1z"], false),
    (&["sh", "-c", "echo one; echo two >&2; exit 3"], false),
    (
        &[
            "sh",
            "-c",
            "x=5; y=$((x * 7 + 1)); echo $y; if [ $y -gt 30 ]; then echo big; fi",
        ],
        false,
    ),
    (
        &[
            "sh",
            "-c",
            "f() { echo \"arg:$1\"; return 4; }; f hi; echo status $?",
        ],
        false,
    ),
    (
        &[
            "sh",
            "-c",
            "for i in 3 1 2; do echo $i; done | sort | tr '\\n' ' '; echo",
        ],
        false,
    ),
    (&["sh", "-c", "seq 1 1000 | grep 7 | wc -l"], false),
    (&["sh", "-c", "echo hello | gzip -c | gunzip -c"], false),
    (&["sh", "-c", "cat | sha256sum | cut -c1-16"], true),
    (
        &[
            "sh",
            "-c",
            "a=$(echo sub | tr a-z A-Z); echo \"got $a\"; (echo in subshell; exit 2); echo $?",
        ],
        false,
    ),
    (
        &[
            "sh",
            "-c",
            "case foo.txt in *.txt) echo text;; *) echo other;; esac",
        ],
        false,
    ),
    (
        &[
            "sh",
            "-c",
            "ls /nonexistent-dir-for-test 2>/dev/null; echo $?",
        ],
        false,
    ),
    (&["sh", "-c", "kill -9 $$"], false),
    (
        &[
            "sh",
            "-c",
            "while read a b c; do echo \"$c\"; done | head -n 3",
        ],
        true,
    ),
];

fn input_text() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..500u32 {
        s.push_str(&format!(
            "line {} word{} {}\n",
            i,
            (i * 7919) % 1000,
            ["alpha", "beta", "gamma", "delta"][(i % 4) as usize]
        ));
    }
    s.into_bytes()
}

fn main() {
    common::child_main_if_requested();
    jitkit_testkit::require_tool("busybox", "busybox-static");
    let busybox = Path::new("/bin/busybox");
    let text = input_text();
    let mut report = common::Report::new();
    for (args, feed) in CASES {
        let stdin = feed.then_some(text.as_slice());
        let native = common::native(busybox, args, stdin, &[]);
        let emulated = common::emulate(busybox, args, stdin, &[]);
        report.check(
            &format!("busybox {}", args.join(" ")),
            common::same(&native, &emulated),
        );
    }
    // A larger input through sha256sum, gzip and gunzip (files on the host file system).
    let dir = common::scratch("busybox");
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let file = dir.join("big.bin");
    std::fs::write(&file, &big).expect("write");
    let f = file.display().to_string();
    for args in [
        vec!["sha256sum", f.as_str()],
        vec!["md5sum", f.as_str()],
        vec![
            "sh",
            "-c",
            "gzip -c \"$0\" | gunzip -c | sha256sum",
            f.as_str(),
        ],
    ] {
        let native = common::native(busybox, &args, None, &[]);
        let emulated = common::emulate(busybox, &args, None, &[]);
        report.check(
            &format!("busybox {} (3 MB)", args[0..2].join(" ")),
            common::same(&native, &emulated),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.finish();
}
