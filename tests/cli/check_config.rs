//! `edgecache check-config`: the field or file at fault is named.

use crate::edgecache;

#[tokio::test]
async fn check_config_names_the_field_or_file_at_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8").to_string()
    };
    let missing_cert = dir.path().join("missing.pem");
    let cases = [
        (
            write("good.toml", "[server]\ndrain_timeout_secs = 5\n"),
            0,
            "good.toml: ok",
        ),
        (
            write(
                "short-token.toml",
                "[[admin.tokens]]\ntoken = \"short\"\nhosts = [\"*\"]\n",
            ),
            2,
            "admin.tokens[0].token",
        ),
        (
            write("typo.toml", "[server]\ndrain_timeout_secs = \"soon\"\n"),
            2,
            "drain_timeout_secs",
        ),
        (
            write(
                "cert.toml",
                &format!(
                    "[[https]]\nlisten = \"127.0.0.1:0\"\ncertificates = [{{ cert_file = \"{}\", key_file = \"{}\" }}]\n",
                    missing_cert.display(),
                    dir.path().join("missing.key").display()
                ),
            ),
            2,
            "missing.pem",
        ),
    ];
    for (file, code, needle) in cases {
        let out = edgecache(&["check-config", &file]).await;
        assert_eq!(out.code, Some(code), "{file}: {out:?}");
        let text = if code == 0 { &out.stdout } else { &out.stderr };
        assert!(text.contains(needle), "{file}: {out:?}");
    }
}
