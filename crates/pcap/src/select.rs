//! Running a predicate (a packet filter) over every record of a capture and writing the records
//! it keeps, in their original order, using several threads when that helps.
//!
//! How pcap files are split: pcap has no sync markers, so the file is cut into windows (of
//! [`window_size`] bytes) at *guessed* record boundaries (an offset whose record header, and the next
//! [`CONFIRM`] ones, look plausible). Threads take groups of [`LANES`] consecutive windows, each
//! thread with its own matcher (engines need not be `Sync`), and record which byte ranges to
//! keep. A thread reads the windows of its group interleaved, one record of each in turn, so
//! that the cache misses of their record headers overlap (`prefetch.rs`); one thread alone
//! works the same way. The calling thread writes windows strictly in order and checks that each
//! window's last record ends exactly where the next window was guessed to start; if a guess was
//! wrong it throws that window's results away and reads the window again itself, from where the
//! previous one stopped. The output is therefore always what a sequential pass gives. pcapng
//! files and small files are read in one sequential pass.
//!
//! Keeping the writer busy: when most packets are kept, writing (the kernel's copy into the page
//! cache, ~3x slower per byte than reading and filtering) is what the run waits for, so the
//! writer should write from the start and never stop to filter what another thread could. The
//! first groups are therefore smaller (windows double from [`RAMP_FIRST`] group by group, so the
//! first records are ready after 8 MB, not 32 MB), the writer reads a group itself only when it
//! needs that group and nobody has started it, and before it waits (or helps with a later group,
//! which is what makes two threads faster on selective filters, where reading is the work) it
//! hands what it has gathered to the kernel.
//!
//! Writing the output's end from the second core: once every window has been read (and the
//! windows follow each other as guessed, without errors), the output's total length is known.
//! A helper thread with nothing left to filter then takes the output's end: from a window
//! boundary chosen so that both threads finish at about the same time, it copies the kept
//! records into a writable mapping of the file's end (`tail.rs`) while the writer goes on
//! writing the windows before it; the writer stops there and waits for the tail. Only when
//! the writer has a tail handle ([`PcapWriter::with_tail`]: a regular file on a file system
//! that allocates extents), only when at least [`TAIL_MIN`] bytes remain, and only when the
//! helper has not been waiting for a CPU (a busy machine: the tail costs CPU time to save wall
//! time); anything that fails before the tail is handed over leaves the writer writing
//! everything, as without it.
//!
//! Every record must have the capture's link type (a pcapng file can describe interfaces of
//! several): a record of another link type ends the run with
//! [`FormatErrorKind::MixedLinkTypes`], as libpcap refuses such files.

