#!/usr/bin/env bash
# Throughput of `uic serve` as a share of the HTTP ceiling, measured in one run.
#
#   benches/throughput.sh                 # 3 rounds, 10 s per run; PostgreSQL from TEST_POSTGRES_URL if set
#   ROUNDS=5 SECONDS_PER_RUN=20 GENERATOR=loadtest benches/throughput.sh
#   CONCURRENCY=128 benches/throughput.sh  # 128 people at once instead of 32 (the paced runs keep 64)
#
# Each round starts in turn, on loopback: `examples/bare_route.rs` (an axum
# route that only parses the Twilio form), `uic serve` on SQLite (as by
# default, every commit synced; then again with `?synchronous=normal`), and
# `uic serve` on PostgreSQL (a database created beside the one
# TEST_POSTGRES_URL names, dropped after; skipped when it is unset). Each is
# driven by the same whole-conversation load (Bonjour and five answers, every
# person different, 32 at once), and each server again at a paced 1,000
# turns/s for its latency (the bare route's is the floor: the tail of this
# machine and load generator, whatever the server). Every run of `uic
# serve` starts on a fresh database, so that the paced run does not inherit
# the dead rows of a saturation run. Prints, for each round, turns/s,
# p50/p99, errors, the server's CPU and resident memory, and each server's
# turns/s as a share of the bare route's in the same round; then the median
# of the rounds.
#
# The load generator shares the machine's two cores with the server, so the
# bare route measures it as much as the server: the cheaper it is per
# request, the higher the ceiling and the stricter every share.
# - GENERATOR=wrk (the default; Debian's `wrk`): `benches/conversations.lua`
#   sends the conversations as Twilio's form, unsigned (each `uic serve` runs
#   without TWILIO_AUTH_TOKEN, as issue #15 measured). Its ceiling moved by
#   1 to 12 % from round to round in the runs of docs/performance.md (seventh
#   and eighth passes). wrk does not read the replies:
#   each run's database is checked instead, "codes 27584/27584" saying how
#   many codes it holds of the conversations whose last answer was sent.
# - GENERATOR=loadtest (`examples/loadtest.rs`): signed forms, every reply and
#   code checked; a costlier client, whose ceiling moves by a quarter from
#   one half hour to the next.
# The paced runs always use the load test (wrk cannot pace), signed when it
# drives the saturation runs too.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
rounds=${ROUNDS:-3}
concurrency=${CONCURRENCY:-32}
target=${CARGO_TARGET_DIR:-target}/release
uic=${UIC_BIN:-$target/uic}   # another build of uic to compare, e.g. the last release
generator=${GENERATOR:-wrk}
case $generator in
    loadtest) token=load-token ;;
    wrk)
        token=""
        command -v wrk >/dev/null || {
            echo "wrk is missing: apt-get install wrk, or GENERATOR=loadtest for the project's own" >&2
            exit 2
        } ;;
    *) echo "GENERATOR must be loadtest or wrk, not $generator" >&2; exit 2 ;;
esac
work=$(mktemp -d)
server=""
pg_database=""
url=""

cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$pg_database" ]; then psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $pg_database" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "building (release)…" >&2
cargo build --release --quiet --bin uic --example loadtest --example bare_route

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # url
    for _ in $(seq 1 300); do
        if curl -fs -o /dev/null "$1" 2>/dev/null || curl -s -o /dev/null -w '%{http_code}' -X POST "$1" 2>/dev/null | grep -qv '^000$'; then return 0; fi
        sleep 0.1
    done
    echo "server at $1 did not answer" >&2
    exit 1
}

