//! Writing the end of an output file from a second thread through a shared mapping, while the
//! first thread is still writing the file's beginning (one of the crate's four small `unsafe`
//! modules, with `mapped.rs`, `prefetch.rs` and `output.rs`: a writable file mapping).
//!
//! Why: when a filter keeps most of a large capture, the run waits for the kernel's buffered
//! write of the output, which one thread does (`writev`) while the other core, done filtering,
//! has nothing to do. A second thread cannot simply `pwrite` the output's end: buffered writes
//! to one file take its inode lock (ext4's `i_rwsem`), so two writers take turns. Page faults on
//! a shared mapping take no inode lock, so once the output's total length is known, the second
//! thread extends the file, allocates its blocks (`fallocate`: a full disk is then an error
//! here, never a `SIGBUS` during the copy), maps the tail and copies the kept records into it,
//! while the first thread goes on writing the head.
//!
//! [`OutputTail`] is the handle the second thread gets ([`crate::OutputFile::tail`]);
//! [`TailFill`] is one mapped tail being filled. The bytes below the first page boundary of the
//! tail share a page with the head: they are written at the end with one `pwrite` (a few bytes,
//! serialized with the head's writes by the kernel), so the mapping and the head's writes never
//! touch the same page.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::output::reserve_space;

/// x86-64's page size (where pages are larger, mapping at a multiple of this can fail: then the
/// writer writes everything, as without a tail).
const PAGE: u64 = 4096;

/// What the writing side learns from a filled tail: where the file ends (0: no tail written).
#[derive(Debug, Default)]
pub(crate) struct TailState {
    pub(crate) filled_to: AtomicU64,
}

/// A second handle on an output file, for writing its tail from another thread.
#[derive(Debug)]
pub struct OutputTail {
    file: File,
    state: Arc<TailState>,
    /// Used even when the machine is busy (see [`OutputTail::regardless_of_load`]).
    even_when_busy: bool,
}

impl OutputTail {
    pub(crate) fn new(file: File, state: Arc<TailState>) -> OutputTail {
        OutputTail {
            file,
            state,
            even_when_busy: false,
        }
    }

    /// Writes the tail even when the threads wait for a CPU (by default the tail is skipped
    /// then: it costs CPU time to save wall time, see `select.rs`). For tests of the tail.
    pub fn regardless_of_load(mut self) -> OutputTail {
        self.even_when_busy = true;
        self
    }

    pub(crate) fn even_when_busy(&self) -> bool {
        self.even_when_busy
    }

    /// Makes the file `end` bytes long with blocks allocated for `start..end`, and maps the
    /// part of that range that starts on a page boundary. Fails (and nothing is mapped) where
    /// the file system cannot allocate or map; the file may then be longer than its writer has
    /// written, which [`crate::OutputFile`] trims.
    pub(crate) fn prepare(&self, start: u64, end: u64) -> io::Result<TailFill<'_>> {
        if start >= end {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        reserve_space(&self.file, start, end - start, 0)?;
        let base = start.div_ceil(PAGE) * PAGE;
        let map = if base < end {
            let len = usize::try_from(end - base).map_err(|_| io::ErrorKind::InvalidInput)?;
            // SAFETY: a shared writable mapping of `base..end` of a regular file this process
            // created and holds open, whose blocks were just allocated and whose length is at least `end`:
            // every page of the mapping is backed by the file. In this process only this
            // `TailFill` writes that range (the head's writer stops below `start <= base`), so the
            // slice the map derefs to is not aliased by another Rust reference. Another process
            // truncating or writing the file meanwhile could fault (SIGBUS) or race with the
            // copy; an output file being changed by someone else during the run is outside what
            // we promise, as for the mapped input.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(base)
                    .len(len)
                    .map_mut(&self.file)
            }?;
            Some(map)
        } else {
            None
        };
        Ok(TailFill {
            tail: self,
            start,
            end,
            base,
            map,
            lead_in: Vec::new(),
            at: start,
        })
    }
}

/// A tail being written: bytes are appended in order from `start` to `end`.
pub(crate) struct TailFill<'t> {
    tail: &'t OutputTail,
    start: u64,
    end: u64,
    /// The mapping covers `base..end`; `start..base` is written with `pwrite`.
    base: u64,
    map: Option<memmap2::MmapMut>,
    /// The bytes of `start..base` gathered so far (written by `complete`).
    lead_in: Vec<u8>,
    /// Where the next byte goes.
    at: u64,
}

