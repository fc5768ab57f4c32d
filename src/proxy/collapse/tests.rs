use super::*;
use http_body_util::BodyExt;

fn key(i: u8) -> ObjectKey {
    ObjectKey([i; 32])
}

fn head() -> Head {
    Head {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        variant: vec![],
        ttl: 60,
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
            .map(|h| h.status),
        Some(StatusCode::OK)
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
    }
    for _ in 0..3 {
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
