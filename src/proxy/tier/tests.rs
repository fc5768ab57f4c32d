//! The routing decision, table-driven.

use super::*;
use crate::http_cache::key;

fn tier(me: usize, loop_limit: usize) -> Tier {
    let mut cfg = Config::default();
    cfg.tier.peers = vec![
        "10.0.0.1:8080".into(),
        "10.0.0.2:8080".into(),
        "10.0.0.3:8080".into(),
    ];
    cfg.tier.self_addr = Some(cfg.tier.peers[me].clone());
    cfg.tier.loop_limit = loop_limit;
    cfg.validate().expect("valid");
    Tier::from_config(&cfg).expect("on")
}

fn headers(cdn_loop: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in cdn_loop {
        h.append(cdn_loop::CDN_LOOP, HeaderValue::from_str(v).expect("value"));
    }
    h
}

#[test]
fn off_without_peers() {
    assert!(Tier::from_config(&Config::default()).is_none());
}

/// Our id from a peer's address makes a peer request; from anyone else it
/// only counts.
#[test]
fn arrival_reads_cdn_loop_and_source() {
    let t = tier(0, 1);
    let peer: IpAddr = "10.0.0.2".parse().expect("ip");
    let client: IpAddr = "192.0.2.7".parse().expect("ip");
    let cases = [
        (&[][..], peer, 0, false),
        (&["other"][..], peer, 0, false),
        (&["edgecache"][..], peer, 1, true),
        (&["edgecache"][..], client, 1, false),
        (&["other, edgecache", "edgecache"][..], client, 2, false),
        (
            &["edgecache"][..],
            "::ffff:10.0.0.2".parse().expect("ip"),
            1,
            true,
        ),
    ];
    for (fields, ip, ours, from_peer) in cases {
        let a = t.arrival(&headers(fields), ip);
        assert_eq!(
            a,
            Arrival {
                ours,
                from_peer,
                fleet_seq: 0
            },
            "{fields:?} from {ip}"
        );
    }
}

#[test]
fn loops_over_the_limit_are_refused() {
    for (limit, ours, refused) in [
        (1, 0, false),
        (1, 1, false),
        (1, 2, true),
        (3, 3, false),
        (3, 4, true),
    ] {
        let a = Arrival {
            ours,
            from_peer: true,
            ..Default::default()
        };
        assert_eq!(
            tier(0, limit).refuses(a),
            refused,
            "limit {limit}, ours {ours}"
        );
    }
}

/// The route: peers in hash order up to this node (never itself, at most
/// two), the origin for a peer's request, a self-homed object, or a request
/// that a peer would refuse.
#[test]
fn routes_by_hash_order_up_to_this_node() {
    let mut seen_self_home = [false; 3];
    let mut seen_two_peers = false;
    for n in 0..200 {
        let k = key::primary("http", "cdn.test", &format!("/o/{n}"));
        let order = ring::order(&tier(0, 1).ids, &k);
        for (me, seen) in seen_self_home.iter_mut().enumerate() {
            let t = tier(me, 1);
            let want = if order[0] == me {
                *seen = true;
                Route::Origin(TierOutcome::SelfHome)
            } else if order[1] == me {
                Route::Peers(vec![order[0]])
            } else {
                seen_two_peers = true;
                Route::Peers(vec![order[0], order[1]])
            };
            assert_eq!(t.route(Arrival::default(), &k), want, "/o/{n} at {me}");
            let from_peer = Arrival {
                ours: 1,
                from_peer: true,
                ..Default::default()
            };
            assert_eq!(t.route(from_peer, &k), Route::Origin(TierOutcome::FromPeer));
            let spoofed = Arrival {
                ours: 1,
                from_peer: false,
                ..Default::default()
            };
            assert_eq!(t.route(spoofed, &k), Route::Origin(TierOutcome::LoopLimit));
        }
    }
    assert_eq!(
        seen_self_home, [true; 3],
        "every node is home to some objects"
    );
    assert!(seen_two_peers);
    // With a higher limit, a client's CDN-Loop no longer skips the peers.
    let t = tier(0, 2);
    let k = (0..100)
        .map(|n| key::primary("http", "cdn.test", &format!("/o/{n}")))
        .find(|k| ring::order(&t.ids, k)[0] != 0)
        .expect("an object homed elsewhere");
    let spoofed = Arrival {
        ours: 1,
        from_peer: false,
        ..Default::default()
    };
    assert!(matches!(t.route(spoofed, &k), Route::Peers(_)));
}

/// A shield tier: an edge outside the shield asks the object's home among
/// the shield's nodes, then the next shield node, never another edge; a
/// shield node asks the shield nodes before itself in the order.
#[test]
fn a_shield_tier_routes_to_the_shield_only() {
    let peers = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"];
    let shield = [2usize, 1];
    let shield_ids = [peers[2], peers[1]];
    let tier_at = |me: usize| {
        let mut cfg = Config::default();
        cfg.tier.peers = peers.iter().map(|p| p.to_string()).collect();
        cfg.tier.shield = shield_ids.iter().map(|p| p.to_string()).collect();
        cfg.tier.self_addr = Some(peers[me].to_string());
        cfg.validate().expect("valid");
        Tier::from_config(&cfg).expect("on")
    };
    let tiers = [tier_at(0), tier_at(1), tier_at(2)];
    assert!(!tiers[0].is_home(0) && tiers[0].is_home(1) && tiers[0].is_home(2));
    for n in 0..100 {
        let k = key::primary("http", "cdn.test", &format!("/s/{n}"));
        let order: Vec<usize> = ring::order(&shield_ids, &k)
            .into_iter()
            .map(|h| shield[h])
            .collect();
        let route = |me: usize| tiers[me].route(Arrival::default(), &k);
        assert_eq!(route(0), Route::Peers(order.clone()), "/s/{n}: the edge");
        assert_eq!(
            route(order[0]),
            Route::Origin(TierOutcome::SelfHome),
            "/s/{n}: its home"
        );
        assert_eq!(
            route(order[1]),
            Route::Peers(vec![order[0]]),
            "/s/{n}: the other shield node"
        );
    }
}

/// A peer's request is keyed by the scheme its client used, which the peer
/// sends in X-Forwarded-Proto; anything else keeps the listener's scheme.
#[test]
fn a_peers_scheme_comes_from_x_forwarded_proto() {
    use crate::target::Scheme;
    let cases = [
        (None, Scheme::Http, Scheme::Http),
        (Some("https"), Scheme::Http, Scheme::Https),
        (Some("http"), Scheme::Https, Scheme::Http),
        (Some("HTTPS"), Scheme::Http, Scheme::Http),
        (Some("https, http"), Scheme::Http, Scheme::Http),
    ];
    for (xfp, listener, want) in cases {
        let mut h = HeaderMap::new();
        if let Some(v) = xfp {
            h.insert("x-forwarded-proto", HeaderValue::from_static(v));
        }
        assert_eq!(peer_scheme(&h, listener), want, "{xfp:?} on {listener:?}");
    }
}
