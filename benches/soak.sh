#!/usr/bin/env bash
# Soak: many registrations over HTTP into the SQLite store of the example
# server, in rounds, reporting errors, the server's RSS and the database's
# bytes per client after each round.
#
#   TOTAL=200000 ROUND=5s CONNECTIONS=32 nice -n 10 bash benches/soak.sh
#
# Rounds are wrk runs of ROUND each, until TOTAL registrations are answered.
# Every response must be 201 (non-2xx and socket errors are counted). RSS is
# VmRSS from /proc; the database size is the main file plus its WAL. The
# server runs at RUST_LOG=warn. Needs wrk and curl; builds the example in
# release mode first (set NO_BUILD=1 to skip).
set -euo pipefail
cd "$(dirname "$0")/.."

TOTAL=${TOTAL:-200000}
ROUND=${ROUND:-5s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18291}
DB=${DB:-$(mktemp -d)/soak.db}

[ "${NO_BUILD:-0}" = 1 ] || cargo build --release --all-features --example server >&2
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

body='{"client_name":"Example Photo Printing Service","client_name#fr-CA":"Service d'"'"'impression de photos exemple","redirect_uris":["https://printing.example.com/oauth/callback","https://printing.example.com/oauth/callback-alt"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_basic","scope":"openid profile email offline_access","contacts":["ops@printing.example.com","security@printing.example.com"]}'
printf '%s' "$body" >"$work/body.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$work/body.json", "r")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

# The example server limits registrations per address and in all by default:
# off for a soak. SERVER_ARGS overrides (empty for a server built before those
# options existed).
server_args=(--registration-rate 0 --max-clients 0)
if [ -n "${SERVER_ARGS+set}" ]; then read -r -a server_args <<<"$SERVER_ARGS"; fi
RUST_LOG=warn "${SERVER_BIN:-target/release/examples/server}" --addr "127.0.0.1:$PORT" --store "sqlite:$DB" \
  "${server_args[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/register/x" && break
  sleep 0.1
done

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }
db_bytes() { cat "$DB" "$DB-wal" 2>/dev/null | wc -c; }
count() { sqlite3 "file:$DB?mode=ro" 'SELECT COUNT(*) FROM clients' 2>/dev/null || echo "?"; }

echo "soak: $TOTAL registrations in wrk rounds of $ROUND, wrk -t$THREADS -c$CONNECTIONS, store sqlite:$DB"
printf '%8s %10s %9s %9s %8s %8s %10s %12s\n' round registered "req/s" p99 non2xx sockerr "RSS MiB" "DB B/client"
echo "start: RSS $(( $(rss_kib) / 1024 )) MiB"
registered=0
errors=0
round=0
while [ "$registered" -lt "$TOTAL" ]; do
  round=$((round + 1))
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$ROUND" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$PORT/register")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  sockerr=$(echo "$out" | awk '/Socket errors/ {s = 0; for (i = 3; i <= NF; i += 2) s += $(i + 1); print s}')
  non2xx=${non2xx:-0}
  sockerr=${sockerr:-0}
  errors=$((errors + non2xx + sockerr))
  registered=$((registered + requests))
  printf '%8s %10s %9s %9s %8s %8s %10s %12s\n' "$round" "$registered" "$rps" "$p99" "$non2xx" \
    "$sockerr" "$(( $(rss_kib) / 1024 ))" "$(( $(db_bytes) / registered ))"
done
echo "end: $registered registrations ($(count) rows), $errors errors, RSS $(( $(rss_kib) / 1024 )) MiB, database $(db_bytes) bytes = $(( $(db_bytes) / registered )) bytes per client"
