#!/usr/bin/env bash
# Throughput of `uic serve` as a share of the HTTP ceiling, measured in one run.
#
#   benches/throughput.sh                 # 10 s per run; PostgreSQL from TEST_POSTGRES_URL if set
#   SECONDS_PER_RUN=20 benches/throughput.sh
#
# Starts in turn, on loopback: `examples/bare_route.rs` (an axum route that only
# parses the Twilio form), `uic serve` on a fresh SQLite file (as by default,
# every commit synced; then again with `?synchronous=normal`), and `uic serve` on
# a fresh PostgreSQL database (created beside the one TEST_POSTGRES_URL names,
# dropped after; skipped when it is unset). Each is driven by the same
# whole-conversation load (`examples/loadtest.rs`: Bonjour and five answers,
# every person different, signed Twilio forms, 32 at once), then `uic serve` is
# driven again at a paced 1,000 turns/s for its latency. Prints turns/s,
# p50/p99, errors, the server's CPU and resident memory, and each server's
# turns/s as a share of the bare route's. Needs nothing but this machine.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
concurrency=${CONCURRENCY:-32}
target=${CARGO_TARGET_DIR:-target}/release
uic=${UIC_BIN:-$target/uic}   # another build of uic to compare, e.g. the last release
work=$(mktemp -d)
server=""
pg_database=""

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
errors() { sed -n 's/^errors *\([0-9]*\) failed requests, \([0-9]*\) wrong codes/\1 failed, \2 wrong codes/p' "$1"; }
cpu() { sed -n 's/^server *CPU .*(\([0-9]*\)% of one core)/\1%/p' "$1"; }
rss() { sed -n 's/^server *VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "$1" | awk '{printf "%.0f MB", $1/1024}'; }

load() { # name port extra-args...
    local name=$1 port=$2; shift 2
    "$target/examples/loadtest" --url "http://127.0.0.1:$port/whatsapp/webhook" --token load-token \
        --concurrency "$concurrency" --seconds "$seconds" --server-pid "$server" "$@" >"$work/$name.txt"
}

stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

run_uic() { # name database-url
    local name=$1 url=$2 port
    port=$(free_port)
    PORT=$port HOST=127.0.0.1 DATABASE_URL=$url DATA_DIR=$work/$name TWILIO_AUTH_TOKEN=load-token \
        PUBLIC_BASE_URL=http://127.0.0.1:$port UIC_SALT=Load-Test-Salt-0123 LOG_LEVEL=warn \
        "$uic" serve >"$work/$name.log" 2>&1 &
    server=$!
    wait_for "http://127.0.0.1:$port/health"
    echo "$name: $concurrency people at once for $seconds s…" >&2
    load "$name" "$port"
    echo "$name: paced at 1,000 turns/s for $seconds s…" >&2
    load "$name-paced" "$port" --rate 1000 --concurrency 64
    stop_server
}

port=$(free_port)
"$target/examples/bare_route" "127.0.0.1:$port" &
server=$!
wait_for "http://127.0.0.1:$port/whatsapp/webhook"
echo "bare route: $concurrency people at once for $seconds s…" >&2
load bare "$port" --no-codes
stop_server

runs=(bare sqlite sqlite-normal)
mkdir -p "$work/sqlite" "$work/sqlite-normal"
run_uic sqlite "sqlite://$work/sqlite/uic.db"
run_uic sqlite-normal "sqlite://$work/sqlite-normal/uic.db?synchronous=normal"
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    pg_database="uic_bench_$$"
    psql "$TEST_POSTGRES_URL" -qc "CREATE DATABASE $pg_database" >/dev/null
    run_uic postgres "${TEST_POSTGRES_URL%/*}/$pg_database"
    runs+=(postgres)
else
    echo "TEST_POSTGRES_URL is unset: PostgreSQL skipped" >&2
fi

bare=$(turns_per_s "$work/bare.txt")
echo
echo "$(nproc) cores, $seconds s per run, $concurrency people at once, load generator on the same machine"
printf '%-14s %10s %8s %9s %9s %-26s %9s %8s\n' server turns/s "of bare" "p50 ms" "p99 ms" errors "CPU" "RSS"
for name in "${runs[@]}"; do
    file="$work/$name.txt"
    tps=$(turns_per_s "$file")
    share=$(awk -v a="$tps" -v b="$bare" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    printf '%-14s %10s %8s %9s %9s %-26s %9s %8s\n' "$name" "$tps" "$share" "$(latency "$file" p50)" \
        "$(latency "$file" p99)" "$(errors "$file")" "$(cpu "$file")" "$(rss "$file")"
done
echo
echo "paced at 1,000 turns/s:"
printf '%-14s %10s %9s %9s %9s %-26s\n' server turns/s "p50 ms" "p99 ms" "p99.9 ms" errors
for name in "${runs[@]}"; do
    [ "$name" = bare ] && continue
    file="$work/$name-paced.txt"
    printf '%-14s %10s %9s %9s %9s %-26s\n' "$name" "$(turns_per_s "$file")" "$(latency "$file" p50)" \
        "$(latency "$file" p99)" "$(latency "$file" p99.9)" "$(errors "$file")"
done
