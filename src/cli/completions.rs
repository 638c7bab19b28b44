//! `wsfp completions SHELL`: a completion script, generated from the clap
//! definitions (clap_complete), so it always offers the flags this binary
//! has.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(a: CompletionsArgs) -> Result<i32, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "wsfp", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(0)
}
