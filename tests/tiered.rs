//! Tiered caching: three real nodes in this process over one real origin
//! (`support::fleet`), every request for the same site (`Host: cdn.test`).

use crate::support;

use support::fleet::{Fleet, hops};
use support::{Origin, metrics, reply};

/// An origin whose every response is cacheable for an hour, with the path
/// in the body.
async fn origin() -> Origin {
    Origin::start(|req| {
        reply(
            200,
            &[("cache-control", "max-age=3600")],
            format!("body of {}", req.path),
        )
    })
    .await
}

/// The test: 3 nodes x 100 objects, every object asked of every
/// node. The origin sees each object once, 100 requests, not 300.
#[tokio::test]
async fn three_nodes_fetch_each_object_from_the_origin_once() {
    let origin = origin().await;
    let fleet = Fleet::start(&origin).await;
    let mut through_a_peer = 0;
    for n in 0..100 {
        let path = format!("/obj/{n}");
        for i in 0..3 {
            let got = fleet.get(i, &path, &[]).await;
            assert_eq!(got.status, 200, "{path} from node {i}: {got:?}");
            assert_eq!(got.text(), format!("body of {path}"));
            if hops(&got).len() == 2 {
                through_a_peer += 1;
            }
        }
        assert_eq!(
            origin.count(&path),
            1,
            "{path} fetched from the origin once"
        );
    }
    assert_eq!(origin.seen().len(), 100, "100 origin requests, not 300");
    // Each object is missed first at node 0; two thirds are homed elsewhere.
    assert!(
        through_a_peer > 30,
        "{through_a_peer} answers came via a peer"
    );
    let m = metrics(fleet.node(0).admin_addr).await;
    assert!(
        m.lines().any(
            |l| l.starts_with("edgecache_tier_requests_total{outcome=\"home\"}")
                && !l.ends_with(" 0")
        ),
        "home-peer fetches counted:\n{m}"
    );
}

/// Stop one node: objects whose home it was are still served by the
/// others (through the next peer in hash order, or the origin), and each
/// is still fetched from the origin once.
#[tokio::test]
async fn home_peer_killed_requests_still_succeed() {
    let origin = origin().await;
    let mut fleet = Fleet::start(&origin).await;
    fleet.stop(2).await;
    let mut homed_on_dead = 0;
    for n in 0..60 {
        let path = format!("/k/{n}");
        if fleet.order(&path)[0] == 2 {
            homed_on_dead += 1;
        }
        for i in [0, 1] {
            let got = fleet.get(i, &path, &[]).await;
            assert_eq!(got.status, 200, "{path} from node {i}: {got:?}");
            assert_eq!(got.text(), format!("body of {path}"));
            assert!(
                !got.cache_status().contains("edge-c"),
                "the dead node is not a hop: {}",
                got.cache_status()
            );
        }
        assert_eq!(
            origin.count(&path),
            1,
            "{path}: the second choice is the new home"
        );
    }
    assert!(
        homed_on_dead > 5,
        "{homed_on_dead} of 60 objects were homed on the dead node"
    );
}

