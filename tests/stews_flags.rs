//! Every flag of STEWS's fingerprint tool (`STEWS-fingerprint.py -h`, as
//! its README lists them) on the real binary, against in-process loopback
//! servers: each is accepted, in its short and long form, with and
//! without the `scan` subcommand, and does what it did in STEWS.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use common::{args, records, tmpdir, wsfp};
use tokio::net::TcpListener;
use wsfp::probe::ProbeSet;

/// A tokio-tungstenite echo server of the demo farm on 127.0.0.1.
async fn echo() -> (wsfp::demo::Farm, String) {
    let mut farm = wsfp::demo::Farm::empty();
    let ep = farm
        .add(
            "127.0.0.1",
            "echo",
            "rs-tokio-tungstenite",
            wsfp::demo::Kind::Tungstenite,
        )
        .await
        .unwrap();
    // STEWS takes host:port without a scheme (-n picks ws://).
    let hostport = ep.to_string();
    (farm, hostport)
}

/// A TLS tokio-tungstenite echo server with tests/data's localhost
/// certificate (not signed by a root the scanner trusts).
async fn tls_echo() -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(format!("{dir}localhost.crt"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}localhost.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The one record of an NDJSON scan.
fn one(stdout: &str) -> serde_json::Value {
    let mut r = records(stdout);
    assert_eq!(r.len(), 1, "{stdout}");
    r.remove(0)
}

/// The series of the probes a record observed, and the ids.
fn observed(rec: &serde_json::Value) -> (BTreeSet<u16>, BTreeSet<String>) {
    let set = ProbeSet::builtin();
    let ids: BTreeSet<String> = rec["observations"]
        .as_object()
        .unwrap_or_else(|| panic!("no observations: {rec}"))
        .keys()
        .cloned()
        .collect();
    let series = ids
        .iter()
        .map(|id| set.get(id).unwrap_or_else(|| panic!("probe {id}")).series)
        .collect();
    (series, ids)
}

/// Ids of the built-in probes of one series.
fn series_ids(series: u16) -> BTreeSet<String> {
    ProbeSet::builtin()
        .probes
        .iter()
        .filter(|p| p.series == series)
        .map(|p| p.id.clone())
        .collect()
}

/// `-1` … `-7` and `--series-100` … `--series-700`, without a subcommand
/// and with `scan`: only that series' probes run (every one of them, as
/// STEWS ran a series), besides the gate handshake (309) every scan
/// starts with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_series_flag_runs_only_its_series() {
    let (_farm, hp) = echo().await;
    for (n, series) in (1..=7).zip([100u16, 200, 300, 400, 500, 600, 700]) {
        let short = format!("-{n}");
        let long = format!("--series-{series}");
        for (flag, sub) in [(&short, false), (&long, true)] {
            let mut a = if sub { args(&["scan"]) } else { Vec::new() };
            a.extend(args(&[
                "-u", &hp, "-n", flag, "--format", "ndjson", "--silent",
            ]));
            let (code, out, err) = wsfp(a.clone()).await;
            assert_eq!(code, 0, "{a:?}: {err}");
            let rec = one(&out);
            assert_eq!(rec["status"], "ok", "{a:?}: {rec}");
            let (got, ids) = observed(&rec);
            let mut want: BTreeSet<u16> = [series].into();
            if series != 300 {
                // The gate (309, series 300) is always recorded.
                assert!(ids.contains("309"), "{a:?}: {ids:?}");
                want.insert(300);
                let other: Vec<&String> = ids
                    .iter()
                    .filter(|id| *id != "309" && !series_ids(series).contains(*id))
                    .collect();
                assert!(other.is_empty(), "{a:?}: {other:?}");
            }
            assert_eq!(got, want, "{a:?}");
            let missing: Vec<String> = series_ids(series).difference(&ids).cloned().collect();
            assert!(missing.is_empty(), "{a:?}: not run: {missing:?}");
        }
    }
}

