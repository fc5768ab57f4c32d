//! `edgecache purge key|url|prefix|all`: one call to the purge API
//! (docs/purge-api.md), answered by one human line (or `--json`, the raw
//! answer).

use super::admin_client::{AdminArgs, AdminClient};
use super::error::CliError;
use serde_json::{Value, json};
use std::path::Path;

/// `edgecache purge` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct PurgeArgs {
    /// What to purge.
    #[command(subcommand)]
    pub target: Target,
    /// Soft purge: mark stale (revalidated on next use) instead of removing.
    #[arg(long, global = true)]
    pub soft: bool,
    /// Print the API's JSON answer as it came.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// What a purge covers.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Target {
    /// Surrogate keys (Surrogate-Key / Cache-Tag values).
    Key {
        /// The keys.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Only in these hosts (repeat or comma-separate). Default: every
        /// host the token covers.
        #[arg(long = "host", value_name = "HOST", value_delimiter = ',')]
        hosts: Vec<String>,
    },
    /// One URL, every Vary variant of it.
    Url {
        /// Absolute URL, e.g. https://shop.example/product/42?color=red
        url: String,
    },
    /// Every URL of a host under a path prefix.
    Prefix {
        /// Absolute URL prefix, e.g. https://shop.example/img/
        #[arg(value_name = "URL-PREFIX")]
        prefix: String,
    },
    /// Everything cached for one host.
    All {
        /// The host, e.g. shop.example.
        #[arg(long)]
        host: String,
    },
}

/// The API route and JSON body for `target`.
fn request(target: &Target, soft: bool) -> (&'static str, Value) {
    match target {
        Target::Key { keys, hosts } => {
            let mut body = json!({ "keys": keys, "soft": soft });
            if !hosts.is_empty() {
                body["hosts"] = json!(hosts);
            }
            ("/purge/keys", body)
        }
        Target::Url { url } => ("/purge/url", json!({ "url": url, "soft": soft })),
        Target::Prefix { prefix } => ("/purge/prefix", json!({ "prefix": prefix, "soft": soft })),
        Target::All { host } => ("/purge/all", json!({ "host": host, "soft": soft })),
    }
}

/// Send the purge and print the answer.
pub async fn run(args: &PurgeArgs, config: Option<&Path>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.admin, config)?;
    client.require_token()?;
    let (route, body) = request(&args.target, args.soft);
    let answer = client
        .post(route, Some(&body))
        .await?
        .check("purge refused")?;
    if args.json {
        println!("{}", answer.text());
        return Ok(());
    }
    let json = answer.json().ok_or_else(|| {
        CliError::Failed(format!(
            "the purge was answered {} but not with JSON: {}",
            answer.status,
            answer.text()
        ))
    })?;
    println!("{}", describe(&json));
    Ok(())
}

/// One line for a purge answer, e.g. `purge #17 (hard): keys product on shop.test`.
fn describe(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let list = |k: &str| match v.get(k).and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "?".to_string(),
    };
    let id = v
        .get("id")
        .and_then(Value::as_u64)
        .map_or_else(|| "?".to_string(), |n| n.to_string());
    let what = match s("purge").as_str() {
        "key" | "keys" => {
            let hosts = list("hosts");
            let hosts = if hosts == "*" {
                "every host".into()
            } else {
                hosts
            };
            format!("keys {} on {hosts}", list("keys"))
        }
        "url" => format!("{} on {}, every variant", s("path"), s("host")),
        "prefix" => format!("everything under {} on {}", s("prefix"), s("host")),
        "all" => format!("everything cached for {}", s("host")),
        other => format!("{other} purge"),
    };
    format!("purge #{id} ({}): {what}", s("mode"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_api_requests() {
        let (route, body) = request(
            &Target::Key {
                keys: vec!["a".into(), "b".into()],
                hosts: vec![],
            },
            true,
        );
        assert_eq!(route, "/purge/keys");
        assert_eq!(body, json!({ "keys": ["a", "b"], "soft": true }));
        let (_, body) = request(
            &Target::Key {
                keys: vec!["a".into()],
                hosts: vec!["x.test".into()],
            },
            false,
        );
        assert_eq!(body["hosts"], json!(["x.test"]));
        let (route, body) = request(
            &Target::All {
                host: "x.test".into(),
            },
            false,
        );
        assert_eq!(
            (route, body),
            ("/purge/all", json!({ "host": "x.test", "soft": false }))
        );
    }

    #[test]
    fn describes_each_answer_in_one_line() {
        let cases = [
            (
                json!({"id": 17, "status": "ok", "purge": "keys", "mode": "hard", "keys": ["product", "all"], "hosts": ["shop.test"]}),
                "purge #17 (hard): keys product, all on shop.test",
            ),
            (
                json!({"id": 2, "purge": "keys", "mode": "soft", "keys": ["k"], "hosts": ["*"]}),
                "purge #2 (soft): keys k on every host",
            ),
            (
                json!({"id": 3, "purge": "url", "mode": "hard", "host": "shop.test", "path": "/a?b=1"}),
                "purge #3 (hard): /a?b=1 on shop.test, every variant",
            ),
            (
                json!({"id": 4, "purge": "prefix", "mode": "hard", "host": "shop.test", "prefix": "/img/"}),
                "purge #4 (hard): everything under /img/ on shop.test",
            ),
            (
                json!({"id": 5, "purge": "all", "mode": "soft", "host": "shop.test"}),
                "purge #5 (soft): everything cached for shop.test",
            ),
        ];
        for (answer, line) in cases {
            assert_eq!(describe(&answer), line);
        }
    }
}
