//! Hostile servers (the demo farm's `Hostile` kinds) against the full,
//! heavy probe set: no panic, no target past its deadline, and bounded
//! reads and records, whatever the server does.

use std::time::{Duration, Instant};

mod common;

use common::opts;
use wsfp::cli::DbOpts;
use wsfp::demo::{Farm, Hostile, Kind};
use wsfp::output::Status;
use wsfp::target::Target;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_cannot_hang_crash_or_flood_the_scanner() {
    let mut farm = Farm::empty();
    let mut targets = Vec::new();
    for (i, h) in Hostile::ALL.iter().enumerate() {
        let ip = format!("127.0.9.{}", i + 1);
        let addr = farm
            .add(&ip, "hostile", "", Kind::Hostile(*h))
            .await
            .unwrap();
        let scheme = if *h == Hostile::TlsGarbage {
            "wss"
        } else {
            "ws"
        };
        targets.push((*h, format!("{scheme}://{addr}/")));
    }
    let deadline = Duration::from_secs(12);
    let mut s = opts(&["-a", "-k", "--handshake-timeout", "1500"])
        .build_scanner(&DbOpts { db: Vec::new() })
        .unwrap();
    s.target_timeout = deadline;
    let scanner = std::sync::Arc::new(s);
    let mut handles = Vec::new();
    for (h, url) in targets {
        let sc = scanner.clone();
        handles.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let rec = sc.scan(&Target::parse(&url, true).unwrap()).await;
            (h, rec, t0.elapsed())
        }));
    }
    for handle in handles {
        let (h, rec, took) = handle.await.expect("no panic");
        assert!(
            took < deadline + Duration::from_secs(3),
            "{h:?}: took {took:?}, past the {deadline:?} deadline"
        );
        let json = serde_json::to_vec(&rec).unwrap();
        assert!(
            json.len() < 512 * 1024,
            "{h:?}: record of {} bytes",
            json.len()
        );
        // 83 probes, each reading at most 256 KiB after the handshake plus
        // a capped head.
        assert!(
            rec.bytes_received < 32 << 20,
            "{h:?}: read {} bytes",
            rec.bytes_received
        );
        let want = match h {
            Hostile::SlowlorisHead => Status::Timeout,
            Hostile::EndlessHeaders => Status::NotWebsocket,
            Hostile::TlsGarbage => Status::TlsError,
            _ => Status::Ok,
        };
        assert_eq!(rec.status, want, "{h:?}: {:?}", rec.error);
        if want == Status::Ok {
            assert!(
                rec.observations.len() > 50,
                "{h:?}: probing went on ({} observations)",
                rec.observations.len()
            );
            assert_ne!(
                rec.implementation.as_deref(),
                Some("rs-tokio-tungstenite"),
                "{h:?}"
            );
        }
    }
    farm.stop();
}
