#!/usr/bin/env bash
# Run an HTTP caching conformance suite against an edgecache node and compare
# the results with that suite's baseline. Without --suite it runs the npm
# release http-cache-tests@0.4.5 (installed here with npm ci) and compares with
# conformance/baseline.json.
#
# Usage: conformance/run.sh [--suite PATH] [--config FILE|default]
#                           [--update-baseline] [--id TEST_ID] [--help]
#
#   --suite PATH        run another copy of the suite: a source tree (the folder
#                       holding tests/index.mjs, or its parent) or a .tar.gz of
#                       one, e.g. ../shared/conformance/cache-tests-b55b8bd.tar.gz.
#                       A tarball is unpacked into conformance/suites/<name>/;
#                       the suite's dependencies are installed there with
#                       npm install. Its baseline is conformance/baselines/<name>.json
#                       and its results go to conformance/results/<name>/.
#   --config FILE       the node's config file; "default" runs the node on its
#                       built-in defaults. Default: edgecache-conformance.toml
#                       for the npm suite, "default" for a --suite run.
#   --update-baseline   write the passing test ids of this run to the baseline
#                       (regressions then do not fail the run)
#   --id TEST_ID        run one test verbosely (client and origin messages are
#                       printed); no scoring, no baseline comparison
#
# Environment:
#   EDGECACHE_BIN    node binary (default: <repo>/target/debug/edgecache)
#   EDGECACHE_ARGS   extra arguments appended to the node's command line
#   ORIGIN_PORT      port of the suite's origin server (default 8000, or a free
#                    port if 8000 is taken and ORIGIN_PORT was not set)
#   NODE_PORT        port the node listens on (default 8089, or a free port if
#                    8089 is taken and NODE_PORT was not set)
#   CLI_TIMEOUT      seconds the test client may run (default 300)
#   KEEP_TMP=1       keep the temporary directory (data dir, logs, pidfile)
#
# Exit status: 0 = ran and no baseline regression; 1 = regression or failure
# to run; 2 = usage error.
set -euo pipefail

CONF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CONF_DIR/.." && pwd)"
SUITE_VERSION="0.4.5"
SUITE_DIR="$CONF_DIR/node_modules/http-cache-tests"
RESULTS_DIR="$CONF_DIR/results"
RESULTS_FILE="$RESULTS_DIR/results.json"
BASELINE_FILE="$CONF_DIR/baseline.json"

UPDATE_BASELINE=0
SINGLE_ID=""
SUITE_PATH=""
NODE_CONFIG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) [ $# -ge 2 ] || { echo "run.sh: --suite needs a path" >&2; exit 2; }; SUITE_PATH="$2"; shift ;;
    --suite=*) SUITE_PATH="${1#--suite=}" ;;
    --config) [ $# -ge 2 ] || { echo "run.sh: --config needs a file or 'default'" >&2; exit 2; }; NODE_CONFIG="$2"; shift ;;
    --config=*) NODE_CONFIG="${1#--config=}" ;;
    --update-baseline) UPDATE_BASELINE=1 ;;
    --id) [ $# -ge 2 ] || { echo "run.sh: --id needs a test id" >&2; exit 2; }; SINGLE_ID="$2"; shift ;;
    --id=*) SINGLE_ID="${1#--id=}" ;;
    -h|--help) sed -n '2,40p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (Node.js >= 18 needed)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"

EDGECACHE_BIN="${EDGECACHE_BIN:-$REPO_ROOT/target/debug/edgecache}"
CLI_TIMEOUT="${CLI_TIMEOUT:-300}"

# ---------------------------------------------------------------- cleanup
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edgecache-conformance.XXXXXX")"
NODE_PID=""
ORIGIN_PID=""
ORIGIN_PIDFILE="$WORK_DIR/origin.pid"

stop_pid() { # pid name
  local pid="$1" name="$2" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) did not stop on TERM; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  stop_pid "$NODE_PID" "edgecache"
  # The origin backgrounds itself; its pid comes from the pidfile it writes.
  if [ -z "$ORIGIN_PID" ] && [ -s "$ORIGIN_PIDFILE" ]; then ORIGIN_PID="$(cat "$ORIGIN_PIDFILE")"; fi
  if [ -n "$ORIGIN_PID" ] && grep -qa 'server/server.mjs' "/proc/$ORIGIN_PID/cmdline" 2>/dev/null; then
    stop_pid "$ORIGIN_PID" "origin"
  fi
  mkdir -p "$RESULTS_DIR"
  for f in edgecache.log origin.log cli.stderr; do
    [ -f "$WORK_DIR/$f" ] && cp "$WORK_DIR/$f" "$RESULTS_DIR/$f"
  done
  if [ "${KEEP_TMP:-0}" = "1" ]; then
    log "kept temporary directory $WORK_DIR"
  else
    rm -rf "$WORK_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
