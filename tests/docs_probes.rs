//! docs/probes.md's catalogue is `wsfp probes -a --exhaustive --format
//! markdown`: the table matches the built-in probe set, row for row, and
//! no probe's text can break a row.

use std::process::Command;

fn catalogue() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(["probes", "-a", "--exhaustive", "--format", "markdown"])
        .output()
        .expect("run wsfp");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn docs_catalogue_is_the_builtin_probe_set() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/probes.md")).unwrap();
    let set = wsfp::probe::ProbeSet::builtin();
    let heading = format!("## Catalogue (default set, `{}`)", set.version);
    let at = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/probes.md has no heading {heading:?}"));
    let table: Vec<&str> = doc[at..]
        .lines()
        .skip_while(|l| !l.starts_with("| id |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let want = catalogue();
    let want: Vec<&str> = want.lines().collect();
    for (i, (d, w)) in table.iter().zip(&want).enumerate() {
        assert_eq!(
            d, w,
            "docs/probes.md catalogue row {i} differs from the probe set"
        );
    }
    assert_eq!(
        table.len(),
        want.len(),
        "docs/probes.md's catalogue has {} lines, the probe set {} (regenerate it: \
         wsfp probes -a --exhaustive --format markdown)",
        table.len(),
        want.len()
    );
    // Every probe, header and separator besides.
    assert_eq!(want.len(), set.probes.len() + 2);
}

#[test]
fn no_probe_text_breaks_a_table_row() {
    for p in &wsfp::probe::ProbeSet::builtin().probes {
        for (what, text) in [("name", &p.name), ("intent", &p.intent)] {
            assert!(
                !text.chars().any(char::is_control),
                "probe {} {what} has a control character: {text:?}",
                p.id
            );
        }
    }
    // And a row is one line of six cells whatever the text.
    for row in catalogue().lines() {
        let cells = row.replace("\\\\", "").replace("\\|", "");
        assert_eq!(cells.matches('|').count(), 7, "{row}");
    }
}