/// Cache-Status has one member per cache, the home peer's first.
#[tokio::test]
async fn cache_status_lists_both_hops_in_order() {
    let origin = origin().await;
    let fleet = Fleet::start(&origin).await;
    let path = (0..100)
        .map(|n| format!("/cs/{n}"))
        .find(|p| fleet.order(p)[0] == 1)
        .expect("an object homed on edge-b");
    let got = fleet.get(0, &path, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(hops(&got), ["edge-b", "edge-a"], "{}", got.cache_status());
    let cs = got.cache_status();
    assert!(
        cs.starts_with("edge-b; fwd=uri-miss; fwd-status=200;")
            && cs.contains(", edge-a; fwd=uri-miss; fwd-status=200;"),
        "{cs}"
    );
    // The origin saw the request once, with both nodes' CDN-Loop members.
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    let members: Vec<&str> = seen[0]
        .headers
        .get_all("cdn-loop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    assert_eq!(
        members,
        ["edgecache", "edgecache"],
        "edge-a's, then edge-b's"
    );
    // Another edge asks the home peer too, where it is now a hit.
    let again = fleet.get(2, &path, &[]).await;
    assert_eq!(
        hops(&again),
        ["edge-b", "edge-c"],
        "{}",
        again.cache_status()
    );
    assert!(
        again.cache_status().contains("edge-b; hit"),
        "{}",
        again.cache_status()
    );
    assert_eq!(origin.seen().len(), 1);
}

/// A request from a peer's address carrying our CDN-Loop id is a peer's:
/// it is served from the origin, never sent to another peer.
#[tokio::test]
async fn a_peer_request_goes_to_the_origin_not_another_peer() {
    let origin = origin().await;
    let fleet = Fleet::start(&origin).await;
    let path = (0..100)
        .map(|n| format!("/p/{n}"))
        .find(|p| fleet.order(p)[0] == 1)
        .expect("an object homed on edge-b");
    // The test client is on 127.0.0.1, the peers' address.
    let got = fleet.get(0, &path, &[("cdn-loop", "edgecache")]).await;
    assert_eq!(got.status, 200);
    assert_eq!(hops(&got), ["edge-a"], "{}", got.cache_status());
    assert_eq!(origin.count(&path), 1);
    let seen = &origin.seen()[0];
    let loop_values: Vec<&str> = seen
        .headers
        .get_all("cdn-loop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        loop_values,
        ["edgecache", "edgecache"],
        "ours appended once"
    );
    // edge-b never saw it: asking it now is a miss it fetches itself.
    let at_b = fleet.get(1, &path, &[]).await;
    assert_eq!(hops(&at_b), ["edge-b"]);
    assert!(
        at_b.cache_status().contains("fwd=uri-miss"),
        "{}",
        at_b.cache_status()
    );
}

/// Our id more often than `tier.loop_limit` is a loop: 508, and nothing is
/// forwarded. A hostile CDN-Loop gets the same, never a crash.
#[tokio::test]
async fn a_request_over_the_loop_limit_gets_508() {
    let origin = origin().await;
    let fleet = Fleet::start(&origin).await;
    let many = "edgecache, ".repeat(2000);
    for value in [
        "edgecache, edgecache",
        "other; x=\"a,b\", EdgeCache;v=1, edgecache",
        many.as_str(),
    ] {
        let got = fleet.get(0, "/looped", &[("cdn-loop", value)]).await;
        assert_eq!(got.status, 508, "{value:.40}: {got:?}");
        assert!(got.cache_status().contains("detail=loop-detected"));
    }
    // Malformed values without our id are ignored, not refused.
    for value in ["\"unterminated, edgecache2", ",,,;;;", "edgecache\"\""] {
        let got = fleet.get(0, "/odd", &[("cdn-loop", value)]).await;
        assert_eq!(got.status, 200, "{value}: {got:?}");
    }
    assert_eq!(origin.count("/looped"), 0, "a loop is never forwarded");
    let m = metrics(fleet.node(0).admin_addr).await;
    assert!(
        m.contains("edgecache_tier_requests_total{outcome=\"loop_refused\"} 3"),
        "{m}"
    );
}

/// A home peer that cannot reach the origin answers 502 of its own making:
/// the edge asks the origin itself rather than relay that error.
#[tokio::test]
async fn a_peer_that_cannot_reach_the_origin_is_bypassed() {
    let origin = origin().await;
    // edge-b's origin is a port held for the test that refuses connections.
    let closed = support::Reserved::new();
    let dead = closed.url();
    let fleet = Fleet::start_with(&origin, |i, cfg| {
        if i == 1 {
            cfg.origin = Some(dead.clone());
        }
    })
    .await;
    let path = (0..100)
        .map(|n| format!("/b/{n}"))
        .find(|p| fleet.order(p)[0] == 1)
        .expect("an object homed on edge-b");
    let got = fleet.get(0, &path, &[]).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.text(), format!("body of {path}"));
    assert_eq!(hops(&got), ["edge-a"], "{}", got.cache_status());
    assert_eq!(origin.count(&path), 1);
    let m = metrics(fleet.node(0).admin_addr).await;
    assert!(
        m.contains("edgecache_tier_requests_total{outcome=\"origin_fallback\"} 1"),
        "{m}"
    );
}

