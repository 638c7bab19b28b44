//! `wsfp man [SUBCOMMAND]`: the manual page (roff), generated from the
//! clap definitions (clap_mangen): `wsfp man | man -l -`.

use clap::{Args, CommandFactory};

use super::{Cli, usage};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's page (`wsfp man scan` is wsfp-scan(1)); default: wsfp(1).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

pub fn run(a: ManArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let mut cmd = Cli::command();
    // Built, so the subcommands carry what they inherit (the version).
    cmd.build();
    let page = match &a.subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name) else {
                let names: Vec<&str> = cmd
                    .get_subcommands()
                    .map(|c| c.get_name())
                    .filter(|n| *n != "help")
                    .collect();
                return Err(usage(format!(
                    "wsfp man {name}: no such subcommand (known: {})",
                    names.join(", ")
                )));
            };
            let full = format!("wsfp-{}", sub.get_name());
            sub.clone()
                .name(full.clone())
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::stdout().write_all(&out)?;
    Ok(0)
}
