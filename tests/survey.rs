//! The survey pipeline as a user drives it (the binary, on loopback only):
//! one record per input unit under faults, exclusions that are never
//! connected to (also through DNS), the resolver's cache, shards that are
//! disjoint and cover the input, and SIGKILL + --resume losing nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use wsfp::demo::{Farm, Kind};

fn key(r: &serde_json::Value) -> (Option<u64>, String) {
    (
        r["line"].as_u64(),
        r["target"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_still_give_one_record_per_input_and_exclusions_are_never_touched() {
    let dir = tmpdir("faults");
    let mut farm = Farm::empty();
    let ws = farm
        .add("127.0.0.1", "ws", "ok", Kind::Tungstenite)
        .await
        .unwrap();
    let http = farm
        .add("127.0.0.1", "404", "nw", Kind::Http404)
        .await
        .unwrap();
    let silent = farm
        .add("127.0.0.1", "silent", "to", Kind::Silent)
        .await
        .unwrap();
    // The excluded address listens and counts: it must see nothing.
    let excluded = counting_listener("127.0.0.2").await;
    let ep = excluded.addr.port();
    let dns = dns(&[
        ("ws.test", "127.0.0.1".parse().unwrap()),
        ("into-excluded.test", "127.0.0.2".parse().unwrap()),
    ])
    .await;
    let closed = closed_port();
    let lines = [
        format!("ws://{ws}/"),                  // 1 ok
        format!("ws.test:{}", ws.port()),       // 2 ok through DNS
        format!("ws.test:{}/again", ws.port()), // 3 same name: cached
        format!("127.0.0.1:{}", http.port()),   // 4 not_websocket
        format!("127.0.0.1:{}", silent.port()), // 5 timeout
        format!("127.0.0.1:{closed}"),          // 6 refused
        "nx.test:80".to_string(),               // 7 dns_error
        "bad host!".to_string(),                // 8 invalid_target
        format!("127.0.0.2:{ep}"),              // 9 excluded
        format!("into-excluded.test:{ep}"),     // 10 excluded via DNS
        "127.0.0.2-127.0.0.2".to_string(),      // 11 excluded (range, -p)
        format!("127.0.0.2,,tagged,{ep},/x"),   // 12 excluded (zgrab CSV)
        "127.0.0.1:99999".to_string(),          // 13 invalid_target
    ];
    let file = dir.join("targets.txt");
    std::fs::write(&file, format!("# faults\n{}\n", lines.join("\n"))).unwrap();
    let (code, out, err) = wsfp(args(&[
        "scan",
        "-n",
        "-f",
        file.to_str().unwrap(),
        "-p",
        &ep.to_string(),
        "--exclude",
        "127.0.0.2/32",
        "--resolver",
        &dns.addr.to_string(),
        "--format",
        "ndjson",
        "--handshake-timeout",
        "700",
        "--target-timeout",
        "20000",
        "--retries",
        "0",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), lines.len(), "one record per line: {out}");
    let by_line: BTreeMap<u64, &serde_json::Value> = recs
        .iter()
        .map(|r| (r["line"].as_u64().expect("line"), r))
        .collect();
    let expect = [
        "ok",
        "ok",
        "ok",
        "not_websocket",
        "timeout",
        "refused",
        "dns_error",
        "invalid_target",
        "excluded",
        "excluded",
        "excluded",
        "excluded",
        "invalid_target",
    ];
    for (i, want) in expect.iter().enumerate() {
        let r = by_line[&(i as u64 + 2)];
        assert_eq!(r["status"], *want, "line {}: {r}", i + 2);
    }
    assert_eq!(by_line[&3]["implementation"], "rs-tokio-tungstenite");
    assert_eq!(by_line[&13]["tag"], "tagged");
    assert_eq!(
        excluded.accepted.load(Ordering::SeqCst),
        0,
        "an excluded address was connected to"
    );
    // ws.test appears on two lines but is asked once (A and AAAA).
    assert_eq!(
        dns.asked("ws.test"),
        [("A".to_string(), 1), ("AAAA".to_string(), 1)]
    );
    assert!(err.contains("excluded 4"), "summary: {err}");
    farm.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_are_disjoint_and_cover_the_input() {
    let dir = tmpdir("shards");
    let closed = closed_port();
    let file = dir.join("t.txt");
    std::fs::write(
        &file,
        format!("127.0.1.0/28\nnot a target\n127.0.2.1:{closed}\n127.0.3.0-127.0.3.5\n"),
    )
    .unwrap();
    let base = |extra: &[&str]| {
        let mut a = args(&[
            "scan",
            "-n",
            "--discover",
            "-f",
            file.to_str().unwrap(),
            "-p",
            &closed.to_string(),
            "--format",
            "ndjson",
            "--retries",
            "0",
            "--seed",
            "42",
            "--silent",
        ]);
        a.extend(args(extra));
        a
    };
    let stats = dir.join("stats.ndjson");
    let (code, out, err) = wsfp(base(&["--stats", stats.to_str().unwrap()])).await;
    assert_eq!(code, 0, "{err}");
    let all: BTreeSet<_> = records(&out).iter().map(key).collect();
    assert_eq!(all.len(), 16 + 1 + 1 + 6);
    // The total is counted on the side; the last stats line has it.
    let stats = std::fs::read_to_string(&stats).unwrap();
    let last = records(&stats).pop().unwrap();
    assert_eq!(last["final"], true, "{stats}");
    assert_eq!(
        (last["done"].as_u64(), last["total"].as_u64()),
        (Some(24), Some(24)),
        "{stats}"
    );
    let mut union = Vec::new();
    let mut manifests = Vec::new();
    let mut merged = String::new();
    for i in 0..3 {
        let m = dir.join(format!("shard-{i}.manifest.json"));
        let (code, out, err) = wsfp(base(&[
            "--shard",
            &format!("{i}/3"),
            "--manifest",
            m.to_str().unwrap(),
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        union.extend(records(&out).iter().map(key));
        merged += &out;
        manifests.push(m.to_str().unwrap().to_string());
    }
    let set: BTreeSet<_> = union.iter().cloned().collect();
    assert_eq!(union.len(), set.len(), "a unit was scanned by two shards");
    assert_eq!(set, all, "the shards' union is the whole input");

    // The manifests say the three belong together; a shard of another
    // seed does not.
    let merged_path = dir.join("merged.ndjson");
    std::fs::write(&merged_path, &merged).unwrap();
    let mut report = args(&["report", merged_path.to_str().unwrap(), "--manifests"]);
    report.extend(manifests.iter().cloned());
    let (code, out, err) = wsfp(report.clone()).await;
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    let odd = dir.join("odd.manifest.json");
    let mut other = base(&["--shard", "2/3", "--manifest", odd.to_str().unwrap()]);
    let seed_at = other.iter().position(|a| a == "--seed").unwrap() + 1;
    other[seed_at] = "43".into();
    let (code, _, err) = wsfp(other).await;
    assert_eq!(code, 0, "{err}");
    report[3 + 2] = odd.to_str().unwrap().to_string();
    let (code, _, err) = wsfp(report).await;
    assert_eq!(code, 2, "a mismatched merge is refused");
    assert!(err.contains("seed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_loses_nothing_and_duplicates_nothing() {
    let dir = tmpdir("resume");
    let closed = closed_port();
    let file = dir.join("t.txt");
    // 1024 closed-port targets at 250 connections/s: about 4 s of work.
    std::fs::write(
        &file,
        "127.0.4.0/23\n# 512 more from a range\n127.0.8.0-127.0.9.255\n",
    )
    .unwrap();
    let out = dir.join("out.ndjson");
    let state = dir.join("state.json");
    let cmd = args(&[
        "scan",
        "-n",
        "--discover",
        "-f",
        file.to_str().unwrap(),
        "-p",
        &closed.to_string(),
        "--format",
        "ndjson",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        state.to_str().unwrap(),
        "--rate",
        "250",
        "--retries",
        "0",
        "--silent",
    ]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wsfp"))
        .args(&cmd)
        .spawn()
        .unwrap();
    // Kill once some records are out (start-up of a debug build loads
    // the DB slowly, so wait for output rather than a fixed time).
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(30) {
        let n = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
        if n >= 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&out).unwrap();
    let before = partial.lines().filter(|l| l.ends_with('}')).count();
    assert!(
        before > 50 && before < 1024,
        "the kill should land mid-scan ({before} records)"
    );
    let (code, _, err) = wsfp(cmd.clone()).await;
    assert_eq!(code, 0, "{err}");
    let recs = records(&std::fs::read_to_string(&out).unwrap());
    let keys: Vec<_> = recs.iter().map(key).collect();
    let set: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), set.len(), "duplicates after resume");
    assert_eq!(set.len(), 1024, "every target has its record");
    // Resuming a finished scan does nothing.
    let (code, _, err) = wsfp(cmd).await;
    assert_eq!(code, 0);
    assert!(err.is_empty() || err.contains("finished"), "{err}");
    assert_eq!(records(&std::fs::read_to_string(&out).unwrap()).len(), 1024);
}

/// Forty targets carry one name at once, and the resolver answers slowly,
/// so all forty want it while the first lookup is in flight: the name is
/// still asked exactly once per type (issue #17: without per-name
/// de-duplication each target that missed the cache asked again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_name_on_many_targets_at_once_is_asked_once() {
    let dir = tmpdir("dns-dedup");
    let dns = dns_slow(
        &[("same.test", "127.0.0.1".parse().unwrap())],
        Duration::from_millis(300),
    )
    .await;
    let closed = closed_port();
    let lines: Vec<String> = (0..40).map(|i| format!("same.test:{closed}/{i}")).collect();
    let file = dir.join("targets.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = wsfp(args(&[
        "scan",
        "-n",
        "-f",
        file.to_str().unwrap(),
        "--resolver",
        &dns.addr.to_string(),
        "--concurrency",
        "64",
        "--format",
        "ndjson",
        "--retries",
        "0",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 40, "one record per line: {out}");
    assert!(
        recs.iter()
            .all(|r| r["status"] == "refused" && r["ip"] == "127.0.0.1"),
        "every line resolved, then refused: {out}"
    );
    assert_eq!(
        dns.asked("same.test"),
        [("A".to_string(), 1), ("AAAA".to_string(), 1)]
    );
}

/// The resolver on its own, with one lookup slot: twenty lookups of one
/// name at once, the server answering after 200 ms. The first takes the
/// slot; the rest wait for its answer instead of queueing for the slot and
/// asking again once they get it (and one that did get the slot would look
/// in the cache first). One A and one AAAA in all, and every caller gets
/// the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_waiting_for_a_slot_take_the_answer_in_flight() {
    let dns = dns_slow(
        &[("slot.test", "127.0.0.1".parse().unwrap())],
        Duration::from_millis(200),
    )
    .await;
    let resolver = std::sync::Arc::new(wsfp::net::Resolver::new(
        Some(dns.addr),
        1,
        Duration::from_secs(5),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let r = resolver.clone();
        set.spawn(async move { r.resolve("slot.test", deadline).await });
    }
    let want: Vec<std::net::IpAddr> = vec!["127.0.0.1".parse().unwrap()];
    while let Some(a) = set.join_next().await {
        assert_eq!(a.unwrap(), Some(Ok(want.clone())));
    }
    assert_eq!(
        dns.asked("slot.test"),
        [("A".to_string(), 1), ("AAAA".to_string(), 1)]
    );
}
