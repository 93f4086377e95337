fn main() {
    // The grammar is the only generated code; a failure here is a grammar bug, so the
    // build should stop with lalrpop's own report.
    if let Err(err) = lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(std::env::var("OUT_DIR").unwrap_or_default())
        .process()
    {
        eprintln!("lalrpop failed: {err}");
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed=grammar/bylaw.lalrpop");
}
