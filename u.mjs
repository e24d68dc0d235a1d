import { Pool } from "/work/wt/peers/bench/peers/node/node_modules/undici/index.js";
const pool = new Pool("http://127.0.0.1:18779", { connections: 256, pipelining: 1 });
const body = Buffer.alloc(1000, 120);
let t0 = performance.now();
const ps = [];
for (let i = 0; i < 5000; i++) { ps.push(pool.request({ path: "/hook/u", method: "POST", body, headers: {"content-type":"application/json"} }).then(r => r.body.dump())); if (ps.length % 256 == 0) await Promise.all(ps.splice(0)); }
await Promise.all(ps);
console.log(5000 / ((performance.now() - t0)/1000));
await pool.close();
