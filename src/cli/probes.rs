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
    let set = a.probes.probe_set()?;
    let selected = a.probes.selected(&set)?;
    println!("# probe set {}", set.version);
    println!(
        "{:<6} {:<6} {:<9} {:<9} name",
        "id", "series", "risk", "layer"
    );
    for p in set.probes.iter().filter(|p| selected.contains(&p.id)) {
        let layer = format!("{:?}", p.layer).to_lowercase();
        println!(
            "{:<6} {:<6} {:<9} {:<9} {}",
            p.id,
            p.series,
            p.risk.to_string(),
            layer,
            p.name
        );
        if a.long {
            println!("       {}", p.intent);
        }
    }
    Ok(0)
}
