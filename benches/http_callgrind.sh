#!/usr/bin/env bash
# Instructions per request over HTTP, under callgrind: the registration server
# next to the floor server, each driven by the same fixed number of
# keep-alive requests. Instruction counts do not depend on what else the
# machine is doing, so this ratio holds still where benches/http_load.sh's
# CPU-time ratio moves by 20 % between runs; the two measure the same work.
#
#   bash benches/http_callgrind.sh                     # examples/server and bench_server
#   REQUESTS=2000 SERVERS="floor server" bash benches/http_callgrind.sh
#
# For each server: start it under `valgrind --tool=callgrind`, send a few
# requests to warm it up, zero the counters (`callgrind_control -z`), send
# REQUESTS registrations on one connection, dump, send REQUESTS reads, dump.
# Prints instructions (Ir) per registration and per read, and ratios to the
# floor. SERVER_LOG (default warn) is the example server's RUST_LOG.
# Needs valgrind and python3. KEEP=1 keeps the callgrind files (printed).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-2000}
SERVERS=${SERVERS:-floor server bench_server}
SERVER_LOG=${SERVER_LOG:-warn}
PORT=${PORT:-18281}
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
if [ "${NO_BUILD:-0}" != 1 ]; then
  examples=()
  for s in $SERVERS; do
    case $s in floor) examples+=(--example floor_server) ;; *) examples+=(--example "$s") ;; esac
  done
  cargo build --release --all-features "${examples[@]}" >&2
fi

work=$(mktemp -d)
vg_pid=""
cleanup() {
  [ -n "$vg_pid" ] && kill "$vg_pid" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "callgrind files kept in $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# The client: one keep-alive connection; `post N` or `get N CLIENT_ID TOKEN`.
cat >"$work/client.py" <<'PY'
import http.client, json, sys
port, what, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = json.dumps({
    "client_name": "Example Photo Printing Service",
    "client_name#fr-CA": "Service d'impression de photos exemple",
    "redirect_uris": ["https://printing.example.com/oauth/callback",
                      "https://printing.example.com/oauth/callback-alt"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "openid profile email offline_access",
    "contacts": ["ops@printing.example.com", "security@printing.example.com"],
}, separators=(",", ":"))
conn = http.client.HTTPConnection("127.0.0.1", port)
last = None
for _ in range(n):
    if what == "post":
        conn.request("POST", "/register", body, {"Content-Type": "application/json"})
        expect = 201
    else:
        conn.request("GET", "/register/" + sys.argv[4],
                     headers={"Authorization": "Bearer " + sys.argv[5]})
        expect = 200
    response = conn.getresponse()
    data = response.read()
    if response.status != expect:
        sys.exit(f"{what}: {response.status} {data[:200]!r}")
    last = data
if what == "post":
    doc = json.loads(last)
    print(doc["client_id"], doc["registration_access_token"])
PY

# Total Ir in a callgrind dump file (the "summary:" or "totals:" line).
ir_of() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

# Asks the running callgrind to zero or dump; it acts when the server next
# runs code, so a request is sent to wake it.
control() { # option
  callgrind_control "$1" "$vg_pid" >/dev/null 2>&1 &
  local ctl=$!
  sleep 0.3
  python3 "$work/client.py" "$PORT" post 1 >/dev/null
  wait "$ctl"
}

declare -A post_ir get_ir
for s in $SERVERS; do
  case $s in
    floor) bin=target/release/examples/floor_server; args=(--addr "127.0.0.1:$PORT") ;;
    server) bin=target/release/examples/server
      args=(--addr "127.0.0.1:$PORT" --store memory --registration-rate 0 --max-clients 0) ;;
    *) bin=target/release/examples/$s; args=(--addr "127.0.0.1:$PORT") ;;
  esac
  RUST_LOG=$SERVER_LOG valgrind --tool=callgrind --callgrind-out-file="$work/$s.%p.out" \
    "$bin" "${args[@]}" >"$work/$s.log" 2>&1 &
  vg_pid=$!
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/register/x" && break
    sleep 0.2
  done
  read -r client_id token < <(python3 "$work/client.py" "$PORT" post 50)
  python3 "$work/client.py" "$PORT" get 50 "$client_id" "$token"
  control -z
  python3 "$work/client.py" "$PORT" post "$REQUESTS" >/dev/null
  control -d
  python3 "$work/client.py" "$PORT" get "$REQUESTS" "$client_id" "$token"
  control -d
  kill "$vg_pid"; wait "$vg_pid" 2>/dev/null || true; vg_pid=""
  dumps=$(ls "$work/$s".*.out.* 2>/dev/null | sort -V)
  first=$(echo "$dumps" | sed -n 1p); second=$(echo "$dumps" | sed -n 2p)
  [ -n "$second" ] || { echo "$s: no callgrind dumps:"; cat "$work/$s.log"; exit 1; } >&2
  post_ir[$s]=$(( $(ir_of "$first") / REQUESTS ))
  get_ir[$s]=$(( $(ir_of "$second") / REQUESTS ))
  printf '%-14s Ir per registration %9d   Ir per read %9d\n' "$s" "${post_ir[$s]}" "${get_ir[$s]}"
done
if [ -n "${post_ir[floor]:-}" ]; then
  for s in $SERVERS; do
    [ "$s" = floor ] && continue
    printf '%-14s / floor: registration %.2fx, read %.2fx\n' "$s" \
      "$(echo "${post_ir[$s]} / ${post_ir[floor]}" | bc -l)" \
      "$(echo "${get_ir[$s]} / ${get_ir[floor]}" | bc -l)"
  done
fi