use std::io::{self, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use crate::capture::CaptureReader;
use crate::error::{FormatError, FormatErrorKind};
use crate::pcap::{PcapReader, PcapRecords, FILE_HEADER_LEN};
use crate::prefetch::prefetch_record;
use crate::record::Record;
use crate::tail::OutputTail;
use crate::writer::PcapWriter;

/// Windows one thread reads at once, interleaved record by record (a group of them is the unit
/// of parallel work). Eight misses in flight hide most of the memory latency.
pub const LANES: usize = 8;
/// The largest window: every window costs a guess (a scan for a plausible record, long when the
/// window starts inside a 64 KiB packet), so large files get large windows.
pub const MAX_WINDOW: usize = 4 << 20;
/// The smallest window.
pub const MIN_WINDOW: usize = 256 << 10;
/// The windows of the first group when windows are larger (see [`nominal_starts`]). Smaller
/// first windows were measured: each window costs a guess, and 256 KiB ones cost selective runs
/// ~2 ms of CPU for half a millisecond less wait at the start.
pub const RAMP_FIRST: usize = 1 << 20;
/// Files smaller than this are read in one plain sequential pass.
pub const PARALLEL_MIN: usize = 8 << 20;
/// Records after a guessed boundary that must look plausible too.
pub const CONFIRM: usize = 32;
/// The least output left to write for a second thread to write the output's end (see the
/// module documentation): below this, preparing the mapping costs more than it saves.
pub const TAIL_MIN: u64 = 16 << 20;
/// The writer's share of the output left to write when the tail is planned (2/3): filling a
/// mapping costs about twice what a buffered write costs per byte (each new page is cleared
/// before the copy, and faulted in), measured 1.7-1.8 GB/s against 3.4 GB/s, so the two
/// threads finish together when the writer keeps two thirds.
const HEAD_SHARE: (u64, u64) = (2, 3);

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
    /// Output bytes a second thread wrote through a mapping of the output's end (see the
    /// module documentation); 0 when the writer wrote everything.
    pub tail_bytes: u64,
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
        CaptureReader::Pcap(reader) if reader.bytes().len() >= PARALLEL_MIN => {
            select_pcap_windows(reader, writer, matcher, helper, threads, progress)
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

impl Window {
    /// The result of a window whose start could not be guessed: empty, and it cannot follow the
    /// window before it (so the writer reads it again from where that one stopped).
    fn unguessed() -> Window {
        Window {
            start: usize::MAX,
            stop: usize::MAX,
            read: 0,
            matched: 0,
            keep: Vec::new(),
            error: None,
        }
    }
}

/// One window being read: its records up to the first one starting at or after `end`.
struct Lane<'a> {
    records: PcapRecords<'a>,
    end: usize,
    window: Window,
    /// The run of adjacent kept records not yet pushed to `window.keep`.
    run: (usize, usize),
}

impl<'a> Lane<'a> {
    fn new(reader: &PcapReader<'a>, start: usize, end: usize) -> Lane<'a> {
        Lane {
            records: reader.records_at(start, 0),
            end,
            window: Window {
                start,
                stop: start,
                read: 0,
                matched: 0,
                keep: Vec::new(),
                error: None,
            },
            run: (0, 0),
        }
    }

    /// Reads and judges one record; false when the window is done (or bad).
    #[inline(always)]
    fn step(
        &mut self,
        bytes: &[u8],
        keep_ranges: bool,
        matcher: &mut impl FnMut(&Record<'a>) -> bool,
    ) -> bool {
        if self.records.offset() >= self.end {
            return false;
        }
        let record = match self.records.next() {
            None => return false,
            Some(Err(err)) => {
                self.window.error = Some(err);
                return false;
            }
            Some(Ok(record)) => record,
        };
        // The next header's address is known now; it is needed only after the other lanes'
        // next records, time enough for the line to arrive.
        prefetch_record(bytes, self.records.offset());
        self.window.read += 1;
        if matcher(&record) {
            self.window.matched += 1;
            if keep_ranges {
                let (s, e) = (
                    record.offset as usize,
                    record.offset as usize + record.raw.len(),
                );
                if s == self.run.1 && self.run.0 != self.run.1 {
                    self.run.1 = e;
                } else {
                    if self.run.0 != self.run.1 {
                        self.window.keep.push(self.run);
                    }
                    self.run = (s, e);
                }
            }
        }
        true
    }

    fn finish(mut self) -> Window {
        if self.run.0 != self.run.1 {
            self.window.keep.push(self.run);
        }
        self.window.stop = self.records.offset();
        self.window
    }
}

/// Reads the records starting at `start` up to the first one starting at or after `end`.
fn run_window<'a>(
    reader: &PcapReader<'a>,
    start: usize,
    end: usize,
    keep_ranges: bool,
    matcher: &mut impl FnMut(&Record<'a>) -> bool,
) -> Window {
    let mut lane = Lane::new(reader, start, end);
    while lane.step(reader.bytes(), keep_ranges, matcher) {}
    lane.finish()
}

/// Reads windows `ws` (see [`nominal_starts`]) interleaved, one record of each in turn, so that
/// their cache misses overlap instead of following each other (see `prefetch.rs`). Records are
/// judged out of file order; the results come back per window, in order.
fn run_windows<'a>(
    reader: &PcapReader<'a>,
    bounds: &[usize],
    ws: Range<usize>,
    keep_ranges: bool,
    matcher: &mut impl FnMut(&Record<'a>) -> bool,
) -> Vec<Window> {
    let bytes = reader.bytes();
    let mut results: Vec<Option<Window>> = ws.clone().map(|_| None).collect();
    // The windows still being read, with their place in `results`. A window whose start could
    // not be guessed is not read at all.
    let mut active: Vec<(usize, Lane<'a>)> = ws
        .clone()
        .enumerate()
        .filter_map(|(i, w)| {
            let start = guess_start(reader, bounds, w)?;
            Some((i, Lane::new(reader, start, bounds[w + 1])))
        })
        .collect();
    while !active.is_empty() {
        let mut i = 0;
        while i < active.len() {
            if active[i].1.step(bytes, keep_ranges, matcher) {
                i += 1;
            } else {
                let (slot, lane) = active.swap_remove(i);
                results[slot] = Some(lane.finish());
            }
        }
    }
    results
        .into_iter()
        .map(|window| window.unwrap_or_else(Window::unguessed))
        .collect()
}

/// The window size for a file of `len` bytes read by `threads` threads: at least four groups
/// of windows per thread (so that they finish at about the same time), within
/// [`MIN_WINDOW`]..=[`MAX_WINDOW`].
pub fn window_size(len: usize, threads: usize) -> usize {
    (len / (4 * LANES * threads.max(1))).clamp(MIN_WINDOW, MAX_WINDOW)
}

/// Nominal window starts: the first record, then windows of `window` bytes, then the end of the
/// file. The last window takes what is left when less than half a window would remain. When the
/// file is big enough, the first groups ramp up from [`RAMP_FIRST`], doubling every group (see
/// the module documentation).
fn nominal_starts(len: usize, window: usize) -> Vec<usize> {
    // LANES windows of RAMP_FIRST, LANES of twice that, ..., all smaller than `window`.
    let mut ramp: Vec<usize> = std::iter::successors(Some(RAMP_FIRST), |s| Some(s * 2))
        .take_while(|&s| s < window)
        .flat_map(|s| std::iter::repeat_n(s, LANES))
        .collect();
    if len.saturating_sub(FILE_HEADER_LEN) < ramp.iter().sum::<usize>() + 2 * window {
        ramp.clear();
    }
    let mut starts = vec![FILE_HEADER_LEN];
    let mut at = FILE_HEADER_LEN;
    for &size in &ramp {
        at += size;
        starts.push(at);
    }
    at += window;
    while at + window / 2 < len {
        starts.push(at);
        at += window;
    }
    starts.push(len);
    starts
}

/// Where window `w` really starts: the first record for window 0, else the first offset at or
/// after its nominal start where a record (and the next [`CONFIRM`]) looks plausible. `None`
/// when nothing in the window does (the writer then reads it from where the one before ended).
fn guess_start(reader: &PcapReader<'_>, nominal: &[usize], w: usize) -> Option<usize> {
    if w == 0 {
        return Some(FILE_HEADER_LEN);
    }
    reader.find_plausible_record(nominal[w]..nominal[w + 1], CONFIRM)
}

/// The guessed window starts for a window size (public so tests can see them), then the end of
/// the file.
pub fn window_starts(reader: &PcapReader<'_>, window: usize) -> Vec<usize> {
    let nominal = nominal_starts(reader.bytes().len(), window);
    let mut starts: Vec<usize> = (0..nominal.len() - 1)
        .filter_map(|w| guess_start(reader, &nominal, w))
        .collect();
    starts.push(reader.bytes().len());
    starts
}

fn select_pcap_windows<'a, W, M, H, F>(
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
    // next window's nominal start; each thread guesses the starts of the windows it takes, a
    // group of LANES windows at a time.
    let bounds = nominal_starts(
        reader.bytes().len(),
        window_size(reader.bytes().len(), threads),
    );
    let windows = bounds.len() - 1;
    let groups = windows.div_ceil(LANES);
    let tail = writer.as_deref_mut().and_then(PcapWriter::take_tail);
    let shared = Shared {
        reader,
        bounds: &bounds,
        keep_ranges: writer.is_some(),
        next: AtomicUsize::new(0),
        abandon: AtomicBool::new(false),
        board: Mutex::new(Board {
            slots: (0..windows).map(|_| None).collect(),
            summaries: vec![None; windows],
            writer_next: 0,
            tail_from: usize::MAX,
            tail_start: 0,
            tail_end: 0,
            tail_done: None,
            tail_counts: (0, 0),
        }),
        ready: Condvar::new(),
        progress,
        tail: Mutex::new(tail),
    };

    std::thread::scope(|scope| {
        for _ in 1..threads.min(groups) {
            scope.spawn(|| {
                if let Some(mut matcher) = helper() {
                    while shared.work(&mut matcher) {}
                    let tail = shared.tail.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(tail) = tail {
                        shared.fill_tail(&tail, &mut matcher);
                    }
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
                let taken = {
                    let mut board = shared.lock_board();
                    if board.tail_from == w {
                        // The rest is the tail's: write what is gathered, wait for the tail.
                        drop(board);
                        take_tail_counts(&shared, writer.as_deref_mut(), &mut selection)?;
                        break;
                    }
                    let taken = board.slots[w].take();
                    if taken.is_some() {
                        board.writer_next = w + 1;
                    }
                    taken
                };
                let window = match taken {
                    Some(Ok(window)) => window,
                    // Its thread panicked (the panic resurfaces when the scope ends): redo it
                    // (below, as a window whose start is not known).
                    Some(Err(())) => Window::unguessed(),
                    None => {
                        // Every group before w's has been taken; if w's has not, nobody will
                        // read it sooner than this thread.
                        let group = w / LANES;
                        if shared.claim(group) {
                            shared.read_group(group, &mut matcher);
                            continue;
                        }
                        // Another thread is reading it: let the kernel write what is gathered
                        // meanwhile, then, if still not done, help with a later group or wait.
                        if let Some(writer) = writer.as_deref_mut() {
                            writer.write_pending()?;
                        }
                        if shared.lock_board().slots[w].is_none() && !shared.work(&mut matcher) {
                            let mut board = shared.lock_board();
                            while board.slots[w].is_none() && board.tail_from != w {
                                board = shared.ready.wait(board).unwrap_or_else(|e| e.into_inner());
                            }
                        }
                        continue;
                    }
                };
                let window = if window.start == expected_start {
                    window
                } else {
                    // A wrong guess (the bytes at the guess looked like records but were inside
                    // one): read this window again from where the previous one really stopped.
                    // The next window is checked against where this one stops, and so on.
                    run_window(
                        reader,
                        expected_start,
                        bounds[w + 1],
                        shared.keep_ranges,
                        &mut matcher,
                    )
                };
                expected_start = window.stop;
                add(&mut selection, window, writer.as_deref_mut())?;
                if selection.error.is_some() {
                    break;
                }
                w += 1;
            }
            Ok(())
        })();
        // Nothing more is needed: helpers stop taking groups, a tail not yet handed over is
        // not started, one being written stops.
        shared.abandon.store(true, Ordering::Relaxed);
        drop(shared.lock_board());
        shared.ready.notify_all();
        result.map(|()| selection)
    })
}

/// The writer's side of the hand-over at the tail's first window: writes what it has gathered,
/// waits for the tail, and counts the tail's windows. An error if the tail was not
/// completed (its thread panicked) or does not start where the head ends.
fn take_tail_counts<W: Write>(
    shared: &Shared<'_, '_>,
    writer: Option<&mut PcapWriter<'_, W>>,
    selection: &mut Selection,
) -> io::Result<()> {
    let head_end = match writer {
        Some(writer) => {
            writer.write_pending()?;
            writer.accepted()
        }
        None => 0,
    };
    let mut board = shared.lock_board();
    while board.tail_done.is_none() {
        board = shared.ready.wait(board).unwrap_or_else(|e| e.into_inner());
    }
    if board.tail_done != Some(true) || board.tail_start != head_end {
        return Err(io::Error::other("the output's end was not written"));
    }
    selection.read += board.tail_counts.0;
    selection.matched += board.tail_counts.1;
    selection.tail_bytes = board.tail_end - board.tail_start;
    Ok(())
}

/// Slot w: None while window w is not done; Some(Err(())) if its thread panicked.
type Slots = Vec<Option<Result<Window, ()>>>;

/// What a window held, kept after the writer takes the window: the tail's plan needs every
/// window's.
#[derive(Clone, Copy, Debug)]
struct Summary {
    start: usize,
    stop: usize,
    /// Bytes of kept records.
    kept: u64,
    read: u64,
    matched: u64,
    /// Read without an error (and without a panic).
    clean: bool,
}

impl Summary {
    fn of(window: &Window) -> Summary {
        Summary {
            start: window.start,
            stop: window.stop,
            kept: window.keep.iter().map(|&(s, e)| (e - s) as u64).sum(),
            read: window.read,
            matched: window.matched,
            clean: window.error.is_none(),
        }
    }

    fn failed() -> Summary {
        Summary {
            start: usize::MAX,
            stop: usize::MAX,
            kept: 0,
            read: 0,
            matched: 0,
            clean: false,
        }
    }
}

/// The windows' results and the hand-over of the output's end, behind one lock.
struct Board {
    slots: Slots,
    /// Set with the slot, kept after the writer takes it.
    summaries: Vec<Option<Summary>>,
    /// The next window the writer will take (it has taken every one before).
    writer_next: usize,
    /// The first window of the tail, once handed over (`usize::MAX` before).
    tail_from: usize,
    /// Where the tail starts and ends in the output.
    tail_start: u64,
    tail_end: u64,
    /// Set when the tail thread is done: whether the tail was written.
    tail_done: Option<bool>,
    /// Records read and kept in the tail's windows.
    tail_counts: (u64, u64),
}

/// What the threads of one windowed run share.
struct Shared<'a, 'r> {
    reader: &'r PcapReader<'a>,
    bounds: &'r [usize],
    keep_ranges: bool,
    /// The next group of windows nobody has started.
    next: AtomicUsize,
    /// Set when the writer no longer needs windows (an error, the end).
    abandon: AtomicBool,
    board: Mutex<Board>,
    ready: Condvar,
    progress: &'r AtomicU64,
    /// The handle for writing the output's end, for the first helper that finishes filtering.
    tail: Mutex<Option<OutputTail>>,
}

impl<'a> Shared<'a, '_> {
    fn lock_board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the next group of windows nobody has started and reads it; false when there is
    /// none left.
    fn work(&self, matcher: &mut impl FnMut(&Record<'a>) -> bool) -> bool {
        if self.abandon.load(Ordering::Relaxed) {
            return false;
        }
        let group = self.next.fetch_add(1, Ordering::Relaxed);
        if group * LANES >= self.bounds.len() - 1 {
            return false;
        }
        self.read_group(group, matcher);
        true
    }

    /// Takes group `group` if it is the next one nobody has started.
    fn claim(&self, group: usize) -> bool {
        self.next
            .compare_exchange(group, group + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Reads the windows of a group this thread has taken and publishes their results.
    fn read_group(&self, group: usize, matcher: &mut impl FnMut(&Record<'a>) -> bool) {
        let windows = self.bounds.len() - 1;
        let first = group * LANES;
        let ws = first..(first + LANES).min(windows);
        let guard = PanicGuard {
            windows: ws.clone(),
            shared: self,
        };
        let results = run_windows(
            self.reader,
            self.bounds,
            ws.clone(),
            self.keep_ranges,
            matcher,
        );
        std::mem::forget(guard);
        self.progress.fetch_add(
            (self.bounds[ws.end] - self.bounds[ws.start]) as u64,
            Ordering::Relaxed,
        );
        let mut board = self.lock_board();
        for (w, result) in ws.zip(results) {
            board.summaries[w] = Some(Summary::of(&result));
            board.slots[w] = Some(Ok(result));
        }
        drop(board);
        self.ready.notify_all();
    }

    /// Writes the output's end through `tail` if that helps (see the module documentation):
    /// waits for every window, plans the split, prepares the mapping, hands the tail's windows
    /// over (only if the writer has not reached them) and copies their kept records.
    fn fill_tail(&self, tail: &OutputTail, matcher: &mut impl FnMut(&Record<'a>) -> bool) {
        if !tail.even_when_busy() && cpu_is_contended() {
            return;
        }
        let Some(mut plan) = self.plan_tail(matcher) else {
            return;
        };
        let Ok(mut fill) = tail.prepare(plan.start, plan.end) else {
            return;
        };
        {
            let mut board = self.lock_board();
            if self.abandon.load(Ordering::Relaxed) || board.writer_next > plan.from {
                return;
            }
            board.tail_from = plan.from;
            board.tail_start = plan.start;
            board.tail_end = plan.end;
            board.tail_counts = plan.counts;
            for (slot, window) in board.slots[plan.from..].iter_mut().zip(&mut plan.windows) {
                // Windows read again for the plan replace what their slots hold.
                if let (None, Some(Ok(taken))) = (&window, slot.take()) {
                    *window = Some(taken);
                }
            }
        }
        // The writer may be waiting for window `from`.
        self.ready.notify_all();
        let report = TailReport { shared: self };
        let bytes = self.reader.bytes();
        let copied = (|| -> io::Result<()> {
            for window in plan.windows.iter().flatten() {
                for &(s, e) in &window.keep {
                    if self.abandon.load(Ordering::Relaxed) {
                        return Err(io::ErrorKind::Interrupted.into());
                    }
                    fill.append(&bytes[s..e])?;
                }
            }
            fill.complete()
        })();
        report.done(copied.is_ok());
    }

    /// Where the tail should start, once every window is read. A window whose start was guessed
    /// wrong is read again from where the one before it stops (as the writer will read it),
    /// so that every window's place in the output is known. `None` if a window has an error,
    /// too little is left to write, or the run is over.
    fn plan_tail(&self, matcher: &mut impl FnMut(&Record<'a>) -> bool) -> Option<TailPlan> {
        let mut summaries: Vec<Summary> = {
            let mut board = self.lock_board();
            while board.summaries.iter().any(Option::is_none) {
                if self.abandon.load(Ordering::Relaxed) {
                    return None;
                }
                board = self.ready.wait(board).unwrap_or_else(|e| e.into_inner());
            }
            board.summaries.iter().flatten().copied().collect()
        };
        // Little left to write (a selective filter, or a writer nearly done): no tail, and no
        // window read again for nothing (the sizes of windows to read again hardly matter here).
        let writer_next = self.lock_board().writer_next;
        let left: u64 = summaries.iter().skip(writer_next).map(|s| s.kept).sum();
        if left < TAIL_MIN {
            return None;
        }
        // Where each window's kept records start in the output.
        let mut offsets = Vec::with_capacity(summaries.len() + 1);
        let mut reread: Vec<Option<Window>> = summaries.iter().map(|_| None).collect();
        let (mut at, mut expected) = (FILE_HEADER_LEN as u64, FILE_HEADER_LEN);
        for (w, summary) in summaries.iter_mut().enumerate() {
            if summary.start != expected {
                if self.abandon.load(Ordering::Relaxed) {
                    return None;
                }
                let window = run_window(self.reader, expected, self.bounds[w + 1], true, matcher);
                *summary = Summary::of(&window);
                reread[w] = Some(window);
            }
            if !summary.clean {
                return None;
            }
            offsets.push(at);
            at += summary.kept;
            expected = summary.stop;
        }
        let end = at;
        // The writer is about to take window `writer_next`; the windows from the split on are
        // the tail's, and the writer's share of what is left ends before it.
        let writer_next = self.lock_board().writer_next;
        let head = offsets[writer_next.min(offsets.len() - 1)];
        if end.saturating_sub(head) < TAIL_MIN {
            return None;
        }
        let goal = head + (end - head) * HEAD_SHARE.0 / HEAD_SHARE.1;
        let from = (writer_next + 1..offsets.len()).find(|&w| offsets[w] >= goal)?;
        let counts = summaries[from..]
            .iter()
            .fold((0, 0), |(r, m), s| (r + s.read, m + s.matched));
        Some(TailPlan {
            from,
            start: offsets[from],
            end,
            counts,
            windows: reread.split_off(from),
        })
    }
}

/// The output's end as planned: windows `from..` go to output bytes `start..end`.
struct TailPlan {
    from: usize,
    start: u64,
    end: u64,
    /// Records read and kept in those windows.
    counts: (u64, u64),
    /// The windows read again for the plan (the others are taken from their slots).
    windows: Vec<Option<Window>>,
}

/// Whether this thread has waited for a CPU for more than an eighth of the time it ran
/// (`/proc/thread-self/schedstat`: nanoseconds on a CPU, then waiting on a run queue): the
/// machine is busy with other work. The tail trades CPU time (~20 ms more per 300 MB) for wall
/// time, which pays only when the second core is free: on a machine with a load average of 5
/// it made keep-most runs slower (0.229 s against 0.178 s without it; with this check 0.186 s).
/// False where the file is missing.
fn cpu_is_contended() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/thread-self/schedstat") else {
        return false;
    };
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    match (fields.next().flatten(), fields.next().flatten()) {
        (Some(run), Some(wait)) => wait > run / 8,
        _ => false,
    }
}

/// Marks a group's windows as failed if its thread unwinds, so the writer never waits for
/// them forever.
struct PanicGuard<'s, 'a, 'r> {
    windows: Range<usize>,
    shared: &'s Shared<'a, 'r>,
}

impl Drop for PanicGuard<'_, '_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut board = self.shared.lock_board();
            for w in self.windows.clone() {
                board.summaries[w] = Some(Summary::failed());
                board.slots[w] = Some(Err(()));
            }
            drop(board);
            self.shared.ready.notify_all();
        }
    }
}

/// Tells the writer whether the tail was written, also if the tail's thread unwinds (then: not
/// written), so the writer never waits for it forever.
struct TailReport<'s, 'a, 'r> {
    shared: &'s Shared<'a, 'r>,
}

impl TailReport<'_, '_, '_> {
    fn done(self, written: bool) {
        self.report(written);
        std::mem::forget(self);
    }

    fn report(&self, written: bool) {
        self.shared.lock_board().tail_done = Some(written);
        self.shared.ready.notify_all();
    }
}

impl Drop for TailReport<'_, '_, '_> {
    fn drop(&mut self) {
        self.report(false);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Window sizes for a file of `len` bytes and a nominal window.
    fn sizes(len: usize, window: usize) -> Vec<usize> {
        let starts = nominal_starts(len, window);
        assert_eq!(starts[0], FILE_HEADER_LEN);
        assert_eq!(*starts.last().unwrap(), len);
        starts.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn first_windows_ramp_up_to_full_size_ones() {
        const M: usize = 1 << 20;
        let sizes = sizes(300 * M, 4 * M);
        // 1M, 2M: a group (LANES windows) of each.
        let ramp: Vec<usize> = [M, 2 * M]
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, LANES))
            .collect();
        assert_eq!(sizes[..ramp.len()], ramp[..]);
        let (last, full) = sizes[ramp.len()..].split_last().unwrap();
        assert!(full.iter().all(|&s| s == 4 * M), "{sizes:?}");
        assert!((2 * M..6 * M).contains(last), "{last}");
    }

    #[test]
    fn small_files_and_small_windows_get_no_ramp() {
        const M: usize = 1 << 20;
        // Windows no larger than the ramp's first.
        let s = sizes(20 * M, RAMP_FIRST);
        assert!(s[..s.len() - 1].iter().all(|&s| s == RAMP_FIRST), "{s:?}");
        let s = sizes(20 * M, MIN_WINDOW);
        assert!(s[..s.len() - 1].iter().all(|&s| s == MIN_WINDOW), "{s:?}");
        // Too small for the ramp and two full windows.
        let s = sizes(FILE_HEADER_LEN + LANES * M + 3 * M, 2 * M);
        assert!(s[..s.len() - 1].iter().all(|&s| s == 2 * M), "{s:?}");
        // Just big enough.
        let s = sizes(FILE_HEADER_LEN + LANES * M + 4 * M, 2 * M);
        assert_eq!(s, [vec![M; LANES], vec![2 * M; 2]].concat());
    }
}
