// Latency to the screen: N kitchen screens (the official ConvexClient from "convex/browser",
// each with its own Convex token from the API, as N devices would) subscribed to
// orders:liveByStatus of ONE restaurant, while orders arrive open-loop through the API.
// Per order: from the API's 201 (response received by the generator) to the order being in
// EVERY screen's subscription result.
//
// One process, threads of their own: the open-loop generator in one worker thread, the
// screens spread over up to SCREEN_THREADS worker threads (20 clients parsing a board each
// per commit would otherwise stall one event loop, and with it the generator's clock and
// sends), this thread joining what they report. Times are wall-clock ms
// (performance.timeOrigin + performance.now(), comparable across threads and with the
// stand-in's Date.now()).
//
//   node bench/screens.mjs <config JSON file>
//   config: {base, convexUrl, rid, ownerToken, guests: [session tokens], items: [3 ids],
//            screens, rate, seconds, run, settleS}
//
// stdout: "SEEN <id> <id> ..." lines (orders now on every screen: bench/screens.py moves
// them off the board so it stays the size of a real kitchen's) and one "SCREENSJSON {...}".
import http from "node:http";
import { readFileSync } from "node:fs";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { WebSocket } from "ws";

const SCREEN_THREADS = 4;
const wall = () => performance.timeOrigin + performance.now();

function summary(values) {
  const v = [...values].sort((x, y) => x - y);
  const at = (p) => (v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : null);
  const r = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);
  return { count: v.length, p50_ms: r(at(50)), p90_ms: r(at(90)), p99_ms: r(at(99)), max_ms: r(v.at(-1)) };
}

function httpClient(base) {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const post = (path, token, payload, headers = {}) => new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path, method: "POST", agent,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json",
                 "Content-Length": Buffer.byteLength(payload), ...headers },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString(), at: wall() }));
    });
    req.on("error", reject);
    req.end(payload);
  });
  return { post, agent };
}

// ------------------------------------------------------------------ a screens thread

async function screensThread({ config, first, count }) {
  const { post } = httpClient(config.base);
  const liveByStatus = makeFunctionReference("orders:liveByStatus");
  const convexToken = async () => {
    const r = await post(`/api/restaurants/${config.rid}/convex-token`, config.ownerToken, "{}");
    if (r.status !== 200) throw new Error(`convex-token: ${r.status} ${r.text}`);
    return JSON.parse(r.text).token;
  };
  const clients = [];
  for (let s = first; s < first + count; s += 1) {
    const seen = new Set();
    const client = new ConvexClient(config.convexUrl, { logger: false, webSocketConstructor: WebSocket });
    client.setAuth(convexToken);
    client.onUpdate(liveByStatus, {}, (orders) => {
      const at = wall();
      const fresh = [];
      for (const order of orders) if (!seen.has(order.pgId)) { seen.add(order.pgId); fresh.push(order.pgId); }
      parentPort.postMessage({ type: "result", screen: s, at, fresh, board: orders.length });
    }, (err) => process.stderr.write(`screen ${s}: ${err.message}\n`));
    clients.push(client);
  }
  parentPort.on("message", async (m) => {
    if (m !== "close") return;
    for (const c of clients) await c.close();
    parentPort.postMessage({ type: "closed" });
  });
}

// ------------------------------------------------------------------ the generator thread

async function generatorThread({ config }) {
  const { base, rid, guests, items, rate, seconds, run } = config;
  const { post, agent } = httpClient(base);
  const total = Math.round(rate * seconds);
  const body = JSON.stringify({ items: [
    { menu_item_id: items[0], quantity: 1 }, { menu_item_id: items[1], quantity: 2 },
    { menu_item_id: items[2], quantity: 1 }] });
  const apiLatency = [];
  const statuses = {};
  let errors = 0;
  let answered = 0;
  const start = performance.now();
  const send = (i) => {
    const due = start + (i * 1000) / rate;
    post(`/api/restaurants/${rid}/orders`, guests[i % guests.length], body, { "Idempotency-Key": `${run}-screen-${i}` })
      .then((r) => {
        apiLatency.push(r.at - performance.timeOrigin - due);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status === 201) parentPort.postMessage({ type: "created", id: JSON.parse(r.text).id, at: r.at });
      }, () => { errors += 1; })
      .finally(() => { answered += 1; if (answered === total) finish(); });
  };
  const finish = () => {
    parentPort.postMessage({ type: "done", answered, statuses, errors, send_wall_s: (performance.now() - start) / 1000,
                             api_201: summary(apiLatency) });
    agent.destroy();
  };
  let sent = 0;
  const tick = () => {
    const now = performance.now();
    while (sent < total && start + (sent * 1000) / rate <= now) send(sent++);
    if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
  };
  tick();
}

