//! The Linux kernel as an oracle for eBPF objects: `bpftool prog load` (libbpf's ELF loader and
//! the kernel verifier) into a private bpffs, then `BPF_PROG_TEST_RUN` for each packet through
//! the shared `bpf()` wrapper, `jitkit_bpf::ebpf::kernel`.

use std::io;
use std::path::PathBuf;
use std::process::Command;

use jitkit_bpf::ebpf::kernel::{KernelProgram, TestRun};

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

/// A program loaded into the kernel and pinned; unpinned (and its descriptor closed) on drop.
pub struct Loaded {
    program: KernelProgram,
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
    let program =
        KernelProgram::from_pinned(&pin).map_err(|e| format!("{}: {e}", pin.display()))?;
    Ok(Loaded { program, pin })
}

impl Loaded {
    /// Runs the program `repeat` times on `packet` (from the link header) in the kernel; the
    /// error is the kernel's errno (EINVAL for packets it cannot build an skb from).
    pub fn test_run(&self, packet: &[u8], repeat: u32) -> io::Result<TestRun> {
        self.program.test_run_raw(packet, repeat)
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pin);
    }
}
