#!/usr/bin/env bash
# Registration over HTTP, next to a floor server measured in the same run.
#
#   bash benches/http_load.sh            # DURATION=10s CONNECTIONS=16 by default
#
# Starts the registration server (examples/server with `--store memory`, a flag
# the example server keeps for such tools; SERVER_EXAMPLE=bench_server uses the stand-in) and
# benches/servers/floor_server (parse the JSON, mint two tokens, answer 201), each on
# 127.0.0.1 only. Drives `POST /register` and `GET` on a
# registration_client_uri with wrk for DURATION each, and reports requests/s,
# p50/p99 latency, non-2xx responses and the server's CPU time per request
# (utime+stime from /proc/PID/stat, before and after each run).
# Needs wrk (Debian package `wrk`) and curl.
#
#   STORES="memory sqlite postgres" CONNECTIONS=32 THREADS=2 DURATION=8s bash benches/http_load.sh
#
# also runs the server over each durable store (a fresh SQLite file in a
# temporary directory; a throwaway database on DATABASE_URL's server, created
# with psql and dropped afterwards) and reports each store's figures as ratios
# to the memory store's of the same run. SKIP_FLOOR=1 skips the floor server.
#
#   CAPS="0 100000000" ROUNDS=3 STORES="memory sqlite postgres" bash benches/http_load.sh
#
# instead compares registration with and without a client cap: for each
# store, a server with each `--max-clients` value of CAPS (0: no cap), on a
# fresh store each run, alternated ROUNDS times (A B A B …, the machine is
# shared), POST only; reports each cap's registrations/s and CPU per
# registration summed over the rounds, as ratios to the first value's.
#
#   TOKENS=1 STORES="memory sqlite postgres" bash benches/http_load.sh
#
# instead measures the token endpoint: for each store, a server with the
# example server's defaults (grants in the store `--store` names), one
# confidential client registered with `client_credentials`, and wrk posting
# `grant_type=client_credentials` with HTTP Basic client authentication (RFC
# 6749 §4.4) for DURATION; reports each store's token responses/s and CPU per
# token as ratios to the memory store's. Every answer issues and stores an
# access token (the client's oldest gives way past its bound).
#
#   NODE_BASELINE=1 bash benches/http_load.sh
#
# also runs node-oidc-provider (benches/node_oidc_provider, its version pinned
# by package-lock.json, installed with `npm ci` on first use; Node.js and npm
# needed) with registration and management on, its in-memory adapter beside
# the memory store, and reports its CPU per registration and per read as
# multiples of the memory store's (target: >= 15x per registration).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
SERVER_EXAMPLE=${SERVER_EXAMPLE:-server}
FEATURES=${FEATURES:---all-features}
PORT_SERVER=${PORT_SERVER:-18181}
PORT_FLOOR=${PORT_FLOOR:-18182}
PORT_NODE=${PORT_NODE:-18179}
NODE_BASELINE=${NODE_BASELINE:-0}
# The server's log level: the floor logs nothing, so by default the server logs
# only warnings; SERVER_LOG=info measures it with one log line per request.
SERVER_LOG=${SERVER_LOG:-warn}
STORES=${STORES:-memory}
SKIP_FLOOR=${SKIP_FLOOR:-0}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

