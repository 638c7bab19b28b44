//! `wsfp completions SHELL` and `wsfp man`: generated from the clap
//! definitions, so they name the subcommands and flags the binary has.

use std::process::Command;

fn wsfp(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(args)
        .output()
        .expect("run wsfp");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SUBCOMMANDS: [&str; 12] = [
    "scan",
    "generate",
    "demo",
    "probes",
    "fingerprints",
    "match",
    "evaluate",
    "report",
    "diff",
    "pcap",
    "completions",
    "man",
];

#[test]
fn bash_completion_offers_subcommands_and_flags() {
    let (code, out, err) = wsfp(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("complete -F _wsfp"), "{out}");
    for word in [
        "scan",
        "pcap",
        "--safety",
        "--all-tests",
        "--series-100",
        "--generate-fingerprint",
    ] {
        assert!(
            out.contains(word),
            "{word} missing from the bash completion"
        );
    }
}

#[test]
fn every_shell_gets_a_script() {
    for (shell, mark) in [
        ("bash", "_wsfp()"),
        ("zsh", "#compdef wsfp"),
        ("fish", "complete -c wsfp"),
        ("elvish", "edit:completion:arg-completer[wsfp]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, out, err) = wsfp(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(mark), "{shell}: {mark} missing");
        assert!(out.contains("safety"), "{shell}: --safety missing");
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let (code, out, err) = wsfp(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("'tcsh'") && err.contains("bash"), "{err}");
    let (code, _, _) = wsfp(&["completions"]);
    assert_eq!(code, 2);
}

/// The first request of a page: `.TH` (clap_mangen puts only the
/// definition of the apostrophe string, `.ie`/`.el`, before it).
fn first_request(page: &str) -> &str {
    page.lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap_or("")
}

#[test]
fn man_page_names_every_subcommand() {
    let (code, out, err) = wsfp(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(first_request(&out).starts_with(".TH wsfp 1"), "{out}");
    assert!(out.contains(".SH SUBCOMMANDS"), "{out}");
    for sub in SUBCOMMANDS {
        let entry = format!("wsfp\\-{sub}(1)");
        assert!(out.contains(&entry), "{entry} missing: {out}");
    }
}

#[test]
fn man_page_of_a_subcommand() {
    let (code, out, err) = wsfp(&["man", "scan"]);
    assert_eq!(code, 0, "{err}");
    let th = first_request(&out);
    assert!(th.starts_with(".TH wsfp-scan 1"), "{th}");
    assert!(th.contains(env!("CARGO_PKG_VERSION")), "{th}");
    for flag in [
        "\\-\\-safety",
        "\\-\\-generate\\-fingerprint",
        "\\-\\-series\\-700",
    ] {
        assert!(out.contains(flag), "{flag} missing");
    }
    let (code, _, err) = wsfp(&["man", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no such subcommand") && err.contains("scan"),
        "{err}"
    );
}
