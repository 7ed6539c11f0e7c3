//! Differential tests against libpcap: for every expression of `data/expressions.txt` and every
//! supported link type, jitkit and libpcap agree on whether the expression compiles, and on the
//! verdict for every packet of the corpus and of the synthetic packet sets.

mod common;

#[test]
fn expression_list_matches_libpcap_optimized() {
    let exprs = common::expressions(include_str!("data/expressions.txt"));
    common::check_all(&exprs, false);
    // (tolerant of libpcap's own optimizer artifacts: see common::check_with)
}

#[test]
fn expression_list_matches_libpcap_unoptimized() {
    let exprs = common::expressions(include_str!("data/expressions.txt"));
    let mut failures = Vec::new();
    for expr in &exprs {
        for link in common::LINKS {
            if let Err(e) = common::check(expr, link, false) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n\n")
    );
}
