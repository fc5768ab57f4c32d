use super::*;
use crate::http_cache::CachedResponse;
use http_body::Frame;
use http_body_util::BodyExt;

fn key(i: u8) -> ObjectKey {
    ObjectKey([i; 32])
}

fn head() -> Head {
    Head {
        meta: Arc::new(CachedResponse {
            status: http::StatusCode::OK,
            headers: http::HeaderMap::new(),
            request_time: std::time::SystemTime::UNIX_EPOCH,
            response_time: std::time::SystemTime::UNIX_EPOCH,
            initial_age: 0,
            variant: vec![],
            purge_seq: 0,
            surrogate_keys: vec![],
        }),
    }
}

/// A body fed through a channel, so the test decides when bytes arrive.
fn channel_body() -> (
    tokio::sync::mpsc::Sender<Bytes>,
    impl Body<Data = Bytes, Error = std::convert::Infallible> + Send + Unpin,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    (tx, http_body_util::StreamBody::new(Box::pin(stream)))
}

#[tokio::test]
async fn followers_stream_the_leaders_response_as_it_arrives() {
    let table = Collapser::new(Duration::from_secs(5), Duration::from_secs(5), 1 << 20);
    let Join::Lead(leader) = table.join(key(1), crate::clock::instant()) else {
        panic!("first request leads")
    };
    let Join::Follow(flight) = table.join(key(1), crate::clock::instant()) else {
        panic!("second request follows")
    };
    let (tx, body) = channel_body();
    let own = leader.share(head(), body).expect("leader reads too");
    assert_eq!(
        flight
            .wait_head(Duration::from_secs(1))
            .await
            .map(|h| h.meta.status),
        Some(http::StatusCode::OK)
    );
    let mut follower = flight.reader().expect("can join");
    tx.send(Bytes::from_static(b"first ")).await.expect("send");
    // The follower sees the first chunk before the body is complete.
    let frame = follower.frame().await.expect("frame").expect("ok");
    assert_eq!(
        frame.into_data().expect("data"),
        Bytes::from_static(b"first ")
    );
    tx.send(Bytes::from_static(b"second")).await.expect("send");
    drop(tx);
    let rest = follower.collect().await.expect("rest").to_bytes();
    assert_eq!(&rest[..], b"second");
    let all = own.collect().await.expect("own").to_bytes();
    assert_eq!(&all[..], b"first second");
}

#[tokio::test]
async fn uncacheable_releases_followers_and_remembers_hit_for_pass() {
    let table = Collapser::new(Duration::from_secs(5), Duration::from_millis(200), 1 << 20);
    let t0 = crate::clock::instant();
    let Join::Lead(leader) = table.join(key(2), t0) else {
        panic!("leads")
    };
    let Join::Follow(flight) = table.join(key(2), t0) else {
        panic!("follows")
    };
    leader.pass(t0);
    assert!(
        flight.wait_head(Duration::from_secs(1)).await.is_none(),
        "released at once"
    );
    assert!(
        matches!(
            table.join(key(2), t0 + Duration::from_millis(100)),
            Join::Alone
        ),
        "hit-for-pass"
    );
    assert!(
        matches!(
            table.join(key(2), t0 + Duration::from_millis(300)),
            Join::Lead(_)
        ),
        "expired"
    );
}

#[tokio::test]
async fn dropped_leader_and_timeouts_release_followers() {
    let table = Collapser::new(Duration::from_millis(50), Duration::from_secs(1), 1 << 20);
    let Join::Lead(leader) = table.join(key(3), crate::clock::instant()) else {
        panic!("leads")
    };
    let Join::Follow(flight) = table.join(key(3), crate::clock::instant()) else {
        panic!("follows")
    };
    assert!(
        flight.wait_head(Duration::from_millis(50)).await.is_none(),
        "times out"
    );
    drop(leader);
    assert!(flight.wait_head(Duration::from_secs(1)).await.is_none());
    assert!(
        matches!(table.join(key(3), crate::clock::instant()), Join::Lead(_)),
        "a new flight after release"
    );
    assert!(
        matches!(table.join(key(4), crate::clock::instant()), Join::Lead(_)),
        "other keys are independent"
    );
}

