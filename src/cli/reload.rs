//! `edgecache reload`: `POST /admin/reload`, which re-reads the node's
//! config file. 200 `{"reloaded": true, "restart_needed": [...],
//! "certificate_errors": [...]}`; 422 `{"error": "..."}` when the new
//! config fails validation (the running config stays); 401/403 for a bad
//! token. Certificates that failed to load fail the command (exit 1) even
//! though the rest was reloaded: a rotation that did not happen must not
//! look like success.

use super::admin_client::{AdminArgs, AdminClient};
use super::error::CliError;
use http::StatusCode;
use serde_json::Value;
use std::path::Path;

/// `edgecache reload` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct ReloadArgs {
    /// Print the API's JSON answer as it came.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Ask the node to reload and print the outcome.
pub async fn run(args: &ReloadArgs, config: Option<&Path>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.admin, config)?;
    client.require_token()?;
    let answer = client.post("/admin/reload", None).await?;
    match answer.status {
        StatusCode::UNPROCESSABLE_ENTITY => {
            return Err(CliError::Failed(format!(
                "the node rejected the new config and keeps running with the old one: {}",
                answer.error_message()
            )));
        }
        StatusCode::NOT_FOUND => {
            return Err(CliError::Failed(
                "this node has no POST /admin/reload (an older version?); send it SIGHUP instead"
                    .into(),
            ));
        }
        _ => {}
    }
    let answer = answer.check("reload failed")?;
    if args.json {
        println!("{}", answer.text());
        return Ok(());
    }
    let json = answer.json().unwrap_or(Value::Null);
    if json.get("reloaded").and_then(Value::as_bool) != Some(true) {
        return Err(CliError::Failed(format!(
            "the node answered {} without confirming the reload: {}",
            answer.status,
            answer.text()
        )));
    }
    println!("{}", describe(&json));
    let certificate_errors: Vec<&str> = json
        .get("certificate_errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !certificate_errors.is_empty() {
        return Err(CliError::Failed(format!(
            "the config was reloaded, but these listeners keep their previous certificates: {}",
            certificate_errors.join("; ")
        )));
    }
    Ok(())
}

fn describe(v: &Value) -> String {
    let restart: Vec<&str> = v
        .get("restart_needed")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if restart.is_empty() {
        "reloaded: the new config is in force".to_string()
    } else {
        format!(
            "reloaded; these changes take effect only after a restart: {}",
            restart.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_fields_that_need_a_restart() {
        assert_eq!(
            describe(&json!({"reloaded": true, "restart_needed": []})),
            "reloaded: the new config is in force"
        );
        assert_eq!(
            describe(
                &json!({"reloaded": true, "restart_needed": ["server.listen", "storage.disk_bytes"]})
            ),
            "reloaded; these changes take effect only after a restart: server.listen, storage.disk_bytes"
        );
    }
}
