// Open-loop load: POST orders at a fixed arrival rate whatever the responses do, and time
// each request from the moment it was DUE (not when it was sent), so a stall shows up in
// the latency instead of quietly lowering the rate (no coordinated omission). wrk is
// closed-loop only, hence this small generator. Prints one JSON line.
//   node bench/openloop.mjs <base url> <targets file> <rate per s> <seconds> <run id>
// A refusal (503 from the API's admission control) is an answer, not an error: latencies are
// kept per status, and a 503's Retry-After header and problem code are counted.
import http from "node:http";
import { readFileSync } from "node:fs";

const [base, targetsFile, rateArg, secondsArg, run] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const total = Math.round(rate * seconds);
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
const byStatus = {};
const refusalCodes = {};
let refusalsWithoutRetryAfter = 0;
let errors = 0;
let finished = 0;

function record(status, latency) {
  latencies.push(latency);
  (byStatus[status] ??= []).push(latency);
}

function send(i, due) {
  const t = targets[i % targets.length];
  const req = http.request({
    host: url.hostname, port: url.port, path: t.path, method: "POST", agent,
    headers: { "Authorization": `Bearer ${t.token}`, "Content-Type": "application/json",
               "Content-Length": Buffer.byteLength(t.body), "Idempotency-Key": `${run}-open-${i}` },
  }, (res) => {
    const refused = res.statusCode === 503;
    if (refused && res.headers["retry-after"] === undefined) refusalsWithoutRetryAfter += 1;
    const chunks = [];
    if (refused) res.on("data", (chunk) => chunks.push(chunk)); else res.resume();
    res.on("end", () => {
      record(res.statusCode, performance.now() - due);
      if (refused) {
        let code = "(no problem code)";
        try { code = JSON.parse(Buffer.concat(chunks).toString()).code ?? code; } catch { /* not JSON */ }
        refusalCodes[code] = (refusalCodes[code] ?? 0) + 1;
      }
      finish();
    });
  });
  req.on("error", () => { errors += 1; finish(); });
  req.end(t.body);
}

function summary(values) {
  values.sort((x, y) => x - y);
  const at = (p) => values[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? null;
  return { count: values.length, p50_ms: at(50), p95_ms: at(95), p99_ms: at(99), max_ms: values.at(-1) ?? null };
}

function finish() {
  finished += 1;
  if (finished < total) return;
  const wall = (performance.now() - start) / 1000;
  const all = summary(latencies);
  const statuses = Object.fromEntries(Object.entries(byStatus).map(([s, v]) => [s, v.length]));
  const ok = Object.entries(byStatus).filter(([s]) => Number(s) >= 200 && Number(s) < 300).reduce((n, [, v]) => n + v.length, 0);
  console.log("OPENJSON " + JSON.stringify({
    rate, seconds, requests: total, wall_s: wall, achieved_per_s: total / wall, accepted: ok,
    accepted_per_s: ok / wall, statuses, errors,
    p50_ms: all.p50_ms, p95_ms: all.p95_ms, p99_ms: all.p99_ms, max_ms: all.max_ms,
    by_status: Object.fromEntries(Object.entries(byStatus).map(([s, v]) => [s, summary(v)])),
    refusal_codes: refusalCodes, refusals_without_retry_after: refusalsWithoutRetryAfter,
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
