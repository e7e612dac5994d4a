#!/usr/bin/env bash
# Property-based API testing of the gateway with schemathesis (from PyPI:
# `pip install schemathesis`), against the running sandbox:
#   1. builds and starts `gateway` (the sandbox) on a spare loopback port in a temp dir,
#   2. reads the API key it prints,
#   3. runs `schemathesis run http://127.0.0.1:PORT/openapi.json --checks all` with the key
#      as `Authorization: Bearer` (the API takes keys there as well as in `x-api-key`; with
#      the bearer scheme supplied schemathesis does not try to sign up through the login
#      route, and its missing-auth check removes the one header it knows), paced under the
#      sandbox plan's 600 requests a minute, with the settings of schemathesis.toml, and
#      without `DELETE /v1/api-keys/{id}` (its stateful phase would revoke the very key it
#      runs with, leaving every later request a 401),
#   4. stops the gateway and removes the temp dir.
# Extra arguments go to `schemathesis run` (e.g. `--max-examples 20`, `--seed 1`).
# Exit status: schemathesis's (non-zero when it found a failure).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
command -v schemathesis >/dev/null || {
  echo "schemathesis is not installed: pip install schemathesis" >&2
  exit 2
}
[ -n "${WAGW_NO_BUILD:-}" ] || cargo build --quiet -p gateway --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/gateway"

dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
: >"$dir/gateway.out" # the key is read from it before the gateway may have opened it
(cd "$dir" && exec "$bin" --listen "127.0.0.1:$port" >"$dir/gateway.out" 2>"$dir/gateway.err") &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

key=""
for _ in $(seq 1 300); do
  key="$(sed -n 's/^  API key *\(wagw_[A-Za-z0-9_]*\).*/\1/p' "$dir/gateway.out")"
  [ -n "$key" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/gateway.err" >&2; exit 1; }
  sleep 0.2
done
[ -n "$key" ] || { echo "the gateway printed no API key" >&2; exit 1; }

status=0
# Run from the temp dir: schemathesis keeps its example database in ./.schemathesis.
cd "$dir"
schemathesis --config-file "$root/examples/gateway/schemathesis.toml" \
  run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $key" \
  --rate-limit "${WAGW_SCHEMATHESIS_RATE:-590/m}" \
  --checks all \
  --workers 1 \
  --max-examples "${WAGW_SCHEMATHESIS_EXAMPLES:-25}" \
  --exclude-operation-id tenant_revoke_key \
  --generation-with-security-parameters false \
  --no-color \
  "$@" || status=$?
if grep -q "panicked" "$dir/gateway.err"; then
  echo "the gateway logged a panic:" >&2
  grep -A3 "panicked" "$dir/gateway.err" >&2
  status=1
fi
exit "$status"