impl TailFill<'_> {
    /// Appends `bytes` (which must fit before `end`).
    pub(crate) fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if self.at + bytes.len() as u64 > self.end {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        if self.at < self.base {
            let n = ((self.base - self.at) as usize).min(bytes.len());
            self.lead_in.extend_from_slice(&bytes[..n]);
            self.at += n as u64;
            bytes = &bytes[n..];
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(map) = self.map.as_mut() else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let from = (self.at - self.base) as usize;
        // Each new page faults in (the kernel clears it, then the copy fills it): asking for
        // the pages beforehand (`MADV_POPULATE_WRITE`, in 1-64 MiB chunks or all at once) was
        // measured no faster.
        map[from..from + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// Ends a tail written to its end: the output file now ends at `end`. Fails if the tail
    /// is not complete.
    pub(crate) fn complete(self) -> io::Result<()> {
        if self.at != self.end {
            return Err(io::Error::other("the output's tail is incomplete"));
        }
        // Written last: a buffered write waits for the head's writer to release the inode lock,
        // better once than before the copy.
        self.tail.file.write_all_at(&self.lead_in, self.start)?;
        // Unmapping leaves the dirty pages to the kernel's writeback, like buffered writes.
        drop(self.map);
        self.tail.state.filled_to.store(self.end, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use crate::OutputFile;

    /// A file beside the test binary, in cargo's target directory: that is where the build
    /// lives, so on a disk file system (ext4, XFS, btrfs: the tail is offered only there), where
    /// the temporary directory may be a tmpfs.
    fn temp_file(name: &str) -> PathBuf {
        let exe = std::env::current_exe().expect("the test binary's path");
        let dir = exe.parent().expect("the test binary is in a directory");
        dir.join(format!("jitkit-tail-{}-{name}", std::process::id()))
    }

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// Head and tail lengths around the page boundary the mapping starts at, and the pieces
    /// the tail is appended in.
    #[test]
    fn head_and_tail_make_the_file() {
        let cases: [(usize, usize, &[usize]); 6] = [
            (24, 10, &[3, 7]),        // the whole tail inside the head's page
            (4000, 96, &[96]),        // ends exactly on the page boundary
            (4096, 5000, &[1, 4999]), // starts on a page boundary: no lead-in
            (5000, 3 * 4096 + 7, &[4000, 100, 8195]),
            (100, 1 << 20, &[1 << 19, 1 << 19]),
            (0, 4096, &[4096]),
        ];
        for (n, (head_len, tail_len, pieces)) in cases.into_iter().enumerate() {
            let path = temp_file(&format!("case{n}"));
            let (head, tail_bytes) = (bytes(head_len, 1), bytes(tail_len, 2));
            let mut out = OutputFile::create(&path).unwrap();
            let tail = out
                .tail()
                .expect("cargo's target directory is on ext4, XFS or btrfs");
            out.write_all(&head).unwrap();
            let (start, end) = (head_len as u64, (head_len + tail_len) as u64);
            let mut fill = tail.prepare(start, end).unwrap();
            let mut at = 0;
            for &piece in pieces {
                fill.append(&tail_bytes[at..at + piece]).unwrap();
                at += piece;
            }
            assert_eq!(at, tail_len);
            fill.complete().unwrap();
            out.finish().unwrap();
            let got = std::fs::read(&path).unwrap();
            assert_eq!(got.len(), head_len + tail_len, "case {n}");
            assert!(
                got == [head, tail_bytes].concat(),
                "case {n}: contents differ"
            );
            std::fs::remove_file(&path).unwrap();
        }
    }

    /// A tail that was not completed is not part of the file, finished or dropped.
    #[test]
    fn an_incomplete_tail_is_cut_off() {
        for finish in [true, false] {
            let path = temp_file(&format!("incomplete-{finish}"));
            let mut out = OutputFile::create(&path).unwrap();
            let tail = out
                .tail()
                .expect("cargo's target directory is on ext4, XFS or btrfs");
            out.write_all(&bytes(10_000, 3)).unwrap();
            let mut fill = tail.prepare(10_000, 50_000).unwrap();
            fill.append(&bytes(20_000, 4)).unwrap();
            assert!(fill.append(&bytes(20_001, 4)).is_err(), "past the end");
            assert!(fill.complete().is_err());
            if finish {
                out.finish().unwrap();
            } else {
                drop(out);
            }
            assert_eq!(std::fs::read(&path).unwrap(), bytes(10_000, 3));
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn an_empty_tail_is_refused() {
        let path = temp_file("empty");
        let out = OutputFile::create(&path).unwrap();
        let tail = out
            .tail()
            .expect("cargo's target directory is on ext4, XFS or btrfs");
        assert!(tail.prepare(100, 100).is_err());
        out.finish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::fs::remove_file(&path).unwrap();
    }

    /// Only regular files on file systems with extents get a tail: not devices, not tmpfs.
    #[test]
    fn no_tail_where_it_cannot_be_mapped_cheaply() {
        let null = OutputFile::create(std::path::Path::new("/dev/null")).unwrap();
        assert!(null.tail().is_none());
        null.finish().unwrap();
        let shm = std::path::Path::new("/dev/shm");
        if shm.is_dir() {
            let path = shm.join(format!("jitkit-tail-{}", std::process::id()));
            let file = OutputFile::create(&path).unwrap();
            assert!(file.tail().is_none(), "tmpfs");
            file.finish().unwrap();
            std::fs::remove_file(&path).unwrap();
        }
    }
}