# Prebuilt binaries (say, of another commit, for a before/after comparison):
# SERVER_BIN, FLOOR_BIN; NO_BUILD=1 skips cargo.
SERVER_BIN=${SERVER_BIN:-target/release/examples/$SERVER_EXAMPLE}
FLOOR_BIN=${FLOOR_BIN:-target/release/examples/floor_server}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
if [ "$SERVER_EXAMPLE" = server ] && [ ! -e examples/server ] && [ ! -e examples/server.rs ]; then
  echo "examples/server not found: using the stand-in benches/servers/bench_server" >&2
  SERVER_EXAMPLE=bench_server
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
  # shellcheck disable=SC2086
  cargo build --release $FEATURES --example "$SERVER_EXAMPLE" --example floor_server >&2
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
# Named here, not in server_store: that runs in a $(...) subshell, whose
# assignments the EXIT trap never saw, so every run left its database behind.
pg_db="tower_dcr_load_$$"
cleanup_db() {
  if [[ " $STORES " == *" postgres "* ]]; then
    psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap 'cleanup; cleanup_db' EXIT

body='{"client_name":"Example Photo Printing Service","client_name#fr-CA":"Service d'"'"'impression de photos exemple","redirect_uris":["https://printing.example.com/oauth/callback","https://printing.example.com/oauth/callback-alt"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_basic","scope":"openid profile email offline_access","contacts":["ops@printing.example.com","security@printing.example.com"]}'
printf '%s' "$body" >"$work/body.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$work/body.json", "r")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$work/get.lua" <<'LUA'
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
LUA

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_server() { # name port command... ; sets started_pid
  local name=$1 port=$2; shift 2
  RUST_LOG=$SERVER_LOG "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/register/x"; then
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}

# One wrk run against pid; prints: rps p50 p99 requests non2xx cpu_us_per_request
run() { # pid url script
  local pid=$1 url=$2 script=$3 before after out requests rps p50 p99 non2xx
  before=$(cpu_ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")
  after=$(cpu_ticks "$pid")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  errors=$(echo "$out" | awk '/Socket errors/ {print $0}')
  [ -n "$errors" ] && echo "  ($errors)" >&2
  echo "$rps $p50 $p99 $requests ${non2xx:-0} $(echo "($after - $before) * 1000000 / $ticks / $requests" | bc -l)"
}

register_one() { # port -> "client_id token"
  curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$work/body.json" \
    "http://127.0.0.1:$1/register" |
    sed -n 's/.*"client_id":"\([^"]*\)".*"registration_access_token":"\([^"]*\)".*/\1 \2/p'
}

# The example server limits registrations per address and in all by default:
# off for a load test. SERVER_ARGS overrides (say, empty for a server built
# before those options existed).
server_args=()
[ "$SERVER_EXAMPLE" = server ] && server_args=(--registration-rate 0 --max-clients 0)
if [ -n "${SERVER_ARGS+set}" ]; then read -r -a server_args <<<"$SERVER_ARGS"; fi

server_store() { # store -> the --store value
  case $1 in
    memory) echo memory ;;
    sqlite) echo "sqlite:$work/load.db" ;;
    postgres)
      psql "$DATABASE_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
      echo "${DATABASE_URL%/*}/$pg_db" ;;
    *) echo "unknown store $1" >&2; exit 1 ;;
  esac
}

