//! Memory-management system calls, served inside guest memory: brk, mmap (anonymous and
//! file-backed private copies), munmap, mprotect, mremap.

use super::{EINVAL, ENOMEM};
use crate::machine::Machine;
use crate::memory::{page_up, Memory, LIMIT, PAGE, R, W, X};

/// Top of the region where `mmap` places mappings without an address (growing down).
pub const MMAP_TOP: u64 = 0x1f_0000_0000;
const MAP_SHARED: u64 = 0x01;
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
    let _ = MAP_SHARED;
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
