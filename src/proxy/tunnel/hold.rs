//! What keeps a client connection open while a tunnel runs on it. The
//! front end puts a [`ConnHold`] in the extensions of each request that can
//! upgrade; the tunnel keeps it until it ends. Over HTTP/1.1 hyper hands the
//! connection out and forgets it, so the front end waits for its holds to
//! drop before it releases the connection's place under the caps; over
//! HTTP/2 a hold keeps the stream counted, so the idle timeout does not
//! close a connection that carries a tunnel.

use std::any::Any;
use std::sync::Arc;

/// Something the front end needs kept alive for as long as a tunnel runs
/// on its connection (opaque to the proxy).
#[derive(Clone)]
pub struct ConnHold(#[allow(dead_code)] Arc<dyn Any + Send + Sync>);

impl ConnHold {
    /// Keep `alive` until the last clone of this hold is dropped.
    pub fn new<T: Send + Sync + 'static>(alive: T) -> Self {
        ConnHold(Arc::new(alive))
    }
}

impl std::fmt::Debug for ConnHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnHold")
    }
}
