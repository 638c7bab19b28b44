//! App protocols over WebSocket (Engine.IO, SockJS, ActionCable, NATS,
//! MQTT, GraphQL over WebSocket, STOMP...), named from what a server
//! volunteers: the messages it pushes before it has read a frame of ours
//! (an observation's `pushed`), and the subprotocol it picks from the
//! names a probe offers. The app protocol is evidence about the app, not
//! the WebSocket implementation: it goes to the record's `app_protocol`
//! and never into the features a fingerprint matches.
//!
//! The signatures are data (`fingerprints/app-protocols/*.toml`, see
//! `docs/fingerprints.md`), each with examples that the loader checks
//! against its own matchers, as Recog's fingerprints do: a signature whose
//! example it does not name is a DB error.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::FileError;
use crate::probe::{Observation, ProbeSet};

/// Bytes of a pushed frame's payload kept in its observation (`head`).
pub const HEAD_BYTES: usize = 64;

/// The signature files compiled into the binary.
const EMBEDDED: &[(&str, &str)] = &[(
    "default.toml",
    include_str!("../../fingerprints/app-protocols/default.toml"),
)];

/// One app protocol and the ways a server gives it away.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppProtocol {
    /// The name a record carries (`engine.io`, `mqtt`).
    pub name: String,
    pub description: String,
    /// A pushed message whose head starts with one of these.
    #[serde(default)]
    pub pushed_prefix: Vec<String>,
    /// A pushed message whose head is exactly one of these.
    #[serde(default)]
    pub pushed_equals: Vec<String>,
    /// A subprotocol the server picks by its own preference (any case).
    #[serde(default)]
    pub subprotocol: Vec<String>,
    /// Pushed heads this signature must name (checked on load).
    #[serde(default)]
    pub examples: Vec<String>,
}

impl AppProtocol {
    fn names_pushed(&self, head: &str) -> bool {
        self.pushed_prefix
            .iter()
            .any(|p| head.starts_with(p.as_str()))
            || self.pushed_equals.iter().any(|p| head == p)
    }

    fn names_subprotocol(&self, chosen: &str) -> bool {
        self.subprotocol
            .iter()
            .any(|s| s.eq_ignore_ascii_case(chosen))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    #[serde(default)]
    app_protocol: Vec<AppProtocol>,
}

/// The loaded signatures, in file then declaration order (the first that
/// names a server's evidence wins).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppProtocols {
    pub protocols: Vec<AppProtocol>,
}

impl AppProtocols {
    /// The signatures compiled into the binary.
    pub fn embedded() -> Result<AppProtocols, FileError> {
        let mut all = AppProtocols::default();
        for (name, text) in EMBEDDED {
            all.add_file(
                text,
                &format!("<builtin fingerprints/app-protocols/{name}>"),
            )?;
        }
        Ok(all)
    }

