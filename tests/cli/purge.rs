//! `edgecache purge`: what the node serves changes, tokens are checked.

use crate::support::TestNode;
use crate::{OPERATOR, SHOP, config, edgecache, is_hit, tagging_origin, warm};

#[tokio::test]
async fn purge_subcommands_turn_hits_into_misses() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let admin = node.admin_addr.to_string();
    // (host, purged path, untouched path, purge arguments, the line printed)
    let cases: &[(&str, &str, &str, &[&str], &str)] = &[
        (
            "shop.test",
            "/product/1",
            "/about",
            &["key", "product", "--host", "shop.test"],
            "purge #1 (hard): keys product on shop.test",
        ),
        (
            "shop.test",
            "/img/a?x=1",
            "/img/b",
            &["url", "http://shop.test/img/a?x=1"],
            "purge #2 (hard): /img/a?x=1 on shop.test, every variant",
        ),
        (
            "shop.test",
            "/css/site.css",
            "/js/site.js",
            &["prefix", "http://shop.test/css/"],
            "purge #3 (hard): everything under /css/ on shop.test",
        ),
        (
            "blog.test",
            "/post/1",
            "",
            &["all", "--host", "blog.test"],
            "purge #4 (hard): everything cached for blog.test",
        ),
    ];
    for (host, purged, untouched, purge_args, line) in cases {
        warm(&node, host, purged).await;
        if !untouched.is_empty() {
            warm(&node, host, untouched).await;
        }
        // Another host's copy of the same path must survive every purge but its own.
        let other = if *host == "shop.test" {
            "blog.test"
        } else {
            "shop.test"
        };
        warm(&node, other, purged).await;
        let mut args = vec!["purge"];
        args.extend_from_slice(purge_args);
        args.extend_from_slice(&["--admin", &admin, "--token", OPERATOR]);
        let out = edgecache(&args).await;
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert_eq!(out.stdout.trim(), *line, "{out:?}");
        assert!(
            !is_hit(&node, host, purged).await,
            "{args:?}: {host}{purged} purged"
        );
        if !untouched.is_empty() {
            assert!(
                is_hit(&node, host, untouched).await,
                "{args:?}: {untouched} kept"
            );
        }
        assert!(
            is_hit(&node, other, purged).await,
            "{args:?}: {other}{purged} kept"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn soft_purge_with_json_prints_the_api_answer_and_revalidates() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    warm(&node, "shop.test", "/product/9").await;
    let out = edgecache(&[
        "purge",
        "--soft",
        "--json",
        "key",
        "product",
        "--admin",
        &node.admin_addr.to_string(),
        "--token",
        SHOP,
    ])
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["mode"], "soft", "{json}");
    assert_eq!(json["keys"], serde_json::json!(["product"]));
    assert_eq!(
        json["hosts"],
        serde_json::json!(["shop.test"]),
        "the token's hosts"
    );
    let before = origin.count("/product/9");
    assert!(!is_hit(&node, "shop.test", "/product/9").await);
    let seen = origin.seen();
    assert_eq!(origin.count("/product/9"), before + 1);
    assert!(
        seen.last()
            .is_some_and(|s| s.headers.contains_key("if-none-match")),
        "a soft purge revalidates"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_wrong_missing_or_narrow_token_is_a_clear_error_and_purges_nothing() {
    let origin = tagging_origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(config(&origin.url(), dir.path())).await;
    let admin = node.admin_addr.to_string();
    warm(&node, "blog.test", "/post/1").await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["--token", "not-a-configured-token-42"],
            "the node does not accept this admin token (unknown token); check --token / EDGECACHE_ADMIN_TOKEN",
        ),
        (
            &[],
            "no admin token: pass --token or set EDGECACHE_ADMIN_TOKEN",
        ),
        (
            &["--token", SHOP],
            "the admin token is valid but not allowed to do this (this token may not purge host `blog.test`)",
        ),
    ];
    for (token_args, message) in cases {
        let mut args = vec!["purge", "all", "--host", "blog.test", "--admin", &admin];
        args.extend_from_slice(token_args);
        let out = edgecache(&args).await;
        assert_eq!(out.code, Some(4), "{args:?}: {out:?}");
        assert!(out.stderr.contains(message), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
    }
    assert!(
        is_hit(&node, "blog.test", "/post/1").await,
        "nothing purged"
    );
    // A refusal other than the token's is exit 1, with the API's message.
    let out = edgecache(&[
        "purge",
        "url",
        "not-a-url",
        "--admin",
        &admin,
        "--token",
        OPERATOR,
    ])
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("purge refused: the node answered 400 Bad Request: `not-a-url` must be an absolute http:// or https:// URL"),
        "{out:?}"
    );
    node.stop().await;
}
