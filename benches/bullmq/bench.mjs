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

// Seconds of CPU the Redis server has used (INFO cpu: user + system, every thread).
async function redisCpu(q) {
  const info = await (await q.client).info('cpu');
  let sum = 0;
  for (const line of info.split('\n')) {
    const m = line.match(/^used_cpu_(user|sys):([\d.]+)/);
    if (m) sum += Number(m[2]);
  }
  return sum;
}

async function addAll(q, n, groups, chunk = 1000) {
  for (let start = 0; start < n; start += chunk) {
    const batch = [];
    for (let i = start; i < Math.min(n, start + chunk); i++) {
      batch.push({ name: `g${i % groups}`, data: payload, opts: { jobId: `m${i}` } });
    }
    await q.addBulk(batch);
  }
}

async function benchAdd(chunk) {
  const rates = [];
  let cpu = 0;
  let client = 0;
  for (let run = 0; run < 3; run++) {
    const q = await freshQueue(`bench-add-${run}`);
    const c0 = await redisCpu(q);
    const u0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await addAll(q, N, 100, chunk);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(N / secs);
    const u = process.cpuUsage(u0);
    client += (u.user + u.system) / 1e6;
    cpu += (await redisCpu(q)) - c0;
    await q.obliterate({ force: true });
    await q.close();
  }
  return [median(rates), (cpu * 1e6) / (3 * N), (client * 1e6) / (3 * N)];
}

async function benchWorker(concurrency) {
  const name = `bench-worker-${concurrency}`;
  const q = await freshQueue(name);
  await addAll(q, N, 100);
  let done = 0;
  let resolve;
  const finished = new Promise((r) => { resolve = r; });
  const c0 = await redisCpu(q);
  const u0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = new Worker(name, async () => {}, { connection, concurrency });
  worker.on('completed', () => { done += 1; if (done === N) resolve(); });
  await finished;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = process.cpuUsage(u0);
  const cpu = (await redisCpu(q)) - c0;
  await worker.close();
  await q.obliterate({ force: true });
  await q.close();
  return [N / secs, (cpu * 1e6) / N, (u.user + u.system) / N];
}

let bestAdd = 0;
for (const chunk of [1000, 5000]) {
  const [add, cpu, client] = await benchAdd(chunk);
  bestAdd = Math.max(bestAdd, add);
  console.log(`bullmq addBulk: ${add.toFixed(0)} jobs/s (${N} jobs, ${chunk} per call, median of 3), Redis CPU ${cpu.toFixed(1)} µs/job, client CPU ${client.toFixed(1)} µs/job`);
}
console.log(`bullmq addBulk best: ${bestAdd.toFixed(0)} jobs/s`);
let best = 0;
for (const c of [10, 50, 200]) {
  const [rate, cpu, client] = await benchWorker(c);
  best = Math.max(best, rate);
  console.log(`bullmq worker: ${rate.toFixed(0)} jobs/s (concurrency ${c}), Redis CPU ${cpu.toFixed(1)} µs/job, client CPU ${client.toFixed(1)} µs/job`);
}
console.log(`bullmq worker best: ${best.toFixed(0)} jobs/s`);
process.exit(0);
