//! Running a predicate (a packet filter) over every record of a capture and writing the records
//! it keeps, in their original order, using several threads when that helps.
//!
//! How pcap files are split: pcap has no sync markers, so the file is cut into windows of about
//! [`WINDOW`] bytes at *guessed* record boundaries (an offset whose record header, and the next
//! [`CONFIRM`] ones, look plausible). Threads take windows in any order, each with its own
//! matcher (engines need not be `Sync`), and record which byte ranges to keep. The calling
//! thread writes windows strictly in order and checks that each window's last record ends
//! exactly where the next window was guessed to start; if a guess was wrong it throws away the
//! results from there on and reads the rest of the file itself. The output is therefore always
//! what a sequential pass gives. pcapng files and small files are read in one sequential pass.
//!
//! Every record must have the capture's link type (a pcapng file can describe interfaces of
//! several): a record of another link type ends the run with
//! [`FormatErrorKind::MixedLinkTypes`], as libpcap refuses such files.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use crate::capture::CaptureReader;
use crate::error::{FormatError, FormatErrorKind};
use crate::pcap::{PcapReader, FILE_HEADER_LEN};
use crate::record::Record;
use crate::writer::PcapWriter;

/// Bytes of input per unit of parallel work.
pub const WINDOW: usize = 8 << 20;
/// Files smaller than this are read by one thread (starting threads would cost more).
pub const PARALLEL_MIN: usize = 4 * WINDOW;
/// Records after a guessed boundary that must look plausible too.
pub const CONFIRM: usize = 32;
/// How far past a window's nominal start to look for a plausible record.
const SEARCH: usize = 1 << 20;

/// What a run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Records read (complete records before any error).
    pub read: u64,
    /// Records the predicate kept.
    pub matched: u64,
    /// The format problem that ended the run early, if any: every complete record before it
    /// was filtered and, when kept, written.
    pub error: Option<FormatError>,
}

