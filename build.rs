//! Embeds every `fingerprints/*.toml` into the binary, so `wsfp scan`
//! works with no files beside it; `--db DIR` overrides at run time.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let dir = Path::new("fingerprints");
    println!("cargo:rerun-if-changed=fingerprints");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from("&[\n");
    for n in &names {
        println!("cargo:rerun-if-changed=fingerprints/{n}");
        // The path is resolved when the crate compiles, from its own
        // manifest directory: an absolute path written here would stay
        // behind in OUT_DIR and point at wherever the build script last
        // ran (another checkout sharing the target directory).
        writeln!(
            out,
            "    ({n:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/fingerprints/\", {n:?}))),"
        )
        .unwrap();
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_fingerprints.rs");
    std::fs::write(dest, out).unwrap();
}
