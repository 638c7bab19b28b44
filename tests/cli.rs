//! The binary as a user runs it: exit codes, error messages that name
//! what was wrong and where, and one record per input line.

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

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("wsfp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn malformed_url_is_exit_2_with_reason() {
    let (code, _, err) = wsfp(&["scan", "-u", "ftp://x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid target \"ftp://x\": unsupported scheme"),
        "{err}"
    );
    let (code, _, err) = wsfp(&["scan", "-u", "127.0.0.1:99999"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad port"), "{err}");
}

#[test]
fn unreadable_files_are_exit_2() {
    let (code, _, err) = wsfp(&["scan", "-f", "/nonexistent/targets.txt"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read target file /nonexistent/targets.txt"),
        "{err}"
    );
    let (code, _, err) = wsfp(&["scan", "-u", "127.0.0.1:1", "--db", "/nonexistent/db"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/db"), "{err}");
}

#[test]
fn bad_db_file_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("wsfp-cli-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("x.toml"),
        "id = \"x\"\nname = \"x\"\nlibrary = \"x\"\nlanguage = \"x\"\n[provenance]\ndate = \"d\"\nprobe_set = \"p\"\n[features]\n\"100.status\" = \"101\"\n\"9999.status\" = \"101\"\n",
    )
    .unwrap();
    let (code, _, err) = wsfp(&[
        "scan",
        "-n",
        "-u",
        "127.0.0.1:1",
        "--db",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("x.toml:10: feature \"9999.status\": no probe \"9999\""),
        "{err}"
    );
}

/// `--db` is repeatable: the first replaces the built-in DB (or, as
/// `+DIR`/`+FILE`, adds to it), later ones add, and an id already loaded
/// is replaced; a file of one fingerprint is a DB layer of its own.
#[test]
fn db_layers_add_and_replace_by_id() {
    let builtin = concat!(env!("CARGO_MANIFEST_DIR"), "/fingerprints");
    let own = std::fs::read_to_string(format!("{builtin}/py-websockets.toml")).unwrap();
    let renamed = |id: &str, name: &str| {
        own.lines()
            .map(|l| {
                if l.starts_with("id = ") {
                    format!("id = \"{id}\"")
                } else if l.starts_with("name = ") {
                    format!("name = \"{name}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let fork = tmp("db-fork.toml", &renamed("my-fork", "My fork"));
    let fixed = tmp(
        "db-fixed.toml",
        &renamed("py-websockets", "websockets, fixed"),
    );
    let list = |db: &[&str]| -> Vec<(String, String)> {
        let mut args = vec!["fingerprints", "--format", "json"];
        for d in db {
            args.extend(["--db", d]);
        }
        let (code, out, err) = wsfp(&args);
        assert_eq!(code, 0, "{db:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["fingerprints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let base = list(&[]);
    assert!(base.len() > 50, "{base:?}");
    // Added to the built-in DB.
    let plus = format!("+{fork}");
    let added = list(&[&plus]);
    assert_eq!(added.len(), base.len() + 1);
    assert!(added.contains(&("my-fork".into(), "My fork".into())));
    // Alone: only that one.
    assert_eq!(
        list(&[&fork]),
        [("my-fork".to_string(), "My fork".to_string())]
    );
    // A directory, then a file replacing one of its ids.
    let replaced = list(&[builtin, &fixed]);
    assert_eq!(replaced.len(), base.len());
    let name = |l: &[(String, String)]| {
        l.iter()
            .find(|(id, _)| id == "py-websockets")
            .map(|(_, n)| n.clone())
    };
    assert_eq!(name(&replaced).as_deref(), Some("websockets, fixed"));
    assert_eq!(name(&base).as_deref(), Some("websockets"));
    // A missing layer is a usage error naming it.
    let (code, _, err) = wsfp(&["fingerprints", "--db", &plus, "--db", "/nonexistent/x.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.toml"), "{err}");
}

#[test]
fn bad_probe_file_names_file_and_line() {
    let f = tmp(
        "bad-probes.toml",
        "version = \"x\"\n[[probe]]\nid = \"a\"\nseries = 1\nname = \"n\"\nintent = \"i\"\nrisk = \"reckless\"\nlayer = \"frame\"\n",
    );
    let (code, _, err) = wsfp(&["probes", "--probes", &f]);
    assert_eq!(code, 2);
    assert!(err.contains("bad-probes.toml:7"), "{err}");
    assert!(err.contains("reckless"), "{err}");
}

/// Issue #16: `-H`, `--cookie` and `--user-agent` are checked as they are
/// parsed, and a bad one is exit 2 naming the option and the value (its
/// CR and LF escaped), before anything is sent. (A NUL cannot be passed
/// in an argument; the parser refuses it too: see `cli::value`.)
#[test]
fn bad_headers_are_exit_2_naming_option_and_value() {
    for (args, want) in [
        (
            &["-H", "X-Token"][..],
            "invalid value 'X-Token' for '--header <NAME:VALUE>': expected NAME:VALUE (no ':' found)",
        ),
        (
            &["-H", ": 1"],
            "invalid value ': 1' for '--header <NAME:VALUE>': expected a header name before the ':'",
        ),
        (
            &["--header", "X Token: 1"],
            "invalid value 'X Token: 1' for '--header <NAME:VALUE>': expected a header name of letters, digits and !#$%&'*+-.^_`|~ before the ':' (found ' ')",
        ),
        (
            &["-H", "X-A: 1\r\nInjected: 1"],
            "invalid value 'X-A: 1\\r\\nInjected: 1' for '--header <NAME:VALUE>': expected no CR, LF, NUL or other control characters in a header value (found '\\r')",
        ),
        (
            &["--cookie", "a=1\nInjected: 1"],
            "invalid value 'a=1\\nInjected: 1' for '--cookie <COOKIE>': expected no CR, LF, NUL",
        ),
        (
            &["--user-agent", "x\r"],
            "invalid value 'x\\r' for '--user-agent <TEXT>': expected no CR, LF, NUL",
        ),
        (
            &["-H", "Sec-WebSocket-Key: AAAA"],
            "for '--header <NAME:VALUE>': Sec-WebSocket-Key is made anew for every connection",
        ),
        (
            &["--cookie", "a=1", "-H", "Cookie: b=2"],
            "wsfp: --cookie and -H 'Cookie: ...' both given",
        ),
        (
            &["-o", "http://a.test", "-H", "Origin: http://b.test"],
            "wsfp: -o/--origin and -H 'Origin: ...' both given",
        ),
    ] {
        let mut a = vec!["scan", "-n", "-u", "127.0.0.1:1", "--format", "ndjson"];
        a.extend_from_slice(args);
        let (code, out, err) = wsfp(&a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !err.contains('\r'),
            "{args:?}: a CR reached the terminal: {err:?}"
        );
        assert!(out.is_empty(), "{args:?}: no record: {out}");
    }
    // The same values are fine once clean.
    let (code, out, err) = wsfp(&[
        "scan",
        "-n",
        "-u",
        "127.0.0.1:1",
        "--format",
        "ndjson",
        "-H",
        "X-A: 1",
        "--cookie",
        "a=1",
        "--user-agent",
        "",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"refused\""), "{out}");
}

#[test]
fn unknown_series_is_exit_2() {
    let (code, _, err) = wsfp(&["scan", "-u", "127.0.0.1:1", "--series", "4242"]);
    assert_eq!(code, 2);
    assert!(err.contains("--series 4242: no such series"), "{err}");
}

#[test]
fn every_line_yields_one_record_even_bad_and_unreachable_ones() {
    // Port 1 on loopback: refused.
    let f = tmp(
        "targets.txt",
        "# comment\n\n127.0.0.1:1\nnot a target\nws://[::1\n127.0.0.1:1/ws\n",
    );
    let (code, out, err) = wsfp(&["scan", "-n", "-f", &f, "--format", "ndjson"]);
    assert_eq!(code, 0, "{err}");
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4, "{out}");
    let mut by_line: Vec<(u64, String)> = recs
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    by_line.sort();
    assert_eq!(
        by_line,
        vec![
            (3, "refused".into()),
            (4, "invalid_target".into()),
            (5, "invalid_target".into()),
            (6, "refused".into())
        ]
    );
    assert!(err.contains("targets.txt:4: invalid target"), "{err}");
    assert!(recs.iter().all(|r| r["schema_version"] == 2));
    // Never probed, so no verdict: no `implementation` (schema 2).
    assert!(
        recs.iter().all(|r| r.get("implementation").is_none()),
        "{out}"
    );
}

#[test]
fn csv_has_fixed_header() {
    let (code, out, _) = wsfp(&["scan", "-n", "-u", "127.0.0.1:1", "--format", "csv"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "schema_version,target,url,ip,status,http_status,implementation,confidence,candidates,elapsed_ms,bytes_sent,bytes_received,connections,probe_set,error,library,front,backend,app_protocol,tls_version,tls_cipher,tls_alpn,cert_subject,cert_sans,cert_issuer,cert_not_before,cert_not_after,cert_sha256,proxy"
    );
    let row = lines.next().unwrap();
    assert!(row.contains(",refused,"), "{row}");
    // The implementation cell (the 7th) is empty on a record not `ok`.
    let cells: Vec<&str> = row.split(',').collect();
    assert_eq!(cells[0], "2", "{row}");
    assert_eq!(cells[6], "", "{row}");
}

#[test]
fn probes_lists_risk_and_layer() {
    let rows_of = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("id"))
            .map(String::from)
            .collect()
    };
    // Safe by default; every series when named.
    let (code, out, _) = wsfp(&["probes"]);
    assert_eq!(code, 0);
    let safe = rows_of(&out);
    assert_eq!(safe.len(), 30);
    assert!(safe.iter().all(|r| r.contains(" safe ")), "{safe:?}");
    // The offers of both permessage-deflate and deflate-frame kill ttyd
    // (a double free in libwebsockets' extension table): not safe.
    assert!(
        !safe
            .iter()
            .any(|r| r.starts_with("400 ") || r.starts_with("401 "))
    );
    // -a: the full set skips the 15 probes marked same_as another;
    // --exhaustive and named series run them.
    let (_, out, _) = wsfp(&["probes", "-a"]);
    assert_eq!(rows_of(&out).len(), 93 - 15);
    assert!(!rows_of(&out).iter().any(|r| r.starts_with("204 ")));
    let (_, out, _) = wsfp(&["probes", "--series", "200"]);
    assert!(rows_of(&out).iter().any(|r| r.starts_with("204 ")));
    let (_, out, _) = wsfp(&["probes", "-a", "--exhaustive"]);
    let rows = rows_of(&out);
    assert_eq!(rows.len(), 93);
    assert!(
        rows.iter()
            .any(|r| r.starts_with("104") && r.contains("intrusive") && r.contains("frame"))
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("612") && r.contains("heavy"))
    );
}

/// Standard error piped to a reader that has gone (`wsfp ... 2>&1 |
/// head -1`): the scan still writes its record and exits as it would,
/// never 101 (a panic in `eprintln!` on EPIPE, as before).
#[test]
fn a_closed_stderr_pipe_is_no_panic() {
    for args in [
        &["scan", "-n", "-u", "127.0.0.1:1", "--format", "ndjson"][..],
        &["scan", "--no-such-flag"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_wsfp"))
            .args(args)
            .stderr(writer)
            .output()
            .expect("run wsfp");
        let code = out.status.code().unwrap_or(-1);
        assert_ne!(code, 101, "{args:?} panicked");
        if args[1] == "-n" {
            assert_eq!(code, 0, "{args:?}");
            let rec: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
            assert_eq!(rec["status"], "refused");
        } else {
            assert_eq!(code, 2, "{args:?}");
        }
    }
}

/// Run `wsfp` off the runtime that serves the farm.
async fn wsfp_async(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        wsfp(&a)
    })
    .await
    .unwrap()
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn ndjson(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A farm of one identifiable server (tokio-tungstenite) and its address.
async fn tungstenite_farm() -> (wsfp::demo::Farm, std::net::SocketAddr) {
    let mut farm = wsfp::demo::Farm::empty();
    let ws = farm
        .add(
            "127.0.0.1",
            "ws",
            "rs-tokio-tungstenite",
            wsfp::demo::Kind::Tungstenite,
        )
        .await
        .unwrap();
    (farm, ws)
}

/// The text view says why the verdict and not the runner-up (three
/// features); `--explain` writes every separating feature into the record,
/// and NDJSON without it carries none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_say_why() {
    let (farm, ws) = tungstenite_farm().await;
    let url = format!("ws://{ws}/");
    let (code, out, err) =
        wsfp_async(["scan", "-u", &url].iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(code, 0, "{err}");
    let why = out
        .lines()
        .position(|l| l.starts_with("  why rs-tokio-tungstenite and not "))
        .unwrap_or_else(|| panic!("no why line: {out}"));
    let text = out.clone();
    let reasons: Vec<&str> = text
        .lines()
        .skip(why + 1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert!((1..=3).contains(&reasons.len()), "{out}");
    assert!(
        reasons
            .iter()
            .all(|l| l.contains(" saw ") && l.contains(" expects ")),
        "{out}"
    );
    let (_, plain, _) = wsfp_async(
        ["scan", "-u", &url, "--format", "ndjson"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await;
    assert!(ndjson(&plain)[0].get("why").is_none(), "{plain}");
    let (code, out, err) = wsfp_async(
        ["scan", "-u", &url, "--format", "ndjson", "--explain"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let r = &ndjson(&out)[0];
    let why = r["why"].as_array().unwrap();
    // All of them: as many as the text view showed, or more past three.
    assert!(
        why.len() == reasons.len() || (reasons.len() == 3 && why.len() > 3),
        "{r}"
    );
    // Most telling first, and each names what the scan saw.
    let w: Vec<f64> = why.iter().map(|x| x["weight"].as_f64().unwrap()).collect();
    assert!(w.windows(2).all(|p| p[0] >= p[1]) && w[0] > 0.0, "{w:?}");
    assert!(why[0]["feature"].as_str().unwrap().contains('.'));
    farm.stop();
}

/// A target file of one identifiable server and one refused port.
async fn farm_and_refused(name: &str) -> (wsfp::demo::Farm, String) {
    let (farm, ws) = tungstenite_farm().await;
    let f = tmp(
        name,
        &format!("ws://{ws}/\nws://127.0.0.1:{}/\n", closed_port()),
    );
    (farm, f)
}

/// `--only identified` writes the identified record alone, while the
/// summary still counts both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_identified_writes_it_alone_and_the_summary_counts_all() {
    let (farm, f) = farm_and_refused("only-identified.txt").await;
    let base = ["scan", "-f", &f, "--format", "ndjson", "--window", "1"];
    let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    a.extend(["--only".into(), "identified".into()]);
    let (code, out, err) = wsfp_async(a).await;
    assert_eq!(code, 0, "{err}");
    let recs = ndjson(&out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0]["status"], "ok");
    assert_eq!(recs[0]["implementation"], "rs-tokio-tungstenite");
    assert!(err.contains("wsfp: done; 2 records"), "{err}");
    assert!(err.contains("ok 1, refused 1"), "{err}");
    assert!(err.contains("1 of 2 records written"), "{err}");

    // A status, comma-separated with another selector; repeatable.
    for only in [
        &["--only", "refused"][..],
        &["--only", "refused,timeout"][..],
        &["--only", "timeout", "--only", "refused"][..],
    ] {
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        a.extend(only.iter().map(|s| s.to_string()));
        let (code, out, err) = wsfp_async(a).await;
        assert_eq!(code, 0, "{err}");
        let recs = ndjson(&out);
        assert_eq!(recs.len(), 1, "{only:?}: {out}");
        assert_eq!(recs[0]["status"], "refused");
        assert_eq!(recs[0]["schema_version"], 2);
        assert!(recs[0].get("implementation").is_none(), "{out}");
        assert!(err.contains("wsfp: done; 2 records"), "{err}");
    }
    // `unknown` selects neither (the server is identified, the port is
    // not ok); CSV keeps its header.
    let mut a: Vec<String> = ["scan", "-f", &f, "--format", "csv", "--only", "unknown"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push("--silent".into());
    let (code, out, err) = wsfp_async(a).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("schema_version,"), "{out}");
    farm.stop();
}

/// `--only` with `--resume`: the records passed over still count as done,
/// so the finished state covers every unit and a second run has nothing
/// to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_with_resume_marks_every_unit_done() {
    let (farm, f) = farm_and_refused("only-resume.txt").await;
    let dir = std::env::temp_dir().join(format!("wsfp-cli-{}", std::process::id()));
    let (out, state) = (dir.join("only.ndjson"), dir.join("only.state"));
    let _ = std::fs::remove_file(&state);
    let a: Vec<String> = [
        "scan",
        "-f",
        &f,
        "--format",
        "ndjson",
        "--only",
        "refused",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        state.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, _, err) = wsfp_async(a.clone()).await;
    assert_eq!(code, 0, "{err}");
    let recs = ndjson(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(recs.len(), 1);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["finished"], true, "{st}");
    assert_eq!(st["records"], 2, "{st}");
    let (code, _, err) = wsfp_async(a).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to do"), "{err}");
    farm.stop();
}

#[test]
fn bad_only_value_is_exit_2() {
    for v in ["bogus", "ok,bogus", "", "OK"] {
        let (code, out, err) = wsfp(&["scan", "-n", "-u", "127.0.0.1:1", "--only", v]);
        assert_eq!(code, 2, "{v:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("--only"), "{err}");
        assert!(
            err.contains("expected identified, unknown, or a status: ok, not_websocket, refused"),
            "{err}"
        );
    }
}

/// The candidates are listed in the order of the number shown beside
/// them: `mismatch` (the ranking quantity, least first), ties by `score`;
/// and the text view's probe rows run in probe-number order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_follow_their_shown_rank_and_probes_are_numeric() {
    let (farm, ws) = tungstenite_farm().await;
    let url = format!("ws://{ws}/");
    let (code, out, err) = wsfp_async(
        ["scan", "-u", &url, "--format", "ndjson"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let r = &ndjson(&out)[0];
    let c = r["candidates"].as_array().unwrap();
    assert!(c.len() >= 2, "{out}");
    assert_eq!(c[0]["id"], r["implementation"]);
    let key = |c: &serde_json::Value| {
        (
            c["mismatch"].as_f64().unwrap_or(f64::INFINITY),
            -c["score"].as_f64().unwrap(),
        )
    };
    assert!(c[0]["mismatch"].is_number(), "{out}");
    for w in c.windows(2) {
        assert!(
            key(&w[0]) <= key(&w[1]),
            "out of order: {} then {}",
            w[0],
            w[1]
        );
    }

    let (code, text, err) =
        wsfp_async(["scan", "-u", &url].iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(code, 0, "{err}");
    // Candidate rows: `mismatch` shown, and non-decreasing down the list.
    let shown: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split_once(" mismatch ").map(|(_, rest)| rest))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    assert!(shown.len() >= 2, "{text}");
    assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{shown:?}\n{text}");
    // Probe rows (after the `case` header): numbers, ascending.
    let ids: Vec<u64> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("case "))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(ids.contains(&1001) && ids.contains(&101), "{text}");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "{text}");
    farm.stop();
}

/// What a terminal shows after `raw` (a `script` typescript): each line as
/// left by carriage returns and erase-line (`ESC [2K`) sequences.
fn rendered(raw: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let (mut line, mut col): (Vec<char>, usize) = (Vec::new(), 0);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        if d == 'K' && arg == "2" {
                            line.clear();
                        }
                        break;
                    }
                    arg.push(d);
                }
            }
            '\r' => col = 0,
            '\n' => {
                lines.push(line.drain(..).collect());
                col = 0;
            }
            c => {
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    lines.push(line.into_iter().collect());
    lines
}

/// On a real terminal (`script` gives the scan one) the progress bar never
/// leaves a line behind: each record is printed with the bar off the
/// screen, and the bar's rate reads in targets per second.
#[test]
fn the_bar_leaves_no_line_behind_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to give the scan a terminal");
        return;
    }
    let dir = std::env::temp_dir().join(format!("wsfp-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("typescript");
    let cmd = format!("{} demo", env!("CARGO_BIN_EXE_wsfp"));
    let out = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The bar was drawn (else this would prove nothing), in units.
    assert!(raw.contains("targets/s"), "no progress bar drawn: {raw:?}");
    assert!(!raw.contains("/s ETA") || raw.contains(" targets/s ETA"));
    // And it counts the records that named an implementation.
    assert!(raw.contains(" identified"), "no hits counter: {raw:?}");
    let screen = rendered(&raw);
    let stale: Vec<&String> = screen.iter().filter(|l| l.contains("targets/s")).collect();
    assert!(stale.is_empty(), "bar lines left on screen: {stale:#?}");
    assert!(screen.iter().any(|l| l.contains("refused")), "{screen:#?}");
}

/// An app protocol's greeting names `app_protocol` (the record and the CSV
/// column) and is kept as a pushed frame of the connection, while the same
/// implementation without it has none; a custom signature directory
/// replaces the built-in ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greeting_names_the_app_protocol_apart_from_the_implementation() {
    const OPEN: &str = r#"0{"sid":"x9Ab","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;
    let mut farm = wsfp::demo::Farm::empty();
    let kind = wsfp::demo::Kind::Greeter(OPEN);
    let greeter = farm.add("127.0.0.1", "greets", "-", kind).await.unwrap();
    let plain = farm
        .add("127.0.0.1", "echo", "-", wsfp::demo::Kind::Tungstenite)
        .await
        .unwrap();
    let f = tmp(
        "app-protocol.txt",
        &format!("ws://{greeter}/\nws://{plain}/\n"),
    );
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["scan", "-n", "-f", &f, "--window", "1", "--silent"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let (code, out, err) = wsfp_async(args(&["--format", "ndjson"])).await;
    assert_eq!(code, 0, "{err}");
    let recs = ndjson(&out);
    let by = |a: std::net::SocketAddr| {
        recs.iter()
            .find(|r| r["target"].as_str().unwrap().contains(&a.to_string()))
            .unwrap()
            .clone()
    };
    let (g, p) = (by(greeter), by(plain));
    assert_eq!(g["status"], "ok", "{g}");
    assert_eq!(g["app_protocol"], "engine.io", "{g}");
    assert!(p.get("app_protocol").is_none(), "{p}");
    // The greeting is the app's, not a reaction: some observation keeps it
    // as pushed, with its head (the first 64 bytes).
    let heads: Vec<&str> = g["observations"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|o| o["pushed"].as_array())
        .flatten()
        .filter_map(|f| f["head"].as_str())
        .collect();
    assert!(heads.contains(&&OPEN[..64]), "{heads:?}");
    // Both are the same library underneath.
    assert_eq!(g["library"], p["library"], "{g}\n{p}");

    let (code, out, err) = wsfp_async(args(&["--format", "csv"])).await;
    assert_eq!(code, 0, "{err}");
    let mut rows = csv::Reader::from_reader(out.as_bytes());
    let col = rows
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "app_protocol")
        .unwrap();
    let mut names: Vec<String> = rows
        .records()
        .map(|r| r.unwrap()[col].to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["", "engine.io"], "{out}");

    // A DB directory with its own app-protocols/ uses only those.
    let dir = std::env::temp_dir().join(format!("wsfp-app-db-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("app-protocols")).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fingerprints")).unwrap() {
        let e = e.unwrap().path();
        if e.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&e, dir.join(e.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.join("app-protocols/mine.toml"),
        "[[app_protocol]]\nname = \"my-eio\"\ndescription = \"test\"\npushed_prefix = ['0{\"sid\"']\nexamples = ['0{\"sid\":\"a\"}']\n",
    )
    .unwrap();
    let db = dir.display().to_string();
    let (code, out, err) = wsfp_async(args(&["--format", "ndjson", "--db", &db])).await;
    assert_eq!(code, 0, "{err}");
    let named: Vec<_> = ndjson(&out)
        .iter()
        .filter_map(|r| r["app_protocol"].as_str().map(str::to_string))
        .collect();
    assert_eq!(named, ["my-eio"], "{out}");
    // A signature whose example it does not name is a DB error, exit 2.
    std::fs::write(
        dir.join("app-protocols/mine.toml"),
        "[[app_protocol]]\nname = \"bad\"\ndescription = \"test\"\npushed_prefix = ['INFO ']\nexamples = ['HELLO']\n",
    )
    .unwrap();
    let (code, _, err) = wsfp_async(args(&["--db", &db])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mine.toml") && err.contains("HELLO"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    farm.stop();
}
