//! A capture file mapped read-only into memory (one of the crate's four small `unsafe` modules,
//! with `prefetch.rs`, `output.rs` and `tail.rs`).

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use crate::Error;

/// The bytes of a file, mapped (or, for an empty file, an empty slice: mmap of 0 bytes fails).
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    pub fn open(path: &Path) -> Result<MappedFile, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: the map is read-only and private to this process. If another process truncates
        // or rewrites the file while we read it, reads may fault (SIGBUS) or see changed bytes;
        // the parsers bounds-check every length, so changed bytes can only produce a FormatError,
        // and a capture being rewritten under a filter run is outside what we promise (tcpdump
        // reading through stdio has the same caveat for the changed-bytes part).
        let map = unsafe { memmap2::MmapOptions::new().map(&file) }.map_err(io)?;
        // Sequential scans: ask the kernel to read ahead aggressively. A failure is harmless.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(MappedFile { map: Some(map) })
    }
}

impl Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
