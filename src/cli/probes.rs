//! `wsfp probes`: the probe catalogue, with risk and layer per probe;
//! `--format markdown` is the table of docs/probes.md ("Catalogue"),
//! which tests/docs_probes.rs keeps equal to the built-in set.

use clap::{Args, ValueEnum};

use super::ProbeOpts;

#[derive(Debug, Args)]
pub struct ProbesArgs {
    #[command(flatten)]
    pub probes: ProbeOpts,
    /// Also print each probe's intent.
    #[arg(long)]
    pub long: bool,
    /// `text` (a column per field), or `markdown`: a table with each
    /// probe's intent (docs/probes.md's catalogue is `wsfp probes -a
    /// --exhaustive --format markdown`).
    #[arg(long, value_enum, default_value_t = ProbesFormat::Text)]
    pub format: ProbesFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbesFormat {
    Text,
    Markdown,
}

/// Text for one table cell, rendered as written: a `|` would end the
/// cell, a CR or LF the row (a probe's text that names such bytes spells
/// them `\r`, `\n`), and a backslash would escape the next character (`13\/`
/// would show as `13/`).
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' => out.push_str("\\\\r"),
            '\n' => out.push_str("\\\\n"),
            c if c.is_control() => out.push_str(&format!("\\\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

pub fn run(a: ProbesArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let set = a.probes.probe_set()?;
    let selected = a.probes.selected(&set)?;
    let mut out = String::new();
    if a.format == ProbesFormat::Markdown {
        writeln!(out, "| id | series | risk | layer | name | intent |")?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for p in set.probes.iter().filter(|p| selected.contains(&p.id)) {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&p.id),
                p.series,
                p.risk,
                format!("{:?}", p.layer).to_lowercase(),
                cell(&p.name),
                cell(&p.intent)
            )?;
        }
        std::io::stdout().write_all(out.as_bytes())?;
        return Ok(0);
    }
    writeln!(out, "# probe set {}", set.version)?;
    writeln!(
        out,
        "{:<6} {:<6} {:<9} {:<9} name",
        "id", "series", "risk", "layer"
    )?;
    for p in set.probes.iter().filter(|p| selected.contains(&p.id)) {
        let layer = format!("{:?}", p.layer).to_lowercase();
        writeln!(
            out,
            "{:<6} {:<6} {:<9} {:<9} {}",
            p.id,
            p.series,
            p.risk.to_string(),
            layer,
            p.name
        )?;
        if a.long {
            writeln!(out, "       {}", p.intent)?;
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(0)
}