#[tokio::test]
async fn large_flights_stop_accepting_and_drop_read_chunks() {
    let table = Collapser::new(Duration::from_secs(5), Duration::from_secs(1), 10);
    let Join::Lead(leader) = table.join(key(5), crate::clock::instant()) else {
        panic!("leads")
    };
    let Join::Follow(flight) = table.join(key(5), crate::clock::instant()) else {
        panic!("follows")
    };
    let (tx, body) = channel_body();
    let mut own = leader.share(head(), body).expect("reader");
    for _ in 0..3 {
        tx.send(Bytes::from_static(b"12345678"))
            .await
            .expect("send");
        own.frame().await.expect("frame").expect("ok");
    }
    assert!(
        flight.reader().is_none(),
        "past the limit no one can start from byte 0"
    );
    let st = flight.state.lock();
    assert!(
        st.held_bytes <= 8,
        "chunks every reader passed are dropped: {}",
        st.held_bytes
    );
}

#[test]
fn hit_for_pass_marks_are_bounded_and_cleared_by_a_stored_response() {
    let table = Collapser::new(Duration::from_secs(5), Duration::from_secs(30), 1 << 20);
    let t0 = crate::clock::instant();
    let mark = |i: usize, now| {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let Join::Lead(leader) = table.join(ObjectKey(k), now) else {
            panic!("a new key leads")
        };
        leader.pass(now);
        ObjectKey(k)
    };
    let first = mark(0, t0);
    assert!(table.passing(&first, t0));
    table.stored(&first);
    assert!(
        !table.passing(&first, t0),
        "a stored response ends hit-for-pass"
    );
    for i in 1..=MAX_PASS_MARKS + 10 {
        mark(i, t0);
    }
    assert!(
        table.pass_marks() <= MAX_PASS_MARKS,
        "{} marks held",
        table.pass_marks()
    );
    // Past their lifetime, marks are dropped before anything fresher.
    let later = t0 + Duration::from_secs(31);
    let last = mark(MAX_PASS_MARKS + 11, later);
    assert!(table.passing(&last, later));
}

/// A follower that stops reading is detached once it is more than the
/// flight's limit behind the fastest reader: its body ends with an error,
/// the others read on, and the flight never holds much more than the limit.
#[tokio::test]
async fn a_stalled_follower_is_detached_without_slowing_the_others() {
    let limit = 64;
    let table = Collapser::new(Duration::from_secs(5), Duration::from_secs(1), limit);
    let Join::Lead(leader) = table.join(key(7), crate::clock::instant()) else {
        panic!("leads")
    };
    let Join::Follow(flight) = table.join(key(7), crate::clock::instant()) else {
        panic!("follows")
    };
    let (tx, body) = channel_body();
    let mut own = leader.share(head(), body).expect("reader");
    let mut stalled = flight.reader().expect("joins at byte 0");
    for i in 0..40u8 {
        tx.send(Bytes::from(vec![i; 16])).await.expect("send");
        let frame = own.frame().await.expect("frame").expect("ok");
        assert_eq!(frame.into_data().expect("data"), vec![i; 16]);
    }
    drop(tx);
    assert!(own.frame().await.is_none(), "the reading client finishes");
    assert_eq!(flight.detached_readers(), 1);
    assert!(
        flight.state.lock().held_bytes <= 2 * limit,
        "the stalled reader holds nothing"
    );
    let mut err = None;
    while let Some(f) = stalled.frame().await {
        if let Err(e) = f {
            err = Some(e);
            break;
        }
    }
    assert!(err.is_some(), "the stalled client's response is cut");
}

/// With one slow reader the pump waits for it (back-pressure), instead of
/// reading the whole origin body into memory or detaching it.
#[tokio::test]
async fn the_pump_follows_its_fastest_reader() {
    let limit = 64;
    let table = Collapser::new(Duration::from_secs(5), Duration::from_secs(1), limit);
    let Join::Lead(leader) = table.join(key(8), crate::clock::instant()) else {
        panic!("leads")
    };
    let (tx, body) = channel_body();
    let mut own = leader.share(head(), body).expect("reader");
    let flight = own.flight.clone();
    let sender = tokio::spawn(async move {
        for i in 0..100u8 {
            if tx.send(Bytes::from(vec![i; 16])).await.is_err() {
                return;
            }
        }
    });
    // Let the pump run ahead as far as it will without a reader moving.
    for _ in 0..10_000 {
        if flight.state.lock().pushed >= limit as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(
        flight.state.lock().pushed <= limit as u64 + 16,
        "the pump waits for its reader: {} pushed",
        flight.state.lock().pushed
    );
    let mut read = 0;
    while let Some(f) = own.frame().await {
        read += f.expect("ok").into_data().expect("data").len();
    }
    assert_eq!(read, 1600);
    assert_eq!(flight.detached_readers(), 0);
    sender.await.expect("sender");
}
