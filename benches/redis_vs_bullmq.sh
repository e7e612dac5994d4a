#!/usr/bin/env bash
# The Redis queue side by side with BullMQ 5 on the same Redis in the same run.
#
#   bash benches/redis_vs_bullmq.sh            # a private redis-server on a spare port
#
# Installs bullmq with npm into a temporary folder (node 20 and npm needed), starts a private
# redis-server without persistence (never touches the shared one), runs
# `cargo run --release -p wagw-benches --bin redis_queue` and `benches/bullmq/bench.mjs`
# against it, prints both sets of figures, then removes the server and the folder.
# WAGW_BENCH_JOBS (default 100000) sets the jobs per throughput run; WAGW_BENCH_ONLY=throughput
# skips the memory and rate precision figures of our side.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${WAGW_BENCH_REDIS_PORT:-6391}"
tmp="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
cleanup() {
  if [ -f "$tmp/redis.pid" ]; then kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "== redis $(redis-server --version | awk '{print $3}'), node $(node --version), $(nproc) cores"
(cd "$tmp" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund bullmq@5 >/dev/null)
echo "== bullmq $(node -p "require('$tmp/node_modules/bullmq/package.json').version")"

cargo build --release -q -p wagw-benches --bin redis_queue
echo "== wagw-queue-redis"
./target/release/redis_queue "redis://127.0.0.1:$port"
echo "== bullmq"
cp benches/bullmq/bench.mjs "$tmp/bench.mjs"
(cd "$tmp" && node bench.mjs "127.0.0.1:$port")
