//! Adaptive probing behind reverse proxies (issue #3): once the handshake
//! names a proxy, the planner goes on with frame probes until the backend
//! is named too. Replayed on stored full scans of the lab's two proxy
//! set-ups (nginx → tokio-tungstenite, HAProxy → gorilla), so the test is
//! deterministic and needs no server.

use std::sync::Arc;

use wsfp::fingerprint::Db;
use wsfp::fingerprint::adaptive::{Budget, Planner, replay};
use wsfp::fingerprint::score::Scorer;
use wsfp::output::read::parse_line;
use wsfp::probe::ProbeSet;
use wsfp::scan::{GATE_PROBE, observations_to_features};

const FULL: &str = include_str!("data/lab/proxies-full.ndjson");

#[test]
fn adaptive_names_front_and_backend_behind_proxies() {
    let set = ProbeSet::builtin();
    let db = Db::embedded(&set).unwrap();
    let planned: Vec<_> = set.probes.iter().filter(|p| p.id != GATE_PROBE).collect();
    let planner = Planner::new(&db, &planned);
    let scorer = Scorer::new(Arc::new(db));
    let want = [
        ("127.0.0.1:9059", "proxy-nginx", "crates:tungstenite"),
        ("127.0.0.1:9060", "proxy-haproxy", "go:gorilla/websocket"),
    ];
    for line in FULL.lines() {
        let r = parse_line(line).unwrap();
        let (_, front, library) = want.iter().find(|w| w.0 == r.target).unwrap();
        let seen = replay(
            &scorer,
            &planner,
            &set,
            &r.observations,
            GATE_PROBE,
            Budget::intensity(5),
        );
        let (f, back) = scorer.verdicts(&observations_to_features(&set, &seen));
        let f = f.expect("the handshake names a proxy");
        assert_eq!(f.implementation, *front, "{}", r.target);
        assert_eq!(back.library.as_deref(), Some(*library), "{back:?}");
        assert!(back.confidence >= 0.9, "{back:?}");
        // The backend round asks frame probes only, and far fewer than
        // the full set.
        assert!(seen.len() <= 25, "{} probes", seen.len());
        let frame_probes = seen
            .keys()
            .filter(|id| set.get(id).unwrap().layer == wsfp::probe::Layer::Frame)
            .count();
        assert!(frame_probes >= 3, "{frame_probes} frame probes");
    }
}
