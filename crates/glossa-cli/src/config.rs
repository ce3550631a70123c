//! `glossa config`: the config a run would use, with `extends` applied and every default filled.

use std::path::PathBuf;

use anyhow::Result;
use glossa::recipes::config::Config;

#[derive(clap::Args)]
pub struct ConfigArgs {
    /// TOML config (configs/).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: ConfigArgs) -> Result<()> {
    print!("{}", Config::load(&args.config)?.to_toml());
    Ok(())
}
