import { Pool } from "/work/wt/peers/bench/peers/node/node_modules/undici/index.js";
const pool = new Pool("http://127.0.0.1:18780", { connections: 1, pipelining: 1 });
const body = Buffer.alloc(1000, 120);
for (const b of [body, body.toString()]) {
let t0 = performance.now();
for (let i = 0; i < 200; i++) { const r = await pool.request({ path: "/hook/u", method: "POST", body: b, headers: {"content-type":"application/json"} }); await r.body.dump(); }
console.log(typeof b, "ms/req", (performance.now() - t0)/200);
}
await pool.close();
