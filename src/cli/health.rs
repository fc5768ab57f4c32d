//! `edgecache health`: `GET /health` on the admin listener; exit 0 when it
//! answers 200, non-zero otherwise. Meant for container health checks,
//! where no curl is installed.

use super::admin_client::{AdminArgs, AdminClient};
use super::error::CliError;
use std::path::Path;

/// `edgecache health` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Check the node's health and print its answer.
pub async fn run(args: &HealthArgs, config: Option<&Path>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.admin, config)?;
    let answer = client.get("/health").await?.check("unhealthy")?;
    println!("{}", answer.text());
    Ok(())
}
