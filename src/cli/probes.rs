//! `wsfp probes`: the probe catalogue, with risk and layer per probe.

use clap::Args;

use super::ProbeOpts;

#[derive(Debug, Args)]
pub struct ProbesArgs {
    #[command(flatten)]
    pub probes: ProbeOpts,
    /// Also print each probe's intent.
    #[arg(long)]
    pub long: bool,
}

pub fn run(a: ProbesArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let set = a.probes.probe_set()?;
    let selected = a.probes.selected(&set)?;
    let mut out = String::new();
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
