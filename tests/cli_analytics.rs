//! Survey analytics as a user runs them: `match`, `report`, `diff` and the
//! shard-manifest check, on real scan output (a lab scan stored in
//! tests/data/analytics, and a live `wsfp demo` scan), with every JSON
//! output validated against the schemas in docs/schema.
//!
//! lab-before.ndjson / lab-after.ndjson are two real scans of the shared
//! lab, 16 endpoints each; between them port 9001 was restarted with
//! another implementation (py-websockets → node ws).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const BEFORE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/analytics/lab-before.ndjson"
);
const AFTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/analytics/lab-after.ndjson"
);
const FINGERPRINTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fingerprints");

fn wsfp_in(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wsfp");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wsfp(args: &[&str]) -> (i32, String, String) {
    wsfp_in(args, None)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wsfp-analytics-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Validate every instance against docs/schema/<name>, naming each error.
fn assert_schema(name: &str, instances: &[Value]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    assert!(!instances.is_empty(), "nothing to validate against {name}");
    for (i, inst) in instances.iter().enumerate() {
        let errs: Vec<String> = v
            .iter_errors(inst)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errs.is_empty(), "{name}, instance {i}: {errs:#?}");
    }
}

fn endpoint(r: &Value) -> String {
    r.get("url")
        .or(r.get("target"))
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

/// The report's counts, recomputed from the raw NDJSON without any of
/// wsfp's code, must equal what `report --format json` says.
fn check_report_against_records(records: &[Value], report: &Value) {
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut imp: BTreeMap<String, u64> = BTreeMap::new();
    let mut port: BTreeMap<String, u64> = BTreeMap::new();
    let mut identified_conf = 0u64;
    for r in records {
        *status
            .entry(r["status"].as_str().unwrap().into())
            .or_default() += 1;
        let url = endpoint(r);
        let hostport = url.split("://").nth(1).unwrap().split('/').next().unwrap();
        *port
            .entry(hostport.rsplit(':').next().unwrap().into())
            .or_default() += 1;
        if r["status"] == "ok" {
            let i = r["implementation"].as_str().unwrap();
            *imp.entry(i.into()).or_default() += 1;
            if i != "unknown" {
                identified_conf += 1;
            }
        }
    }
    let table = |name: &str| -> BTreeMap<String, u64> {
        report[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["key"].as_str().unwrap().to_string(),
                    row["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let ws: u64 = imp.values().sum();
    assert_eq!(report["records"].as_u64().unwrap(), records.len() as u64);
    assert_eq!(report["websocket"].as_u64().unwrap(), ws);
    assert_eq!(table("status"), status);
    assert_eq!(table("implementation"), imp);
    assert_eq!(table("port"), port);
    let unknown = imp.get("unknown").copied().unwrap_or(0);
    assert_eq!(report["unknown"].as_u64().unwrap(), unknown);
    let share = report["unknown_share"].as_f64().unwrap();
    assert!((share - unknown as f64 / ws.max(1) as f64).abs() < 1e-5);
    for t in ["library", "family", "language", "version"] {
        let sum: u64 = table(t).values().sum();
        assert_eq!(sum, ws, "{t} table covers every WebSocket endpoint");
    }
    let buckets: u64 = report["confidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(buckets, identified_conf);
    for row in report["implementation"].as_array().unwrap() {
        let want = row["count"].as_u64().unwrap() as f64 / ws as f64;
        assert!(
            (row["share"].as_f64().unwrap() - want).abs() < 1e-5,
            "{row}"
        );
    }
}

#[test]
fn report_counts_equal_the_lab_scan_records() {
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let records = lines(&text);
    assert_schema("record.schema.json", &records);
    let (code, out, err) = wsfp(&["report", BEFORE, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_schema("report.schema.json", std::slice::from_ref(&report));
    check_report_against_records(&records, &report);
    // Two inputs count twice; stdin ('-') reads the same as a file.
    let (code, out, _) = wsfp_in(&["report", BEFORE, "-", "--format", "json"], Some(&text));
    assert_eq!(code, 0);
    let twice: Value = serde_json::from_str(&out).unwrap();
    let doubled: Vec<Value> = records.iter().chain(&records).cloned().collect();
    check_report_against_records(&doubled, &twice);
}

#[test]
fn live_demo_scan_validates_and_reports_exactly() {
    let (code, out, err) = wsfp(&["demo", "--format", "ndjson"]);
    assert_eq!(code, 0, "{err}");
    let records = lines(&out);
    assert!(records.len() >= 3);
    // Each endpoint's expected verdict (as the demo prints it: a
    // fingerprint id, or a status) is what its record says.
    let expected: Vec<(&str, &str)> = err
        .lines()
        .skip_while(|l| !l.starts_with("expected per endpoint"))
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?, w.next()?))
        })
        .filter(|(url, _)| url.starts_with("ws://"))
        .collect();
    assert_eq!(expected.len(), records.len(), "{err}");
    for (url, want) in expected {
        let r = records
            .iter()
            .find(|r| r["target"] == url)
            .unwrap_or_else(|| panic!("no record for {url}"));
        let status = r["status"].as_str().unwrap();
        let ok = if want.contains('-') {
            status == "ok" && r["implementation"] == want
        } else {
            status == want
        };
        assert!(
            ok,
            "{url}: expected {want}, got {status} {}",
            r["implementation"]
        );
    }
    assert!(err.contains("endpoints as expected"), "{err}");
    assert_schema("record.schema.json", &records);
    let dir = tmpdir("demo");
    let f = write(&dir, "demo.ndjson", &out);
    let (code, rep, err) = wsfp(&["report", &f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&rep).unwrap();
    assert_schema("report.schema.json", std::slice::from_ref(&report));
    check_report_against_records(&records, &report);
    // A refused scan record (no observations) also fits the schema.
    let (_, out, _) = wsfp(&["scan", "-n", "-u", "127.0.0.1:1", "--format", "ndjson"]);
    assert_schema("record.schema.json", &lines(&out));
}

#[test]
fn report_formats() {
    let (code, html, _) = wsfp(&["report", BEFORE, "--format", "html"]);
    assert_eq!(code, 0);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    // Self-contained: nothing to fetch (the SVG namespace is an identifier).
    let fetches = ["<script", "<link", "src=", "@import", "url("];
    for f in fetches {
        assert!(!html.contains(f), "{f} in the HTML");
    }
    assert_eq!(
        html.matches("http").count(),
        html.matches("xmlns=\"http").count()
    );
    let (code, csv, _) = wsfp(&["report", BEFORE, "--format", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().next(), Some("table,key,name,count,share"));
    let statuses: u64 = csv
        .lines()
        .filter(|l| l.starts_with("status,"))
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        statuses,
        lines(&std::fs::read_to_string(BEFORE).unwrap()).len() as u64
    );
    let (code, text, _) = wsfp(&["report", BEFORE]);
    assert_eq!(code, 0);
    assert!(
        text.contains("implementation (of WebSocket endpoints)"),
        "{text}"
    );
}

/// A stored scan, re-scored after the DB gains a fingerprint: the endpoint
/// that was `unknown` gets the new name, and nothing else changes.
#[test]
fn match_relabels_after_a_fingerprint_is_added() {
    // Jetty: without its fingerprint the stored (probe set 2) scan is
    // `unknown`. (Gorilla's is not: since the DB holds NATS, another Go
    // server, that thin scan fits NATS at 0.99; see issue #13.)
    let id = "java-jetty";
    let dir = tmpdir("match");
    let old_db = dir.join("db-without");
    std::fs::create_dir_all(&old_db).unwrap();
    for e in std::fs::read_dir(FINGERPRINTS).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") && !p.ends_with(format!("{id}.toml")) {
            std::fs::copy(&p, old_db.join(p.file_name().unwrap())).unwrap();
        }
    }
    let (code, old, err) = wsfp(&["match", BEFORE, "--db", old_db.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let old_records = lines(&old);
    assert_schema("record.schema.json", &old_records);
    // The stored scan is schema 1 (`implementation: unknown` on its
    // refused record too); match writes schema 2, where only `ok` records
    // have an implementation.
    let stored_refused = lines(&std::fs::read_to_string(BEFORE).unwrap())
        .into_iter()
        .filter(|r| r["status"] != "ok")
        .inspect(|r| {
            assert_eq!(
                (r["schema_version"].as_u64(), r["implementation"].as_str()),
                (Some(1), Some("unknown"))
            )
        })
        .count();
    assert!(stored_refused >= 1);
    for r in &old_records {
        assert_eq!(r["schema_version"], 2, "{r}");
        assert_eq!(
            r.get("implementation").is_some(),
            r["status"] == "ok",
            "{r}"
        );
    }
    let scanned = lines(&std::fs::read_to_string(BEFORE).unwrap());
    let target = scanned
        .iter()
        .find(|r| r["implementation"] == id)
        .map(endpoint)
        .expect("the lab scan has a Jetty endpoint");
    let find = |rs: &[Value]| rs.iter().find(|r| endpoint(r) == target).cloned().unwrap();
    assert_eq!(find(&old_records)["implementation"], "unknown");
    // --without gives the same verdict as the smaller DB directory.
    let (_, without, _) = wsfp(&["match", BEFORE, "--without", id]);
    assert_eq!(find(&lines(&without))["implementation"], "unknown");
    // The fingerprint is added: re-match the stored (unknown) output.
    let stored = write(&dir, "old-match.ndjson", &old);
    let (code, new, err) = wsfp(&["match", &stored, "--db", FINGERPRINTS]);
    assert_eq!(code, 0, "{err}");
    let new_records = lines(&new);
    assert_schema("record.schema.json", &new_records);
    assert_eq!(find(&new_records)["implementation"], id);
    assert_eq!(
        new_records.len(),
        scanned.len(),
        "one record out per record in"
    );
    // Re-matching the stored output gives what matching the scan itself
    // with the whole DB gives (the verdicts stored in the scan are those of
    // the DB of its day, which has been learned again since).
    let (code, direct, err) = wsfp(&["match", BEFORE, "--db", FINGERPRINTS]);
    assert_eq!(code, 0, "{err}");
    for ((a, b), c) in new_records.iter().zip(&scanned).zip(&lines(&direct)) {
        assert_eq!(endpoint(a), endpoint(b), "order kept (streaming)");
        assert_eq!(a["implementation"], c["implementation"], "{}", endpoint(a));
    }
    // The diff of the two match outputs names exactly that endpoint.
    let newf = write(&dir, "new-match.ndjson", &new);
    let (code, d, _) = wsfp(&["diff", &stored, &newf, "--format", "ndjson"]);
    assert_eq!(code, 1);
    // Exactly the endpoints the new fingerprint names changed: the
    // gorilla server, and the one behind HAProxy (its frames).
    let changes = lines(&d);
    let named: Vec<String> = new_records
        .iter()
        .filter(|r| r["implementation"] == id)
        .map(endpoint)
        .collect();
    assert!(named.contains(&target), "{d}");
    assert_eq!(changes.len(), named.len(), "{d}");
    for c in &changes {
        assert!(named.iter().any(|n| c["endpoint"] == n.as_str()), "{d}");
        assert_eq!(c["new"]["implementation"], id);
    }
}

#[test]
fn diff_finds_the_real_lab_change() {
    let (code, out, err) = wsfp(&["diff", BEFORE, AFTER, "--format", "ndjson"]);
    assert_eq!(code, 1, "{err}");
    let changes = lines(&out);
    assert_schema("diff.schema.json", &changes);
    // Independently: endpoints whose status or implementation differ.
    let key = |rs: Vec<Value>| -> BTreeMap<String, (String, String)> {
        rs.into_iter()
            .map(|r| {
                (
                    endpoint(&r),
                    (
                        r["status"].as_str().unwrap().to_string(),
                        // Absent on a record that is not `ok` (schema 2).
                        r["implementation"].as_str().unwrap_or("-").to_string(),
                    ),
                )
            })
            .collect()
    };
    let a = key(lines(&std::fs::read_to_string(BEFORE).unwrap()));
    let b = key(lines(&std::fs::read_to_string(AFTER).unwrap()));
    let expected: BTreeSet<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(expected.contains("ws://127.0.0.1:9001/"), "{expected:?}");
    let got: BTreeSet<String> = changes
        .iter()
        .map(|c| c["endpoint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, expected);
    let c = changes
        .iter()
        .find(|c| c["endpoint"] == "ws://127.0.0.1:9001/")
        .unwrap();
    assert_eq!(
        c["old"]["implementation"],
        a["ws://127.0.0.1:9001/"].1.as_str()
    );
    assert_eq!(
        c["new"]["implementation"],
        b["ws://127.0.0.1:9001/"].1.as_str()
    );
    // The same scan against itself: no change, exit 0, no output.
    let (code, out, _) = wsfp(&["diff", BEFORE, BEFORE]);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn diff_appeared_disappeared_and_status() {
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let mut recs = lines(&text);
    let dir = tmpdir("diff");
    let old = write(
        &dir,
        "old.ndjson",
        &recs.iter().map(|r| format!("{r}\n")).collect::<String>(),
    );
    let gone = endpoint(&recs.remove(0));
    let mut moved = recs[0].clone();
    moved["url"] = Value::from("ws://127.0.0.1:19999/");
    recs.push(moved);
    recs[1]["status"] = Value::from("refused");
    let flipped = endpoint(&recs[1]);
    let new = write(
        &dir,
        "new.ndjson",
        &recs.iter().map(|r| format!("{r}\n")).collect::<String>(),
    );
    let (code, out, err) = wsfp(&["diff", &old, &new]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("+ ws://127.0.0.1:19999/"), "{out}");
    assert!(out.contains(&format!("- {gone}")), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("~ {flipped}")) && l.contains("status ok -> refused")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        err.contains("1 appeared, 1 disappeared, 1 changed"),
        "{err}"
    );
    let (_, nd, _) = wsfp(&["diff", &old, &new, "--format", "ndjson"]);
    assert_schema("diff.schema.json", &lines(&nd));
}

/// Bad lines: named by file:line, the rest still processed, exit 2.
#[test]
fn bad_lines_get_file_and_line_and_the_rest_is_read() {
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let good: Vec<&str> = text.lines().take(3).collect();
    let newer = good[1].replacen("\"schema_version\":1", "\"schema_version\":3", 1);
    let older = good[1].replacen("\"schema_version\":1", "\"schema_version\":0", 1);
    assert_ne!(newer, good[1], "fixture spells schema_version compactly");
    let body = [
        good[0],
        &good[1][..good[1].len() / 2],
        &newer,
        "this is not json",
        &older,
        good[2],
    ]
    .join("\n");
    let dir = tmpdir("bad");
    let f = write(&dir, "bad.ndjson", &body);
    let (code, out, err) = wsfp(&["report", &f, "--format", "json"]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{f}:2: not JSON")), "{err}");
    assert!(
        err.contains(&format!("{f}:3: schema_version 3")) && err.contains("newer wsfp"),
        "{err}"
    );
    assert!(err.contains(&format!("{f}:4: not JSON")), "{err}");
    assert!(
        err.contains(&format!("{f}:5: schema_version 0")) && err.contains("older wsfp"),
        "{err}"
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["records"], 2, "lines 1 and 6 still counted");
    assert_eq!(report["bad_lines"], 4);
    let (code, out, err) = wsfp(&["match", &f]);
    assert_eq!(code, 2);
    assert_eq!(lines(&out).len(), 2);
    assert!(err.contains(&format!("{f}:3:")), "{err}");
    let (code, _, err) = wsfp(&["diff", BEFORE, &f]);
    assert_eq!(code, 2, "errors beat changes");
    assert!(err.contains(&format!("{f}:4: not JSON")), "{err}");
    let (code, _, err) = wsfp(&["report", "/nonexistent/x.ndjson"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/x.ndjson"), "{err}");
    let (code, _, _) = wsfp(&["diff", "/nonexistent/x.ndjson", BEFORE]);
    assert_eq!(code, 2);
}

#[test]
fn report_refuses_a_mismatched_shard_merge() {
    use wsfp::output::manifest::{MANIFEST_VERSION, ShardManifest, input_hash};
    let dir = tmpdir("shards");
    let shard = |i: u32, seed: u64| ShardManifest {
        schema_version: MANIFEST_VERSION,
        wsfp_version: env!("CARGO_PKG_VERSION").into(),
        seed,
        shard_index: i,
        shard_count: 2,
        input_hash: input_hash(b"127.0.0.1:9001\n127.0.0.1:9002\n"),
        db_version: "60fp-x".into(),
        probe_set: "wsfp-probes-2".into(),
        started: "2026-11-23T00:00:00Z".into(),
        finished: "2026-11-23T00:01:00Z".into(),
        records: 8,
        default_exclude: true,
        default_excluded: [("127.0.0.0/8".to_string(), 2u64)].into_iter().collect(),
    };
    let path = |n: &str| dir.join(n).display().to_string();
    shard(0, 7).write(Path::new(&path("m0.json"))).unwrap();
    shard(1, 7).write(Path::new(&path("m1.json"))).unwrap();
    shard(1, 8)
        .write(Path::new(&path("m1-other-seed.json")))
        .unwrap();
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(path("m0.json")).unwrap()).unwrap();
    assert_schema("manifest.schema.json", &[on_disk]);
    let (code, _, err) = wsfp(&[
        "report",
        BEFORE,
        "--manifests",
        &path("m0.json"),
        &path("m1.json"),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = wsfp(&[
        "report",
        BEFORE,
        "--manifests",
        &path("m0.json"),
        &path("m1-other-seed.json"),
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "no report from a bad merge");
    assert!(
        err.contains("refusing to merge: shard 1 has seed 8, but shard 0 has 7"),
        "{err}"
    );
    let (code, _, err) = wsfp(&["report", BEFORE, "--manifests", &path("m0.json")]);
    assert_eq!(code, 2);
    assert!(err.contains("shard(s) 1 of 0..2 missing"), "{err}");
    std::fs::write(path("bad.json"), "{\"schema_version\": 9}").unwrap();
    let (code, _, err) = wsfp(&["report", BEFORE, "--manifests", &path("bad.json")]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.json: manifest schema_version 9"), "{err}");
}

/// `diff --evidence`: the same scan against itself is no change; one
/// observation field changed (a close code) is a change listing that
/// probe's feature and field, and timing alone is not.
#[test]
fn diff_evidence_names_the_probe_whose_evidence_moved() {
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let (code, out, err) = wsfp(&["diff", "--evidence", BEFORE, BEFORE]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let mut recs = lines(&text);
    let i = recs
        .iter()
        .position(|r| {
            r["observations"].as_object().is_some_and(|o| {
                o.values().any(|v| {
                    v["frames"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f["close_code"].is_u64()))
                })
            })
        })
        .expect("a record with a close frame");
    let (probe, _) = recs[i]["observations"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| {
            v["frames"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["close_code"].is_u64()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    // Timing only: not a difference.
    for o in recs[i]["observations"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        if o.get("latency_ms").is_some() {
            o["latency_ms"] = Value::from(99999.0);
        }
    }
    let dir = tmpdir("diff-evidence");
    let timing = write(
        &dir,
        "timing.ndjson",
        &recs.iter().map(|r| format!("{r}\n")).collect::<String>(),
    );
    let (code, out, err) = wsfp(&["diff", "--evidence", BEFORE, &timing]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    for f in recs[i]["observations"][&probe]["frames"]
        .as_array_mut()
        .unwrap()
    {
        if f["close_code"].is_u64() {
            f["close_code"] = Value::from(4999);
        }
    }
    let changed = endpoint(&recs[i]);
    let new = write(
        &dir,
        "new.ndjson",
        &recs.iter().map(|r| format!("{r}\n")).collect::<String>(),
    );
    let (code, out, err) = wsfp(&["diff", "--evidence", BEFORE, &new]);
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with(&format!("~ {changed}  ")), "{out}");
    assert!(out.contains(&format!("{probe}.close_code ")), "{out}");
    assert!(out.contains(&format!("{probe}.frames differs")), "{out}");
    // Without --evidence the verdicts are compared only: no change.
    let (code, _, _) = wsfp(&["diff", BEFORE, &new]);
    assert_eq!(code, 0);
    let (_, nd, _) = wsfp(&["diff", "--evidence", BEFORE, &new, "--format", "ndjson"]);
    assert_schema("diff.schema.json", &lines(&nd));
}

/// `evaluate`'s leave-one-out check is a gate: a wrong name fails the run
/// (exit 1) even when top-1 accuracy is allowed to be anything, and
/// `--max-loo-wrong` relaxes it. The py-websockets scan is labelled
/// go-gorilla, so leaving go-gorilla out of the DB names websockets (by
/// its id, or at library level, `pypi:websockets`): a wrong library.
#[test]
fn evaluate_fails_on_a_leave_one_out_wrong_name() {
    let d = tmpdir("evaluate-loo");
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let one: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""target":"127.0.0.1:9001""#))
        .collect();
    assert_eq!(one.len(), 1);
    let records = write(&d, "one.ndjson", &format!("{}\n", one[0]));
    let run = |label: &str, extra: &[&str]| {
        let labels = write(&d, "labels.tsv", &format!("127.0.0.1:9001\t{label}\n"));
        let mut args = vec![
            "evaluate",
            &records,
            "--labels",
            &labels,
            "--min-accuracy",
            "0",
        ];
        args.extend_from_slice(extra);
        wsfp(&args)
    };
    let (code, out, err) = run("py-websockets", &[]);
    assert_eq!(code, 0, "right label: {out}{err}");
    assert!(out.contains("0 wrong name(s)"), "{out}");

    let (code, out, err) = run("go-gorilla", &[]);
    assert_eq!(code, 1, "a leave-one-out wrong name must fail: {out}{err}");
    // websockets, by its id or (when its frameworks tie with it) its
    // library: either way not gorilla's library.
    assert!(
        out.contains("1 wrong name(s)")
            && (out.contains("wrong: 127.0.0.1:9001 (go-gorilla) -> pypi:websockets")
                || out.contains("wrong: 127.0.0.1:9001 (go-gorilla) -> py-websockets ")),
        "{out}"
    );
    let (code, out, err) = run("go-gorilla", &["--max-loo-wrong", "1"]);
    assert_eq!(code, 0, "relaxed by --max-loo-wrong: {out}{err}");
    let (code, _, err) = run("go-gorilla", &["--max-loo-wrong", "x"]);
    assert_eq!(code, 2, "{err}");
}

/// The `tls` object of a wss record, as `wsfp scan` writes it (the
/// in-process TLS tests check a live scan's).
fn tls_object() -> Value {
    serde_json::json!({
        "version": "TLSv1.3",
        "cipher": "TLS_AES_128_GCM_SHA256",
        "alpn": "http/1.1",
        "chain_length": 2,
        "cert": {
            "subject_cn": "example.test",
            "subject": "O=Example, CN=example.test",
            "issuer_cn": "Example CA",
            "issuer": "O=Example, CN=Example CA",
            "san_dns": ["example.test", "www.example.test"],
            "san_ip": ["127.0.0.1"],
            "not_before": "2025-01-02T00:00:00Z",
            "not_after": "2030-06-30T00:00:00Z",
            "serial": "0102a3",
            "sha256": "47209c9b7af839de69e9a9cd625e9182c1ad63dae79ed88a2dd680fe34218620",
            "self_signed": false
        }
    })
}

/// Every CSV row, zipped with the header, says what the NDJSON record of
/// the same scan says, column by column (two swapped columns, or a header
/// that drifted from the rows, fail here). `match` writes the stored lab
/// scan in both formats, its first record given a `tls` object (the
/// other records, without one, are read as before: no `tls`, empty
/// cells).
#[test]
fn csv_rows_zipped_with_the_header_equal_the_ndjson_records() {
    let text = std::fs::read_to_string(BEFORE).unwrap();
    let mut input = lines(&text);
    input[0]["tls"] = tls_object();
    input[1]["proxy"] = Value::from("socks5://127.0.0.1:1080");
    let scan = tmpdir("zip").join("scan.ndjson");
    let body: Vec<String> = input.iter().map(Value::to_string).collect();
    std::fs::write(&scan, body.join("\n") + "\n").unwrap();
    let scan = scan.to_str().unwrap();
    let (code, nd, err) = wsfp(&["match", scan, "--format", "ndjson"]);
    assert_eq!(code, 0, "{err}");
    let (code, csv_text, err) = wsfp(&["match", scan, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let records = lines(&nd);
    assert_schema("record.schema.json", &records);
    assert_eq!(records[0]["tls"], tls_object(), "kept by match");
    assert!(records[1..].iter().all(|r| r.get("tls").is_none()));
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.len(), 29, "{header:?}");
    // The TLS columns, and where the record holds each.
    let tls_path = |name: &str| -> Option<&'static [&'static str]> {
        Some(match name {
            "tls_version" => &["tls", "version"],
            "tls_cipher" => &["tls", "cipher"],
            "tls_alpn" => &["tls", "alpn"],
            "cert_subject" => &["tls", "cert", "subject"],
            "cert_sans" => &["tls", "cert"],
            "cert_issuer" => &["tls", "cert", "issuer"],
            "cert_not_before" => &["tls", "cert", "not_before"],
            "cert_not_after" => &["tls", "cert", "not_after"],
            "cert_sha256" => &["tls", "cert", "sha256"],
            _ => return None,
        })
    };
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), records.len());
    assert!(records.len() >= 10);
    for (row, rec) in rows.iter().zip(&records) {
        assert_eq!(row.len(), header.len());
        for (name, cell) in header.iter().zip(row.iter()) {
            let field = match tls_path(name) {
                Some(path) => path.iter().fold(rec, |v, k| &v[*k]),
                None => &rec[name.as_str()],
            };
            let want = match (name.as_str(), field) {
                // DNS names, then addresses.
                ("cert_sans", Value::Object(c)) => c["san_dns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .chain(c["san_ip"].as_array().unwrap())
                    .map(|n| n.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(";"),
                ("candidates", Value::Array(c)) => c
                    .iter()
                    .map(|c| {
                        let score = c["score"].as_f64().unwrap();
                        format!("{}:{score}", c["id"].as_str().unwrap())
                    })
                    .collect::<Vec<_>>()
                    .join(";"),
                (_, Value::Null) => String::new(),
                (_, Value::String(s)) => s.clone(),
                // Numbers as numbers: CSV writes 1.0 as `1`.
                (_, Value::Number(n)) => {
                    let got: f64 = cell.parse().unwrap_or(f64::NAN);
                    assert_eq!(Some(got), n.as_f64(), "column {name} of {}", rec["target"]);
                    continue;
                }
                (n, v) => panic!("column {n}: record holds {v}"),
            };
            assert_eq!(cell, want, "column {name} of {}", rec["target"]);
        }
    }
}

/// `wsfp pcap --frames` on a synthetic capture (IPv4 and IPv6; a
/// permessage-deflate connection closed by both sides, a subprotocol one
/// left open at the end of the capture): every log line fits
/// docs/schema/pcap.schema.json, each of the four logs present.
#[test]
fn pcap_logs_fit_their_schema() {
    use wsfp::passive::synth::{Conn, PcapWriter, client_frame, ipv6_capture, server_frame};
    let mut w = PcapWriter::new();
    let mut a = Conn::new(
        ([10, 0, 0, 1], 40000),
        ([10, 0, 0, 2], 8080),
        1_700_000_000.0,
    );
    a.open(&mut w);
    a.upgrade(
        &mut w,
        "Origin: http://lab\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
        "Server: synth\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
    );
    a.c2s(&mut w, &client_frame(1, b"hello"));
    a.s2c(&mut w, &server_frame(1, b"hello"));
    a.c2s(&mut w, &client_frame(9, b"p"));
    a.s2c(&mut w, &server_frame(10, b"p"));
    a.s2c(&mut w, &server_frame(2, &[0xa5; 300]));
    a.c2s(&mut w, &client_frame(8, &[0x03, 0xe8, b'b', b'y', b'e']));
    a.s2c(&mut w, &server_frame(8, &[0x03, 0xe8]));
    a.close(&mut w);
    let mut b = Conn::new(
        ([10, 0, 0, 3], 40001),
        ([10, 0, 0, 2], 8080),
        1_700_000_001.0,
    );
    b.open(&mut w);
    b.upgrade(
        &mut w,
        "Sec-WebSocket-Protocol: mqtt, chat\r\n",
        "Sec-WebSocket-Protocol: mqtt\r\n",
    );
    b.c2s(&mut w, &client_frame(2, &[0x10, 0x00]));
    b.s2c(&mut w, &server_frame(0x1, b"unmasked ok"));
    let dir = tmpdir("pcap-schema");
    let v4 = dir.join("v4.pcap");
    std::fs::write(&v4, &w.out).unwrap();
    let v6 = dir.join("v6.pcap");
    std::fs::write(&v6, ipv6_capture(&w.out, None)).unwrap();
    let mut all = Vec::new();
    for p in [&v4, &v6] {
        let (code, out, err) = wsfp(&["pcap", "--frames", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        all.extend(lines(&out));
    }
    let logs: BTreeSet<&str> = all.iter().filter_map(|r| r["log"].as_str()).collect();
    assert_eq!(
        logs,
        BTreeSet::from([
            "websocket_connection",
            "websocket_frame",
            "websocket_handshake",
            "websocket_message"
        ]),
        "{all:#?}"
    );
    assert!(all.iter().any(|r| r["id.orig_h"] == "10.0.0.1"));
    assert!(
        all.iter()
            .any(|r| r["id.orig_h"].as_str().is_some_and(|h| h.contains(':')))
    );
    assert!(
        all.iter()
            .any(|r| !r["permessage_deflate"].is_null() && r["log"] == "websocket_handshake")
    );
    assert!(all.iter().any(|r| r["end"] == "end_of_capture"));
    assert_schema("pcap.schema.json", &all);
    // A line of another log, or a field too many, does not fit.
    let mut bad = all[0].clone();
    bad["extra"] = Value::from(1);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/pcap.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(!v.is_valid(&bad));
    let mut bad = all[0].clone();
    bad["log"] = Value::from("websocket_other");
    assert!(!v.is_valid(&bad));
}
