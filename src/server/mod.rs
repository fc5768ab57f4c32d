//! Front ends: every protocol yields the same `http::Request` for the proxy.

pub mod admin;
pub mod body;
pub mod listener;
