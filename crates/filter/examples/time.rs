//! Times compiling `host A or host B ...` lists:
//! `cargo run -p jitkit-filter --release --example time -- N [REPEAT]`.
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let repeat: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let expr = (0..n)
        .map(|i| format!("host 10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255))
        .collect::<Vec<_>>()
        .join(" or ");
    phases(&expr);
    for optimize in [n <= 1000, true] {
        let options = jitkit_filter::Options {
            optimize,
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let mut len = 0;
        for _ in 0..repeat {
            len = jitkit_filter::compile(&expr, 1, &options).unwrap().len();
        }
        println!(
            "optimize={optimize}: {:?} per compile, {len} instructions",
            t.elapsed() / repeat as u32
        );
    }
}

#[allow(dead_code)]
fn phases(expr: &str) {
    let t = std::time::Instant::now();
    let toks = jitkit_filter::lexer::tokenize(expr).unwrap();
    let t1 = t.elapsed();
    let _ast = jitkit_filter::parser::parse(&toks, expr.len()).unwrap();
    let t2 = t.elapsed();
    println!("lex {t1:?}, parse {:?}", t2 - t1);
}
