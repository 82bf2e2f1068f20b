// Latency to the screen: N kitchen screens (the official ConvexClient from "convex/browser",
// each with its own Convex token from the API, as N devices would) subscribed to
// orders:liveByStatus of ONE restaurant, while orders arrive open-loop through the API.
// Per order: from the API's 201 (response received here) to the order being in EVERY
// screen's subscription result. One process, one clock (performance.now; wall-clock ms
// are performance.timeOrigin + performance.now(), comparable with the stand-in's Date.now()).
//
//   node bench/screens.mjs <config JSON file>
//   config: {base, convexUrl, rid, ownerToken, guests: [session tokens], items: [3 ids],
//            screens, rate, seconds, run, settleS}
//
// stdout: "SEEN <id> <id> ..." lines (orders now on every screen: bench/screens.py moves
// them off the board so it stays the size of a real kitchen's) and one "SCREENSJSON {...}".
import http from "node:http";
import { readFileSync } from "node:fs";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { WebSocket } from "ws";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { base, convexUrl, rid, ownerToken, guests, items, screens, rate, seconds, run } = config;
const settleMs = (config.settleS ?? 10) * 1000;
const total = Math.round(rate * seconds);
const url = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const liveByStatus = makeFunctionReference("orders:liveByStatus");
const wall = () => performance.timeOrigin + performance.now();

function post(path, token, body, headers = {}) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path, method: "POST", agent,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json",
                 "Content-Length": Buffer.byteLength(payload), ...headers },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

async function convexToken() {
  const r = await post(`/api/restaurants/${rid}/convex-token`, ownerToken, {});
  if (r.status !== 200) throw new Error(`convex-token: ${r.status} ${r.text}`);
  return JSON.parse(r.text).token;
}

// ------------------------------------------------------------------ the screens

const created = new Map(); // order id -> wall ms of its 201
const expected = new Set(); // ids answered 201 (filled as the answers come)
const arrived = []; // per screen: order id -> wall ms it was first in the result
const onAll = new Map(); // order id -> wall ms it was on the last screen
let pendingSeen = [];
const boardSizes = [];
const updates = Array(screens).fill(0);
const clients = [];
let ready = 0;

function onResult(screen, orders) {
  const now = wall();
  updates[screen] += 1;
  if (updates[screen] === 1) ready += 1;
  if (screen === 0) boardSizes.push(orders.length);
  const seen = arrived[screen];
  for (const order of orders) {
    const id = order.pgId;
    if (seen.has(id)) continue;
    seen.set(id, now);
    if (!created.has(id) && !expected.has(id)) continue; // not one of this window's
    if (arrived.every((m) => m.has(id))) {
      onAll.set(id, now);
      pendingSeen.push(id);
    }
  }
}

for (let s = 0; s < screens; s += 1) {
  arrived.push(new Map());
  const client = new ConvexClient(convexUrl, { logger: false, webSocketConstructor: WebSocket });
  client.setAuth(async () => convexToken());
  client.onUpdate(liveByStatus, {}, (orders) => onResult(s, orders), (err) => {
    process.stderr.write(`screen ${s}: ${err.message}\n`);
  });
  clients.push(client);
}
const flusher = setInterval(() => {
  if (pendingSeen.length) {
    process.stdout.write(`SEEN ${pendingSeen.join(" ")}\n`);
    pendingSeen = [];
  }
}, 100);

async function until(what, probe, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
await until("every screen's first result", () => ready === screens, 60_000);

// ------------------------------------------------------------------ open-loop orders

const apiLatency = [];
const statuses = {};
let errors = 0;
let answered = 0;
const body = JSON.stringify({ items: [
  { menu_item_id: items[0], quantity: 1 }, { menu_item_id: items[1], quantity: 2 },
  { menu_item_id: items[2], quantity: 1 }] });

function send(i, due) {
  const token = guests[i % guests.length];
  const req = http.request({
    host: url.hostname, port: url.port, path: `/api/restaurants/${rid}/orders`, method: "POST", agent,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json",
               "Content-Length": Buffer.byteLength(body), "Idempotency-Key": `${run}-screen-${i}` },
  }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => {
      const now = performance.now();
      answered += 1;
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      apiLatency.push(now - due);
      if (res.statusCode === 201) {
        const id = JSON.parse(Buffer.concat(chunks).toString()).id;
        created.set(id, performance.timeOrigin + now);
        expected.add(id);
        // Already on every screen before its 201 came back (possible: the push races the answer).
        if (arrived.every((m) => m.has(id))) {
          onAll.set(id, Math.max(...arrived.map((m) => m.get(id))));
          pendingSeen.push(id);
        }
      }
    });
  });
  req.on("error", () => { errors += 1; answered += 1; });
  req.end(body);
}

const start = performance.now();
const windowStartWall = wall();
let sent = 0;
await new Promise((done) => {
  function tick() {
    const now = performance.now();
    while (sent < total && start + (sent * 1000) / rate <= now) {
      send(sent, start + (sent * 1000) / rate);
      sent += 1;
    }
    if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
    else done();
  }
  tick();
});
await until("every answer", () => answered >= total, 120_000);
const sendWall = (performance.now() - start) / 1000;
try {
  await until("every order on every screen", () => [...expected].every((id) => onAll.has(id)), settleMs);
} catch { /* reported below as missing */ }

// ------------------------------------------------------------------ the figures

function summary(values) {
  const v = [...values].sort((x, y) => x - y);
  const at = (p) => (v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : null);
  const r = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);
  return { count: v.length, p50_ms: r(at(50)), p90_ms: r(at(90)), p99_ms: r(at(99)), max_ms: r(v.at(-1)) };
}

const toScreen = [];
const firstScreen = [];
const perOrder = {}; // id -> [201 wall ms, on every screen wall ms | null]
for (const id of expected) {
  const t201 = created.get(id);
  const all = onAll.get(id);
  perOrder[id] = [Math.round(t201 * 10) / 10, all === undefined ? null : Math.round(all * 10) / 10];
  if (all !== undefined) toScreen.push(all - t201);
  const firsts = arrived.map((m) => m.get(id)).filter((x) => x !== undefined);
  if (firsts.length) firstScreen.push(Math.min(...firsts) - t201);
}
const missing = [...expected].filter((id) => !onAll.has(id));
const missingPerScreen = arrived.map((m) => [...expected].filter((id) => !m.has(id)).length);
clearInterval(flusher);
if (pendingSeen.length) process.stdout.write(`SEEN ${pendingSeen.join(" ")}\n`);
console.log("SCREENSJSON " + JSON.stringify({
  screens, rate, seconds, requests: total, answered, statuses, errors, send_wall_s: sendWall,
  window_start_wall_ms: windowStartWall,
  api_201: summary(apiLatency),
  to_every_screen: summary(toScreen), to_first_screen: summary(firstScreen),
  never_on_every_screen: missing.length, never_per_screen: missingPerScreen,
  board: summary(boardSizes), updates_per_screen: summary(updates),
  per_order: perOrder,
}));
for (const c of clients) await c.close();
agent.destroy();
process.exit(0);
