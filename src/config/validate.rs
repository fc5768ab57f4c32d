//! `Config::validate`: every value checked, the error naming the field.

use super::*;

impl Config {
    /// Check every value; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_origins()?;
        self.validate_sections()?;
        self.validate_storage()?;
        self.validate_names()?;
        self.validate_upstream()?;
        self.validate_durations()
    }

    /// The default origin and every site: hosts, origins, protocols, per-site overrides.
    fn validate_origins(&self) -> Result<(), ConfigError> {
        if let Some(o) = &self.origin {
            let servers = parse_origins("origin", o)?;
            origin_protocol::check(&self.upstream.protocol, "upstream.protocol", &servers)?;
        }
        origin_protocol::check_ca_file(
            "upstream.tls_ca_file",
            self.upstream.tls_ca_file.as_deref(),
        )?;
        for (i, s) in self.sites.iter().enumerate() {
            if s.hosts.is_empty() {
                return Err(invalid(
                    format!("sites[{i}].hosts"),
                    "must list at least one host",
                ));
            }
            if let Some(h) = s
                .hosts
                .iter()
                .find(|h| h.is_empty() || h.contains(['/', ' ']))
            {
                return Err(invalid(
                    format!("sites[{i}].hosts"),
                    format!("`{h}` is not a host name"),
                ));
            }
            let servers = parse_origins(&format!("sites[{i}].origin"), &s.origin)?;
            self.compression
                .with(&s.compression)
                .validate(&format!("sites[{i}].compression"))?;
            origin_protocol::check_site(i, s, &self.upstream, &servers)?;
            vary::check(
                &format!("sites[{i}]"),
                s.vary_languages.as_deref(),
                s.vary_fields.as_deref(),
                s.max_variants_per_url,
                s.origin_purge_header.as_deref(),
                true,
            )?;
            if let Some(v) = s.access_log_sample {
                access_log::check_sample(&format!("sites[{i}].access_log_sample"), v)?;
            }
            if let Some(n) = &s.name
                && (n.is_empty() || n.len() > 128 || n.chars().any(|c| c.is_control()))
            {
                return Err(invalid(
                    format!("sites[{i}].name"),
                    "must be 1 to 128 characters, none of them control characters",
                ));
            }
        }
        Ok(())
    }

    /// `[cache]` Vary limits, `[server]`, `[[https]]` and the sections that check themselves.
    fn validate_sections(&self) -> Result<(), ConfigError> {
        let c = &self.cache;
        vary::check(
            "cache",
            Some(&c.vary_languages),
            Some(&c.vary_fields),
            Some(c.max_variants_per_url),
            c.origin_purge_header.as_deref(),
            false,
        )?;
        vary::check_limits(c)?;
        self.server.validate()?;
        for (i, h) in self.https.iter().enumerate() {
            h.validate(i, self.server.listen)?;
            if h.listen.port() != 0 && self.https[..i].iter().any(|o| o.listen == h.listen) {
                return Err(invalid(
                    format!("https[{i}].listen"),
                    format!("{} is used by another [[https]] listener", h.listen),
                ));
            }
        }
        self.websocket.validate()?;
        self.compression.validate("compression")?;
        self.access_log.validate()?;
        self.tracing.validate()?;
        self.fleet.validate()?;
        self.tier.validate()?;
        Ok(())
    }

    /// `[storage]` sizes, and the `[cache]` limits that depend on them.
    fn validate_storage(&self) -> Result<(), ConfigError> {
        let st = &self.storage;
        if st.memory_bytes < (1 << 20) {
            return Err(invalid(
                "storage.memory_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if !(64 << 10..=1 << 30).contains(&st.block_bytes) {
            return Err(invalid(
                "storage.block_bytes",
                "must be between 65536 and 1073741824",
            ));
        }
        if st.disk_bytes < 2 * st.block_bytes {
            return Err(invalid(
                "storage.disk_bytes",
                "must hold at least two blocks (2 * storage.block_bytes)",
            ));
        }
        if st.chunk_bytes < (64 << 10) || st.chunk_bytes + (64 << 10) > st.block_bytes {
            return Err(invalid(
                "storage.chunk_bytes",
                "must be at least 65536 and at least 64 KiB below storage.block_bytes",
            ));
        }
        if st.max_object_bytes > st.disk_bytes / 2 {
            return Err(invalid(
                "storage.max_object_bytes",
                "must be at most half of storage.disk_bytes",
            ));
        }
        let c = &self.cache;
        if !(0.0..=1.0).contains(&c.heuristic_fraction) {
            return Err(invalid(
                "cache.heuristic_fraction",
                "must be between 0.0 and 1.0",
            ));
        }
        if c.slice_bytes != 0 && (c.slice_bytes < (64 << 10) || c.slice_bytes > st.chunk_bytes) {
            return Err(invalid(
                "cache.slice_bytes",
                "must be 0 (off) or between 65536 and storage.chunk_bytes",
            ));
        }
        if c.slice_bytes != 0 && c.slice_above_bytes < c.slice_bytes {
            return Err(invalid(
                "cache.slice_above_bytes",
                "must be at least cache.slice_bytes",
            ));
        }
        if let Some(f) = c
            .targeted_fields
            .iter()
            .find(|f| http::HeaderName::from_bytes(f.as_bytes()).is_err())
        {
            return Err(invalid(
                "cache.targeted_fields",
                format!("`{f}` is not a header field name"),
            ));
        }
        Ok(())
    }

    /// The cache's name, surrogate-key fields, purge networks and admin tokens.
    fn validate_names(&self) -> Result<(), ConfigError> {
        if self.server.cache_name.is_empty() || self.server.cache_name.contains(['"', ',', '\n']) {
            return Err(invalid(
                "server.cache_name",
                "must be non-empty, without quotes or commas",
            ));
        }
        for (i, f) in self.purge.key_fields.iter().enumerate() {
            if http::HeaderName::from_bytes(f.name.as_bytes()).is_err() {
                return Err(invalid(
                    format!("purge.key_fields[{i}].name"),
                    format!("`{}` is not a field name", f.name),
                ));
            }
            if f.separator.chars().count() != 1 {
                return Err(invalid(
                    format!("purge.key_fields[{i}].separator"),
                    "must be exactly one character",
                ));
            }
        }
        for (field, value) in [
            ("purge.max_keys_per_object", self.purge.max_keys_per_object),
            ("purge.max_key_bytes", self.purge.max_key_bytes),
            ("purge.max_batch", self.purge.max_batch),
            ("purge.max_hosts", self.purge.max_hosts),
            ("purge.max_body_bytes", self.purge.max_body_bytes),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be above 0"));
            }
        }
        for (i, c) in self.purge.public_purge_cidrs.iter().enumerate() {
            crate::cidr::Cidr::parse(c).map_err(|m| {
                invalid(
                    format!("purge.public_purge_cidrs[{i}]"),
                    format!("`{c}`: {m}"),
                )
            })?;
        }
        for (i, t) in self.admin.tokens.iter().enumerate() {
            if t.token.len() < 16 {
                return Err(invalid(
                    format!("admin.tokens[{i}].token"),
                    "must be at least 16 characters",
                ));
            }
            if t.hosts.is_empty() {
                return Err(invalid(
                    format!("admin.tokens[{i}].hosts"),
                    "must list at least one host, or \"*\"",
                ));
            }
        }
        Ok(())
    }

    /// `[upstream]`: breakers, timeouts, forwarded fields and trusted proxies.
    fn validate_upstream(&self) -> Result<(), ConfigError> {
        if self.upstream.breaker_failures == 0 {
            return Err(invalid("upstream.breaker_failures", "must be at least 1"));
        }
        if self
            .upstream
            .health_check_path
            .as_deref()
            .is_some_and(|p| !p.starts_with('/'))
        {
            return Err(invalid("upstream.health_check_path", "must start with `/`"));
        }
        if self.upstream.connect_timeout_ms == 0 {
            return Err(invalid("upstream.connect_timeout_ms", "must be above 0"));
        }
        if self.upstream.first_byte_timeout_ms == 0 {
            return Err(invalid("upstream.first_byte_timeout_ms", "must be above 0"));
        }
        for (i, f) in self.upstream.forward_fields.iter().enumerate() {
            if http::HeaderName::from_bytes(f.as_bytes()).is_err() {
                return Err(invalid(
                    format!("upstream.forward_fields[{i}]"),
                    format!("`{f}` is not a header field name"),
                ));
            }
        }
        for (i, c) in self.upstream.trusted_proxies.iter().enumerate() {
            crate::cidr::Cidr::parse(c).map_err(|m| {
                invalid(
                    format!("upstream.trusted_proxies[{i}]"),
                    format!("`{c}`: {m}"),
                )
            })?;
        }
        Ok(())
    }

    /// Durations are added to `Instant`s, which panics on overflow: every
    /// duration field is bounded (one year is far beyond any sensible value).
    fn validate_durations(&self) -> Result<(), ConfigError> {
        const YEAR_SECS: u64 = 365 * 86_400;
        let (u, c, s) = (&self.upstream, &self.cache, &self.server);
        let secs = [
            ("server.drain_timeout_secs", s.drain_timeout_secs),
            (
                "server.header_read_timeout_secs",
                s.header_read_timeout_secs,
            ),
            (
                "cache.serve_stale_on_origin_down_secs",
                c.serve_stale_on_origin_down_secs,
            ),
            ("cache.hit_for_pass_secs", c.hit_for_pass_secs),
            ("cache.heuristic_max_secs", c.heuristic_max_secs),
            ("upstream.breaker_cooldown_secs", u.breaker_cooldown_secs),
            (
                "upstream.health_check_interval_secs",
                u.health_check_interval_secs,
            ),
            ("upstream.pool_idle_timeout_secs", u.pool_idle_timeout_secs),
        ];
        let millis = [
            ("cache.collapse_timeout_ms", c.collapse_timeout_ms),
            ("upstream.connect_timeout_ms", u.connect_timeout_ms),
            ("upstream.first_byte_timeout_ms", u.first_byte_timeout_ms),
            ("upstream.idle_timeout_ms", u.idle_timeout_ms),
            ("upstream.total_timeout_ms", u.total_timeout_ms),
            ("upstream.queue_timeout_ms", u.queue_timeout_ms),
        ];
        let too_long = secs
            .into_iter()
            .find(|(_, v)| *v > YEAR_SECS)
            .or_else(|| millis.into_iter().find(|(_, v)| *v > YEAR_SECS * 1000));
        match too_long {
            Some((field, _)) => Err(invalid(field, "must be at most one year")),
            None => Ok(()),
        }
    }
}
