//! The Linux `bpf()` system call, just what differential tests and benchmarks need: load a program
//! (`BPF_PROG_LOAD`, returning the verifier's log when it refuses), open one pinned in a bpf
//! filesystem (`BPF_OBJ_GET`, for programs another loader such as `bpftool` placed there) and run
//! it on a packet (`BPF_PROG_TEST_RUN`). Needs root (or CAP_BPF) on a kernel with
//! BPF_PROG_TEST_RUN (4.12+).
//!
//! For `SCHED_CLS` (tc classifier) programs the kernel builds an skb whose data starts at the
//! Ethernet header; LD_ABS/LD_IND read from there and `__sk_buff.len` is the length given.
//! The data must be at least 14 bytes and at most about a page.

use super::insn::{encode, Insn, INSN_SIZE};
use std::ffi::{c_void, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Program types (`enum bpf_prog_type`).
pub const PROG_TYPE_SOCKET_FILTER: u32 = 1;
pub const PROG_TYPE_SCHED_CLS: u32 = 3;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The largest packet BPF_PROG_TEST_RUN accepts for skb programs, comfortably under a page less
/// the kernel's headroom and tailroom.
pub const MAX_TEST_RUN_DATA: usize = 3000;
/// The smallest (an Ethernet header).
pub const MIN_TEST_RUN_DATA: usize = 14;

/// A failed `bpf()` call.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("the kernel verifier refused the program ({errno}):\n{log}")]
    Refused { errno: std::io::Error, log: String },
    #[error("bpf({cmd}) failed: {errno}")]
    Call {
        cmd: &'static str,
        errno: std::io::Error,
    },
    #[error("test-run data must be {MIN_TEST_RUN_DATA}..={MAX_TEST_RUN_DATA} bytes, not {0}")]
    DataSize(usize),
}

/// `union bpf_attr` for BPF_OBJ_GET.
#[repr(C)]
#[derive(Default)]
struct ObjGetAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// `union bpf_attr` for BPF_PROG_LOAD (the fields up to `expected_attach_type`).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_TEST_RUN (the fields up to `batch_size`).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// A program loaded into the kernel; closed when dropped.
#[derive(Debug)]
pub struct KernelProgram {
    fd: OwnedFd,
}

/// What one BPF_PROG_TEST_RUN returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The program's r0, truncated to 32 bits by the kernel.
    pub retval: u32,
    /// Mean time of one run in nanoseconds, as the kernel measured it.
    pub duration_ns: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> libc::c_long {
    // SAFETY: `attr` is a live, properly laid out `union bpf_attr` prefix of exactly
    // size_of::<T>() bytes; every pointer inside it refers to memory that outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    }
}

impl KernelProgram {
    /// Loads `insns` as a program of `prog_type` with a GPL license (so every helper is allowed).
    pub fn load(prog_type: u32, insns: &[Insn]) -> Result<Self, KernelError> {
        let bytes = encode(insns);
        let license = b"GPL\0";
        let mut log = vec![0u8; 1 << 20];
        let mut attr = ProgLoadAttr {
            prog_type,
            insn_cnt: (bytes.len() / INSN_SIZE) as u32,
            insns: bytes.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            ..Default::default()
        };
        let fd = bpf(BPF_PROG_LOAD, &mut attr);
        if fd < 0 {
            let errno = std::io::Error::last_os_error();
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).into_owned();
            return Err(KernelError::Refused { errno, log: text });
        }
        // SAFETY: a non-negative return of BPF_PROG_LOAD is a new file descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(KernelProgram { fd })
    }

    /// Opens the program pinned at `pin` in a bpf filesystem (`BPF_OBJ_GET`): one loaded by
    /// another tool, `bpftool prog load OBJ PIN` for example. The pin stays; the returned
    /// descriptor keeps the program alive on its own.
    pub fn from_pinned(pin: &Path) -> Result<Self, KernelError> {
        let call_error = |errno| KernelError::Call {
            cmd: "BPF_OBJ_GET",
            errno,
        };
        let path = CString::new(pin.as_os_str().as_encoded_bytes()).map_err(|_| {
            call_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "NUL byte in the pin path",
            ))
        })?;
        let mut attr = ObjGetAttr {
            pathname: path.as_ptr() as u64,
            ..Default::default()
        };
        let fd = bpf(BPF_OBJ_GET, &mut attr);
        if fd < 0 {
            return Err(call_error(std::io::Error::last_os_error()));
        }
        // SAFETY: a non-negative return of BPF_OBJ_GET is a new file descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(KernelProgram { fd })
    }

    /// Runs the program `repeat` times (at least once) on `data` and returns its r0.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<TestRun, KernelError> {
        if !(MIN_TEST_RUN_DATA..=MAX_TEST_RUN_DATA).contains(&data.len()) {
            return Err(KernelError::DataSize(data.len()));
        }
        self.test_run_raw(data, repeat)
            .map_err(|errno| KernelError::Call {
                cmd: "BPF_PROG_TEST_RUN",
                errno,
            })
    }

    /// [`test_run`](Self::test_run) without the size check: any `data` goes to the kernel, and
    /// a refusal is the kernel's errno (`EINVAL` for data it cannot build an skb from: too
    /// short, too long for its page, a truncated IP header it has to pull), for tests that
    /// find out where the kernel's own limits are.
    pub fn test_run_raw(&self, data: &[u8], repeat: u32) -> std::io::Result<TestRun> {
        let size = u32::try_from(data.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "data over 4 GiB")
        })?;
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: size,
            data_in: data.as_ptr() as u64,
            repeat: repeat.max(1),
            ..Default::default()
        };
        if bpf(BPF_PROG_TEST_RUN, &mut attr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(TestRun {
            retval: attr.retval,
            duration_ns: attr.duration,
        })
    }
}
