// BullMQ 5 side of benches/redis_vs_bullmq.sh: addBulk and Worker throughput with no-op jobs
// on the Redis given as the first argument (host:port), printed one figure per line.
import { Queue, Worker } from 'bullmq';

const [host, port] = (process.argv[2] || '127.0.0.1:6379').split(':');
const connection = { host, port: Number(port) };
const N = Number(process.env.WAGW_BENCH_JOBS || 100000);
const payload = { tenant: '0'.repeat(32), message: '1'.repeat(32) };

const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function freshQueue(name) {
  const q = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true } });
  await q.obliterate({ force: true });
  return q;
}

async function addAll(q, n, groups) {
  for (let start = 0; start < n; start += 1000) {
    const batch = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      batch.push({ name: `g${i % groups}`, data: payload, opts: { jobId: `m${i}` } });
    }
    await q.addBulk(batch);
  }
}

async function benchAdd() {
  const rates = [];
  for (let run = 0; run < 3; run++) {
    const q = await freshQueue(`bench-add-${run}`);
    const t0 = process.hrtime.bigint();
    await addAll(q, N, 100);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(N / secs);
    await q.obliterate({ force: true });
    await q.close();
  }
  return median(rates);
}

async function benchWorker(concurrency) {
  const name = `bench-worker-${concurrency}`;
  const q = await freshQueue(name);
  await addAll(q, N, 100);
  let done = 0;
  let resolve;
  const finished = new Promise((r) => { resolve = r; });
  const t0 = process.hrtime.bigint();
  const worker = new Worker(name, async () => {}, { connection, concurrency });
  worker.on('completed', () => { done += 1; if (done === N) resolve(); });
  await finished;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await worker.close();
  await q.obliterate({ force: true });
  await q.close();
  return N / secs;
}

const add = await benchAdd();
console.log(`bullmq addBulk: ${add.toFixed(0)} jobs/s (${N} jobs, 1,000 per call, median of 3)`);
let best = 0;
for (const c of [10, 50, 200]) {
  const rate = await benchWorker(c);
  best = Math.max(best, rate);
  console.log(`bullmq worker: ${rate.toFixed(0)} jobs/s (concurrency ${c})`);
}
console.log(`bullmq worker best: ${best.toFixed(0)} jobs/s`);
process.exit(0);