/// `-a` / `--all-tests`: every series, the heavy 600 series included
/// (without a series flag only the safe probes run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_tests_runs_every_series() {
    let (_farm, hp) = echo().await;
    let every: BTreeSet<u16> = [100, 200, 300, 400, 500, 600, 700].into();
    for a in [
        args(&["-u", &hp, "-n", "-a", "--format", "ndjson", "--silent"]),
        args(&[
            "scan",
            "--url",
            &hp,
            "--no-encryption",
            "--all-tests",
            "--format",
            "ndjson",
        ]),
    ] {
        let (code, out, err) = wsfp(a.clone()).await;
        assert_eq!(code, 0, "{a:?}: {err}");
        let rec = one(&out);
        let (series, ids) = observed(&rec);
        assert!(series.is_superset(&every), "{a:?}: {series:?}");
        assert!(ids.contains("603"), "the heavy 600 series ran: {ids:?}");
        assert_eq!(
            rec["implementation"], "rs-tokio-tungstenite",
            "{a:?}: {rec}"
        );
    }
    // The default (no series flag) is the safe set: no 600 series.
    let (code, out, _) = wsfp(args(&["-u", &hp, "-n", "--format", "ndjson", "--silent"])).await;
    assert_eq!(code, 0);
    let (series, _) = observed(&one(&out));
    assert!(!series.contains(&600), "{series:?}");
}

