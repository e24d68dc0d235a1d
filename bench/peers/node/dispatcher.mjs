// A webhook dispatcher in Node.js, the way a small service would write one:
// kafkajs consumer + undici Pool, Standard Webhooks HMAC signing
// (node:crypto), retries of 5xx/429 and network errors with capped
// exponential backoff and jitter, at most --concurrency POSTs in flight.
// No status store; an offset is committed once every record before it is
// delivered or given up (at least once).
//
//   node bench/peers/node/dispatcher.mjs --bootstrap HOST:PORT --topic T \
//       --url URL --secret whsec_... --count N [--concurrency 256]
//       [--group G] [--max-seconds 120] [--ca FILE]
//
// --ca: the PEM CA that an https:// partner's certificate is verified with
// (verification stays on). HTTP/1.1 only: undici 6.29's experimental
// allowH2 was tried against nginx's HTTP/2 (bench/h2/run.sh) and, with more
// than one request per connection, its streams ended in NGHTTP2_INTERNAL_ERROR
// and an assertion (`!this.completed`, Request.onHeaders) ended the process.
//
// Timing starts at the first record consumed and ends when the N-th record
// has been delivered (2xx) or given up. Prints one JSON line:
// {"deliveries","failed","retries","seconds","rate"}; exits 0 only if all N
// were delivered before --max-seconds, 1 otherwise (then the line says how far it got).
//
// The consumer joins a group (JoinGroup/SyncGroup, offsets from the start):
// librdkafka's mock cluster (tools/mock_kafka) answers kafkajs's group
// protocol, ApiVersions included. eachBatch runs for every partition at once
// and returns as soon as its records are started (the in-flight limit is
// shared by all partitions), so kafkajs fetches the next round while the
// last deliveries of this one run: a batch that waited for its deliveries
// left the pipe empty for 100-200 ms at every fetch round (measured). The
// fetch position is kafkajs's (resolved offsets); commits are ours, of what
// is done, once a second and at the end.
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Kafka, logLevel } from "kafkajs";
import { Pool } from "undici";

function parseArgs(argv) {
  const a = { concurrency: 256, maxSeconds: 120, group: `node-peer-${randomUUID()}` };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    switch (k) {
      case "--bootstrap": a.bootstrap = v; i++; break;
      case "--topic": a.topic = v; i++; break;
      case "--url": a.url = new URL(v); i++; break;
      case "--secret": a.secret = v; i++; break;
      case "--count": a.count = Number(v); i++; break;
      case "--concurrency": a.concurrency = Number(v); i++; break;
      case "--group": a.group = v; i++; break;
      case "--max-seconds": a.maxSeconds = Number(v); i++; break;
      case "--ca": a.ca = readFileSync(v); i++; break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  for (const k of ["bootstrap", "topic", "url", "secret", "count"])
    if (a[k] === undefined) throw new Error(`--${k} is required`);
  return a;
}

const args = parseArgs(process.argv);
const key = Buffer.from(args.secret.replace(/^whsec_/, ""), "base64");

function sign(id, ts, body) {
  const mac = createHmac("sha256", key).update(`${id}.${ts}.`).update(body).digest("base64");
  return `v1,${mac}`;
}

// A counting semaphore: the in-flight limit shared by every partition's batch.
class Gate {
  constructor(n) { this.free = n; this.waiters = []; }
  acquire() {
    if (this.free > 0) { this.free--; return Promise.resolve(); }
    return new Promise((r) => this.waiters.push(r));
  }
  release() {
    const w = this.waiters.shift();
    if (w) w(); else this.free++;
  }
}

const pool = new Pool(args.url.origin, {
  connections: args.concurrency, pipelining: 1, keepAliveTimeout: 30_000,
  ...(args.ca ? { connect: { ca: args.ca } } : {}),
});
const gate = new Gate(args.concurrency);
const path = args.url.pathname + args.url.search;
const MAX_ATTEMPTS = 8;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const backoff = (attempt) => Math.random() * Math.min(5000, 100 * 2 ** attempt); // full jitter

let delivered = 0, failed = 0, retries = 0, t0 = 0, t1 = 0;
let finish;
const finished = new Promise((r) => { finish = r; });

function settle(ok) {
  if (ok) delivered++; else failed++;
  if (delivered + failed === args.count) { t1 = performance.now(); finish(); }
}

async function deliver(msg) {
  const id = msg.key ? msg.key.toString() : randomUUID();
  const body = msg.value;
  for (let attempt = 0; ; attempt++) {
    const ts = Math.floor(Date.now() / 1000);
    let status = 0;
    try {
      const res = await pool.request({
        path, method: "POST", body,
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(ts),
          "webhook-signature": sign(id, ts, body),
        },
      });
      status = res.statusCode;
      await res.body.dump();
    } catch {
      status = 0; // a network error: retried
    }
    if (status >= 200 && status < 300) return true;
    const retryable = status === 0 || status === 429 || status >= 500;
    if (!retryable || attempt + 1 >= MAX_ATTEMPTS) return false;
    retries++;
    await sleep(backoff(attempt));
  }
}

