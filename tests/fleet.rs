//! The fleet: purge fan-out over a real NATS JetStream server (nats-server
//! from the registry, started per test) between real in-process nodes with
//! real data directories, in front of a real origin.

use crate::support;

use edgecache::config::{Config, TokenConfig};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::nats::Nats;
use support::{Origin, TestNode, admin, get, metrics, reply, test_config};

const TOKEN: &str = "fleet-operator-token-0123456789";

/// An origin whose objects have a version (bumped by the test when it
/// "publishes" new content), an ETag per version, and a surrogate key per
/// object; it answers If-None-Match with 304 when the version is current.
struct Versioned {
    origin: Origin,
    version: Arc<Mutex<u32>>,
}

async fn versioned_origin() -> Versioned {
    let version = Arc::new(Mutex::new(1u32));
    let v = version.clone();
    let origin = Origin::start(move |seen| {
        let version = *v.lock();
        let etag = format!("\"v{version}\"");
        let key = seen.path.trim_start_matches('/').replace('/', "-");
        if seen
            .headers
            .get("if-none-match")
            .is_some_and(|h| h.as_bytes() == etag.as_bytes())
        {
            return reply(
                304,
                &[("etag", &etag), ("cache-control", "max-age=3600")],
                "",
            );
        }
        reply(
            200,
            &[
                ("etag", &etag),
                ("cache-control", "max-age=3600"),
                ("surrogate-key", &format!("{key} all")),
            ],
            format!("v{version} {}", seen.path),
        )
    })
    .await;
    Versioned { origin, version }
}

fn fleet_config(origin: &str, dir: &std::path::Path, nats: &Nats, id: &str) -> Config {
    let mut cfg = test_config(origin, dir);
    cfg.admin.tokens = vec![TokenConfig {
        token: TOKEN.into(),
        hosts: vec!["*".into()],
    }];
    cfg.fleet.servers = vec![nats.url()];
    cfg.fleet.node_id = Some(id.into());
    cfg.fleet.presence_interval_ms = 100;
    cfg
}

