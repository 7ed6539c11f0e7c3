//! `OutputFile`: what is written is exactly the file's contents, and the disk space reserved
//! ahead of the writes is given back at the end (on ext4/XFS/btrfs, where it is reserved).

use std::io::{IoSlice, Write};
use std::os::unix::fs::MetadataExt;

use jitkit_pcap::OutputFile;

#[test]
fn contents_are_what_was_written_and_no_space_stays_reserved() {
    let dir = std::env::temp_dir().join(format!("jitkit-output-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.bin");
    // Small and large writes, vectored and not, crossing several reservation chunks.
    let block: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
    let mut expected = Vec::new();
    let mut out = OutputFile::create(&path).unwrap();
    for round in 0..25 {
        let head = &block[..round * 7 + 1];
        out.write_all(head).unwrap();
        expected.extend_from_slice(head);
        let parts = [IoSlice::new(&block), IoSlice::new(&block[..1000])];
        let n = out.write_vectored(&parts).unwrap();
        // write_vectored may write part of the slices: the rest goes with write_all.
        let all = [&block[..], &block[..1000]].concat();
        out.write_all(&all[n..]).unwrap();
        expected.extend_from_slice(&block);
        expected.extend_from_slice(&block[..1000]);
    }
    out.finish().unwrap();
    let got = std::fs::read(&path).unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "contents differ");
    // Allocated blocks (512-byte units) cover the data and not a reserved chunk more.
    let meta = std::fs::metadata(&path).unwrap();
    let allocated = meta.blocks() * 512;
    assert!(
        allocated <= meta.len() + (1 << 20),
        "{allocated} bytes allocated for a {} byte file",
        meta.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_output_is_empty() {
    let dir = std::env::temp_dir().join(format!("jitkit-output-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.bin");
    std::fs::write(&path, b"old contents").unwrap();
    OutputFile::create(&path).unwrap().finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A FIFO is opened for writing only: when its reader goes away, writing fails (EPIPE) instead of
/// blocking forever on a pipe this process would itself hold open for reading.
#[test]
fn a_fifo_whose_reader_leaves_fails_the_write() {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("jitkit-output-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 10];
        std::fs::File::open(&reader_path)
            .unwrap()
            .read_exact(&mut buf)
            .unwrap();
        // Dropped: the reader leaves.
    });
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = OutputFile::create(&fifo).unwrap();
        assert!(out.tail().is_none());
        let block = vec![7u8; 1 << 16];
        let outcome = (0..1000).try_for_each(|_| out.write_all(&block));
        let _ = done.send(outcome);
    });
    let outcome = result
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("writing to a FIFO without a reader must fail, not block");
    assert!(outcome.is_err());
    reader.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