if [ "${TOKENS:-0}" = 1 ]; then
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on 127.0.0.1; POST /token grant_type=client_credentials; RUST_LOG=$SERVER_LOG"
  printf '%-26s %10s %9s %9s %9s %7s %12s\n' run "req/s" p50 p99 requests non2xx "CPU us/req"
  declare -A token_rate token_cpu
  port=$PORT_SERVER
  for store in $STORES; do
    cleanup_db
    spec=$(server_store "$store")
    start_server "server-$store" "$port" \
      "$SERVER_BIN" --addr "127.0.0.1:$port" --store "$spec" "${server_args[@]}"
    pid=$started_pid
    machine=$(curl -s -X POST -H 'Content-Type: application/json' \
      --data-binary '{"client_name":"Load","grant_types":["client_credentials"],"response_types":[],"token_endpoint_auth_method":"client_secret_basic"}' \
      "http://127.0.0.1:$port/register")
    id=$(echo "$machine" | sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p')
    secret=$(echo "$machine" | sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p')
    [ -n "$id" ] && [ -n "$secret" ] || { echo "could not register a machine client on the $store server: $machine" >&2; exit 1; }
    basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
    cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
    read -r rps p50 p99 requests non2xx cpu_us < <(run "$pid" "http://127.0.0.1:$port/token" "$work/token.lua")
    printf '%-26s %10s %9s %9s %9s %7s %12.2f\n' "$store POST /token" "$rps" "$p50" "$p99" "$requests" "$non2xx" "$cpu_us"
    token_rate[$store]=$rps
    token_cpu[$store]=$cpu_us
    kill "$pid"; wait "$pid" 2>/dev/null || true
    port=$((port + 2))
  done
  for store in $STORES; do
    [ "$store" = memory ] && continue
    [ -n "${token_rate[memory]:-}" ] || break
    printf '%s: token responses/s %.0f%% of memory, CPU per token %.2fx memory\n' "$store" \
      "$(echo "100 * ${token_rate[$store]} / ${token_rate[memory]}" | bc -l)" \
      "$(echo "${token_cpu[$store]} / ${token_cpu[memory]}" | bc -l)"
  done
  exit 0
fi

if [ -n "${CAPS:-}" ]; then
  read -r -a caps <<<"$CAPS"
  base=${caps[0]}
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on 127.0.0.1; POST /register; --max-clients ${caps[*]}, $ROUNDS round(s) alternated; RUST_LOG=$SERVER_LOG"
  printf '%-28s %10s %9s %9s %9s %7s %12s\n' run "req/s" p50 p99 requests non2xx "CPU us/req"
  declare -A rate_sum cpu_sum
  port=$PORT_SERVER
  for store in $STORES; do
    for round in $(seq 1 "${ROUNDS:-1}"); do
      for cap in "${caps[@]}"; do
        cleanup_db
        rm -f "$work"/load.db*
        spec=$(server_store "$store")
        args=("${server_args[@]}")
        for i in "${!args[@]}"; do
          [ "${args[$i]}" = --max-clients ] && args[i+1]=$cap
        done
        start_server "server-$store-$cap" "$port" \
          "$SERVER_BIN" --addr "127.0.0.1:$port" --store "$spec" "${args[@]}"
        pid=$started_pid
        read -r rps p50 p99 requests non2xx cpu_us < <(run "$pid" "http://127.0.0.1:$port/register" "$work/post.lua")
        printf '%-28s %10s %9s %9s %9s %7s %12.2f\n' "$store cap=$cap #$round" "$rps" "$p50" "$p99" "$requests" "$non2xx" "$cpu_us"
        rate_sum[$store $cap]=$(echo "${rate_sum[$store $cap]:-0} + $rps" | bc -l)
        cpu_sum[$store $cap]=$(echo "${cpu_sum[$store $cap]:-0} + $cpu_us" | bc -l)
        kill "$pid"; wait "$pid" 2>/dev/null || true
        port=$((port + 2))
      done
    done
    for cap in "${caps[@]:1}"; do
      printf '%s: --max-clients %s against %s: registrations/s %.2fx (target >= 0.9x), CPU per registration %.2fx (target <= 1.1x)\n' \
        "$store" "$cap" "$base" \
        "$(echo "${rate_sum[$store $cap]} / ${rate_sum[$store $base]}" | bc -l)" \
        "$(echo "${cpu_sum[$store $cap]} / ${cpu_sum[$store $base]}" | bc -l)"
    done
  done
  exit 0
fi

if [ "$SKIP_FLOOR" != 1 ]; then
  start_server floor "$PORT_FLOOR" \
    "$FLOOR_BIN" --addr "127.0.0.1:$PORT_FLOOR"
  floor_pid=$started_pid
fi

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on 127.0.0.1; server: examples/$SERVER_EXAMPLE, RUST_LOG=$SERVER_LOG"
printf '%-26s %10s %9s %9s %9s %7s %12s\n' run "req/s" p50 p99 requests non2xx "CPU us/req"
declare -A cpu rate
measure() { # label pid port method client_id token
  local label=$1 pid=$2 port=$3 method=$4 url script rps p50 p99 requests non2xx cpu_us
  if [ "$method" = POST ]; then
    url="http://127.0.0.1:$port/register"; script="$work/post.lua"
  else
    url="http://127.0.0.1:$port/register/${5:-}"; script="$work/get.lua"
  fi
  read -r rps p50 p99 requests non2xx cpu_us < <(TOKEN=${6:-} run "$pid" "$url" "$script")
  cpu[$label $method]=$cpu_us
  rate[$label $method]=$rps
  printf '%-26s %10s %9s %9s %9s %7s %12.2f\n' "$label $method" "$rps" "$p50" "$p99" "$requests" "$non2xx" "$cpu_us"
}

port=$PORT_SERVER
for store in $STORES; do
  spec=$(server_store "$store")
  start_server "server-$store" "$port" \
    "$SERVER_BIN" --addr "127.0.0.1:$port" --store "$spec" "${server_args[@]}"
  pid=$started_pid
  registered=$(register_one "$port")
  [ -n "$registered" ] || { echo "could not register a client on the $store server" >&2; exit 1; }
  if [ "$SKIP_FLOOR" != 1 ] && [ "$store" = memory ]; then
    measure floor "$floor_pid" "$PORT_FLOOR" POST
  fi
  measure "$store" "$pid" "$port" POST
  if [ "$SKIP_FLOOR" != 1 ] && [ "$store" = memory ]; then
    measure floor "$floor_pid" "$PORT_FLOOR" GET x y
  fi
  measure "$store" "$pid" "$port" GET "${registered% *}" "${registered#* }"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  port=$((port + 2))
done

if [ "$NODE_BASELINE" = 1 ]; then
  if [ ! -d benches/node_oidc_provider/node_modules ]; then
    (cd benches/node_oidc_provider && npm ci --no-audit --no-fund --silent) >&2
  fi
  PORT=$PORT_NODE start_server node-oidc-provider "$PORT_NODE" node benches/node_oidc_provider/server.mjs
  node_pid=$started_pid
  measure node-oidc-provider "$node_pid" "$PORT_NODE" POST
  # Registered after the POST run: its in-memory adapter is an LRU cache that
  # would have dropped a client registered before it.
  registered=$(register_one "$PORT_NODE")
  [ -n "$registered" ] || { echo "could not register a client on node-oidc-provider" >&2; exit 1; }
  measure node-oidc-provider "$node_pid" "$PORT_NODE" GET "${registered% *}" "${registered#* }"
  kill "$node_pid"; wait "$node_pid" 2>/dev/null || true
fi

ratio() { echo "$1 / $2" | bc -l; }
if [ -n "${cpu[node-oidc-provider POST]:-}" ] && [ -n "${cpu[memory POST]:-}" ]; then
  printf 'node-oidc-provider: CPU per registration %.1fx the memory store'"'"'s (target >= 15x), per read %.1fx; registrations/s %.1fx lower\n' \
    "$(ratio "${cpu[node-oidc-provider POST]}" "${cpu[memory POST]}")" \
    "$(ratio "${cpu[node-oidc-provider GET]}" "${cpu[memory GET]}")" \
    "$(ratio "${rate[memory POST]}" "${rate[node-oidc-provider POST]}")"
fi
if [ -n "${cpu[memory POST]:-}" ] && [ "$SKIP_FLOOR" != 1 ]; then
  printf 'memory: CPU per registration / floor POST: %.2fx (target <= 1.5x)\n' "$(ratio "${cpu[memory POST]}" "${cpu[floor POST]}")"
  printf 'memory: CPU per read / floor GET:          %.2fx (target <= 1.3x)\n' "$(ratio "${cpu[memory GET]}" "${cpu[floor GET]}")"
fi
for store in $STORES; do
  [ "$store" = memory ] && continue
  [ -n "${cpu[memory POST]:-}" ] || break
  printf '%s: registrations/s %.0f%% of memory, CPU per registration %.2fx memory, CPU per read %.2fx memory, reads/s %.0f%% of memory\n' \
    "$store" "$(ratio "100 * ${rate[$store POST]}" "${rate[memory POST]}")" \
    "$(ratio "${cpu[$store POST]}" "${cpu[memory POST]}")" \
    "$(ratio "${cpu[$store GET]}" "${cpu[memory GET]}")" \
    "$(ratio "100 * ${rate[$store GET]}" "${rate[memory GET]}")"
done
