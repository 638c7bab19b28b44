//! Every wsfp flag the documentation names exists: a flag renamed or
//! dropped in the code fails here until README.md and docs/ follow.
//!
//! Counted as wsfp flags: those on a line of a fenced block that runs
//! `wsfp` (after it, before a `#` comment), and those in an inline code
//! span that starts with `wsfp ` or with `--`. Other tools' flags named
//! in spans of the second kind are listed in [`OTHER_TOOLS`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

/// Flags of other tools the docs name in a bare span (`--bench scan`).
const OTHER_TOOLS: &[(&str, &str)] = &[("--bench", "cargo bench")];

/// Every long flag of every wsfp subcommand, and clap's own.
fn known_flags() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, out: &mut BTreeSet<String>) {
        for a in cmd.get_arguments() {
            if let Some(l) = a.get_long() {
                out.insert(format!("--{l}"));
            }
            for alias in a.get_all_aliases().into_iter().flatten() {
                out.insert(format!("--{alias}"));
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out: BTreeSet<String> = ["--help", "--version"].map(String::from).into();
    walk(&wsfp::cli::Cli::command(), &mut out);
    out
}

/// `--name` tokens in `s` (not inside a longer word, as `a--b`).
fn flags_in(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = s[i..].find("--") {
        let start = i + at;
        let before_ok =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'-');
        let mut end = start + 2;
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'-')
        {
            end += 1;
        }
        if before_ok && end > start + 2 && b[start + 2].is_ascii_lowercase() {
            out.push(s[start..end].trim_end_matches('-').to_string());
        }
        i = end.max(start + 2);
    }
    out
}

/// (flag, "file:line") for each wsfp flag named in `text`.
fn named_flags(file: &str, text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", n + 1);
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            let Some(p) = line
                .find("wsfp ")
                .filter(|&p| p == 0 || line.as_bytes()[p - 1].is_ascii_whitespace())
            else {
                continue;
            };
            let cmd = &line[p..];
            let cmd = cmd.split(" #").next().unwrap_or(cmd);
            out.extend(flags_in(cmd).into_iter().map(|f| (f, at.clone())));
        } else {
            for (k, span) in line.split('`').enumerate() {
                if k % 2 == 1 && (span.starts_with("wsfp ") || span.starts_with("--")) {
                    out.extend(flags_in(span).into_iter().map(|f| (f, at.clone())));
                }
            }
        }
    }
    out
}

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("lab/README.md")];
    let mut dirs = vec![root.join("docs"), root.join("deploy")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_flag_the_docs_name_exists() {
    let known = known_flags();
    let other: BTreeSet<&str> = OTHER_TOOLS.iter().map(|(f, _)| *f).collect();
    let mut missing = Vec::new();
    let mut seen = 0;
    for path in docs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        for (flag, at) in named_flags(&name, &text) {
            seen += 1;
            if !known.contains(&flag) && !other.contains(flag.as_str()) {
                missing.push(format!("{at}: {flag}"));
            }
        }
    }
    // The docs name wsfp's flags about 190 times; far fewer means the
    // extraction broke, not that the docs are right.
    assert!(seen > 150, "only {seen} flags found in the docs");
    assert!(
        missing.is_empty(),
        "flags the docs name that wsfp does not have:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_extraction_finds_flags_where_the_docs_put_them() {
    let text = "Use `--rate 100` or `wsfp scan -n --no-chain`; not `cargo --x`.\n\
                ```sh\nwsfp scan -u X --per-host 2   # --not-this\ncargo build --release\n```\n";
    let got: Vec<String> = named_flags("t", text).into_iter().map(|(f, _)| f).collect();
    assert_eq!(got, ["--rate", "--no-chain", "--per-host"]);
    assert_eq!(flags_in("a--b --c-d x --e"), ["--c-d", "--e"]);
}
