//! The operator subcommands of the real binary (`purge`, `stats`, `reload`,
//! `health`, `check-config`) against a real node in this process, a real
//! origin, and for `reload` an in-test admin endpoint answering per its
//! contract: what the node serves changes, and every failure is one clear
//! line with its documented exit code.

#[path = "../support/mod.rs"]
mod support;

mod check_config;
mod purge;
mod reachability;
mod reload;
mod stats;

use edgecache::config::{Config, TokenConfig};
use support::{Origin, TestNode, reply, send, test_config};

pub(crate) const OPERATOR: &str = "operator-token-0123456789";
pub(crate) const SHOP: &str = "shop-only-token-0123456789";

pub(crate) fn config(origin: &str, dir: &std::path::Path) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.admin.tokens = vec![
        TokenConfig {
            token: OPERATOR.into(),
            hosts: vec!["*".into()],
        },
        TokenConfig {
            token: SHOP.into(),
            hosts: vec!["shop.test".into()],
        },
    ];
    cfg
}

/// What a run of the binary produced.
pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `edgecache args...` to completion (without inheriting a token or config).
pub(crate) async fn edgecache(args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgecache"))
        .args(args)
        .env_remove("EDGECACHE_ADMIN_TOKEN")
        .env_remove("EDGECACHE_CONFIG")
        .output()
        .await
        .expect("run edgecache");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An origin that tags `/product*` with `product`, everything with `all`.
pub(crate) async fn tagging_origin() -> Origin {
    Origin::start(|seen| {
        let tags = if seen.path.starts_with("/product") {
            "product all"
        } else {
            "all"
        };
        reply(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("surrogate-key", tags),
                ("etag", "\"e1\""),
            ],
            seen.path.clone(),
        )
    })
    .await
}

pub(crate) async fn is_hit(node: &TestNode, host: &str, path: &str) -> bool {
    let g = send("GET", &node.url(path), &[("host", host)]).await;
    assert_eq!(g.status, 200, "{host}{path}");
    g.cache_status().contains("; hit") && !g.cache_status().contains("fwd=")
}

/// Fetch twice: the second one must be a hit.
pub(crate) async fn warm(node: &TestNode, host: &str, path: &str) {
    is_hit(node, host, path).await;
    assert!(is_hit(node, host, path).await, "{host}{path} is cached");
}
