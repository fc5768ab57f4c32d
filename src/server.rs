//! Front ends: every protocol yields the same `http::Request` for the proxy.

pub mod admin;
pub mod admin_purger;
pub mod conn_limits;
pub mod connection;
pub mod first_bytes;
pub mod front_end;
pub mod h1_framing;
pub mod h2_idle;
pub mod h3;
pub mod h3_stream;
pub mod listener;
pub mod observe;
pub mod request_checks;
pub mod send_timeout;
pub mod strict_h1;
