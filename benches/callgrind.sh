#!/usr/bin/env bash
# Instructions per operation under callgrind (noise-free on shared cores).
#   bash benches/callgrind.sh [OP...]      OP: floor register read update delete verify
# Builds the `instructions` bench, runs each OP N=2000 times under callgrind
# collecting only inside `instructions::measured`, and prints Ir per operation
# and the ratio to the floor. Note: valgrind hides SHA-NI from the program, so
# SHA-256 runs the portable code here and weighs more than on the CPU.
# KEEP=DIR keeps the callgrind outputs in DIR (one file per OP) for
# `callgrind_annotate --inclusive=yes DIR/OP`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=2000
ops=("$@")
[ ${#ops[@]} -eq 0 ] && ops=(floor register read update delete verify)
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*instructions[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "instructions bench binary not found" >&2; exit 1; }
if [ -n "${KEEP:-}" ]; then
  out=$KEEP
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
floor_ir=""
printf '%-10s %12s %10s\n' operation "Ir/op" "x floor"
for op in floor "${ops[@]}"; do
  [ "$op" = floor ] && [ -n "$floor_ir" ] && continue
  valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect='instructions::measured' \
    --callgrind-out-file="$out/$op" "$bin" "$op" >/dev/null 2>"$out/$op.log"
  total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/$op.log")
  per=$((total / N))
  [ "$op" = floor ] && floor_ir=$per
  printf '%-10s %12d %10.2f\n' "$op" "$per" "$(echo "$per / $floor_ir" | bc -l)"
done