/// A shield tier: edge-c is the shield; edge-a and edge-b send their misses
/// to it and never ask the origin themselves while it answers.
#[tokio::test]
async fn a_shield_tier_sends_every_miss_through_the_shield() {
    let origin = origin().await;
    let fleet = Fleet::start(&origin).await;
    let shield = fleet.peers[2].clone();
    fleet
        .reconfigure(|_, c| c.tier.shield = vec![shield.clone()])
        .await;
    for n in 0..30 {
        let path = format!("/shield/{n}");
        for i in [0, 1] {
            let got = fleet.get(i, &path, &[]).await;
            assert_eq!(got.status, 200);
            assert_eq!(got.text(), format!("body of {path}"));
            let want = ["edge-c", ["edge-a", "edge-b"][i]];
            assert_eq!(hops(&got), want, "{path}: {}", got.cache_status());
        }
        assert_eq!(origin.count(&path), 1, "{path}");
    }
    // The shield itself asks the origin directly.
    let got = fleet.get(2, "/shield/own", &[]).await;
    assert_eq!(hops(&got), ["edge-c"]);
}

/// A home peer that accepts connections but never answers (hung, or
/// overloaded) is given up after `tier.first_byte_timeout_ms` for the next
/// peer in hash order or the origin.
#[tokio::test]
async fn a_slow_home_peer_is_given_up_for_the_next() {
    let origin = origin().await;
    let mut fleet = Fleet::start(&origin).await;
    // Replace edge-c by a listener that accepts and never answers.
    fleet.stop(2).await;
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hole_addr = hole.local_addr().expect("addr").to_string();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = hole.accept().await {
            open.push(s);
        }
    });
    fleet.peers[2] = hole_addr.clone();
    fleet
        .reconfigure(|_, c| {
            c.tier.peers[2] = hole_addr.clone();
            c.tier.first_byte_timeout_ms = 300;
        })
        .await;
    let path = (0..100)
        .map(|n| format!("/slow/{n}"))
        .find(|p| fleet.order(p)[0] == 2)
        .expect("an object homed on the silent peer");
    let got = fleet.get(0, &path, &[]).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.text(), format!("body of {path}"));
    assert_eq!(origin.count(&path), 1);
    let m = metrics(fleet.node(0).admin_addr).await;
    let fell_back = ["next_peer", "origin_fallback"].iter().any(|o| {
        m.contains(&format!(
            "edgecache_tier_requests_total{{outcome=\"{o}\"}} 1"
        ))
    });
    assert!(fell_back, "{m}");
    assert!(
        m.contains("edgecache_upstream_head_timeouts_total 1"),
        "the peer's timeout is counted:\n{m}"
    );
    held.abort();
}

