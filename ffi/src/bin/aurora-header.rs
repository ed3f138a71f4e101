//! Writes the C header of the `aurora-ffi` crate with cbindgen (config: `cbindgen.toml`).
//! Usage: `aurora-header [OUT]` (default: `include/aurora.h` of the crate).

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| crate_dir.join("include/aurora.h"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("create the output directory");
    }
    bindings.write_to_file(&out);
    eprintln!("wrote {}", out.display());
}