port_in_use() { # port -> 0 if something accepts connections on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

choose_port() { # varname default -> echoes port
  local var="$1" def="$2" val="${!1:-}"
  if [ -n "$val" ]; then
    [[ "$val" =~ ^[0-9]+$ ]] || die "$var must be a port number, got '$val'"
    port_in_use "$val" && die "$var=$val is already in use on 127.0.0.1"
    echo "$val"
  elif port_in_use "$def"; then
    local p
    p="$(free_port)"
    log "port $def is in use; using free port $p for $var"
    echo "$p"
  else
    echo "$def"
  fi
}

wait_for_port() { # port pid name seconds logfile
  local port="$1" pid="$2" name="$3" secs="$4" logfile="$5" i
  for i in $(seq 1 $((secs * 10))); do
    if port_in_use "$port"; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before accepting connections; last lines of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  log "$name did not accept connections on 127.0.0.1:$port within ${secs}s; last lines of $logfile:"
  tail -n 20 "$logfile" >&2 || true
  return 1
}

# ---------------------------------------------------------------- (a) suite install
if [ -z "$SUITE_PATH" ]; then
  SUITE_LABEL="http-cache-tests@$SUITE_VERSION (npm)"
  PEER_SET="npm"
  [ -n "$NODE_CONFIG" ] || NODE_CONFIG="$CONF_DIR/edgecache-conformance.toml"
  lock_hash() { sha256sum "$CONF_DIR/package-lock.json" | cut -d' ' -f1; }
  STAMP="$CONF_DIR/node_modules/.edgecache-lock-sha256"
  [ -f "$CONF_DIR/package-lock.json" ] || die "conformance/package-lock.json is missing"
  installed_version="$(node -p 'require(process.argv[1]).version' "$SUITE_DIR/package.json" 2>/dev/null || true)"
  if [ "$installed_version" != "$SUITE_VERSION" ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(lock_hash)" ]; then
    log "installing http-cache-tests@$SUITE_VERSION (npm ci)"
    (cd "$CONF_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $CONF_DIR"
    installed_version="$(node -p 'require(process.argv[1]).version' "$SUITE_DIR/package.json")"
    [ "$installed_version" = "$SUITE_VERSION" ] || die "npm installed http-cache-tests $installed_version, expected $SUITE_VERSION"
    lock_hash > "$STAMP"
  fi
else
  PEER_SET="current"
  [ -n "$NODE_CONFIG" ] || NODE_CONFIG="default"
  [ -e "$SUITE_PATH" ] || die "--suite $SUITE_PATH does not exist"
  case "$SUITE_PATH" in
    *.tar.gz|*.tgz)
      [ -f "$SUITE_PATH" ] || die "--suite $SUITE_PATH is not a file"
      SUITE_NAME="$(basename "$SUITE_PATH")"; SUITE_NAME="${SUITE_NAME%.tar.gz}"; SUITE_NAME="${SUITE_NAME%.tgz}"
      unpack_dir="$CONF_DIR/suites/$SUITE_NAME"
      tar_hash="$(sha256sum "$SUITE_PATH" | cut -d' ' -f1)"
      if [ ! -f "$unpack_dir/.edgecache-tar-sha256" ] || [ "$(cat "$unpack_dir/.edgecache-tar-sha256")" != "$tar_hash" ]; then
        log "unpacking $SUITE_PATH into conformance/suites/$SUITE_NAME"
        rm -rf "$unpack_dir" && mkdir -p "$unpack_dir"
        tar -xzf "$SUITE_PATH" -C "$unpack_dir" || die "cannot unpack $SUITE_PATH"
        echo "$tar_hash" > "$unpack_dir/.edgecache-tar-sha256"
      fi
      root="$unpack_dir" ;;
    *)
      [ -d "$SUITE_PATH" ] || die "--suite $SUITE_PATH is neither a directory nor a .tar.gz"
      root="$(cd "$SUITE_PATH" && pwd)"
      SUITE_NAME="$(basename "$root")" ;;
  esac
  if [ -f "$root/tests/index.mjs" ]; then
    SUITE_DIR="$root"
  else
    mapfile -t found < <(find "$root" -mindepth 3 -maxdepth 3 -path '*/tests/index.mjs' -printf '%h\n' | sed 's#/tests$##')
    [ "${#found[@]}" -eq 1 ] || die "--suite $SUITE_PATH: expected one folder with tests/index.mjs, found ${#found[@]}"
    SUITE_DIR="${found[0]}"
  fi
  [ -f "$SUITE_DIR/package.json" ] && [ -f "$SUITE_DIR/test-engine/cli.mjs" ] \
    || die "$SUITE_DIR does not look like the cache-tests suite (package.json, test-engine/cli.mjs)"
  [[ "$SUITE_NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "suite name '$SUITE_NAME' (from --suite) has characters other than A-Z a-z 0-9 . _ -"
  SUITE_LABEL="cache-tests $SUITE_NAME"
  RESULTS_DIR="$CONF_DIR/results/$SUITE_NAME"
  RESULTS_FILE="$RESULTS_DIR/results.json"
  BASELINE_FILE="$CONF_DIR/baselines/$SUITE_NAME.json"
  pkg_hash="$(sha256sum "$SUITE_DIR/package.json" | cut -d' ' -f1)"
  STAMP="$SUITE_DIR/node_modules/.edgecache-package-sha256"
  if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$pkg_hash" ]; then
    log "installing the dependencies of $SUITE_LABEL (npm install --omit=dev)"
    (cd "$SUITE_DIR" && npm install --omit=dev --no-audit --no-fund --no-package-lock --loglevel=error) >&2 \
      || die "npm install failed in $SUITE_DIR"
    echo "$pkg_hash" > "$STAMP"
  fi
fi
if [ "$NODE_CONFIG" != "default" ]; then
  [ -f "$NODE_CONFIG" ] || die "--config $NODE_CONFIG does not exist"
fi

# ---------------------------------------------------------------- binary check
if [ ! -x "$EDGECACHE_BIN" ]; then
  if [ "$EDGECACHE_BIN" = "$REPO_ROOT/target/debug/edgecache" ]; then
    die "edgecache binary not found at $EDGECACHE_BIN: run 'cargo build' in $REPO_ROOT first (or set EDGECACHE_BIN)"
  fi
  die "EDGECACHE_BIN=$EDGECACHE_BIN does not exist or is not executable (run 'cargo build' first?)"
fi

# ---------------------------------------------------------------- (b) origin
ORIGIN_PORT="$(choose_port ORIGIN_PORT 8000)"
NODE_PORT="$(choose_port NODE_PORT 8089)"
[ "$ORIGIN_PORT" != "$NODE_PORT" ] || die "ORIGIN_PORT and NODE_PORT are both $NODE_PORT"

log "starting suite origin on 127.0.0.1:$ORIGIN_PORT"
# The suite's scripts read npm_config_* / npm_package_config_*; passing them in
# the environment works with current npm and avoids its "unknown cli config"
# deprecation path for --port/--pidfile/--base.
# The npm release's server backgrounds itself; the current suite's stays in the
# foreground. Starting it in the background works for both: the origin's own
# pid comes from the pidfile either way.
(cd "$SUITE_DIR" && exec env npm_config_port="$ORIGIN_PORT" npm_config_pidfile="$ORIGIN_PIDFILE" \
  npm_config_protocol=http npm run --silent server) >"$WORK_DIR/origin.log" 2>&1 &
for _ in $(seq 1 50); do [ -s "$ORIGIN_PIDFILE" ] && break; sleep 0.1; done
[ -s "$ORIGIN_PIDFILE" ] && ORIGIN_PID="$(cat "$ORIGIN_PIDFILE")"
wait_for_port "$ORIGIN_PORT" "$ORIGIN_PID" "suite origin" 20 "$WORK_DIR/origin.log" \
  || die "suite origin did not start"
[ -n "$ORIGIN_PID" ] || { [ -s "$ORIGIN_PIDFILE" ] && ORIGIN_PID="$(cat "$ORIGIN_PIDFILE")"; } || true
[ -n "$ORIGIN_PID" ] || die "suite origin wrote no pidfile at $ORIGIN_PIDFILE"
# Make sure what answers is the suite's origin (and not something else on the port).
probe="$(node -e '
  require("http").get(process.argv[1], r => { let b=""; r.on("data", d => b += d); r.on("end", () => console.log(r.statusCode + " " + b.trim())) })
    .on("error", e => console.log("error " + e.message))' "http://127.0.0.1:$ORIGIN_PORT/state/run-sh-probe")"
case "$probe" in
  "404 State not found for run-sh-probe") ;;
  *) die "127.0.0.1:$ORIGIN_PORT does not answer like the suite origin (got: $probe)" ;;
esac

# ---------------------------------------------------------------- (c) node
mkdir -p "$WORK_DIR/data"
NODE_CMD=("$EDGECACHE_BIN" --origin "http://127.0.0.1:$ORIGIN_PORT" --listen "127.0.0.1:$NODE_PORT" --admin-listen 127.0.0.1:0 --data-dir "$WORK_DIR/data")
[ "$NODE_CONFIG" = "default" ] || NODE_CMD+=(--config "$NODE_CONFIG")
if [ -n "${EDGECACHE_ARGS:-}" ]; then
  read -r -a extra_args <<<"$EDGECACHE_ARGS"
  NODE_CMD+=("${extra_args[@]}")
fi
log "starting edgecache: ${NODE_CMD[*]}"
"${NODE_CMD[@]}" >"$WORK_DIR/edgecache.log" 2>&1 &
NODE_PID=$!
wait_for_port "$NODE_PORT" "$NODE_PID" "edgecache" 20 "$WORK_DIR/edgecache.log" \
  || die "edgecache did not start (log: $RESULTS_DIR/edgecache.log)"

BASE_URL="http://127.0.0.1:$NODE_PORT"
mkdir -p "$RESULTS_DIR"

# ---------------------------------------------------------------- single test
if [ -n "$SINGLE_ID" ]; then
  log "running single test $SINGLE_ID against $BASE_URL"
  (cd "$SUITE_DIR" && npm_config_base="$BASE_URL" npm_config_id="$SINGLE_ID" \
    timeout "$CLI_TIMEOUT" npm run --silent cli) || die "test client failed"
  echo "--- origin log:"
  grep -v '^SERVER WARNING: State not found for run-sh-probe' "$WORK_DIR/origin.log" | sed -n '2,$p' || true
  exit 0
fi

# ---------------------------------------------------------------- (d) run the suite
rm -f "$RESULTS_FILE" # never leave an older run's results looking current
log "running $SUITE_LABEL against $BASE_URL (this takes a while)"
start=$(date +%s)
cli_rc=0
(cd "$SUITE_DIR" && npm_config_base="$BASE_URL" timeout "$CLI_TIMEOUT" npm run --silent cli) \
  >"$WORK_DIR/results.raw" 2>"$WORK_DIR/cli.stderr" || cli_rc=$?
if [ "$cli_rc" -eq 124 ]; then
  die "test client did not finish within ${CLI_TIMEOUT}s (a request to the node probably hangs; see $RESULTS_DIR/edgecache.log)"
elif [ "$cli_rc" -ne 0 ]; then
  tail -n 20 "$WORK_DIR/cli.stderr" >&2 || true
  die "test client exited with status $cli_rc"
fi
log "test client finished in $(( $(date +%s) - start ))s"
# The client prints errors to stderr and nothing on stdout when it crashes.
node -e '
  const fs = require("fs")
  let r
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")) } catch (e) {
    console.error("run.sh: error: test client output is not JSON: " + e.message); process.exit(1) }
  if (!r || typeof r !== "object" || Array.isArray(r) || Object.keys(r).length === 0) {
    console.error("run.sh: error: test client produced no results"); process.exit(1) }
  fs.writeFileSync(process.argv[2], JSON.stringify(r, null, 2) + "\n")
  console.error("run.sh: " + Object.keys(r).length + " results written to " + process.argv[2])
