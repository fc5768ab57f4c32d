#!/usr/bin/env bash
# Build a release tarball: dist/edgecache-<version>-<target>.tar.gz (and a
# .sha256 beside it) holding the binary, the systemd unit, the example
# config as edgecache.toml, README.md, docs/ and LICENSE when present.
#
#   packaging/tarball.sh                 # host target
#   TARGET=aarch64-unknown-linux-gnu packaging/tarball.sh
#   KEEP_DEBUG=1 packaging/tarball.sh    # keep the debug info (large binary)
#
# Honours CARGO_TARGET_DIR. Installing from it: docs/operations.md,
# "Running in production".
set -euo pipefail

cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
target=${TARGET:-$(rustc -vV | sed -n 's/^host: //p')}

build=(cargo build --release --locked --bin edgecache)
bin="$target_dir/release/edgecache"
if [ -n "${TARGET:-}" ]; then
    build+=(--target "$TARGET")
    bin="$target_dir/$TARGET/release/edgecache"
fi
"${build[@]}"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
if [ -z "$version" ]; then
    echo "tarball.sh: cannot read the version from Cargo.toml" >&2
    exit 1
fi
name="edgecache-$version-$target"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root/systemd" "$root/docs"

install -m 0755 "$bin" "$root/edgecache"
if [ -z "${KEEP_DEBUG:-}" ] && command -v strip >/dev/null; then
    strip --strip-debug "$root/edgecache"
fi
install -m 0644 packaging/systemd/edgecache.service "$root/systemd/"
install -m 0644 edgecache.example.toml "$root/edgecache.toml"
install -m 0644 README.md "$root/"
install -m 0644 docs/*.md docs/*.yaml "$root/docs/"
for f in LICENSE LICENSE-* COPYING; do
    if [ -f "$f" ]; then
        install -m 0644 "$f" "$root/"
    fi
done

mkdir -p dist
tar -C "$stage" --owner=0 --group=0 -czf "dist/$name.tar.gz" "$name"
(cd dist && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "dist/$name.tar.gz"