    /// The built-in signatures, parsed once per process.
    pub fn builtin() -> std::sync::Arc<AppProtocols> {
        static BUILTIN: std::sync::OnceLock<std::sync::Arc<AppProtocols>> =
            std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                std::sync::Arc::new(
                    AppProtocols::embedded()
                        .expect("built-in app-protocol signatures load (tested)"),
                )
            })
            .clone()
    }

    /// Every `*.toml` in `dir`, in name order.
    pub fn load_dir(dir: &Path) -> Result<AppProtocols, FileError> {
        let err = |file: &Path, message: String| FileError {
            file: file.display().to_string(),
            line: None,
            message,
        };
        let rd = std::fs::read_dir(dir)
            .map_err(|e| err(dir, format!("cannot read app-protocol directory: {e}")))?;
        let mut paths: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut all = AppProtocols::default();
        for p in paths {
            let text =
                std::fs::read_to_string(&p).map_err(|e| err(&p, format!("cannot read: {e}")))?;
            all.add_file(&text, &p.display().to_string())?;
        }
        Ok(all)
    }

    /// Parse one file and check it: names unique, at least one matcher
    /// each, every example named by its own signature (and first: an
    /// earlier signature that takes it would hide this one).
    pub fn add_file(&mut self, text: &str, file: &str) -> Result<(), FileError> {
        let repr: FileRepr = toml::from_str(text).map_err(|e| FileError {
            file: file.to_string(),
            line: e.span().map(|s| crate::error::line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let fail = |message: String| FileError {
            file: file.to_string(),
            line: None,
            message,
        };
        for p in repr.app_protocol {
            if p.name.trim().is_empty() {
                return Err(fail("an app_protocol without a name".into()));
            }
            if self.protocols.iter().any(|q| q.name == p.name) {
                return Err(fail(format!("duplicate app protocol {:?}", p.name)));
            }
            if p.pushed_prefix.is_empty() && p.pushed_equals.is_empty() && p.subprotocol.is_empty()
            {
                return Err(fail(format!(
                    "app protocol {:?}: give pushed_prefix, pushed_equals or subprotocol",
                    p.name
                )));
            }
            if p.pushed_prefix
                .iter()
                .chain(&p.pushed_equals)
                .any(String::is_empty)
            {
                return Err(fail(format!(
                    "app protocol {:?}: an empty pushed matcher would match every message",
                    p.name
                )));
            }
            self.protocols.push(p);
            let p = self.protocols.last().expect("just pushed");
            for ex in &p.examples {
                match self.protocols.iter().find(|q| q.names_pushed(ex)) {
                    Some(q) if q.name == p.name => {}
                    Some(q) => {
                        return Err(fail(format!(
                            "app protocol {:?}: its example {ex:?} is named {:?} (an earlier signature)",
                            p.name, q.name
                        )));
                    }
                    None => {
                        return Err(fail(format!(
                            "app protocol {:?}: its example {ex:?} matches none of its pushed matchers",
                            p.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The app protocol a scan's observations give away, if any.
    pub fn classify(
        &self,
        probes: &ProbeSet,
        observations: &BTreeMap<String, Observation>,
    ) -> Option<String> {
        if self.protocols.is_empty() {
            return None;
        }
        // What the app volunteers first: it holds whatever the subprotocol
        // says (a Socket.IO app may also speak a subprotocol it was offered).
        for o in observations.values() {
            for f in &o.pushed {
                if let Some(head) = &f.head
                    && let Some(p) = self.protocols.iter().find(|p| p.names_pushed(head))
                {
                    return Some(p.name.clone());
                }
            }
        }
        let chosen = self_chosen_subprotocol(probes, observations)?;
        self.protocols
            .iter()
            .find(|p| p.names_subprotocol(&chosen))
            .map(|p| p.name.clone())
    }

    /// The app protocol of a passive session: the subprotocol the server
    /// agreed to (the client asked for it, so any pick is the app's), else
    /// the server's first messages.
    pub fn classify_session<'a>(
        &self,
        subprotocol: Option<&str>,
        server_heads: impl IntoIterator<Item = &'a str>,
    ) -> Option<String> {
        if let Some(s) = subprotocol
            && let Some(p) = self.protocols.iter().find(|p| p.names_subprotocol(s))
        {
            return Some(p.name.clone());
        }
        for head in server_heads {
            if let Some(p) = self.protocols.iter().find(|p| p.names_pushed(head)) {
                return Some(p.name.clone());
            }
        }
        None
    }
}

/// The subprotocol a server picks by its own preference: one it chose
/// from a probe's offer of several names that was not the first offered
/// (a server that echoes the first offer says nothing of its app), and no
/// probe saw it choose another.
fn self_chosen_subprotocol(
    probes: &ProbeSet,
    observations: &BTreeMap<String, Observation>,
) -> Option<String> {
    let mut chosen: Option<&str> = None;
    for p in &probes.probes {
        let Some(o) = observations.get(&p.id) else {
            continue;
        };
        let Some(picked) = o.headers.get("sec-websocket-protocol") else {
            continue;
        };
        let offered: Vec<&str> = p
            .handshake
            .add
            .iter()
            .chain(&p.handshake.set)
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if offered.len() < 2 || !offered.iter().any(|s| s.eq_ignore_ascii_case(picked)) {
            continue;
        }
        if offered[0].eq_ignore_ascii_case(picked) {
            continue;
        }
        match chosen {
            None => chosen = Some(picked),
            Some(c) if c.eq_ignore_ascii_case(picked) => {}
            Some(_) => return None,
        }
    }
    chosen.map(str::to_string)
}

/// A payload's first [`HEAD_BYTES`] as text: printable ASCII and valid
/// UTF-8 as they are, any other byte as `\xNN` (and a backslash as `\\`),
/// so binary greetings (MQTT, NATS in binary frames) still compare.
pub fn head_of(payload: &[u8]) -> String {
    let cut = &payload[..payload.len().min(HEAD_BYTES)];
    let mut out = String::with_capacity(cut.len());
    for chunk in cut.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::observation::FrameObs;
    use crate::probe::{Observation, Outcome};

    fn pushed(head: &str) -> Observation {
        let mut o = Observation::new(Outcome::Upgraded);
        o.pushed.push(FrameObs {
            opcode: 1,
            fin: true,
            rsv: 0,
            masked: false,
            len: head.len() as u64,
            close_code: None,
            close_reason: None,
            anomalies: vec![],
            head: Some(head.to_string()),
        });
        o
    }

    #[test]
    fn the_builtin_signatures_load_and_name_their_examples() {
        let all = AppProtocols::embedded().unwrap();
        assert!(all.protocols.len() >= 8);
        let set = ProbeSet::builtin();
        for p in &all.protocols {
            for ex in &p.examples {
                let obs = BTreeMap::from([("100".to_string(), pushed(ex))]);
                assert_eq!(
                    all.classify(&set, &obs).as_deref(),
                    Some(p.name.as_str()),
                    "{ex}"
                );
            }
        }
    }

    #[test]
    fn a_greeting_names_its_protocol_and_app_data_does_not() {
        let all = AppProtocols::embedded().unwrap();
        let set = ProbeSet::builtin();
        let obs = BTreeMap::from([(
            "201".to_string(),
            pushed(r#"0{"sid":"abc","upgrades":[],"pingInterval":25000}"#),
        )]);
        assert_eq!(all.classify(&set, &obs).as_deref(), Some("engine.io"));
        let obs = BTreeMap::from([("201".to_string(), pushed("hello"))]);
        assert_eq!(all.classify(&set, &obs), None);
        assert_eq!(all.classify(&set, &BTreeMap::new()), None);
    }

    #[test]
    fn a_subprotocol_counts_only_when_the_server_chose_it() {
        let all = AppProtocols::embedded().unwrap();
        let set = ProbeSet::builtin();
        // Probe 500 offers 63 names (mqtt among them, not first); 501 the
        // same reversed.
        let picked = |v: &str| {
            let mut o = Observation::new(Outcome::Upgraded);
            o.headers.insert("sec-websocket-protocol".into(), v.into());
            o
        };
        let obs = BTreeMap::from([
            ("500".to_string(), picked("mqtt")),
            ("501".to_string(), picked("mqtt")),
        ]);
        assert_eq!(all.classify(&set, &obs).as_deref(), Some("mqtt"));
        // An echo of the first offer of each (MBWS.huawei.com, ISYSUB).
        let first_500 = set
            .probes
            .iter()
            .find(|p| p.id == "500")
            .unwrap()
            .handshake
            .add[0]
            .1
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let obs = BTreeMap::from([("500".to_string(), picked(&first_500))]);
        assert_eq!(all.classify(&set, &obs), None);
        // Two different picks: no preference of its own.
        let obs = BTreeMap::from([
            ("500".to_string(), picked("mqtt")),
            ("501".to_string(), picked("sip")),
        ]);
        assert_eq!(all.classify(&set, &obs), None);
    }

    #[test]
    fn bad_signature_files_are_errors_naming_the_problem() {
        let cases = [
            (
                "[[app_protocol]]\nname = \"x\"\ndescription = \"d\"\n",
                "give pushed_prefix",
            ),
            (
                "[[app_protocol]]\nname = \"x\"\ndescription = \"d\"\npushed_prefix = [\"a\"]\nexamples = [\"b\"]\n",
                "matches none",
            ),
            (
                "[[app_protocol]]\nname = \"x\"\ndescription = \"d\"\npushed_prefix = [\"\"]\n",
                "empty pushed matcher",
            ),
            (
                "[[app_protocol]]\nname = \"x\"\nbogus = 1\n",
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let e = AppProtocols::default()
                .add_file(text, "t.toml")
                .unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            assert!(e.to_string().starts_with("t.toml"), "{e}");
        }
        let twice = "[[app_protocol]]\nname = \"x\"\ndescription = \"d\"\nsubprotocol = [\"a\"]\n";
        let mut all = AppProtocols::default();
        all.add_file(twice, "a.toml").unwrap();
        assert!(
            all.add_file(twice, "b.toml")
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
    }

    #[test]
    fn heads_keep_text_and_escape_the_rest() {
        assert_eq!(head_of(b"INFO {\"x\":1}\r\n"), "INFO {\"x\":1}\\x0d\\x0a");
        assert_eq!(head_of(&[0x20, 0x02, 0xff, b'\\']), " \\x02\\xff\\\\");
        assert_eq!(head_of("é".as_bytes()), "é");
        assert_eq!(head_of(&[b'a'; 100]).len(), HEAD_BYTES);
    }
}
