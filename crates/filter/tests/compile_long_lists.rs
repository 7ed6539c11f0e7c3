//! Long host/port lists: compile time bounds, comparison trees (O(log n) jumps per packet), and
//! verdicts against libpcap (small lists) and against plain set membership (large lists).

mod common;

use std::time::Duration;

use jitkit_filter::{compile, Options};
use jitkit_testkit::libpcap;

fn host(i: usize) -> [u8; 4] {
    [10, (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

fn hosts(n: usize) -> String {
    (0..n)
        .map(|i| {
            let h = host(i);
            format!("host {}.{}.{}.{}", h[0], h[1], h[2], h[3])
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// CPU time this thread has used. The machine is shared by parallel builds and tests, so wall
/// time measures the load more than the compiler; CPU time of the compiling thread does not.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer to a local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The least CPU time of a few runs.
fn best_time(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = thread_cpu_time();
            f();
            thread_cpu_time() - t
        })
        .min()
        .unwrap()
}

/// The most instructions any packet can execute: the longest path through the program.
fn longest_path(p: &[jitkit_bpf::cbpf::Insn]) -> usize {
    use jitkit_bpf::cbpf::op;
    let mut best = vec![0usize; p.len() + 1];
    for i in (0..p.len()).rev() {
        let insn = p[i];
        let next = |off: usize| best.get(i + 1 + off).copied().unwrap_or(0);
        best[i] = 1 + match insn.class() {
            op::RET => 0,
            op::JMP if insn.code & 0xf0 == op::JA => next(insn.k as usize),
            op::JMP => next(insn.jt as usize).max(next(insn.jf as usize)),
            _ => next(0),
        };
    }
    best[0]
}

fn ipv4_frame(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    let mut ip = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0];
    ip.extend(src);
    ip.extend(dst);
    f.extend(ip);
    f
}

#[test]
fn host_lists_compile_fast_and_match_in_log_time() {
    let opts = Options::default();
    let e300 = hosts(300);
    let t300 = best_time(5, || {
        compile(&e300, 1, &opts).unwrap();
    });
    assert!(t300 < Duration::from_millis(5), "300 hosts took {t300:?}");
    let e10k = hosts(10_000);
    let t10k = best_time(3, || {
        compile(&e10k, 1, &opts).unwrap();
    });
    assert!(
        t10k < Duration::from_millis(100),
        "10,000 hosts took {t10k:?}"
    );

    // O(log n): a linear chain would execute tens of thousands of instructions.
    let p = compile(&e10k, 1, &opts).unwrap();
    let longest = longest_path(&p);
    assert!(longest < 200, "longest path {longest} instructions");

    // Verdicts: membership of source or destination, on members and non-members.
    let prog = common::raw(&p);
    for i in (0..10_000).step_by(97).chain([0, 9_999]) {
        let member = host(i);
        let outsider = [10, 200, 1, 1];
        let accept = |f: &[u8]| libpcap::bpf_filter(&prog, f, f.len() as u32) != 0;
        assert!(accept(&ipv4_frame(member, outsider)), "src {member:?}");
        assert!(accept(&ipv4_frame(outsider, member)), "dst {member:?}");
        assert!(!accept(&ipv4_frame(outsider, [11, 0, 0, i as u8])));
    }
}

#[test]
fn short_lists_match_libpcap_exactly() {
    // libpcap's optimizer is quadratic or worse in the list length; 24 items stay fast.
    let exprs = vec![
        hosts(24),
        (0..24)
            .map(|i| format!("port {}", 1000 + i * 7))
            .collect::<Vec<_>>()
            .join(" or "),
        format!(
            "tcp dst port {}",
            (0..20)
                .map(|i| (20 + i * 3).to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        format!(
            "src host {}",
            (0..20)
                .map(|i| format!("192.168.1.{i}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    ];
    common::check_all(&exprs, true);
}
