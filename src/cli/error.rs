//! What can go wrong in an operator subcommand, phrased for the operator,
//! and the exit code each failure maps to (documented in docs/operations.md).

use std::fmt;
use std::process::ExitCode;

/// Exit code: the node answered with an error (purge refused, reload
/// rejected, unhealthy) or answered something unreadable.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or an invalid config file.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the admin listener could not be reached or did not answer in time.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the token is missing, unknown (401) or not allowed (403).
pub const EXIT_AUTH: u8 = 4;

/// A failed subcommand.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments or config file.
    Usage(String),
    /// No TCP connection to the admin listener.
    Unreachable {
        /// The address tried.
        addr: String,
        /// Why, in a few words.
        reason: String,
    },
    /// Connected (or connecting), but no complete answer within the bound.
    Timeout {
        /// The address tried.
        addr: String,
        /// The bound.
        secs: u64,
    },
    /// No token was given where one is required.
    NoToken,
    /// 401: the node knows no such token.
    Unauthorized(String),
    /// 403: the token is valid but does not cover this request.
    Forbidden(String),
    /// Any other error the node answered (or an unreadable answer).
    Failed(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } | CliError::Timeout { .. } => EXIT_UNREACHABLE,
            CliError::NoToken | CliError::Unauthorized(_) | CliError::Forbidden(_) => EXIT_AUTH,
            CliError::Failed(_) => EXIT_FAILED,
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::Unreachable { addr, reason } => write!(
                f,
                "cannot reach the admin listener at {addr}: {reason} — is the node running? (admin.listen / --admin)"
            ),
            CliError::Timeout { addr, secs } => write!(
                f,
                "the admin listener at {addr} did not answer within {secs} s (--timeout)"
            ),
            CliError::NoToken => f.write_str(
                "no admin token: pass --token or set EDGECACHE_ADMIN_TOKEN (one of the [[admin.tokens]] of the node's config)",
            ),
            CliError::Unauthorized(m) => write!(
                f,
                "the node does not accept this admin token ({m}); check --token / EDGECACHE_ADMIN_TOKEN against [[admin.tokens]] in the node's config"
            ),
            CliError::Forbidden(m) => write!(
                f,
                "the admin token is valid but not allowed to do this ({m}); its `hosts` in [[admin.tokens]] do not cover it"
            ),
        }
    }
}

impl std::error::Error for CliError {}
