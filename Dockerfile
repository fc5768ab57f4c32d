# edgecache container image: a multi-stage build (Rust on Debian bookworm,
# then bookworm-slim), running as a non-root user with the cache in a volume.
#
#   docker build -t edgecache .
#   docker run -d --name edgecache -p 8080:8080 --stop-timeout 45 \
#     -v "$PWD/edgecache.toml:/etc/edgecache/edgecache.toml:ro" \
#     -v edgecache-data:/var/lib/edgecache edgecache
#
# More in docs/operations.md, "Running in production".

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and the build between image builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin edgecache \
    && install -m 0755 target/release/edgecache /usr/local/bin/edgecache \
    && strip --strip-debug /usr/local/bin/edgecache

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 edgecache \
    && useradd --system --uid 10001 --gid edgecache --no-create-home \
        --home-dir /var/lib/edgecache --shell /usr/sbin/nologin edgecache \
    && mkdir -p /var/lib/edgecache /etc/edgecache \
    && chown edgecache:edgecache /var/lib/edgecache \
    && chmod 0700 /var/lib/edgecache
COPY --from=build /usr/local/bin/edgecache /usr/bin/edgecache
COPY packaging/docker/edgecache.toml /etc/edgecache/edgecache.toml

# Read by the node and by the subcommands (`docker exec edgecache edgecache
# stats` finds the admin listener through it).
ENV EDGECACHE_CONFIG=/etc/edgecache/edgecache.toml
USER edgecache
WORKDIR /var/lib/edgecache
VOLUME ["/var/lib/edgecache"]
# Public HTTP (h1 + h2c) and the admin listener; add 8443/tcp and 8443/udp
# (HTTP/3) when the config has an [[https]] listener.
EXPOSE 8080/tcp 9080/tcp

# GET /health on the admin listener named by the config; no curl needed.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/bin/edgecache", "health", "--timeout", "3"]
# SIGTERM drains for server.drain_timeout_secs (30 s by default): give the
# container longer than that (`docker run --stop-timeout 45`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/edgecache"]
CMD ["--config", "/etc/edgecache/edgecache.toml"]