/// Poll `node`'s metrics until `line` appears (or fail after 30 s).
async fn until_metric(node: &TestNode, line: &str) {
    for _ in 0..600 {
        if metrics(node.admin_addr).await.lines().any(|l| l == line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = metrics(node.admin_addr).await;
    let fleet: Vec<&str> = text.lines().filter(|l| l.contains("fleet")).collect();
    panic!("{} never showed `{line}`:\n{}", node.addr, fleet.join("\n"));
}

async fn purge_key(node: &TestNode, key: &str, query: &str) -> (u16, serde_json::Value) {
    admin(
        node.admin_addr,
        &format!("/purge/key/{key}{query}"),
        Some(TOKEN),
        &[],
        "",
    )
    .await
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

struct Fleet3 {
    dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<TestNode>>,
    cfgs: Vec<Config>,
}

async fn three_nodes(origin: &str, nats: &Nats) -> Fleet3 {
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let cfgs: Vec<Config> = ["a", "b", "c"]
        .iter()
        .zip(&dirs)
        .map(|(id, d)| fleet_config(origin, d.path(), nats, id))
        .collect();
    let mut nodes = Vec::new();
    for c in &cfgs {
        nodes.push(Some(TestNode::start(c.clone()).await));
    }
    for n in nodes.iter().flatten() {
        until_metric(n, "edgecache_fleet_caught_up 1").await;
        until_metric(n, "edgecache_fleet_live_nodes 3").await;
    }
    Fleet3 { dirs, nodes, cfgs }
}

impl Fleet3 {
    fn node(&self, i: usize) -> &TestNode {
        self.nodes[i].as_ref().expect("node running")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_one_node_reaches_every_node_and_waits_for_them() {
    let nats = Nats::start().await;
    let o = versioned_origin().await;
    let f = three_nodes(&o.origin.url(), &nats).await;
    for i in 0..3 {
        assert_eq!(get(&f.node(i).url("/p/1")).await.text(), "v1 /p/1");
        assert_eq!(get(&f.node(i).url("/p/1")).await.text(), "v1 /p/1");
    }
    assert_eq!(o.origin.count("/p/1"), 3, "one miss per node, then hits");
    *o.version.lock() = 2;
    let (status, json) = purge_key(f.node(0), "p-1", "?wait=fleet&timeout_ms=10000").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["fleet"]["complete"], true, "{json}");
    assert_eq!(names(&json["fleet"]["acked"]), ["a", "b", "c"], "{json}");
    for i in 0..3 {
        assert_eq!(
            get(&f.node(i).url("/p/1")).await.text(),
            "v2 /p/1",
            "node {i} serves the new version once the purge is acknowledged"
        );
    }
    assert_eq!(o.origin.count("/p/1"), 6);
    // A URL purge (hard: the object is also dropped from each store).
    assert_eq!(get(&f.node(1).url("/u")).await.text(), "v2 /u");
    assert_eq!(get(&f.node(2).url("/u")).await.text(), "v2 /u");
    *o.version.lock() = 9;
    let host = f.node(0).addr.ip().to_string();
    let (status, json) = admin(
        f.node(0).admin_addr,
        "/purge/url?wait=fleet",
        Some(TOKEN),
        &[],
        &format!(r#"{{"url": "http://{host}/u"}}"#),
    )
    .await;
    assert_eq!(
        (status, &json["fleet"]["complete"]),
        (200, &serde_json::Value::Bool(true)),
        "{json}"
    );
    assert_eq!(get(&f.node(1).url("/u")).await.text(), "v9 /u");
    assert_eq!(get(&f.node(2).url("/u")).await.text(), "v9 /u");
    *o.version.lock() = 2;
    // Without `wait`, the answer is local durability; the purge still
    // reaches every node.
    *o.version.lock() = 3;
    let (status, json) = purge_key(f.node(2), "p-1", "").await;
    assert_eq!(status, 200, "{json}");
    assert!(json.get("fleet").is_none());
    for i in 0..3 {
        let node = f.node(i);
        until_metric(node, "edgecache_fleet_outbox_depth 0").await;
        let mut text = String::new();
        for _ in 0..200 {
            text = get(&node.url("/p/1")).await.text();
            if text == "v3 /p/1" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(text, "v3 /p/1", "node {i}");
    }
}

/// A TCP relay in front of NATS that holds every connection until
/// `release()`: a node behind it starts, serves, and cannot read the purge
/// stream (so cannot catch up) until the test lets it.
struct HeldRelay {
    addr: std::net::SocketAddr,
    open: Arc<tokio::sync::Semaphore>,
}

impl HeldRelay {
    async fn start(nats: &Nats) -> HeldRelay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(tokio::sync::Semaphore::new(0));
        let (gate, upstream) = (open.clone(), nats.addr);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let gate = gate.clone();
                tokio::spawn(async move {
                    // Held: NATS says nothing until released.
                    let Ok(_open) = gate.acquire().await else {
                        return;
                    };
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        HeldRelay { addr, open }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    fn release(&self) {
        self.open.add_permits(1 << 20);
    }
}

/// The metric line `name <value>` on `node`, if present.
async fn metric_line(node: &TestNode, name: &str) -> Option<String> {
    metrics(node.admin_addr)
        .await
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .map(String::from)
}

/// Node C is down while 100 objects it holds are purged. It comes back on
/// its data directory while its replay of the missed purges is held back
/// (its NATS connection goes through a relay that waits), so every request
/// below is answered before it could have caught up: none may be the old
/// version. (With `catch_up = "serve"` they would be; with a fast replay
/// and no hold, the test could not tell.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_during_100_purges_serves_none_of_them_stale() {
    let nats = Nats::start().await;
    let o = versioned_origin().await;
    let mut f = three_nodes(&o.origin.url(), &nats).await;
    // A fixed Host: the restarted C listens on another port, and the cache
    // key includes the authority (without it, C would find nothing stored
    // after the restart and pass whatever it does while catching up).
    let host = [("host", "fleet.test")];
    for p in 0..100 {
        let got = support::send("GET", &f.node(2).url(&format!("/o/{p}")), &host).await;
        assert_eq!(got.status, 200);
    }
    assert_eq!(o.origin.count("/o/7"), 1);
    f.nodes[2].take().expect("c").stop().await;
    *o.version.lock() = 2;
    for p in 0..100 {
        let (status, json) = purge_key(f.node(p % 2), &format!("o-{p}"), "").await;
        assert_eq!(status, 200, "{json}");
    }
    // C comes back on its data directory: its stored objects are the old
    // versions, and it must not serve any of them.
    let relay = HeldRelay::start(&nats).await;
    let mut cfg = f.cfgs[2].clone();
    cfg.fleet.servers = vec![relay.url()];
    let c = TestNode::start(cfg).await;
    assert_eq!(
        metric_line(&c, "edgecache_fleet_caught_up")
            .await
            .as_deref(),
        Some("edgecache_fleet_caught_up 0"),
        "C must not have caught up yet: its replay is held"
    );
    let mut served: HashMap<String, usize> = HashMap::new();
    for p in 0..100 {
        let path = format!("/o/{p}");
        let got = support::send("GET", &c.url(&path), &host).await;
        let text = got.text();
        *served.entry(text[..2].to_string()).or_default() += 1;
        assert_eq!(
            text,
            format!("v2 /o/{p}"),
            "stale object served after restart: {}",
            got.cache_status()
        );
        // C still held the old version: it revalidated it.
        let revalidated = o.origin.seen().iter().any(|s| {
            s.path == path
                && s.headers
                    .get("if-none-match")
                    .is_some_and(|v| v.as_bytes() == b"\"v1\"")
        });
        assert!(revalidated, "{path}: C had no stored copy to revalidate");
    }
    assert_eq!(served.get("v2"), Some(&100));
    // Every answer above came before C could read a single missed purge.
    assert_eq!(
        metric_line(&c, "edgecache_fleet_applied_total")
            .await
            .as_deref(),
        Some("edgecache_fleet_applied_total 0"),
        "the replay was held back during the requests"
    );
    assert_eq!(
        metric_line(&c, "edgecache_fleet_caught_up")
            .await
            .as_deref(),
        Some("edgecache_fleet_caught_up 0")
    );
    // And, released, it replays the purges it missed from its durable consumer.
    relay.release();
    until_metric(&c, "edgecache_fleet_caught_up 1").await;
    until_metric(&c, "edgecache_fleet_applied_total 100").await;
    drop(f.dirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_made_while_nats_is_down_wait_in_the_outbox_and_drain_when_it_returns() {
    let mut nats = Nats::start().await;
    let o = versioned_origin().await;
    let f = three_nodes(&o.origin.url(), &nats).await;
    for p in 0..10 {
        assert_eq!(get(&f.node(1).url(&format!("/n/{p}"))).await.status, 200);
    }
    nats.stop();
    *o.version.lock() = 2;
    for p in 0..10 {
        let (status, json) = purge_key(f.node(0), &format!("n-{p}"), "").await;
        assert_eq!(
            status, 200,
            "a purge is accepted on local durability: {json}"
        );
    }
    until_metric(f.node(0), "edgecache_fleet_outbox_depth 10").await;
    // A node that starts while NATS is down cannot know what it missed:
    // with catch_up = "unhealthy" it says so until it has caught up.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = fleet_config(&o.origin.url(), dir.path(), &nats, "d");
    cfg.fleet.catch_up = edgecache::config::CatchUp::Unhealthy;
    let d = TestNode::start(cfg).await;
    let health = format!("http://{}/health", d.admin_addr);
    assert_eq!(get(&health).await.status, 503);
    nats.restart().await;
    until_metric(f.node(0), "edgecache_fleet_outbox_depth 0").await;
    until_metric(f.node(1), "edgecache_fleet_applied_total 10").await;
    for p in 0..10 {
        assert_eq!(
            get(&f.node(1).url(&format!("/n/{p}"))).await.text(),
            format!("v2 /n/{p}")
        );
    }
    until_metric(&d, "edgecache_fleet_caught_up 1").await;
    assert_eq!(get(&health).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_fleet_with_a_node_down_reports_it() {
    let nats = Nats::start().await;
    let o = versioned_origin().await;
    let mut f = three_nodes(&o.origin.url(), &nats).await;
    f.nodes[2].take().expect("c").stop().await;
    until_metric(f.node(0), "edgecache_fleet_live_nodes 2").await;
    let (status, json) = purge_key(f.node(0), "w", "?wait=fleet&timeout_ms=5000").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(names(&json["fleet"]["acked"]), ["a", "b"], "{json}");
    assert_eq!(names(&json["fleet"]["down"]), ["c"], "{json}");
    // A node that is not in a fleet refuses `wait=fleet` before purging.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = fleet_config(&o.origin.url(), dir.path(), &nats, "alone");
    cfg.fleet.servers.clear();
    let alone = TestNode::start(cfg).await;
    let (status, json) = purge_key(&alone, "w", "?wait=fleet").await;
    assert_eq!(status, 400, "{json}");
    let (status, _) = purge_key(f.node(0), "w", "?wait=later").await;
    assert_eq!(status, 400);
}

/// Tiering and the fleet together: a home peer that has read less of the
/// purge stream than the edge asking it revalidates what it holds (so it
/// cannot hand back an object the edge has already purged); the position
/// field never reaches the origin; and a purge made anywhere reaches the
/// home peer and the edges alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_peer_behind_on_purges_revalidates_for_an_edge_ahead_of_it() {
    let nats = Nats::start().await;
    let o = versioned_origin().await;
    let ids = ["a", "b", "c"];
    let fleet = support::fleet::Fleet::start_with(&o.origin, |i, cfg| {
        cfg.admin.tokens = vec![TokenConfig {
            token: TOKEN.into(),
            hosts: vec!["*".into()],
        }];
        cfg.fleet.servers = vec![nats.url()];
        cfg.fleet.node_id = Some(ids[i].into());
        cfg.fleet.presence_interval_ms = 100;
    })
    .await;
    for i in 0..3 {
        until_metric(fleet.node(i), "edgecache_fleet_caught_up 1").await;
        until_metric(fleet.node(i), "edgecache_fleet_live_nodes 3").await;
    }
    let path = (0..100)
        .map(|n| format!("/t/{n}"))
        .find(|p| fleet.order(p)[0] == 1)
        .expect("an object homed on b");
    assert_eq!(fleet.get(0, &path, &[]).await.text(), format!("v1 {path}"));
    assert_eq!(o.origin.count(&path), 1);
    // A peer (our CDN-Loop id, a peer's address) that has read far more of
    // the stream than b: b revalidates with the origin.
    let ahead = [
        ("cdn-loop", "edgecache"),
        ("edgecache-fleet-seq", "1000000"),
    ];
    let got = fleet.get(1, &path, &ahead).await;
    assert_eq!((got.status, got.text()), (200, format!("v1 {path}")));
    assert_eq!(o.origin.count(&path), 2, "b revalidated");
    let last = o.origin.seen().into_iter().last().expect("seen");
    assert!(last.headers.contains_key("if-none-match"), "{last:?}");
    assert!(
        !last.headers.contains_key("edgecache-fleet-seq"),
        "{last:?}"
    );
    // A peer no further along: b's copy is served as it is.
    let level = [("cdn-loop", "edgecache"), ("edgecache-fleet-seq", "0")];
    assert_eq!(fleet.get(1, &path, &level).await.status, 200);
    assert_eq!(o.origin.count(&path), 2, "a hit on b");
    // A purge made on c reaches b (the home) and a (an edge).
    *o.version.lock() = 2;
    let key = path.trim_start_matches('/').replace('/', "-");
    let (status, json) = purge_key(fleet.node(2), &key, "?wait=fleet&timeout_ms=10000").await;
    assert_eq!(
        (status, &json["fleet"]["complete"]),
        (200, &serde_json::Value::Bool(true)),
        "{json}"
    );
    assert_eq!(fleet.get(0, &path, &[]).await.text(), format!("v2 {path}"));
    assert_eq!(fleet.get(2, &path, &[]).await.text(), format!("v2 {path}"));
}