/// A peer's request is keyed by the scheme its client used (the peer's
/// X-Forwarded-Proto), so an https object fetched through a peer is never
/// served for http, nor the reverse; a client's own X-Forwarded-Proto
/// without our CDN-Loop id changes nothing.
#[tokio::test]
async fn a_peers_request_is_keyed_by_its_clients_scheme() {
    let origin = origin().await;
    let fleet = Fleet::start(&origin).await;
    let peer_https = [("cdn-loop", "edgecache"), ("x-forwarded-proto", "https")];
    let xfp_seen = |n: usize| {
        origin.seen()[n]
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let got = fleet.get(1, "/scheme", &peer_https).await;
    assert_eq!(got.status, 200);
    assert_eq!(xfp_seen(0), "https", "fetched as the https resource");
    // The same path as http (a peer's request without the field): another key.
    let got = fleet.get(1, "/scheme", &[("cdn-loop", "edgecache")]).await;
    assert!(
        got.cache_status().contains("fwd=uri-miss"),
        "{}",
        got.cache_status()
    );
    assert_eq!(xfp_seen(1), "http");
    // The https copy is a hit for the next https peer request.
    let got = fleet.get(1, "/scheme", &peer_https).await;
    assert!(got.cache_status().contains("hit"), "{}", got.cache_status());
    assert_eq!(origin.count("/scheme"), 2);
    // A client's X-Forwarded-Proto alone is not believed.
    let path = (0..100)
        .map(|n| format!("/xfp/{n}"))
        .find(|p| fleet.order(p)[0] == 1)
        .expect("an object homed on edge-b");
    let got = fleet.get(1, &path, &[("x-forwarded-proto", "https")]).await;
    assert_eq!(got.status, 200);
    assert_eq!(xfp_seen(2), "http");
}

/// Health checks of peers (docs/tiering.md, "Home peer down"): a peer that
/// fails its TCP health check has its breaker opened by the check, and
/// requests skip it without trying it; when it accepts connections again,
/// the next check closes that breaker and it is a home again. Requests
/// alone cannot open a breaker here (`breaker_failures` is far above what
/// the test sends, and the cooldown is an hour), so whatever is skipped was
/// skipped because of a health check.
#[tokio::test]
async fn a_peer_failing_health_checks_is_skipped_and_comes_back_when_healthy() {
    let logs = support::logs::Logs::capture(tracing::Level::DEBUG);
    let origin = origin().await;
    let mut fleet = Fleet::start_with(&origin, |_, cfg| {
        cfg.tier.health_check_interval_ms = 100;
        cfg.upstream.breaker_failures = 1000;
        cfg.upstream.breaker_cooldown_secs = 3600;
    })
    .await;
    let c = fleet.peers[2].clone();
    let peer = format!("peer=\"{c}\"");
    let homed_on_c: Vec<String> = (0..200)
        .map(|n| format!("/health/{n}"))
        .filter(|p| fleet.order(p)[0] == 2)
        .take(6)
        .collect();
    assert_eq!(homed_on_c.len(), 6);
    // edge-c goes down: its address refuses connections (the port stays
    // held by the fleet, so nothing else answers there).
    fleet.stop(2).await;
    let wait = std::time::Duration::from_secs(10);
    support::wait_until("edge-a's and edge-b's checks to fail edge-c", wait, || {
        logs.count(&["peer health check failed; skipping it", &peer]) >= 2
    })
    .await;
    let tried_before = logs.count(&["peer failed; trying the next", &peer]);
    for path in &homed_on_c[..3] {
        let got = fleet.get(0, path, &[]).await;
        assert_eq!(got.status, 200, "{path}: {got:?}");
        assert_eq!(got.text(), format!("body of {path}"));
        assert!(!hops(&got).contains(&"edge-c".to_string()), "{got:?}");
    }
    assert_eq!(
        logs.count(&["peer failed; trying the next", &peer]),
        tried_before,
        "edge-c was tried although its health check had failed:\n{}",
        logs.text()
    );
    assert!(
        logs.count(&["peer skipped", &peer]) >= 3,
        "each request skipped edge-c:\n{}",
        logs.text()
    );
    // edge-c comes back on the same address: the next checks close the
    // breakers they opened, and it is the home of its objects again.
    fleet.restart(2).await;
    support::wait_until("edge-a's and edge-b's checks to pass edge-c", wait, || {
        logs.count(&["peer health check passed; using it again", &peer]) >= 2
    })
    .await;
    let skipped_before = logs.count(&["peer skipped", &peer]);
    for path in &homed_on_c[3..] {
        let got = fleet.get(0, path, &[]).await;
        assert_eq!(got.status, 200, "{path}: {got:?}");
        assert_eq!(
            hops(&got),
            ["edge-c", "edge-a"],
            "{path} through its home again: {}",
            got.cache_status()
        );
    }
    assert_eq!(logs.count(&["peer skipped", &peer]), skipped_before);
}