const kafka = new Kafka({
  clientId: "node-peer",
  brokers: args.bootstrap.split(","),
  logLevel: logLevel.ERROR,
  retry: { retries: 10 },
});
const consumer = kafka.consumer({ groupId: args.group, maxBytesPerPartition: 1 << 20, maxWaitTimeInMs: 100 });

// Per partition, the offsets started and not yet done, in order: the
// committable offset is the first one not done.
const parts = new Map(); // partition -> { pending: [{offset, done}], commit: string|null }
function track(partition, offset) {
  let p = parts.get(partition);
  if (!p) parts.set(partition, (p = { pending: [], commit: null, committed: null }));
  const e = { offset, done: false };
  p.pending.push(e);
  return () => {
    e.done = true;
    while (p.pending.length && p.pending[0].done) p.commit = String(BigInt(p.pending.shift().offset) + 1n);
  };
}
async function commitDone() {
  const offsets = [];
  for (const [partition, p] of parts)
    if (p.commit !== null && p.commit !== p.committed) {
      offsets.push({ topic: args.topic, partition, offset: p.commit });
      p.committed = p.commit;
    }
  if (offsets.length) await consumer.commitOffsets(offsets);
}

let taken = 0; // records handed to deliver(); beyond --count they are left alone
async function eachBatch({ batch, heartbeat, isRunning, isStale }) {
  if (!t0 && batch.messages.length) t0 = performance.now();
  for (const msg of batch.messages) {
    if (!isRunning() || isStale() || taken >= args.count) break;
    taken++;
    await gate.acquire();
    const done = track(batch.partition, msg.offset);
    deliver(msg).then((ok) => { gate.release(); done(); settle(ok); });
  }
  await heartbeat();
}
const committer = setInterval(() => { commitDone().catch(() => {}); }, 1000);
committer.unref();

const deadline = setTimeout(() => { report(1, "deadline"); }, args.maxSeconds * 1000);
deadline.unref();

let reported = false;
function report(code, why) {
  if (reported) return;
  reported = true;
  const end = t1 || performance.now();
  const secs = t0 ? (end - t0) / 1000 : 0;
  const out = { deliveries: delivered, failed, retries, seconds: +secs.toFixed(3),
    rate: secs > 0 ? +(delivered / secs).toFixed(1) : 0 };
  if (why) out.error = why;
  process.stdout.write(JSON.stringify(out) + "\n");
  // Leave the group, bounded: a broker that does not answer must not hold the exit.
  Promise.race([commitDone().catch(() => {}).then(() => consumer.disconnect()).catch(() => {}), sleep(3000)])
    .then(() => pool.close().catch(() => {}))
    .finally(() => process.exit(code));
}

try {
  await consumer.connect();
  await consumer.subscribe({ topic: args.topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: 64,
    autoCommit: false,
    eachBatchAutoResolve: true,
    eachBatch,
  });
  await finished;
  report(delivered === args.count ? 0 : 1, delivered === args.count ? undefined : "some deliveries failed");
} catch (e) {
  process.stderr.write(`node peer: ${e.stack || e}\n`);
  report(1, String(e.message || e));
}