# field NAME FILE: the figures of one loadtest report line.
turns_per_s() { sed -n 's/^turns .*(\([0-9]*\) turns\/s)/\1/p' "$1"; }
latency() { sed -n "s/^latency ms .*$2 \([0-9.]*\) .*/\1/p" "$1" | head -1; }
# errors FILE: the load test's failed requests and wrong codes; for wrk, its
# failed requests and the codes stored of the conversations it ended.
errors() {
    local stored codes="codes unchecked"
    stored=$(sed -n 's/^stored *\([0-9]*\) codes/\1/p' "$1")
    if [ -n "$stored" ]; then codes="codes $stored/$(sed -n 's/^conversations *\([0-9]*\) ended/\1/p' "$1")"; fi
    sed -n -e 's/^errors *\([0-9]*\) failed requests, \([0-9]*\) wrong codes/\1 failed, \2 wrong codes/p' \
        -e "s|^errors *\\([0-9]*\\) failed requests, unchecked wrong codes|\\1 failed, $codes|p" "$1"
}
cpu() { sed -n 's/^server *CPU .*(\([0-9]*\)% of one core)/\1%/p' "$1"; }
rss() { sed -n 's/^server *VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "$1" | awk '{printf "%.0f MB", $1/1024}'; }

# cpu_ticks PID: the CPU a process has used, in clock ticks (100 a second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

load() { # name port extra-args...
    local name=$1 port=$2; shift 2
    # Only the paced runs pass --rate: they stay with the load test, as wrk cannot pace.
    if [ "$generator" = wrk ] && [ "${1:-}" != --rate ]; then
        local before
        before=$(cpu_ticks "$server")
        wrk -t2 -c"$concurrency" -d"${seconds}s" -s benches/conversations.lua "http://127.0.0.1:$port" \
            -- $((2 * concurrency)) >"$work/$name.txt"
        # The load test's own lines for the server's CPU and memory.
        grep '^VmRSS' "/proc/$server/status" | sed 's/^/server        /' >>"$work/$name.txt"
        awk -v used="$(($(cpu_ticks "$server") - before))" -v s="$seconds" \
            'BEGIN { printf "server        CPU %.2f s over %d s (%.0f%% of one core)\n", used / 100, s, used / s }' \
            >>"$work/$name.txt"
        return
    fi
    "$target/examples/loadtest" --url "http://127.0.0.1:$port/whatsapp/webhook" ${token:+--token "$token"} \
        --concurrency "$concurrency" --seconds "$seconds" --server-pid "$server" "$@" >"$work/$name.txt"
}

stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

# start_uic NAME DATABASE-URL: `uic serve` on that database, in the background.
start_uic() {
    local name=$1 database=$2
    port=$(free_port)
    env PORT="$port" HOST=127.0.0.1 DATABASE_URL="$database" DATA_DIR="$work/$name" \
        ${token:+TWILIO_AUTH_TOKEN="$token"} PUBLIC_BASE_URL="http://127.0.0.1:$port" \
        UIC_SALT=Load-Test-Salt-0123 LOG_LEVEL=warn "$uic" serve >"$work/$name.log" 2>&1 &
    server=$!
    wait_for "http://127.0.0.1:$port/health"
}

# fresh_database KIND NAME: sets `url` to an empty database for one run.
fresh_database() {
    local kind=$1 name=$2
    mkdir -p "$work/$name"
    case $kind in
        sqlite) url="sqlite://$work/$name/uic.db" ;;
        sqlite-normal) url="sqlite://$work/$name/uic.db?synchronous=normal" ;;
        postgres)
            drop_pg_database
            pg_database="uic_bench_$$"
            psql "$TEST_POSTGRES_URL" -qc "CREATE DATABASE $pg_database" >/dev/null
            url="${TEST_POSTGRES_URL%/*}/$pg_database" ;;
    esac
}

drop_pg_database() {
    if [ -n "$pg_database" ]; then psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null; fi
    pg_database=""
}

# measure NAME KIND WHAT LOAD-ARGS...: one run of `uic serve` on a fresh database.
measure() {
    local name=$1 kind=$2 what=$3
    shift 3
    fresh_database "$kind" "$name"
    start_uic "$name" "$url"
    echo "$name: $what for $seconds s…" >&2
    load "$name" "$port" "$@"
    stop_server
    # wrk does not read the replies: what the database holds is the check.
    if grep -q '^conversations' "$work/$name.txt"; then
        echo "stored        $(count_codes) codes" >>"$work/$name.txt"
    fi
}

