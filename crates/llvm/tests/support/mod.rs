//! Shared by the llvm crate's tests and benchmark: programs from libpcap (the oracle's own
//! compiler), the corpus, the list of expressions.
#![allow(dead_code)]

pub mod capture;
pub mod kernel;

use jitkit_testkit::libpcap::{self, RawInsn};

/// The snap length tcpdump uses by default; what accepting programs return.
pub const SNAPLEN: i32 = 262144;

/// Expressions covering every kind of cBPF the compiler emits (absolute and indexed loads of
/// every size, `ldx msh`, scratch memory, every ALU operation including division, modulo and
/// shifts by packet data, `len`, every jump): the engines' shared list.
pub const EXPRESSIONS: &[&str] = jitkit_testkit::filter_expressions::ALL;

/// libpcap's program for `expr` on the link type `dlt` (a DLT number), optimized as tcpdump does.
pub fn libpcap_program(expr: &str, dlt: i32) -> Result<Vec<RawInsn>, String> {
    libpcap::compile(expr, dlt, SNAPLEN, true)
}

/// libpcap's DLT number for a corpus link-type name (a name, or a number when libpcap has none).
pub fn dlt_of(name: &str) -> Option<i32> {
    libpcap::linktype_from_name(name).or_else(|| name.parse().ok())
}

/// CPU time this thread has used: compile times measured with it are not inflated by other
/// processes on the (two-core, shared) machine the way wall time is.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
