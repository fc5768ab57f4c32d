//! RFC 9111 (HTTP caching), RFC 9213 (targeted cache control) and RFC 9211
//! (Cache-Status) as pure functions over parsed headers.
//!
//! Nothing in this module does I/O, touches tokio or reads the clock: every
//! function that depends on time takes `now` as a parameter.

pub mod admission;
pub mod age;
pub mod cache_control;
pub mod cache_status;
pub mod cached_response;
pub mod canonical;
pub mod conditional;
pub mod content_coding;
pub mod decimal;
pub mod decision;
pub mod field_list;
pub mod freshness;
pub mod http_date;
pub mod invalidation;
pub mod key;
pub mod outcome;
pub mod policy;
pub mod range;
pub mod storable;
pub mod surrogate;
pub mod targeted;
pub mod validation;
pub mod vary;
pub mod vary_index;
pub mod vary_normalise;

pub use cache_control::CacheControl;
pub use cached_response::CachedResponse;
pub use decision::Decision;
pub use policy::Policy;
pub use storable::{NoCacheReason, Storable};
#[cfg(test)]
pub(crate) mod test_support;
