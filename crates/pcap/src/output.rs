//! An output file that reserves its disk space ahead of the writes (one of the crate's four small
//! `unsafe` modules, with `mapped.rs`, `prefetch.rs` and `tail.rs`: `fstatfs` and `fallocate`).
//!
//! Writing a few hundred megabytes through the page cache costs the kernel a copy (unavoidable)
//! and, on ext4, per-block delayed-allocation work: a reservation, quota accounting and an
//! extent-cache lookup for every 4 KiB written. When the blocks are allocated beforehand (as
//! unwritten extents, `fallocate(FALLOC_FL_KEEP_SIZE)`, which leaves the file's size alone),
//! that work is done once per chunk instead; in `jitkit filter` runs that keep most of a 300 MB
//! capture this saved about 10-15% of the process's CPU time. Blocks reserved past the last
//! write are given back by [`OutputFile::finish`] (truncating to the length written frees them).
//! Only on file systems where reserving is cheap (extents: ext4, XFS, btrfs); tmpfs would
//! allocate and clear memory for the whole chunk. Elsewhere, or where `fallocate` fails, the
//! file is written the ordinary way.
//!
//! On those file systems another thread can also write the file's end ([`OutputFile::tail`],
//! `tail.rs`) while this handle writes its beginning. The file's length is settled at the end
//! (and, on every path, when the handle is dropped): what was written here, or, when a tail was
//! completed, the tail's end; a file dropped without [`OutputFile::finish`] (an error) keeps only
//! what was written here.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::tail::{OutputTail, TailState};

/// Disk space reserved at a time, ahead of the writes.
const RESERVE_CHUNK: u64 = 32 << 20;

/// A file created for writing from its start, with space reserved ahead of the writes.
pub struct OutputFile {
    file: File,
    /// Bytes written so far (the file's length).
    written: u64,
    /// The file's space is reserved up to here.
    reserved: u64,
    /// False once `fallocate` has failed: not supported here, or no space (the writes will
    /// report that themselves).
    reserving: bool,
    /// On a file system with cheap reservations: where a tail written by another thread ends.
    tail: Option<Arc<TailState>>,
    /// The length was settled by `finish`.
    finished: bool,
}

impl OutputFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<OutputFile> {
        // A regular file is opened readable too: a shared writable mapping (the tail) needs a
        // descriptor open for both. Anything else (a FIFO, a device) is opened write-only as
        // before: a FIFO we held open for reading would never see its reader leave. A file we
        // may write but not read is written the ordinary way (its tail cannot be mapped).
        let open = |read: bool| {
            std::fs::OpenOptions::new()
                .read(read)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
        };
        let regular_or_new = std::fs::metadata(path).map_or(true, |m| m.is_file());
        let file = if regular_or_new {
            match open(true) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => open(false)?,
                other => other?,
            }
        } else {
            open(false)?
        };
        // Only regular files have blocks to reserve (`-w /dev/null` is fine too).
        let reserving = file.metadata()?.file_type().is_file() && reserves_cheaply(&file);
        Ok(OutputFile {
            file,
            written: 0,
            reserved: 0,
            reserving,
            tail: reserving.then(Arc::default),
            finished: false,
        })
    }

    /// A handle for writing this file's end from another thread (see `tail.rs`), on file
    /// systems that allocate extents; `None` elsewhere (and for anything but a regular file).
    /// At most one tail is written; the writes through `self` must stop where it starts.
    pub fn tail(&self) -> Option<OutputTail> {
        let state = self.tail.as_ref()?;
        let file = self.file.try_clone().ok()?;
        Some(OutputTail::new(file, Arc::clone(state)))
    }

    /// The length the file should have: what was written here, or the end of a completed tail.
    fn length(&self) -> u64 {
        let tail = self
            .tail
            .as_ref()
            .map_or(0, |t| t.filled_to.load(Ordering::Acquire));
        self.written.max(tail)
    }

    /// Makes sure the space up to `end` is reserved, a chunk at a time.
    fn reserve(&mut self, end: u64) {
        if !self.reserving || end <= self.reserved {
            return;
        }
        let len = (end - self.reserved).max(RESERVE_CHUNK);
        if reserve_space(&self.file, self.reserved, len, libc::FALLOC_FL_KEEP_SIZE).is_ok() {
            self.reserved += len;
        } else {
            self.reserving = false;
        }
    }

    /// Flushes nothing (there is no buffer), gives back the space reserved past the end, and
    /// settles the length (see the module documentation).
    pub fn finish(mut self) -> io::Result<()> {
        self.finished = true;
        let length = self.length();
        if self.reserved > length || self.tail.is_some() {
            self.file.set_len(length)?;
        }
        Ok(())
    }
}

impl Drop for OutputFile {
    /// Without `finish` (an error ended the writing), the file keeps what was written through
    /// this handle: no reserved space, no tail past it. Best effort: there is nobody to tell.
    fn drop(&mut self) {
        if !self.finished && (self.reserved > self.written || self.tail.is_some()) {
            let _ = self.file.set_len(self.written);
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reserve(self.written + buf.len() as u64);
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.reserve(self.written + total as u64);
        let n = self.file.write_vectored(bufs)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Whether `file` is on a file system that allocates extents (reserving a chunk is one
/// operation, not one per page).
fn reserves_cheaply(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;
    const XFS_SUPER_MAGIC: i64 = 0x5846_5342;
    const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes one `struct statfs` through the pointer, which points to enough
    // space for one; the descriptor is open for as long as `file` is borrowed.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), stat.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // `f_type` is an i64 here, an i32 on some other targets.
    #[allow(clippy::unnecessary_cast)]
    // SAFETY: fstatfs returned 0, so it filled the whole struct.
    let kind = unsafe { stat.assume_init() }.f_type as i64;
    matches!(kind, EXT4_SUPER_MAGIC | XFS_SUPER_MAGIC | BTRFS_SUPER_MAGIC)
}

/// `fallocate(fd, mode, offset, len)`: allocates the blocks without changing the file's
/// contents; with `FALLOC_FL_KEEP_SIZE` without changing its size either, with 0 making it at
/// least `offset + len` bytes long.
pub(crate) fn reserve_space(file: &File, offset: u64, len: u64, mode: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    // SAFETY: fallocate takes a file descriptor and two integers and touches no memory of this
    // process; the descriptor is open for as long as `file` is borrowed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
