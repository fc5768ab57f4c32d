# Sourced by compare.sh and tls.sh: the arguments they share, logging, and
# the choice of servers and scenarios. Before sourcing, the script sets
# SCRIPT (its name, for messages), USAGE_LINES (the sed range of its header
# that --help prints), ALL_SERVERS and ALL_SCENARIOS, and the defaults of
# ROUNDS, DURATION and WARMUP; it passes its own arguments ("$@").
# After it: KEEP, ONLY, SERVERS and SCENARIOS are set, and log, die and
# in_list are defined.

KEEP=0
ONLY=""
SCEN_ARG=""

usage() {
    sed -n "${USAGE_LINES}p" "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROUNDS=1; DURATION=3; WARMUP=1; shift ;;
        --only) ONLY=${2:?--only needs a list}; shift 2 ;;
        --only=*) ONLY=${1#--only=}; shift ;;
        --scenarios) SCEN_ARG=${2:?--scenarios needs a list}; shift 2 ;;
        --scenarios=*) SCEN_ARG=${1#--scenarios=}; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$SCRIPT: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

in_list() { # word list...
    local w=$1; shift
    local x
    for x in "$@"; do [ "$x" = "$w" ] && return 0; done
    return 1
}

# choose VAR KIND ARG ALL...: set the array VAR to the comma-separated
# ARG, each checked against ALL, or to ALL when ARG is empty.
choose() {
    local -n into=$1
    local kind=$2 arg=$3; shift 3
    local want x
    into=()
    if [ -z "$arg" ]; then
        into=("$@")
        return
    fi
    IFS=, read -r -a want <<<"$arg"
    for x in "${want[@]}"; do
        in_list "$x" "$@" || die "unknown $kind '$x' (known: $*)"
        into+=("$x")
    done
}

choose SERVERS server "$ONLY" "${ALL_SERVERS[@]}"
choose SCENARIOS scenario "$SCEN_ARG" "${ALL_SCENARIOS[@]}"
