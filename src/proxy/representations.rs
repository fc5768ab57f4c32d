//! Representations: the forms one stored response is served in. Content
//! codings made once and kept beside the stored copy (`encodings`,
//! `transcode`), ranges answered from a fill of the whole object
//! (`range_fill`), objects too large to fetch whole served from slices
//! (`slices`), and chunked stored bodies streamed back (`chunked_body`).

pub mod chunked_body;
pub mod encodings;
pub mod range_fill;
pub mod slices;
pub mod transcode;