/// `-n` / `--no-encryption`: a target without a scheme is ws://; without
/// it, wss:// (STEWS's default), which a plain server does not speak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_encryption_picks_ws() {
    let (_farm, hp) = echo().await;
    for flag in ["-n", "--no-encryption"] {
        let (code, out, err) = wsfp(args(&[
            "-u", &hp, flag, "-1", "--format", "ndjson", "--silent",
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        let rec = one(&out);
        assert_eq!(rec["status"], "ok", "{rec}");
        assert_eq!(rec["url"], format!("ws://{hp}/"), "{rec}");
    }
    let (_, out, _) = wsfp(args(&["-u", &hp, "-1", "--format", "ndjson", "--silent"])).await;
    let rec = one(&out);
    assert_eq!(rec["status"], "tls_error", "{rec}");
    assert_eq!(rec["url"], format!("wss://{hp}/"), "{rec}");
}

/// `-k` / `--nocert`: a certificate no trusted root signed is accepted;
/// without it the target is a `tls_error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nocert_ignores_an_invalid_certificate() {
    let addr = tls_echo().await;
    let target = format!("localhost:{}", addr.port());
    for flag in ["-k", "--nocert"] {
        let (code, out, err) = wsfp(args(&[
            "-u", &target, flag, "-1", "--format", "ndjson", "--silent",
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        let rec = one(&out);
        assert_eq!(rec["status"], "ok", "{flag}: {rec}");
        assert_eq!(rec["url"], format!("wss://{target}/"), "{rec}");
    }
    let (_, out, _) = wsfp(args(&[
        "-u", &target, "-1", "--format", "ndjson", "--silent",
    ]))
    .await;
    assert_eq!(one(&out)["status"], "tls_error");
}

/// `-o` / `--origin` sets the Origin of the probes; `-v` / `--verbose`
/// traces the communication (the bytes sent and received), `-d` /
/// `--debug` each probe as it runs, without the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_verbose_and_debug() {
    let (_farm, hp) = echo().await;
    for (o, v) in [("-o", "-v"), ("--origin", "--verbose")] {
        let (code, _, err) = wsfp(args(&[
            "-u",
            &hp,
            "-n",
            "-1",
            o,
            "http://stews.test",
            v,
            "--silent",
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        // The request as sent, then the server's 101 as received.
        assert!(err.contains("Origin: http://stews.test\\r\\n"), "{err}");
        assert!(err.contains("[309] -> GET / HTTP/1.1\\r\\n"), "{err}");
        assert!(
            err.contains("[309] <- HTTP/1.1 101 Switching Protocols\\r\\n"),
            "{err}"
        );
    }
    for d in ["-d", "--debug"] {
        let (code, _, err) = wsfp(args(&["-u", &hp, "-n", "-1", d, "--silent"])).await;
        assert_eq!(code, 0, "{err}");
        // Each probe's summary: the head received, the frames.
        assert!(err.contains("[309] << 101 Switching Protocols"), "{err}");
        assert!(err.contains("[100] frames "), "{err}");
        assert!(!err.contains("] -> ") && !err.contains("] <- "), "{err}");
    }
}

/// `-f` / `--file`: a file of targets (STEWS: host:port, no scheme), with
/// and without `scan`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_of_targets() {
    let (_farm, hp) = echo().await;
    let dir = tmpdir("stews-file");
    let list = dir.join("list.txt");
    std::fs::write(&list, format!("{hp}\n{hp}/chat\n")).unwrap();
    let list = list.display().to_string();
    for a in [
        args(&["-f", &list, "-n", "-1", "--format", "ndjson", "--silent"]),
        args(&[
            "scan", "--file", &list, "-n", "-1", "--format", "ndjson", "--silent",
        ]),
    ] {
        let (code, out, err) = wsfp(a.clone()).await;
        assert_eq!(code, 0, "{a:?}: {err}");
        let recs = records(&out);
        let mut urls: Vec<&str> = recs.iter().map(|r| r["url"].as_str().unwrap()).collect();
        urls.sort();
        assert_eq!(
            urls,
            [format!("ws://{hp}/"), format!("ws://{hp}/chat")],
            "{out}"
        );
        assert!(recs.iter().all(|r| r["status"] == "ok"), "{out}");
    }
}

/// `-g` / `--generate-fingerprint`: the target's fingerprint (every
/// series, as STEWS's -g ran all tests) as a fingerprint file on stdout,
/// which loads back and names the server it came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_fingerprint_prints_a_loadable_fingerprint() {
    let (_farm, hp) = echo().await;
    let dir = tmpdir("stews-g");
    for flag in ["-g", "--generate-fingerprint"] {
        let (code, out, err) = wsfp(args(&["-u", &hp, "-n", flag])).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with(&format!("# Fingerprint of {hp} (")),
            "{out}"
        );
        let path = dir.join("target.toml");
        std::fs::write(&path, &out).unwrap();
        let fp = wsfp::fingerprint::Fingerprint::parse(&out, "target.toml", &ProbeSet::builtin())
            .unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(
            fp.id,
            "127.0.0.1-".to_string() + hp.rsplit(':').next().unwrap()
        );
        // Every series ran (STEWS's -g ran all tests).
        let set = ProbeSet::builtin();
        let series: BTreeSet<u16> = fp
            .features
            .keys()
            .map(|k| set.get(k.split('.').next().unwrap()).unwrap().series)
            .collect();
        let every: BTreeSet<u16> = [100, 200, 300, 400, 500, 600, 700].into();
        assert!(series.is_superset(&every), "{series:?}");
        // Scanned with only this fingerprint as the DB, the server is it.
        let db = path.display().to_string();
        let (code, out, err) = wsfp(args(&[
            "-u", &hp, "-n", "-a", "--db", &db, "--format", "ndjson", "--silent",
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(one(&out)["implementation"], fp.id, "{out}");
    }
    // A target that does not answer: said on stderr, exit 1.
    let closed = format!("127.0.0.1:{}", common::closed_port());
    let (code, out, err) = wsfp(args(&["-u", &closed, "-n", "-g"])).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("refused"), "{err}");
    // A range is not one server.
    let (code, _, err) = wsfp(args(&["-u", "127.0.0.1-9", "-n", "-g"])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is 9 targets: -g takes one URL"), "{err}");
}

/// `-h` and `--help`: without a subcommand wsfp's own help (the
/// subcommands), `scan -h` every STEWS flag; `-V` still the version.
#[tokio::test]
async fn help_lists_every_stews_flag() {
    let (code, out, _) = wsfp(args(&["-h"])).await;
    assert_eq!(code, 0);
    assert!(out.contains("Commands:") && out.contains("scan"), "{out}");
    let (code, out, _) = wsfp(args(&["--version"])).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("wsfp "), "{out}");
    let (code, out, _) = wsfp(args(&["scan", "--help"])).await;
    assert_eq!(code, 0);
    for flag in [
        "-v, --verbose",
        "-d, --debug",
        "-u, --url",
        "-f, --file",
        "--no-encryption",
        "--nocert",
        "-o, --origin",
        "-g, --generate-fingerprint",
        "--all-tests",
        "-1, --series-100",
        "-2, --series-200",
        "-3, --series-300",
        "-4, --series-400",
        "-5, --series-500",
        "-6, --series-600",
        "-7, --series-700",
    ] {
        assert!(out.contains(flag), "{flag}: {out}");
    }
    assert!(
        !out.contains("the default when no series is chosen"),
        "-a is not the default: {out}"
    );
    // A typo is still a usage error, with or without `scan`.
    let (code, _, err) = wsfp(args(&["-u", "127.0.0.1:1", "--series-800"])).await;
    assert_eq!(code, 2, "{err}");
}
