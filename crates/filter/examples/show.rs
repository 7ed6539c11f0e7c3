//! Prints the program for an expression: `cargo run -p jitkit-filter --example show -- [-O0] [-y LINKTYPE] EXPR`.
fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = jitkit_filter::Options::default();
    let mut linktype = 1;
    while let Some(a) = args.first().cloned() {
        match a.as_str() {
            "-O0" => options.optimize = false,
            "-y" => {
                linktype = jitkit_filter::linktype::from_name(&args[1]).expect("link type");
                args.remove(0);
            }
            _ => break,
        }
        args.remove(0);
    }
    match jitkit_filter::compile(&args.join(" "), linktype, &options) {
        Ok(p) => print!(
            "{}",
            jitkit_bpf::cbpf::text::format(&p, jitkit_bpf::cbpf::text::TextForm::Listing)
        ),
        Err(e) => eprintln!("error: {}", e.one_line(&args.join(" "))),
    }
}
