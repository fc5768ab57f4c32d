//! Bearer tokens, each scoped to a set of hosts, compared in constant time.

use crate::error::ApiError;
use http::HeaderMap;

/// One accepted token and the hosts it may purge (`"*"`: every host).
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
    hosts: Vec<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed, not even hashed.
        f.debug_struct("Token")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A token with its host scope.
    pub fn new(secret: &str, hosts: Vec<String>) -> Token {
        Token {
            digest: *blake3::hash(secret.as_bytes()).as_bytes(),
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// May this token purge `host`?
    pub fn allows(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|h| h == "*" || h.eq_ignore_ascii_case(host))
    }

    /// The hosts a key purge covers when the caller names none.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }
}

/// The set of accepted tokens.
#[derive(Clone, Debug, Default)]
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// From a list of tokens.
    pub fn new(tokens: Vec<Token>) -> Tokens {
        Tokens(tokens)
    }

    /// The token presented in `Authorization: Bearer ...`: 401 when missing or unknown.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&Token, ApiError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        // Compare digests, so the comparison takes the same time whatever the
        // secret's length, and check every token, so timing shows no position.
        let presented = blake3::hash(secret.as_bytes());
        let mut found = None;
        for t in &self.0 {
            if constant_time_eq(presented.as_bytes(), &t.digest) {
                found = Some(t);
            }
        }
        found.ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticates_bearer_tokens() {
        let tokens = Tokens::new(vec![Token::new(
            "secret-aaaaaaaaaaaa",
            vec!["a.test".into()],
        )]);
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("authorization", v.parse().expect("valid"));
            m
        };
        assert!(
            tokens
                .authenticate(&h("Bearer secret-aaaaaaaaaaaa"))
                .is_ok()
        );
        for bad in [
            "Bearer wrong",
            "Basic abc",
            "Bearer ",
            "secret-aaaaaaaaaaaa",
        ] {
            assert_eq!(
                tokens.authenticate(&h(bad)).err().map(|e| e.status),
                Some(http::StatusCode::UNAUTHORIZED),
                "{bad}"
            );
        }
        assert!(tokens.authenticate(&HeaderMap::new()).is_err());
        let t = tokens
            .authenticate(&h("Bearer secret-aaaaaaaaaaaa"))
            .expect("ok");
        assert!(t.allows("A.TEST") && !t.allows("b.test"));
        assert!(!format!("{t:?}").contains("secret"));
    }
}