// ------------------------------------------------------------------ the coordinating thread

async function main() {
  const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const { screens, rate, seconds } = config;
  const settleMs = (config.settleS ?? 10) * 1000;
  const self = new URL(import.meta.url);
  const created = new Map(); // order id -> wall ms of its 201
  const arrived = Array.from({ length: screens }, () => new Map()); // per screen: id -> wall ms first seen
  const onAll = new Map(); // id -> wall ms it was on the last screen
  const boardSizes = [];
  const updates = Array(screens).fill(0);
  let pendingSeen = [];
  let ready = 0;
  let generated = null;

  const checkAll = (id) => {
    if (onAll.has(id) || !created.has(id)) return;
    let last = 0;
    for (const m of arrived) {
      const t = m.get(id);
      if (t === undefined) return;
      if (t > last) last = t;
    }
    onAll.set(id, last);
    pendingSeen.push(id);
  };
  const onMessage = (m) => {
    if (m.type === "result") {
      updates[m.screen] += 1;
      if (updates[m.screen] === 1) ready += 1;
      if (m.screen === 0) boardSizes.push(m.board);
      for (const id of m.fresh) { arrived[m.screen].set(id, m.at); checkAll(id); }
    } else if (m.type === "created") {
      created.set(m.id, m.at);
      checkAll(m.id); // on every screen before its 201 came back: the push raced the answer
    } else if (m.type === "done") {
      generated = m;
    }
  };
  const threads = Math.min(SCREEN_THREADS, screens);
  const screenWorkers = [];
  for (let t = 0; t < threads; t += 1) {
    const first = Math.floor((t * screens) / threads);
    const count = Math.floor(((t + 1) * screens) / threads) - first;
    const w = new Worker(self, { workerData: { role: "screens", config, first, count } });
    w.on("message", onMessage);
    w.on("error", (err) => { process.stderr.write(`screens thread: ${err.stack}\n`); process.exit(1); });
    screenWorkers.push(w);
  }
  const until = async (what, probe, timeoutMs) => {
    const deadline = performance.now() + timeoutMs;
    while (!probe()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const flusher = setInterval(() => {
    if (pendingSeen.length) { process.stdout.write(`SEEN ${pendingSeen.join(" ")}\n`); pendingSeen = []; }
  }, 100);
  await until("every screen's first result", () => ready === screens, 60_000);

  const windowStartWall = wall();
  const generator = new Worker(self, { workerData: { role: "generator", config } });
  generator.on("message", onMessage);
  generator.on("error", (err) => { process.stderr.write(`generator thread: ${err.stack}\n`); process.exit(1); });
  await until("every answer", () => generated !== null, seconds * 1000 + 120_000);
  try {
    await until("every order on every screen", () => [...created.keys()].every((id) => onAll.has(id)), settleMs);
  } catch { /* reported below as missing */ }

  const toScreen = [];
  const firstScreen = [];
  const perOrder = {}; // id -> [201 wall ms, on every screen wall ms | null]
  for (const [id, t201] of created) {
    const all = onAll.get(id);
    perOrder[id] = [Math.round(t201 * 10) / 10, all === undefined ? null : Math.round(all * 10) / 10];
    if (all !== undefined) toScreen.push(all - t201);
    const firsts = arrived.map((m) => m.get(id)).filter((x) => x !== undefined);
    if (firsts.length) firstScreen.push(Math.min(...firsts) - t201);
  }
  const missing = [...created.keys()].filter((id) => !onAll.has(id));
  clearInterval(flusher);
  if (pendingSeen.length) process.stdout.write(`SEEN ${pendingSeen.join(" ")}\n`);
  console.log("SCREENSJSON " + JSON.stringify({
    screens, rate, seconds, requests: Math.round(rate * seconds), ...generated, screen_threads: threads,
    window_start_wall_ms: windowStartWall,
    to_every_screen: summary(toScreen), to_first_screen: summary(firstScreen),
    never_on_every_screen: missing.length,
    never_per_screen: arrived.map((m) => [...created.keys()].filter((id) => !m.has(id)).length),
    board: summary(boardSizes), updates_per_screen: summary(updates),
    per_order: perOrder,
  }));
  let closed = 0;
  for (const w of screenWorkers) { w.on("message", (m) => { if (m.type === "closed") closed += 1; }); w.postMessage("close"); }
  await until("the screens closing", () => closed === threads, 10_000).catch(() => {});
  process.exit(0);
}

if (isMainThread) await main();
else if (workerData.role === "screens") await screensThread(workerData);
else await generatorThread(workerData);
