//! `edgecache check-config FILE`: parse and validate a config file, then
//! load every `[[https]]` certificate and key it names, so a typo in a path
//! or a key that does not match its certificate is found before a restart.

use super::error::CliError;
use edgecache::config::Config;
use std::path::Path;

/// Check `file`; on success print one line saying what was checked.
pub fn run(file: &Path) -> Result<(), CliError> {
    let cfg = Config::load(file).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut certificates = 0;
    for (i, h) in cfg.https.iter().enumerate() {
        for (j, c) in h.certificates.iter().enumerate() {
            edgecache::tls::certificate::load(&c.cert_file, &c.key_file).map_err(|e| {
                CliError::Usage(format!("config field `https[{i}].certificates[{j}]`: {e}"))
            })?;
            certificates += 1;
        }
    }
    match certificates {
        0 => println!("{}: ok", file.display()),
        n => println!("{}: ok ({n} certificates loaded)", file.display()),
    }
    Ok(())
}
