//! The default blocklist on the real binary: `--list-excluded`,
//! `--list-targets`, `--no-default-exclude`, the cut counts in the
//! summary, the stats lines and the manifest, and loopback named or
//! expanded inside 127/8 still scanned.
//!
//! Nothing here connects beyond loopback: every test that cuts a range
//! straddling a reserved block looks at `--list-targets`, which never
//! connects; the one real scan of such a range first checks with
//! `--list-targets` that nothing but an `--exclude`d address is left.

mod common;

use common::{args, closed_port, records, tmpdir, wsfp};

/// The targets `--list-targets` prints (comment lines apart), and its
/// stdout and stderr.
async fn listed(extra: &[&str]) -> (Vec<String>, String, String) {
    let mut a = args(&[
        "scan",
        "-n",
        "--list-targets",
        "--window",
        "1",
        "--seed",
        "3",
    ]);
    a.extend(args(extra));
    let (code, out, err) = wsfp(a).await;
    assert_eq!(code, 0, "{extra:?}: {err}");
    let targets = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    (targets, out, err)
}

#[tokio::test]
async fn list_excluded_prints_the_rules_and_the_users_entries() {
    let (code, out, err) = wsfp(args(&["scan", "--list-excluded"])).await;
    assert_eq!(code, 0, "{err}");
    for (rule, name) in [
        ("127.0.0.0/8", "Loopback, RFC 1122"),
        ("10.0.0.0/8", "Private-Use, RFC 1918"),
        ("100.64.0.0/10", "Shared Address Space"),
        ("224.0.0.0/4", "Multicast, RFC 5771"),
        ("255.255.255.255/32", "Limited Broadcast"),
        ("fe80::/10", "Link-Local Unicast, RFC 4291"),
        ("2001:db8::/32", "Documentation, RFC 3849"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{rule} ")))
            .unwrap_or_else(|| panic!("{rule} not listed:\n{out}"));
        assert!(line.contains(name), "{line}");
    }
    assert!(out.contains("# --exclude: none"), "{out}");

    // The user's entries, with where each came from; the listing is
    // itself an --exclude file.
    let dir = tmpdir("bl-list");
    let f = dir.join("lab.txt");
    std::fs::write(&f, "# lab\n10.9.0.0/16  # the lab network\n").unwrap();
    let f = f.to_str().unwrap();
    let (code, out, err) = wsfp(args(&[
        "scan",
        "--list-excluded",
        "--no-default-exclude",
        "--exclude",
        "192.168.7.1-192.168.7.9",
        "--exclude",
        f,
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# default blocklist: off"), "{out}");
    assert!(!out.contains("127.0.0.0/8"), "{out}");
    // (Entries are padded to one column.)
    let squashed: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for want in [
        "192.168.7.1-192.168.7.9 # --exclude 192.168.7.1-192.168.7.9".to_string(),
        format!("10.9.0.0/16 # {f}:2 the lab network"),
    ] {
        assert!(squashed.contains(&want), "{want}: {out}");
    }
    let (code, all, _) = wsfp(args(&["scan", "--list-excluded"])).await;
    assert_eq!(code, 0);
    let again = dir.join("again.txt");
    std::fs::write(&again, &all).unwrap();
    let (code, out, err) = wsfp(args(&[
        "scan",
        "--list-excluded",
        "--exclude",
        again.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# --exclude (30 entries)"), "{out}");
}

/// A range straddling 127/8 (and others straddling 100.64/10, fc00::/7)
/// loses the blocked addresses, counted per rule on stderr; with
/// `--no-default-exclude` it keeps them. A line cut whole is one
/// `excluded` comment; an `--exclude`d address is a comment too.
#[tokio::test]
async fn list_targets_cuts_straddling_ranges_and_counts_the_cut() {
    let (t, _, err) = listed(&["-u", "126.255.255.254-127.0.0.1", "-p", "80,81"]).await;
    let mut sorted = t.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "126.255.255.254:80",
            "126.255.255.254:81",
            "126.255.255.255:80",
            "126.255.255.255:81"
        ]
    );
    assert!(
        err.contains("default blocklist: 4 units cut")
            && err.contains("127.0.0.0/8 (Loopback, RFC 1122) 4"),
        "{err}"
    );

    let (t, _, err) = listed(&[
        "-u",
        "126.255.255.254-127.0.0.1",
        "-p",
        "80,81",
        "--no-default-exclude",
    ])
    .await;
    assert_eq!(t.len(), 8, "{t:?}");
    assert!(t.contains(&"127.0.0.0:80".to_string()), "{t:?}");
    assert!(!err.contains("default blocklist"), "{err}");

    let (t, out, err) = listed(&[
        "-u",
        "100.63.255.254-100.64.0.1",
        "-u",
        "fbff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-fc00::1",
        "-u",
        "224.0.0.0/3",
        "-u",
        "198.17.255.255-198.18.0.0",
        "--exclude",
        "198.17.255.255",
    ])
    .await;
    let mut sorted = t.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "100.63.255.254:80",
            "100.63.255.255:80",
            "[fbff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:80",
            "[fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:80",
        ]
    );
    assert!(
        out.contains(
            "# excluded: 224.0.0.0/3: every address of 224.0.0.0/3 is in the default blocklist"
        ) && out.contains("224.0.0.0/4 (Multicast, RFC 5771)"),
        "{out}"
    );
    assert!(
        out.contains("# excluded (--exclude): 198.17.255.255:80"),
        "{out}"
    );
    for rule in [
        "100.64.0.0/10 (Shared Address Space (carrier-grade NAT), RFC 6598) 2",
        "fc00::/7 (Unique-Local, RFC 4193) 2",
        "198.18.0.0/15 (Benchmarking, RFC 2544) 1",
        "224.0.0.0/4 (Multicast, RFC 5771) 268435456",
        "1 lines cut whole",
    ] {
        assert!(err.contains(rule), "{rule}: {err}");
    }
}

/// Whoever names an address, a name, or a range wholly inside one rule
/// gets it: loopback, a private network, link-local v6.
#[tokio::test]
async fn named_targets_and_ranges_inside_a_rule_are_kept() {
    let (t, out, err) = listed(&[
        "-u",
        "127.0.0.0/30",
        "-u",
        "127.0.0.1:9001",
        "-u",
        "ws://localhost:9001/",
        "-u",
        "[::1]:9001",
        "-u",
        "10.1.2.0/31",
        "-u",
        "fe80::/127",
        "-u",
        "255.255.255.255",
    ])
    .await;
    let mut sorted = t.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "10.1.2.0:80",
            "10.1.2.1:80",
            "127.0.0.0:80",
            "127.0.0.1:80",
            "127.0.0.1:9001",
            "127.0.0.2:80",
            "127.0.0.3:80",
            "255.255.255.255",
            "[::1]:9001",
            "[fe80::1]:80",
            "[fe80::]:80",
            "ws://localhost:9001/",
        ],
        "{out}"
    );
    assert!(!err.contains("default blocklist"), "{err}");
}

/// A real scan: a loopback WebSocket server named alone and inside an
/// expansion of 127/8 is scanned and identified as before; a range
/// straddling 127/8 whose only address left is `--exclude`d connects to
/// nothing, and the summary, the final stats line and the manifest count
/// what the blocklist cut; a line cut whole is one `excluded` record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reports_the_cut_and_still_scans_loopback() {
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
    let port = ws.port().to_string();
    let dir = tmpdir("bl-scan");
    let stats = dir.join("stats.ndjson");
    let manifest = dir.join("m.json");
    let straddle = [
        "-u",
        "126.255.255.255-127.0.0.1",
        "--exclude",
        "126.0.0.0/8",
    ];

    // The interlock: nothing outside loopback is left to connect to.
    let mut check = straddle.to_vec();
    check.extend(["-u", "224.0.0.0/3", "-p", &port]);
    let (t, out, _) = listed(&check).await;
    assert!(t.is_empty(), "would connect to {t:?}");
    assert!(
        out.contains("# excluded (--exclude): 126.255.255.255:"),
        "{out}"
    );

    let url = format!("ws://{ws}/");
    let mut a = args(&["scan", "-n", "--format", "ndjson", "-p", &port, "-u", &url]);
    a.extend(args(&["-u", "127.0.0.0/30", "-u", "224.0.0.0/3"]));
    a.extend(args(&straddle));
    a.extend(args(&[
        "--stats",
        stats.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "--seed",
        "1",
    ]));
    let (code, out, err) = wsfp(a).await;
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    // 1 named + 4 of the /30 + 1 excluded line + 1 --exclude'd address.
    assert_eq!(recs.len(), 7, "{out}");
    let named = recs.iter().find(|r| r["target"] == url.as_str()).unwrap();
    assert_eq!(named["status"], "ok", "{named}");
    assert_eq!(named["implementation"], "rs-tokio-tungstenite", "{named}");
    let inside = recs
        .iter()
        .find(|r| r["target"] == format!("127.0.0.1:{port}").as_str())
        .unwrap_or_else(|| panic!("127.0.0.1 of the /30 not scanned: {out}"));
    assert_eq!(inside["status"], "ok", "{inside}");
    let whole = recs.iter().find(|r| r["target"] == "224.0.0.0/3").unwrap();
    assert_eq!(whole["status"], "excluded", "{whole}");
    let why = whole["error"].as_str().unwrap();
    assert!(
        why.contains("224.0.0.0/4 (Multicast, RFC 5771)")
            && why.contains("240.0.0.0/4 (Reserved, RFC 1112)"),
        "{why}"
    );
    let user = recs
        .iter()
        .find(|r| r["target"] == format!("126.255.255.255:{port}").as_str())
        .unwrap();
    assert_eq!(user["status"], "excluded", "{user}");
    assert_eq!(user["connections"], 0, "{user}");

    assert!(
        err.contains("default blocklist: ")
            && err.contains("127.0.0.0/8 (Loopback, RFC 1122) 2")
            && err.contains("1 lines cut whole"),
        "{err}"
    );
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&stats)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["final"], true);
    assert_eq!(last["default_excluded"]["127.0.0.0/8"], 2, "{last}");
    assert_eq!(
        last["default_excluded"]["224.0.0.0/4"],
        1u64 << 28,
        "{last}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["default_exclude"], true, "{m}");
    assert_eq!(m["default_excluded"]["127.0.0.0/8"], 2, "{m}");
    assert_eq!(m["records"], 7, "{m}");
    drop(farm);
}

/// Turning the blocklist off changes which units exist, so a resume
/// across the change is refused.
#[tokio::test]
async fn a_resume_with_the_blocklist_turned_off_is_refused() {
    let dir = tmpdir("bl-resume");
    let list = dir.join("t.txt");
    std::fs::write(&list, "127.0.0.0/30\n").unwrap();
    let (state, out) = (dir.join("s.json"), dir.join("o.ndjson"));
    let port = closed_port().to_string();
    let base = args(&[
        "scan",
        "-n",
        "-f",
        list.to_str().unwrap(),
        "-p",
        &port,
        "--format",
        "ndjson",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        state.to_str().unwrap(),
        "--retries",
        "0",
    ]);
    let (code, _, err) = wsfp(base.clone()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&std::fs::read_to_string(&out).unwrap()).len(), 4);
    let mut off = base.clone();
    off.push("--no-default-exclude".into());
    let (code, _, err) = wsfp(off).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("default blocklist differ"), "{err}");
}
