//! The shipped DB holds no value that only our lab produces (issue #17): a
//! loopback address, a lab port, the lab apps' page text or names. Such a
//! feature matches only on the lab, where same-build accuracy is
//! measured, and is a full-weight mismatch on every real server.
//!
//! Every string in every `fingerprints/*.toml` is checked, keys included
//! (a feature key names a probe and a header, never a place).

use std::path::Path;

/// Text the lab's own apps choose (lab/apps): page bodies and the server
/// names of the Qt apps (deb-pyqt5 and its variant). Matched anywhere in a
/// value, case-insensitively.
const LAB_TEXT: &[&str] = &[
    "websocket echo lab",
    "websocket variant lab",
    "echo-app",
    "silent-app",
    "wsfp-lab",
];

/// Whole values that are lab names (an app called itself `lab`).
const LAB_VALUES: &[&str] = &["lab"];

/// Loopback spellings.
const LOOPBACK: &[&str] = &["127.0.0.", "[::1]", "localhost"];

/// A `:port` in the lab's ranges: the main lab (9001..), the CI lab
/// (19001..), the variant groups (29101.., 31000..39999).
fn lab_port(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    (0..b.len()).find_map(|i| {
        if b[i] != b':' {
            return None;
        }
        let digits: String = s[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let p: u32 = digits.parse().ok()?;
        let lab = (9001..9200).contains(&p)
            || (19001..19200).contains(&p)
            || (29101..29400).contains(&p)
            || (31000..40000).contains(&p);
        (lab && (4..=5).contains(&digits.len())).then_some(p)
    })
}

fn problem(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    if let Some(t) = LAB_TEXT.iter().find(|t| lower.contains(*t)) {
        return Some(format!("lab app text {t:?}"));
    }
    if LAB_VALUES.contains(&lower.trim()) {
        return Some("a lab app's name".into());
    }
    if let Some(l) = LOOPBACK.iter().find(|l| lower.contains(*l)) {
        return Some(format!("loopback address {l:?}"));
    }
    lab_port(s).map(|p| format!("lab port {p}"))
}

fn walk(v: &toml::Value, path: &str, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => {
            if let Some(p) = problem(s) {
                out.push(format!("{path} = {s:?}: {p}"));
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &format!("{path}[{i}]"), out);
            }
        }
        toml::Value::Table(t) => {
            for (k, x) in t {
                if let Some(p) = problem(k) {
                    out.push(format!("{path}.{k:?} (key): {p}"));
                }
                walk(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_checks_find_what_they_look_for() {
    for bad in [
        "ws://127.0.0.1:9046/",
        "http://localhost",
        "lab",
        "Lab",
        "websocket echo lab\n",
        "echo-app",
        "host:19003",
        "[::1]:1",
        "x:31205",
    ] {
        assert!(problem(bad).is_some(), "{bad:?} passes");
    }
    for good in [
        "ws://{host}/",
        "Python websockets",
        "1002",
        "label",
        "Jetty(9.4.57.v20241219)",
        "invalid frame header: 1007:",
        "text:9000",
    ] {
        assert_eq!(problem(good), None, "{good:?}");
    }
}

#[test]
fn no_fingerprint_holds_what_only_the_lab_produces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fingerprints");
    let mut found = Vec::new();
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&p).unwrap();
        let v: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        walk(&v, &name, &mut found);
    }
    assert!(files >= 50, "{files} fingerprints in {}", dir.display());
    assert!(
        found.is_empty(),
        "{} lab-only value(s):\n{}",
        found.len(),
        found.join("\n")
    );
}
