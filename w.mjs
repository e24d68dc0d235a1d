import { Pool } from "/work/wt/peers/bench/peers/node/node_modules/undici/index.js";
const C = +process.argv[2];
const pool = new Pool("http://127.0.0.1:18781", { connections: C, pipelining: 1 });
const body = Buffer.alloc(1000, 120);
async function worker(n) { for (let i = 0; i < n; i++) { const r = await pool.request({ path: "/hook/u", method: "POST", body, headers: {"content-type":"application/json"} }); await r.body.dump(); } }
for (const N of [5120, 20480, 20480, 20480]) {
let t0 = performance.now();
await Promise.all(Array.from({length: C}, () => worker(N / C)));
console.log(C, N, "req/s", N / ((performance.now() - t0)/1000));
}
await pool.close();
