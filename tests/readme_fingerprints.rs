//! README's "Supported implementations" section is the built-in DB's own
//! listing (`wsfp fingerprints --format markdown`): regenerating the DB
//! without regenerating the section fails here, with the command to run.

use wsfp::fingerprint::Db;
use wsfp::probe::ProbeSet;

const BEGIN: &str = "<!-- BEGIN wsfp fingerprints --format markdown -->\n";
const END: &str = "<!-- END wsfp fingerprints -->";

#[test]
fn readme_lists_every_fingerprint_of_the_builtin_db() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find(BEGIN).expect("README has the BEGIN marker") + BEGIN.len();
    let len = readme[start..]
        .find(END)
        .expect("README has the END marker");
    let section = &readme[start..start + len];
    let db = Db::embedded(&ProbeSet::builtin()).unwrap();
    let want = wsfp::cli::fingerprints::markdown(&db);
    assert!(
        section == want,
        "README.md's implementation list is not the DB's: replace the section between the markers with \
         the output of `wsfp fingerprints --format markdown`"
    );
    // Every fingerprint is a row of it, by id.
    for f in &db.fingerprints {
        assert!(section.contains(&format!("| `{}` |", f.id)), "{}", f.id);
    }
}
