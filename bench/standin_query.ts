/**
 * The stand-in's subscription cost alone (bench/README.md, "latency to the screen"): a
 * convex-test backend as scripts/convex_standin.ts builds it (with the equality-index shim),
 * `live` live orders plus `history` cancelled ones of one restaurant (and as many of another),
 * then orders:liveByStatus run `runs` times as a staff screen, and one sync:applyBatch of one
 * order. Prints JSON: ms per run.
 *
 *   npx tsx bench/standin_query.ts [live=50] [history=3000] [runs=50]
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import schema from "../convex/schema";
import { installEqualityIndex } from "../scripts/convex_standin_index";

const [live = 50, history = 3000, runs = 50] = process.argv.slice(2).map(Number);
// The function modules as the stand-in loads them (a file with one dot; `_generated` marks the root).
const dir = fileURLToPath(new URL("../convex/", import.meta.url));
const modules: Record<string, () => Promise<Record<string, unknown>>> = {};
for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/^[^.]+\.(ts|js)$/.test(entry.name)) continue;
  const absolute = path.join(entry.parentPath, entry.name);
  modules[`./convex/${path.relative(dir, absolute).split(path.sep).join("/")}`] = () =>
    import(pathToFileURL(absolute).href);
}
const backend = convexTest({ schema, modules, transactionLimits: true });
await installEqualityIndex(backend);
const apply = makeFunctionReference<"mutation">("sync:applyBatch");
const liveByStatus = makeFunctionReference<"query">("orders:liveByStatus");
const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";

let n = 0;
function order(restaurantId: string, status: string) {
  n += 1;
  const doc = {
    number: n, tableId: null, tableLabel: "T1", status, orderType: "dine_in",
    items: [{ pgId: `i${n}`, menuItemId: "m1", name: "Paneer Tikka", unitPrice: 25000, quantity: 1,
              lineTotal: 25000, addons: [], notes: null }],
    subtotal: 25000, tax: 1250, tip: 0, discount: 0, total: 26250, currency: "INR",
    customerName: null, notes: null, createdAt: n, updatedAt: n,
  };
  return { entity: "orders", op: "upsert", pgId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
           restaurantId, version: 1, doc };
}

async function load(restaurantId: string, count: number, status: string) {
  for (let i = 0; i < count; i += 200) {
    const changes = Array.from({ length: Math.min(200, count - i) }, () => order(restaurantId, status));
    await backend.mutation(apply, { changes } as never);
  }
}
await load(A, history, "cancelled");
await load(B, history + live, "pending");
await load(A, live, "pending");
const staff = backend.withIdentity({ subject: "u1", restaurant_id: A, role: "kitchen" });
const got = (await staff.query(liveByStatus, {})) as unknown[];
if (got.length !== live) throw new Error(`expected ${live} live orders, got ${got.length}`);
let started = performance.now();
for (let i = 0; i < runs; i += 1) await staff.query(liveByStatus, {});
const queryMs = (performance.now() - started) / runs;
started = performance.now();
for (let i = 0; i < runs; i += 1) await backend.mutation(apply, { changes: [order(A, "pending")] } as never);
const applyMs = (performance.now() - started) / runs;
console.log(JSON.stringify({ live, history, runs, liveByStatus_ms: +queryMs.toFixed(2),
                             applyBatch_one_order_ms: +applyMs.toFixed(2) }));
