//! `select` writing the output's end from its second thread (`OutputFile::tail`, `tail.rs`):
//! the file must hold exactly what one writer would have written, whether or not the tail was
//! used; a wrong split guess, a damaged input or a failing writer must not change that (a
//! failing writer leaves exactly what it wrote). The writer is slowed down so that the second
//! thread is done filtering while most of the output is still to be written, as when the
//! kernel's buffered write is the bottleneck, and the tail is written even on a busy machine
//! (`OutputTail::regardless_of_load`), where it is skipped by default.

mod build;

use std::cell::RefCell;
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use build::{big_capture, fake_records_payload, random_payload, sequential_selection};
use jitkit_pcap::select::{select, window_size, window_starts, Selection, TAIL_MIN};
use jitkit_pcap::{CaptureReader, OutputFile, OutputTail, PcapWriter, Record};

/// Keeps about two thirds of the packets.
fn keep(record: &Record) -> bool {
    !record.data[13].is_multiple_of(3)
}

/// What the slow writer saw.
#[derive(Default)]
struct Seen {
    /// Bytes written through it.
    written: u64,
    /// The file was longer than that at some write: the tail had been prepared.
    tail_seen: bool,
}

/// An output file written slowly (a pause before every write); with `fail_on_tail`, the first
/// write after the tail was prepared fails, as a full disk would.
struct Slow {
    file: OutputFile,
    path: PathBuf,
    fail_on_tail: bool,
    seen: Rc<RefCell<Seen>>,
}

impl Slow {
    fn pace(&mut self) -> io::Result<()> {
        std::thread::sleep(Duration::from_millis(15));
        let mut seen = self.seen.borrow_mut();
        if std::fs::metadata(&self.path)?.len() > seen.written {
            seen.tail_seen = true;
            if self.fail_on_tail {
                return Err(io::Error::other("no space left (simulated)"));
            }
        }
        Ok(())
    }
}

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pace()?;
        let n = self.file.write(buf)?;
        self.seen.borrow_mut().written += n as u64;
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.pace()?;
        let n = self.file.write_vectored(bufs)?;
        self.seen.borrow_mut().written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The records `keep` keeps, written one by one: (file, read, matched, error offset).
fn expected(file: &[u8]) -> (Vec<u8>, u64, u64, Option<u64>) {
    let (out, read, matched, error) = sequential_selection(file, keep);
    (out, read, matched, error.map(|(offset, _)| offset))
}

fn output_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tail-{name}-{}.pcap", std::process::id()))
}

/// Filters `file` with two threads into a slow output file; returns the outcome, what the
/// writer saw and the file's bytes.
fn run(file: &[u8], name: &str, fail_on_tail: bool) -> (io::Result<Selection>, Seen, Vec<u8>) {
    let path = output_path(name);
    let capture = CaptureReader::new(file).unwrap();
    let out = OutputFile::create(&path).unwrap();
    let tail = out.tail().map(OutputTail::regardless_of_load);
    assert!(
        tail.is_some(),
        "{} must be on ext4, XFS or btrfs for this test",
        env!("CARGO_TARGET_TMPDIR")
    );
    let seen = Rc::new(RefCell::new(Seen::default()));
    let slow = Slow {
        file: out,
        path: path.clone(),
        fail_on_tail,
        seen: Rc::clone(&seen),
    };
    let mut writer = PcapWriter::for_capture(slow, &capture)
        .unwrap()
        .with_tail(tail);
    let progress = AtomicU64::new(0);
    let result = select(
        &capture,
        Some(&mut writer),
        keep,
        || Some(keep),
        2,
        &progress,
    );
    if result.is_ok() {
        writer.finish().unwrap().file.finish().unwrap();
    } else {
        // Dropped without `finish`, as after an error.
        drop(writer);
    }
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let seen = Rc::try_unwrap(seen).ok().unwrap().into_inner();
    (result, seen, bytes)
}

#[test]
fn the_second_thread_writes_the_end_and_the_file_is_exact() {
    let file = big_capture(40 << 20, random_payload);
    let (want, read, matched, _) = expected(&file);
    assert!(want.len() as u64 > TAIL_MIN + (8 << 20));
    let (result, _, got) = run(&file, "exact", false);
    let selection = result.unwrap();
    assert_eq!((selection.read, selection.matched), (read, matched));
    assert!(selection.error.is_none());
    assert!(selection.tail_bytes > 0, "the tail was not used");
    assert!(got.len() == want.len() && got == want, "contents differ");
}

/// Wrong guesses of where windows start: the tail's plan reads those windows again, as the
/// writer does, so the head and the tail still meet.
#[test]
fn wrong_split_guesses_before_and_in_the_tail() {
    let file = big_capture(40 << 20, fake_records_payload);
    let CaptureReader::Pcap(reader) = CaptureReader::new(&file).unwrap() else {
        unreachable!()
    };
    let real: Vec<usize> = reader
        .records()
        .map(|r| r.unwrap().offset as usize)
        .collect();
    let starts = window_starts(&reader, window_size(file.len(), 2));
    assert!(
        starts[..starts.len() - 1]
            .iter()
            .any(|s| real.binary_search(s).is_err()),
        "no guess was wrong, so this test proves nothing"
    );
    let (want, read, matched, _) = expected(&file);
    let (result, _, got) = run(&file, "guesses", false);
    let selection = result.unwrap();
    assert_eq!((selection.read, selection.matched), (read, matched));
    assert!(selection.tail_bytes > 0, "the tail was not used");
    assert!(got == want, "contents differ");
}

/// A damaged input ends the run at the damage: no tail (its length is not the file's), and
/// every complete record before the damage is written.
#[test]
fn a_damaged_input_gets_no_tail() {
    let mut file = big_capture(40 << 20, random_payload);
    file.truncate(file.len() - 5);
    let (want, read, matched, error) = expected(&file);
    assert!(error.is_some());
    let (result, _, got) = run(&file, "damaged", false);
    let selection = result.unwrap();
    assert_eq!((selection.read, selection.matched), (read, matched));
    assert_eq!(selection.error.map(|e| e.offset), error);
    assert_eq!(selection.tail_bytes, 0);
    assert!(got == want, "contents differ");
}

/// The writer fails while the tail is being written: the run fails and the file holds exactly
/// what the writer wrote (no tail, no reserved space past it).
#[test]
fn a_failing_writer_leaves_only_what_it_wrote() {
    let file = big_capture(40 << 20, random_payload);
    let (want, ..) = expected(&file);
    let (result, seen, got) = run(&file, "failing", true);
    assert!(
        seen.tail_seen,
        "the tail was never prepared, so this test proves nothing"
    );
    assert!(result.is_err());
    assert_eq!(got.len() as u64, seen.written);
    assert!(got[..] == want[..got.len()], "contents differ");
}