' "$WORK_DIR/results.raw" "$RESULTS_FILE" || { tail -n 20 "$WORK_DIR/cli.stderr" >&2 || true; exit 1; }

# ---------------------------------------------------------------- (e) score
node "$CONF_DIR/score.mjs" "$RESULTS_FILE" --suite-dir "$SUITE_DIR" --peer-set "$PEER_SET" --summary-file "$WORK_DIR/summary.txt"

# ---------------------------------------------------------------- (f) baseline
echo
status=0
if [ "$UPDATE_BASELINE" = "1" ]; then
  mkdir -p "$(dirname "$BASELINE_FILE")"
  node "$CONF_DIR/score.mjs" "$RESULTS_FILE" --suite-dir "$SUITE_DIR" --write-baseline "$BASELINE_FILE" >/dev/null
  echo "baseline: wrote $(node -p 'Object.keys(require(process.argv[1])).length' "$BASELINE_FILE") passing test ids to ${BASELINE_FILE#"$REPO_ROOT"/}"
elif [ ! -f "$BASELINE_FILE" ]; then
  echo "baseline: ${BASELINE_FILE#"$REPO_ROOT"/} does not exist; nothing to compare (create it with conformance/run.sh ${SUITE_PATH:+--suite $SUITE_PATH }--update-baseline)"
else
  node "$CONF_DIR/score.mjs" "$RESULTS_FILE" --suite-dir "$SUITE_DIR" --compare-baseline "$BASELINE_FILE" || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then die "baseline comparison failed (status $status)"; fi
fi

# ---------------------------------------------------------------- (h) summary
echo
cat "$WORK_DIR/summary.txt"
exit "$status"
