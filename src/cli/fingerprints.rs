//! `wsfp fingerprints`: what the DB can name. One row per fingerprint
//! (id, name, library, family, language, the releases it was learned
//! from, and whether it names a reverse proxy in front or a server), then
//! the app-protocol signatures. `--format markdown` is the README's
//! "Supported implementations" section, which a test keeps equal to the
//! built-in DB's.

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::DbOpts;
use crate::fingerprint::Db;
use crate::probe::{Layer, ProbeSet};

#[derive(Debug, Args)]
pub struct FingerprintsArgs {
    #[command(flatten)]
    pub db: DbOpts,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Markdown,
    Json,
}

/// One fingerprint as listed.
#[derive(Debug, Serialize)]
pub struct Listed<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub library: &'a str,
    pub family: &'a str,
    pub language: &'a str,
    /// `front`: every feature is of the handshake (a reverse proxy, named
    /// in front of the backend the frames name); `server` otherwise.
    pub role: &'static str,
    pub versions: &'a [String],
    pub features: usize,
}

/// The DB's fingerprints, servers first then fronts, each by language and id.
pub fn listed(db: &Db) -> Vec<Listed<'_>> {
    let mut v: Vec<Listed> = db
        .fingerprints
        .iter()
        .map(|f| Listed {
            id: &f.id,
            name: &f.name,
            library: &f.library,
            family: &f.family,
            language: &f.language,
            role: if !f.features.is_empty()
                && f.features.values().all(|e| e.layer == Layer::Handshake)
            {
                "front"
            } else {
                "server"
            },
            versions: &f.versions,
            features: f.features.len(),
        })
        .collect();
    v.sort_by(|a, b| {
        (a.role != "server", a.language, a.id).cmp(&(b.role != "server", b.language, b.id))
    });
    v
}

/// The README section (without its markers).
pub fn markdown(db: &Db) -> String {
    use std::fmt::Write as _;
    let rows = listed(db);
    let fronts = rows.iter().filter(|r| r.role == "front").count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} implementations: {} servers and {} reverse proxies (named as `front`), and {} app protocols.",
        rows.len(),
        rows.len() - fronts,
        fronts,
        db.app_protocols.protocols.len()
    );
    let _ = writeln!(
        s,
        "Versions are the releases each fingerprint was learned from (`lab/`).\n"
    );
    let _ = writeln!(s, "| id | implementation | library | language | versions |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    let cell = |t: &str| t.replace('|', "\\|");
    for r in &rows {
        let name = if r.role == "front" {
            format!("{} (front)", r.name)
        } else {
            r.name.to_string()
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | `{}` | {} | {} |",
            r.id,
            cell(&name),
            cell(r.library),
            cell(r.language),
            cell(&r.versions.join("; "))
        );
    }
    let _ = writeln!(s, "\n| app protocol | what gives it away |");
    let _ = writeln!(s, "|---|---|");
    for p in &db.app_protocols.protocols {
        let _ = writeln!(s, "| `{}` | {} |", p.name, cell(&p.description));
    }
    s
}

pub fn run(a: FingerprintsArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let set = ProbeSet::builtin();
    let db = a.db.load(&set)?;
    let out = match a.format {
        ListFormat::Markdown => markdown(&db),
        ListFormat::Json => {
            #[derive(Serialize)]
            struct All<'a> {
                fingerprints: Vec<Listed<'a>>,
                app_protocols: Vec<&'a str>,
            }
            let all = All {
                fingerprints: listed(&db),
                app_protocols: db
                    .app_protocols
                    .protocols
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect(),
            };
            serde_json::to_string_pretty(&all)? + "\n"
        }
        ListFormat::Text => {
            let rows = listed(&db);
            let w = rows.iter().map(|r| r.id.len()).max().unwrap_or(2);
            let wl = rows.iter().map(|r| r.library.len()).max().unwrap_or(7);
            let mut s = String::new();
            writeln!(s, "{:<w$}  {:<6}  {:<wl$}  name", "id", "role", "library")?;
            for r in &rows {
                writeln!(
                    s,
                    "{:<w$}  {:<6}  {:<wl$}  {}",
                    r.id, r.role, r.library, r.name
                )?;
            }
            writeln!(
                s,
                "{} fingerprints; app protocols: {}",
                rows.len(),
                db.app_protocols
                    .protocols
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            s
        }
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(0)
}
