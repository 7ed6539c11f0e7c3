//! The parallel selector must give exactly what one sequential pass gives: the same records
//! written in the same order, the same counts, the same error at the same place. Files are made
//! big enough to be split, and some are made to fool the split guesses.

mod build;

use build::{big_capture, fake_records_payload, random_payload, sequential_selection, Rng};

use std::sync::atomic::AtomicU64;

use jitkit_pcap::select::{
    select, window_size, window_starts, Selection, PARALLEL_MIN, RAMP_FIRST,
};
use jitkit_pcap::{CaptureReader, FormatErrorKind, PcapWriter, Record};

/// Keeps about a third of the packets.
fn keep(record: &Record) -> bool {
    record.data[13].is_multiple_of(3)
}

fn run(file: &[u8], threads: usize) -> (Vec<u8>, Selection) {
    let capture = CaptureReader::new(file).unwrap();
    let mut writer = PcapWriter::for_capture(Vec::new(), &capture).unwrap();
    let progress = AtomicU64::new(0);
    let selection = select(
        &capture,
        Some(&mut writer),
        keep,
        || Some(keep),
        threads,
        &progress,
    )
    .unwrap();
    (writer.finish().unwrap(), selection)
}

/// The expected output, written record by record without the selector.
fn expected(file: &[u8]) -> (Vec<u8>, u64, u64, Option<(u64, u64)>) {
    sequential_selection(file, keep)
}

fn check(file: &[u8]) {
    assert!(
        file.len() >= PARALLEL_MIN,
        "the file must be big enough to be split"
    );
    let (want, read, matched, error) = expected(file);
    for threads in [1, 2, 4] {
        let (got, selection) = run(file, threads);
        assert_eq!(selection.read, read, "threads {threads}");
        assert_eq!(selection.matched, matched, "threads {threads}");
        assert_eq!(
            selection
                .error
                .as_ref()
                .map(|e| (e.offset, e.records_before)),
            error,
            "threads {threads}"
        );
        assert!(got == want, "threads {threads}: output differs");
    }
}

/// Offsets where records really start.
fn record_starts(file: &[u8]) -> Vec<usize> {
    let capture = CaptureReader::new(file).unwrap();
    capture
        .records()
        .map_while(Result::ok)
        .map(|r| r.offset as usize)
        .collect()
}

#[test]
fn parallel_output_equals_sequential_output() {
    // Big enough for one thread's windows to be larger than RAMP_FIRST (the first group then
    // has smaller windows than the rest).
    let file = big_capture(5 * PARALLEL_MIN, random_payload);
    assert!(window_size(file.len(), 1) > RAMP_FIRST);
    let CaptureReader::Pcap(reader) = CaptureReader::new(&file).unwrap() else {
        unreachable!()
    };
    let starts = window_starts(&reader, window_size(file.len(), 2));
    assert!(starts.len() > 4, "{starts:?}");
    let real = record_starts(&file);
    assert!(
        starts[..starts.len() - 1]
            .iter()
            .all(|s| real.binary_search(s).is_ok()),
        "random data fooled a guess"
    );
    check(&file);
}

/// Packets padded with zeros, as short Ethernet frames are: 16 zero bytes look like an empty
/// record header, which must not make the offset before a real record a plausible start.
#[test]
fn zero_padding_does_not_fool_the_guesses() {
    let padded = |rng: &mut Rng, _n: u64| {
        let mut payload = random_payload(rng, 0);
        payload.truncate(14 + rng.below(100) as usize);
        payload.extend_from_slice(&[0u8; 32]);
        payload
    };
    let file = big_capture(PARALLEL_MIN + PARALLEL_MIN / 2, padded);
    let CaptureReader::Pcap(reader) = CaptureReader::new(&file).unwrap() else {
        unreachable!()
    };
    let starts = window_starts(&reader, window_size(file.len(), 2));
    let real = record_starts(&file);
    let wrong: Vec<_> = starts[..starts.len() - 1]
        .iter()
        .filter(|s| real.binary_search(s).is_err())
        .collect();
    assert!(wrong.is_empty(), "guesses inside records: {wrong:?}");
    check(&file);
}

/// Packets whose payloads are themselves runs of valid-looking pcap records: the guesses land
/// inside payloads, the writer must notice and redo the rest sequentially.
#[test]
fn wrong_split_guesses_are_caught() {
    let file = big_capture(PARALLEL_MIN + PARALLEL_MIN / 2, fake_records_payload);
    let CaptureReader::Pcap(reader) = CaptureReader::new(&file).unwrap() else {
        unreachable!()
    };
    let starts = window_starts(&reader, window_size(file.len(), 2));
    let real = record_starts(&file);
    assert!(
        starts
            .iter()
            .any(|s| real.binary_search(s).is_err() && *s != file.len()),
        "no guess was wrong, so this test proves nothing: {starts:?}"
    );
    check(&file);
}

#[test]
fn errors_are_reported_where_a_sequential_pass_reports_them() {
    let file = big_capture(PARALLEL_MIN + PARALLEL_MIN / 2, random_payload);
    let real = record_starts(&file);

    // Cut in the middle of the last record.
    let mut truncated = file.clone();
    truncated.truncate(real[real.len() - 1] + 20);
    check(&truncated);

    // A record in the middle claims a captured length no link type allows.
    let mut corrupt = file.clone();
    let bad = real[real.len() / 2];
    corrupt[bad + 8..bad + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    check(&corrupt);
    let (_, selection) = run(&corrupt, 2);
    let err = selection.error.unwrap();
    assert_eq!(err.records_before, (real.len() / 2) as u64);
    assert!(
        matches!(err.kind, FormatErrorKind::CapturedLengthTooLarge { .. }),
        "{err}"
    );
}
