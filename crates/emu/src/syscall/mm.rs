//! Memory-management system calls, served inside guest memory: brk, mmap, munmap, mprotect,
//! mremap.
//!
//! `MAP_PRIVATE` file mappings are private copies of the file's bytes. `MAP_SHARED` mappings
//! are real host shared mappings placed at the guest range's host pages (`Memory::map_shared`):
//! of the file itself, or of a memfd for anonymous ones. A forked child (a host fork of the
//! emulator) therefore shares them with its parent, and other processes mapping the same file
//! see the guest's writes.

use super::{EINVAL, ENOMEM};

const EACCES: i64 = 13;
use crate::machine::Machine;
use crate::memory::{page_up, Memory, LIMIT, PAGE, R, W, X};

/// Top of the region where `mmap` places mappings without an address (growing down).
pub const MMAP_TOP: u64 = 0x1f_0000_0000;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

pub fn prot_bits(prot: u64) -> u8 {
    let mut p = 0;
    if prot & 1 != 0 {
        p |= R;
    }
    if prot & 2 != 0 {
        p |= R | W;
    }
    if prot & 4 != 0 {
        p |= R | X;
    }
    p
}

fn is_free(mem: &Memory, addr: u64, len: u64) -> bool {
    let mut a = addr;
    while a < addr + len {
        if mem.perm(a) & crate::memory::MAPPED != 0 {
            return false;
        }
        a += PAGE;
    }
    true
}

/// Finds `len` free bytes below `MMAP_TOP`, searching downward from the last placement.
fn find_free(m: &mut Machine, len: u64) -> Option<u64> {
    let mut top = m.mem.mmap_hint.min(MMAP_TOP);
    for _pass in 0..2 {
        while top >= len + PAGE * 16 {
            let start = top - len;
            // Check from the top down so a collision moves the window past it quickly.
            let mut a = top;
            let mut clash = None;
            while a > start {
                a -= PAGE;
                if m.mem.perm(a) & crate::memory::MAPPED != 0 {
                    clash = Some(a);
                    break;
                }
            }
            match clash {
                None => {
                    m.mem.mmap_hint = start;
                    return Some(start);
                }
                Some(c) => top = c,
            }
        }
        top = MMAP_TOP;
    }
    None
}

pub fn mmap(m: &mut Machine, a: [u64; 6]) -> i64 {
    let (addr, len, prot, flags, fd, off) = (a[0], a[1], a[2], a[3], a[4] as i32, a[5]);
    if len == 0 || off % PAGE != 0 {
        return -EINVAL;
    }
    // MAP_TYPE: MAP_SHARED, MAP_PRIVATE or MAP_SHARED_VALIDATE.
    let shared = match flags & 0xf {
        0x1 | 0x3 => true,
        0x2 => false,
        _ => return -EINVAL,
    };
    let Some(len) = page_up(len) else {
        return -ENOMEM;
    };
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        if addr % PAGE != 0 {
            return -EINVAL;
        }
        if addr.checked_add(len).is_none_or(|e| e > LIMIT) {
            return -ENOMEM;
        }
        if flags & MAP_FIXED_NOREPLACE != 0 && !is_free(&m.mem, addr, len) {
            return -17; // EEXIST
        }
        addr
    } else if addr != 0
        && addr % PAGE == 0
        && addr.checked_add(len).is_some_and(|e| e <= LIMIT)
        && is_free(&m.mem, addr, len)
    {
        addr
    } else {
        match find_free(m, len) {
            Some(s) => s,
            None => return -ENOMEM,
        }
    };
    if shared {
        return map_shared(m, start, len, prot, flags & MAP_ANONYMOUS != 0, fd, off);
    }
    m.mem.map(start, len, prot_bits(prot));
    if flags & MAP_ANONYMOUS == 0 {
        // A private copy of the file's bytes (enough for programs that read files this way).
        let buf = match m.mem.bytes_for_loader(start, len) {
            Some(b) => b,
            None => return -ENOMEM,
        };
        let mut done = 0usize;
        while done < buf.len() {
            let n = super::host_syscall(
                17,
                [
                    fd as u64,
                    buf[done..].as_mut_ptr() as u64,
                    (buf.len() - done) as u64,
                    off + done as u64,
                    0,
                    0,
                ],
            );
            if n < 0 {
                m.mem.unmap(start, len);
                return n;
            }
            if n == 0 {
                break;
            }
            done += n as usize;
        }
    }
    start as i64
}

