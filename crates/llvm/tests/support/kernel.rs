//! The Linux kernel as an oracle for eBPF objects: `bpftool prog load` (libbpf's ELF loader and
//! the kernel verifier) into a private bpffs, then `BPF_PROG_TEST_RUN` through the bpf(2) system
//! call for each packet. The unsafe code is the system call itself.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// A bpf filesystem mounted on a fresh temporary directory, unmounted on drop.
pub struct BpfFs {
    dir: PathBuf,
}

impl BpfFs {
    pub fn mount(tag: &str) -> BpfFs {
        let dir =
            std::env::temp_dir().join(format!("jitkit-llvm-bpffs-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t bpf failed (these tests run as root, like CI)"
        );
        BpfFs { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A program loaded into the kernel and pinned; the file descriptor is closed on drop.
pub struct Loaded {
    fd: libc::c_int,
    pin: PathBuf,
}

/// Loads `object` with `bpftool prog load OBJ PIN type classifier`; the error is bpftool's output
/// (which carries the verifier log).
pub fn load_classifier(fs: &BpfFs, name: &str, object: &[u8]) -> Result<Loaded, String> {
    let obj_path = fs.dir.with_extension(format!("{name}.o"));
    std::fs::write(&obj_path, object).map_err(|e| e.to_string())?;
    let pin = fs.path(name);
    let output = Command::new("bpftool")
        .args(["prog", "load"])
        .arg(&obj_path)
        .arg(&pin)
        .args(["type", "classifier"])
        .output()
        .map_err(|e| format!("bpftool: {e}"))?;
    let _ = std::fs::remove_file(&obj_path);
    if !output.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let fd = obj_get(&pin).map_err(|e| format!("BPF_OBJ_GET {}: {e}", pin.display()))?;
    Ok(Loaded { fd, pin })
}

fn obj_get(pin: &Path) -> io::Result<libc::c_int> {
    let path = CString::new(pin.as_os_str().as_encoded_bytes()).expect("no NUL in path");
    // union bpf_attr, BPF_OBJ_GET: { u64 pathname; u32 bpf_fd; u32 file_flags; s32 path_fd }
    let mut attr = [0u64; 4];
    attr[0] = path.as_ptr() as u64;
    // SAFETY: attr is a valid, zero-padded bpf_attr for BPF_OBJ_GET whose pathname points to a
    // NUL-terminated string that outlives the call; the kernel reads only sizeof(attr) bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd as libc::c_int)
}

/// What one BPF_PROG_TEST_RUN returned.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub retval: u32,
    /// Average nanoseconds per run, as the kernel measured it.
    pub duration_ns: u32,
}

/// `union bpf_attr` for BPF_PROG_TEST_RUN (`test` member), field for field.
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

impl Loaded {
    /// Runs the program `repeat` times on `packet` (from the link header) in the kernel.
    pub fn test_run(&self, packet: &[u8], repeat: u32) -> io::Result<Run> {
        let mut attr = TestRunAttr {
            prog_fd: self.fd as u32,
            data_size_in: packet.len() as u32,
            data_in: packet.as_ptr() as u64,
            repeat,
            ..TestRunAttr::default()
        };
        // SAFETY: attr is a complete bpf_attr for BPF_PROG_TEST_RUN; data_in points to
        // data_size_in readable bytes that outlive the call and no output buffers are given.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_TEST_RUN,
                &mut attr as *mut TestRunAttr,
                std::mem::size_of::<TestRunAttr>(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Run {
            retval: attr.retval,
            duration_ns: attr.duration,
        })
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        // SAFETY: fd came from BPF_OBJ_GET and is closed exactly once.
        unsafe { libc::close(self.fd) };
        let _ = std::fs::remove_file(&self.pin);
    }
}
