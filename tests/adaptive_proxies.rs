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
        assert_eq!(f.implementation, *front, "{} {:?}", r.target, f.candidates);
        assert_eq!(back.library.as_deref(), Some(*library), "{back:?}");
        assert!(back.confidence >= 0.9, "{back:?}");
        // The backend round asks frame probes only, and far fewer than
        // the full set.
        // (Session 13: 27 for HAProxy -> gorilla, whose two gorilla
        // fingerprints nothing separates, so the planner confirms until
        // the evidence suffices.)
        assert!(seen.len() <= 30, "{} probes", seen.len());
        let frame_probes = seen
            .keys()
            .filter(|id| set.get(id).unwrap().layer == wsfp::probe::Layer::Frame)
            .count();
        assert!(frame_probes >= 3, "{frame_probes} frame probes");
    }
}

const SAFE: &str = include_str!("data/lab/proxies-safe.ndjson");

/// The safe set names the front too (issue #13): the HTTP/2 preface and
/// `OPTIONS *` (probes 1100, 1101) are answered by the proxy itself, so
/// they name it; as front-only probes they are in no server's own
/// fingerprint, and the backend is scored with the front's keys left out,
/// so the front's answers do not drown it. Full scans of the lab's Caddy
/// and Envoy fronts, cut to their safe probes.
#[test]
fn the_safe_set_names_front_and_backend_behind_proxies() {
    let set = ProbeSet::builtin();
    let db = Db::embedded(&set).unwrap();
    let scorer = Scorer::new(Arc::new(db));
    let want = [
        ("127.0.0.1:30020", "proxy-caddy", "npm:ws"),
        ("127.0.0.1:30021", "proxy-caddy", "go:gorilla/websocket"),
        ("127.0.0.1:30033", "proxy-envoy", "jetty"),
        // HAProxy's head fits several proxies equally on the safe probes:
        // the front is a proxy the DB cannot single out, and the backend
        // is then named from the whole record, as when nothing splits.
        ("127.0.0.1:9060", "unknown", "go:gorilla/websocket"),
    ];
    let mut n = 0;
    for line in SAFE.lines() {
        let r = parse_line(line).unwrap();
        let (_, front, library) = want.iter().find(|w| w.0 == r.target).unwrap();
        let safe: std::collections::BTreeMap<_, _> = r
            .observations
            .iter()
            .filter(|(id, _)| {
                set.get(id)
                    .is_some_and(|p| p.risk == wsfp::probe::Risk::Safe)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(safe.contains_key("1100") && safe.contains_key("1101"));
        let (f, back) = scorer.verdicts(&observations_to_features(&set, &safe));
        let f = f.map_or("(none)".to_string(), |f| f.implementation);
        assert_eq!(f, *front, "{}: {back:?}", r.target);
        assert_eq!(
            back.library.as_deref(),
            Some(*library),
            "{}: {back:?}",
            r.target
        );
        n += 1;
    }
    assert_eq!(n, 4);
}