count_codes() { # the codes in the database of the run that just ended (`url`)
    local path
    case $url in
        postgres*) psql "$url" -tAc 'SELECT count(*) FROM uic_records' ;;
        *)
            path=${url#sqlite://}
            python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM uic_records").fetchone()[0])' \
                "${path%%\?*}" ;;
    esac
}

run_uic() { # round kind: a saturation run, then a paced run
    local round=$1 kind=$2
    measure "$kind-$round" "$kind" "$concurrency people at once"
    measure "$kind-$round-paced" "$kind" "paced at 1,000 turns/s" --rate 1000 --concurrency 64
    if [ "$kind" = postgres ]; then drop_pg_database; fi
}

kinds=(sqlite sqlite-normal)
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    kinds+=(postgres)
else
    echo "TEST_POSTGRES_URL is unset: PostgreSQL skipped" >&2
fi

for round in $(seq 1 "$rounds"); do
    port=$(free_port)
    "$target/examples/bare_route" "127.0.0.1:$port" &
    server=$!
    wait_for "http://127.0.0.1:$port/whatsapp/webhook"
    echo "round $round, bare route: $concurrency people at once for $seconds s…" >&2
    load "bare-$round" "$port" --no-codes
    # Paced too: the tail any server has here, which the paced p99s below stand on.
    echo "round $round, bare route: paced at 1,000 requests/s…" >&2
    load "bare-$round-paced" "$port" --rate 1000 --concurrency 64 --no-codes
    stop_server
    for kind in "${kinds[@]}"; do run_uic "$round" "$kind"; done
done

share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }

echo
echo "$(nproc) cores, $rounds rounds, $seconds s per run, $concurrency people at once, load generator ($generator) on the same machine"
for round in $(seq 1 "$rounds"); do
    bare=$(turns_per_s "$work/bare-$round.txt")
    echo
    echo "round $round:"
    printf '%-14s %10s %8s %9s %9s %-28s %9s %8s\n' server turns/s "of bare" "p50 ms" "p99 ms" errors "CPU" "RSS"
    for name in bare "${kinds[@]}"; do
        file="$work/$name-$round.txt"
        tps=$(turns_per_s "$file")
        share=$(share "$tps" "$bare")
        echo "$name $share" >>"$work/shares"
        printf '%-14s %10s %8s %9s %9s %-28s %9s %8s\n' "$name" "$tps" "$share%" "$(latency "$file" p50)" \
            "$(latency "$file" p99)" "$(errors "$file")" "$(cpu "$file")" "$(rss "$file")"
    done
    printf '%-14s %10s %8s %9s %9s %-28s %9s\n' "paced" turns/s "" "p50 ms" "p99 ms" errors "p99.9 ms"
    for name in bare "${kinds[@]}"; do
        file="$work/$name-$round-paced.txt"
        echo "$name $(latency "$file" p99)" >>"$work/paced"
        printf '%-14s %10s %8s %9s %9s %-28s %9s\n' "$name" "$(turns_per_s "$file")" "" "$(latency "$file" p50)" \
            "$(latency "$file" p99)" "$(errors "$file")" "$(latency "$file" p99.9)"
    done
done

echo
echo "over $rounds rounds (median, and range):"
printf '%-14s %-22s %s\n' server "share of bare" "paced p99 ms (1,000/s)"
for name in bare "${kinds[@]}"; do
    shares=$(awk -v n="$name" '$1 == n { print $2 }' "$work/shares")
    p99s=$(awk -v n="$name" '$1 == n { print $2 }' "$work/paced")
    printf '%-14s %-22s %s\n' "$name" "$(median <<<"$shares")% ($(range <<<"$shares"))" \
        "$(median <<<"$p99s") ($(range <<<"$p99s"))"
done
