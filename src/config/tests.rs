//! The config's own tests: the example file, defaults, field names in errors.

use super::*;

/// The shipped example parses, validates, and every field in it is documented.
#[test]
fn example_config_is_valid_and_documented() {
    let text = include_str!("../../edgecache.example.toml");
    let cfg: Config = toml::from_str(text).expect("example parses");
    cfg.validate().expect("example validates");
    let docs = include_str!("../../docs/config.md");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
    {
        let field = line.split(" = ").next().unwrap_or("").trim();
        assert!(
            docs.contains(&format!("`{field}`")),
            "docs/config.md does not document `{field}`"
        );
    }
}

#[test]
fn default_config_is_valid() {
    Config::default().validate().expect("defaults are valid");
}

/// Validation errors name the field at fault.
#[test]
fn errors_name_the_field() {
    let cases = [
        ("origin = \"ftp://x\"", "origin"),
        (
            "origin = \"http://x\"\n[upstream]\nprotocol = \"h2\"",
            "upstream.protocol",
        ),
        ("[upstream]\nprotocol = \"h3\"", "protocol"),
        (
            "[upstream]\ntls_ca_file = \"/no/such/ca.pem\"",
            "upstream.tls_ca_file",
        ),
        (
            "[[sites]]\nhosts = [\"a\"]\norigin = \"http://a\"\nprotocol = \"h2\"",
            "sites[0].protocol",
        ),
        (
            "[[sites]]\nhosts = [\"a\"]\norigin = \"https://a\"\nprotocol = \"h2c\"",
            "sites[0].protocol",
        ),
        (
            "[[sites]]\nhosts = [\"a\"]\norigin = \"https://a\"\ntls_server_name = \"bad name\"",
            "sites[0].tls_server_name",
        ),
        ("origin = \"http://x/path\"", "origin"),
        (
            "[[https]]\nlisten = \"127.0.0.1:8443\"",
            "https[0].certificates",
        ),
        (
            "[server]\nlisten = \"127.0.0.1:8443\"\n[[https]]\nlisten = \"127.0.0.1:8443\"\nself_signed = true",
            "https[0].listen",
        ),
        (
            "[[https]]\nlisten = \"127.0.0.1:8443\"\nself_signed = true\nhandshake_timeout_secs = 0",
            "https[0].handshake_timeout_secs",
        ),
        (
            "[[https]]\nlisten = \"127.0.0.1:8443\"\nself_signed = true\nmin_tls_version = \"1.1\"",
            "min_tls_version",
        ),
        ("[storage]\nmemory_bytes = 5", "storage.memory_bytes"),
        (
            "[storage]\nwrite_policy = \"sometimes\"",
            "storage.write_policy",
        ),
        ("[storage]\neviction = \"random\"", "storage.eviction"),
        ("[storage]\nchunk_bytes = 1024", "storage.chunk_bytes"),
        (
            "[storage]\nmax_object_bytes = 4294967296",
            "storage.max_object_bytes",
        ),
        (
            "[cache]\nheuristic_fraction = 2.0",
            "cache.heuristic_fraction",
        ),
        (
            "[[sites]]\nhosts = []\norigin = \"http://a\"",
            "sites[0].hosts",
        ),
        (
            "[[sites]]\nhosts = [\"a\"]\norigin = \"nope nope\"",
            "sites[0].origin",
        ),
        ("[server]\nlisten = \"not an address\"", "listen"),
        ("[server]\nbogus = 1", "bogus"),
        ("[cache]\nset_cookie = \"explicit\"", "set_cookie"),
        ("[cache]\nvary_user_agent = \"raw\"", "vary_user_agent"),
        (
            "[cache]\nvary_languages = [\"en us\"]",
            "cache.vary_languages[0]",
        ),
        (
            "[[cache.vary_fields]]\nname = \"User-Agent\"",
            "cache.vary_fields[0].name",
        ),
        (
            "[cache]\nmax_variants_per_url = 0",
            "cache.max_variants_per_url",
        ),
        (
            "[cache]\norigin_purge_header = \"\"",
            "cache.origin_purge_header",
        ),
        (
            "[cache]\norigin_purge_max_keys = 0",
            "cache.origin_purge_max_keys",
        ),
        (
            "[[sites]]\nhosts = [\"a\"]\norigin = \"http://a\"\nmax_variants_per_url = 0",
            "sites[0].max_variants_per_url",
        ),
        (
            "[upstream]\nfirst_byte_timeout_ms = 0",
            "upstream.first_byte_timeout_ms",
        ),
        (
            "[upstream]\nforward_fields = [\"bad name\"]",
            "upstream.forward_fields[0]",
        ),
        (
            "[upstream]\ntrusted_proxies = [\"10.0.0.0/99\"]",
            "upstream.trusted_proxies[0]",
        ),
        // Would overflow `Instant + Duration` (a panic) if accepted.
        (
            "[upstream]\nbreaker_cooldown_secs = 9223372036854775807",
            "upstream.breaker_cooldown_secs",
        ),
        (
            "[cache]\nhit_for_pass_secs = 9223372036854775807",
            "cache.hit_for_pass_secs",
        ),
        (
            "[upstream]\ntotal_timeout_ms = 9223372036854775807",
            "upstream.total_timeout_ms",
        ),
    ];
    for (toml_text, field) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.toml");
        std::fs::write(&p, toml_text).expect("write");
        let err = Config::load(&p).expect_err(toml_text).to_string();
        assert!(
            err.contains(field),
            "{toml_text:?}: error {err:?} should name {field}"
        );
    }
}
