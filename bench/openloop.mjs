// Open-loop load: POST orders at a fixed arrival rate whatever the responses do, and time
// each request from the moment it was DUE (not when it was sent), so a stall shows up in
// the latency instead of quietly lowering the rate (no coordinated omission). wrk is
// closed-loop only, hence this small generator. Prints one JSON line.
//   node bench/openloop.mjs <base url> <targets file> <rate per s> <seconds> <run id>
import http from "node:http";
import { readFileSync } from "node:fs";

const [base, targetsFile, rateArg, secondsArg, run] = process.argv.slice(2);
const rate = Number(rateArg);
const total = Math.round(rate * Number(secondsArg));
const url = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const targets = readFileSync(targetsFile, "utf8").trim().split("\n").map((line) => {
  const [rid, token, a, b, c] = line.split(" ");
  return {
    path: `/api/restaurants/${rid}/orders`,
    token,
    body: JSON.stringify({ items: [
      { menu_item_id: a, quantity: 1 }, { menu_item_id: b, quantity: 2 }, { menu_item_id: c, quantity: 1 }] }),
  };
});

const latencies = [];
const statuses = {};
let errors = 0;
let finished = 0;

function send(i, due) {
  const t = targets[i % targets.length];
  const req = http.request({
    host: url.hostname, port: url.port, path: t.path, method: "POST", agent,
    headers: { "Authorization": `Bearer ${t.token}`, "Content-Type": "application/json",
               "Content-Length": Buffer.byteLength(t.body), "Idempotency-Key": `${run}-open-${i}` },
  }, (res) => {
    res.resume();
    res.on("end", () => {
      latencies.push(performance.now() - due);
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      finish();
    });
  });
  req.on("error", () => { errors += 1; finish(); });
  req.end(t.body);
}

function finish() {
  finished += 1;
  if (finished < total) return;
  latencies.sort((x, y) => x - y);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? null;
  const wall = (performance.now() - start) / 1000;
  console.log("OPENJSON " + JSON.stringify({
    rate, requests: total, achieved_per_s: total / wall, statuses, errors,
    p50_ms: at(50), p95_ms: at(95), p99_ms: at(99), max_ms: latencies.at(-1) ?? null,
  }));
  agent.destroy();
}

const start = performance.now();
let sent = 0;
function tick() {
  // Sends everything that is due by now, then sleeps until the next one is.
  const now = performance.now();
  while (sent < total && start + (sent * 1000) / rate <= now) {
    send(sent, start + (sent * 1000) / rate);
    sent += 1;
  }
  if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
}
tick();