/// Runs `matcher` over every record of `capture` and writes the records it keeps to `writer`
/// (if any). `helper` builds a matcher for each additional thread (`None`: that thread does not
/// help); at most `threads` threads work, the calling thread included. `progress` counts input
/// bytes done, for a progress display.
pub fn select<'a, W, M, H, F>(
    capture: &CaptureReader<'a>,
    mut writer: Option<&mut PcapWriter<'a, W>>,
    mut matcher: M,
    helper: F,
    threads: usize,
    progress: &AtomicU64,
) -> io::Result<Selection>
where
    W: Write,
    M: FnMut(&Record<'a>) -> bool,
    H: FnMut(&Record<'a>) -> bool,
    F: Fn() -> Option<H> + Sync,
{
    match capture {
        CaptureReader::Pcap(reader) if threads > 1 && reader.bytes().len() >= PARALLEL_MIN => {
            select_pcap_parallel(reader, writer, matcher, helper, threads, progress)
        }
        _ => {
            let mut selection = Selection::default();
            let mut since_report = 0usize;
            let link_type = capture.link_type();
            for record in capture.records() {
                let record = match record {
                    Ok(record) if record.link_type != link_type => {
                        selection.error = Some(FormatError::record(
                            record.offset as usize,
                            record.index,
                            FormatErrorKind::MixedLinkTypes {
                                interface: record.interface,
                                link_type: record.link_type,
                                first: link_type,
                            },
                        ));
                        break;
                    }
                    Ok(record) => record,
                    Err(err) => {
                        selection.error = Some(err);
                        break;
                    }
                };
                selection.read += 1;
                since_report += record.raw.len();
                if matcher(&record) {
                    selection.matched += 1;
                    if let Some(writer) = writer.as_deref_mut() {
                        writer.write(&record)?;
                    }
                }
                if since_report >= 1 << 20 {
                    progress.fetch_add(since_report as u64, Ordering::Relaxed);
                    since_report = 0;
                }
            }
            progress.fetch_add(since_report as u64, Ordering::Relaxed);
            Ok(selection)
        }
    }
}

/// The outcome of one window.
struct Window {
    /// Where its first record starts.
    start: usize,
    /// Where reading stopped: after the last record that starts before the window's end, or at
    /// the record or header that is bad.
    stop: usize,
    read: u64,
    matched: u64,
    /// Byte ranges of kept records, adjacent records merged.
    keep: Vec<(usize, usize)>,
    error: Option<FormatError>,
}

/// Reads the records starting at `start` up to the first one starting at or after `end`.
fn run_window<'a>(
    reader: &PcapReader<'a>,
    start: usize,
    end: usize,
    keep_ranges: bool,
    matcher: &mut impl FnMut(&Record<'a>) -> bool,
) -> Window {
    let mut records = reader.records_at(start, 0);
    let mut window = Window {
        start,
        stop: start,
        read: 0,
        matched: 0,
        keep: Vec::new(),
        error: None,
    };
    let (mut run_start, mut run_end) = (0usize, 0usize);
    while records.offset() < end {
        match records.next() {
            None => break,
            Some(Err(err)) => {
                window.error = Some(err);
                break;
            }
            Some(Ok(record)) => {
                window.read += 1;
                if matcher(&record) {
                    window.matched += 1;
                    if keep_ranges {
                        let (s, e) = (
                            record.offset as usize,
                            record.offset as usize + record.raw.len(),
                        );
                        if s == run_end && run_start != run_end {
                            run_end = e;
                        } else {
                            if run_start != run_end {
                                window.keep.push((run_start, run_end));
                            }
                            (run_start, run_end) = (s, e);
                        }
                    }
                }
            }
        }
    }
    if run_start != run_end {
        window.keep.push((run_start, run_end));
    }
    window.stop = records.offset();
    window
}

/// Nominal window starts: the first record, then every [`WINDOW`] bytes (the last window takes
/// what is left when less than half a window would remain), then the end of the file.
fn nominal_starts(len: usize) -> Vec<usize> {
    let mut starts = vec![FILE_HEADER_LEN];
    let mut next = FILE_HEADER_LEN + WINDOW;
    while next + WINDOW / 2 < len {
        starts.push(next);
        next += WINDOW;
    }
    starts.push(len);
    starts
}

/// Where window `w` really starts: the first record for window 0, else the first offset at or
/// after its nominal start where a record (and the next [`CONFIRM`]) looks plausible. `None`
/// when nothing within [`SEARCH`] bytes does (the window before it then reads on through).
fn guess_start(reader: &PcapReader<'_>, nominal: &[usize], w: usize) -> Option<usize> {
    if w == 0 {
        return Some(FILE_HEADER_LEN);
    }
    let limit = (nominal[w] + SEARCH).min(nominal[w + 1]);
    (nominal[w]..limit).find(|&at| reader.plausible_record_at(at, CONFIRM))
}

/// The guessed window starts (public so tests can see them), then the end of the file.
pub fn window_starts(reader: &PcapReader<'_>) -> Vec<usize> {
    let nominal = nominal_starts(reader.bytes().len());
    let mut starts: Vec<usize> = (0..nominal.len() - 1)
        .filter_map(|w| guess_start(reader, &nominal, w))
        .collect();
    starts.push(reader.bytes().len());
    starts
}

fn select_pcap_parallel<'a, W, M, H, F>(
    reader: &PcapReader<'a>,
    mut writer: Option<&mut PcapWriter<'a, W>>,
    mut matcher: M,
    helper: F,
    threads: usize,
    progress: &AtomicU64,
) -> io::Result<Selection>
where
    W: Write,
    M: FnMut(&Record<'a>) -> bool,
    H: FnMut(&Record<'a>) -> bool,
    F: Fn() -> Option<H> + Sync,
{
    // Window w reads the records from its guessed start up to the first one at or after the
    // next window's nominal start; each thread guesses the starts of the windows it takes.
    let bounds = nominal_starts(reader.bytes().len());
    let windows = bounds.len() - 1;
    let keep_ranges = writer.is_some();
    let run = |w: usize, matcher: &mut dyn FnMut(&Record<'a>) -> bool| match guess_start(
        reader, &bounds, w,
    ) {
        Some(start) => run_window(reader, start, bounds[w + 1], keep_ranges, &mut |r| {
            matcher(r)
        }),
        // No plausible start: an empty window that cannot follow the one before it.
        None => Window {
            start: usize::MAX,
            stop: usize::MAX,
            read: 0,
            matched: 0,
            keep: Vec::new(),
            error: None,
        },
    };
    let next = AtomicUsize::new(0);
    let abandon = AtomicBool::new(false);
    // Slot w: None while window w is not done; Some(Err(())) if its thread panicked.
    let done: Mutex<Vec<Option<Result<Window, ()>>>> =
        Mutex::new((0..windows).map(|_| None).collect());
    let ready = Condvar::new();

    /// Marks a window as failed if its thread unwinds, so the writer never waits for it forever.
    struct PanicGuard<'s> {
        window: usize,
        done: &'s Mutex<Vec<Option<Result<Window, ()>>>>,
        ready: &'s Condvar,
    }
    impl Drop for PanicGuard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.done.lock().unwrap_or_else(|e| e.into_inner())[self.window] = Some(Err(()));
                self.ready.notify_all();
            }
        }
    }

    // Takes the next window nobody has started; false when there is none left.
    let work = |matcher: &mut dyn FnMut(&Record<'a>) -> bool| -> bool {
        if abandon.load(Ordering::Relaxed) {
            return false;
        }
        let w = next.fetch_add(1, Ordering::Relaxed);
        if w >= windows {
            return false;
        }
        let guard = PanicGuard {
            window: w,
            done: &done,
            ready: &ready,
        };
        let result = run(w, matcher);
        std::mem::forget(guard);
        progress.fetch_add((bounds[w + 1] - bounds[w]) as u64, Ordering::Relaxed);
        done.lock().unwrap_or_else(|e| e.into_inner())[w] = Some(Ok(result));
        ready.notify_all();
        true
    };

    std::thread::scope(|scope| {
        for _ in 1..threads.min(windows) {
            scope.spawn(|| {
                if let Some(mut matcher) = helper() {
                    while work(&mut matcher) {}
                }
            });
        }

        let mut selection = Selection::default();
        let mut w = 0;
        // Where the next window must start: where the previous one stopped reading.
        let mut expected_start = FILE_HEADER_LEN;
        let result = (|| -> io::Result<()> {
            while w < windows {
                // Write window w if it is done; otherwise help, or wait for whoever has it.
                let taken = done.lock().unwrap_or_else(|e| e.into_inner())[w].take();
                let window = match taken {
                    Some(Ok(window)) => window,
                    // Its thread panicked (the panic resurfaces when the scope ends): redo it.
                    Some(Err(())) => run(w, &mut matcher),
                    None => {
                        if !work(&mut matcher) {
                            let mut slots = done.lock().unwrap_or_else(|e| e.into_inner());
                            while slots[w].is_none() {
                                slots = ready.wait(slots).unwrap_or_else(|e| e.into_inner());
                            }
                        }
                        continue;
                    }
                };
                if window.start != expected_start {
                    // A wrong guess: from here on, read sequentially from where we really are.
                    abandon.store(true, Ordering::Relaxed);
                    let end = reader.bytes().len();
                    let rest = run_window(reader, expected_start, end, keep_ranges, &mut matcher);
                    add(&mut selection, rest, writer.as_deref_mut())?;
                    break;
                }
                expected_start = window.stop;
                add(&mut selection, window, writer.as_deref_mut())?;
                if selection.error.is_some() {
                    break;
                }
                w += 1;
            }
            Ok(())
        })();
        abandon.store(true, Ordering::Relaxed);
        result.map(|()| selection)
    })
}

/// Writes a window's kept records and adds up its counts and error (numbered globally).
fn add<W: Write>(
    selection: &mut Selection,
    window: Window,
    writer: Option<&mut PcapWriter<'_, W>>,
) -> io::Result<()> {
    if let Some(writer) = writer {
        for &(s, e) in &window.keep {
            writer.write_range(s, e)?;
        }
    }
    if let Some(mut err) = window.error {
        err.records_before += selection.read;
        selection.error = Some(err);
    }
    selection.read += window.read;
    selection.matched += window.matched;
    Ok(())
}
