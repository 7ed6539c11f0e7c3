//! The text parsers on any input: never a panic; whatever parses prints and parses back to the
//! same program in the lossless forms (-dd, -ddd), and to the same -d listing.
#![no_main]

use jitkit_bpf::cbpf::text::{format, parse, parse_as, TextForm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(program) = parse(&text) else {
        return;
    };
    for form in [TextForm::CArray, TextForm::Decimal] {
        let printed = format(&program, form);
        assert_eq!(parse_as(&printed, form).as_ref(), Ok(&program), "{form:?}");
    }
    let listing = format(&program, TextForm::Listing);
    let reparsed = parse_as(&listing, TextForm::Listing).expect("our -d listing parses");
    assert_eq!(format(&reparsed, TextForm::Listing), listing);
});