/// A `MAP_SHARED` mapping at `start` (already chosen): a memfd for anonymous memory, else the
/// file. Pages past the end of the file get no access rights (Linux raises SIGBUS there; the
/// emulator reports SIGSEGV rather than let the host fault).
fn map_shared(
    m: &mut Machine,
    start: u64,
    len: u64,
    prot: u64,
    anonymous: bool,
    fd: i32,
    off: u64,
) -> i64 {
    use super::host_syscall;
    let (host_fd, host_off, writable, file_len) = if anonymous {
        let name = c"jitkit-shared";
        let memfd = host_syscall(
            319,
            [name.as_ptr() as u64, libc::MFD_CLOEXEC as u64, 0, 0, 0, 0],
        );
        if memfd < 0 {
            return memfd;
        }
        let r = host_syscall(77, [memfd as u64, len, 0, 0, 0, 0]);
        if r < 0 {
            host_syscall(3, [memfd as u64, 0, 0, 0, 0, 0]);
            return r;
        }
        (memfd as i32, 0, true, len)
    } else {
        let fl = host_syscall(72, [fd as u64, libc::F_GETFL as u64, 0, 0, 0, 0]);
        if fl < 0 {
            return fl; // EBADF
        }
        let mode = fl & i64::from(libc::O_ACCMODE);
        if mode == i64::from(libc::O_WRONLY) || (prot & 2 != 0 && mode != i64::from(libc::O_RDWR)) {
            return -EACCES;
        }
        // struct stat (x86-64): st_size at byte 48.
        let mut st = [0u8; 144];
        let r = host_syscall(5, [fd as u64, st.as_mut_ptr() as u64, 0, 0, 0, 0]);
        if r < 0 {
            return r;
        }
        let size = i64::from_le_bytes(st[48..56].try_into().unwrap_or_default()).max(0) as u64;
        (
            fd,
            off,
            mode == i64::from(libc::O_RDWR),
            size.saturating_sub(off),
        )
    };
    let r = m
        .mem
        .map_shared(start, len, prot_bits(prot), host_fd, host_off, writable);
    if anonymous {
        host_syscall(3, [host_fd as u64, 0, 0, 0, 0, 0]);
    }
    if let Err(e) = r {
        m.mem.unmap(start, len);
        return -i64::from(e.raw_os_error().unwrap_or(libc::ENOMEM));
    }
    let backed = page_up(file_len).unwrap_or(len).min(len);
    if backed < len {
        m.mem.protect(start + backed, len - backed, 0);
    }
    start as i64
}

pub fn munmap(m: &mut Machine, a: [u64; 6]) -> i64 {
    let (addr, len) = (a[0], a[1]);
    if addr % PAGE != 0 || len == 0 {
        return -EINVAL;
    }
    let Some(len) = page_up(len) else {
        return -EINVAL;
    };
    if addr.checked_add(len).is_none_or(|e| e > LIMIT) {
        return -EINVAL;
    }
    m.mem.unmap(addr, len);
    0
}

pub fn mprotect(m: &mut Machine, a: [u64; 6]) -> i64 {
    let (addr, len, prot) = (a[0], a[1], a[2]);
    if addr % PAGE != 0 {
        return -EINVAL;
    }
    let Some(len) = page_up(len) else {
        return -ENOMEM;
    };
    if prot & 2 != 0 && m.mem.shared_read_only(addr, len) {
        return -EACCES;
    }
    if m.mem.protect(addr, len, prot_bits(prot)) {
        0
    } else {
        -ENOMEM
    }
}

pub fn brk(m: &mut Machine, new: u64) -> i64 {
    let os = &mut m.os;
    if new < os.brk_start {
        return os.brk as i64;
    }
    let (Some(old_end), Some(new_end)) = (page_up(os.brk), page_up(new)) else {
        return os.brk as i64;
    };
    if new_end > LIMIT {
        return os.brk as i64;
    }
    if new_end > old_end {
        if !is_free(&m.mem, old_end, new_end - old_end) {
            return m.os.brk as i64;
        }
        m.mem.map(old_end, new_end - old_end, R | W);
    } else if new_end < old_end {
        m.mem.unmap(new_end, old_end - new_end);
    }
    m.os.brk = new;
    new as i64
}

pub fn mremap(m: &mut Machine, a: [u64; 6]) -> i64 {
    let (old, old_len, new_len, flags) = (a[0], a[1], a[2], a[3]);
    let (Some(old_len), Some(new_len)) = (page_up(old_len), page_up(new_len)) else {
        return -EINVAL;
    };
    if old % PAGE != 0 || new_len == 0 || !m.mem.range_ok(old, old_len, crate::memory::MAPPED) {
        return -EINVAL;
    }
    if new_len <= old_len {
        if new_len < old_len {
            m.mem.unmap(old + new_len, old_len - new_len);
        }
        return old as i64;
    }
    if m.mem.is_shared(old, old_len) {
        // Growing or moving a shared mapping would need the host object resized and remapped.
        return -ENOMEM;
    }
    let prot = m.mem.perm(old) & (R | W | X);
    let grow = new_len - old_len;
    if old + new_len <= LIMIT && is_free(&m.mem, old + old_len, grow) {
        m.mem.map(old + old_len, grow, prot);
        return old as i64;
    }
    if flags & 1 == 0 {
        return -ENOMEM;
    }
    let Some(dst) = find_free(m, new_len) else {
        return -ENOMEM;
    };
    m.mem.map(dst, new_len, prot);
    m.mem.copy_within(old, dst, old_len);
    m.mem.unmap(old, old_len);
    dst as i64
}
