//! Where a node starts reading the fleet's stream, and what a jump in it
//! means. Pure: the consumer task feeds it what NATS and the purge database
//! say.

/// How a durable consumer that does not exist yet is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The consumer exists: carry on from where it is.
    Existing,
    /// Every message the stream holds (a re-created stream).
    All,
    /// From this stream sequence (the node read the stream before, but its
    /// consumer is gone).
    FromSeq(u64),
    /// From this Unix time in ms (the node never read this stream: purges
    /// older than its own start cannot cover what it has fetched since).
    FromTime(u64),
}

/// The decision for one (re)start of the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// How to start.
    pub start: Start,
    /// Record this stream identity (and restart the position at 0).
    pub join: Option<u64>,
    /// The node cannot know which purges it missed: soft-purge everything.
    pub gap: bool,
}

/// Decide how to start. `recorded` is the (stream id, seq) the purge
/// database holds (0, 0 before the first); `stream` the stream's id now;
/// `first_seq` the oldest sequence it still holds; `started_ms` when this
/// node process started (Unix ms).
pub fn plan(
    recorded: (u64, u64),
    stream: u64,
    first_seq: u64,
    consumer_exists: bool,
    started_ms: u64,
) -> Plan {
    let (rec_stream, rec_seq) = recorded;
    let same = rec_stream == stream;
    // Messages after our position expired before we read them (whether or
    // not our consumer survived: JetStream skips expired messages).
    let expired = rec_seq > 0 && first_seq > rec_seq + 1;
    match (consumer_exists, same, rec_stream) {
        (true, true, _) => Plan {
            start: Start::Existing,
            join: None,
            gap: expired,
        },
        // A consumer under our name, but a stream this database never
        // recorded: adopt its position.
        (true, false, _) => Plan {
            start: Start::Existing,
            join: Some(stream),
            gap: rec_stream != 0,
        },
        (false, true, _) => Plan {
            start: Start::FromSeq(rec_seq + 1),
            join: None,
            gap: expired,
        },
        (false, false, 0) => Plan {
            start: Start::FromTime(started_ms.saturating_sub(60_000)),
            join: Some(stream),
            gap: false,
        },
        // The stream was deleted and created again: whatever was published
        // in between is lost to us.
        (false, false, _) => Plan {
            start: Start::All,
            join: Some(stream),
            gap: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_plans() {
        let cases = [
            // (recorded, stream, first_seq, exists) -> (start, join, gap)
            (((7, 10), 7, 1, true), (Start::Existing, None, false)),
            (((7, 10), 7, 11, true), (Start::Existing, None, false)),
            (((7, 10), 7, 12, true), (Start::Existing, None, true)),
            (((0, 0), 7, 1, true), (Start::Existing, Some(7), false)),
            (((6, 10), 7, 1, true), (Start::Existing, Some(7), true)),
            (((7, 10), 7, 5, false), (Start::FromSeq(11), None, false)),
            (((7, 10), 7, 11, false), (Start::FromSeq(11), None, false)),
            (((7, 10), 7, 12, false), (Start::FromSeq(11), None, true)),
            (((7, 0), 7, 12, false), (Start::FromSeq(1), None, false)),
            (
                ((0, 0), 7, 1, false),
                (Start::FromTime(40_000), Some(7), false),
            ),
            (((6, 10), 7, 1, false), (Start::All, Some(7), true)),
        ];
        for ((rec, stream, first, exists), (start, join, gap)) in cases {
            let p = plan(rec, stream, first, exists, 100_000);
            assert_eq!(
                p,
                Plan { start, join, gap },
                "recorded {rec:?} stream {stream} first {first} exists {exists}"
            );
        }
    }
}
