// @vitest-environment node
/**
 * The stand-in's equality index (scripts/convex_standin_index.ts) must change only how
 * fast convex-test answers, never what: index lookups through it agree with full table
 * scans after inserts, key changes, deletes, writes inside the open transaction, and a
 * transaction that rolls back.
 */
import { convexTest } from "convex-test";
import { expect, test } from "vitest";
import { equalityIndexStats, installEqualityIndex } from "../scripts/convex_standin_index";
import type { MutationCtx } from "./_generated/server";
import schema from "./schema";
import { modules } from "./test.setup";

// The `tables` documents stand in for any table: `restaurantId` is the indexed key that
// writes change, `pgId` the unique one.
const KEYS = ["a", "b", "c", "d"];

type Ctx = MutationCtx;

async function mismatches(ctx: Ctx): Promise<string[]> {
  const problems: string[] = [];
  const ids = (docs: { _id: string }[]) => JSON.stringify(docs.map((d) => d._id).sort());
  const all = await ctx.db.query("tables").collect();
  for (const key of [...KEYS, "absent"]) {
    const indexed = await ctx.db.query("tables").withIndex("by_restaurantId", (q) => q.eq("restaurantId", key)).collect();
    if (ids(indexed) !== ids(all.filter((d) => d.restaurantId === key))) problems.push(`by_restaurantId ${key}`);
  }
  for (const doc of all) {
    const byPgId = await ctx.db.query("tables").withIndex("by_pgId", (q) => q.eq("pgId", doc.pgId)).collect();
    if (ids(byPgId) !== ids([doc])) problems.push(`by_pgId ${doc.pgId}`);
  }
  return problems;
}

function table(pgId: string, restaurantId: string) {
  return { pgId, restaurantId, version: 1, label: pgId, seats: null, isActive: true };
}

test("index lookups through the shim agree with table scans through every kind of write", async () => {
  const t = convexTest(schema, modules);
  await installEqualityIndex(t);
  let serial = 0;
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)] as T;

  for (let round = 0; round < 30; round++) {
    await t.run(async (ctx) => {
      const docs = await ctx.db.query("tables").collect();
      for (let i = 0; i < 5; i++) {
        const roll = random();
        if (roll < 0.5 || docs.length === 0) {
          await ctx.db.insert("tables", table(`t${serial++}`, pick(KEYS)));
        } else if (roll < 0.8) {
          const target = pick(docs);
          if ((await ctx.db.get(target._id)) !== null) await ctx.db.patch(target._id, { restaurantId: pick(KEYS) });
        } else {
          const doomed = pick(docs);
          if ((await ctx.db.get(doomed._id)) !== null) await ctx.db.delete(doomed._id);
        }
      }
      await ctx.db.insert("menuItems", {
        pgId: `m${serial++}`, restaurantId: pick(KEYS), version: 1, categoryId: "c", categoryName: null,
        name: "x", description: null, price: 1, isAvailable: true, rank: 0,
      });
      // Inside the transaction: its own uncommitted writes are seen.
      expect(await mismatches(ctx)).toEqual([]);
    });
    await t.run(async (ctx) => {
      expect(await mismatches(ctx)).toEqual([]);
    });
  }

  const before = await t.run(async (ctx) => (await ctx.db.query("tables").collect()).length);
  await expect(
    t.run(async (ctx) => {
      const [first] = await ctx.db.query("tables").collect();
      if (first) await ctx.db.patch(first._id, { restaurantId: "absent" });
      await ctx.db.insert("tables", table("rolled-back", "a"));
      throw new Error("roll back");
    }),
  ).rejects.toThrow("roll back");
  await t.run(async (ctx) => {
    expect((await ctx.db.query("tables").collect()).length).toBe(before);
    expect(await mismatches(ctx)).toEqual([]);
  });
});

test("a lookup through the shim visits only the matching documents, not the whole database", async () => {
  const t = convexTest(schema, modules);
  await installEqualityIndex(t);
  await t.run(async (ctx) => {
    for (let i = 0; i < 200; i++) await ctx.db.insert("tables", table(`t${i}`, `r${i % 100}`));
  });
  const before = equalityIndexStats.lookups;
  const found = await t.run(async (ctx) =>
    (await ctx.db.query("tables").withIndex("by_restaurantId", (q) => q.eq("restaurantId", "r42")).collect())
      .map((d) => d.pgId),
  );
  expect(found.sort()).toEqual(["t142", "t42"]);
  expect(equalityIndexStats.lookups).toBe(before + 1);
  expect(equalityIndexStats.lastVisited).toBe(2);
});

function order(pgId: string, restaurantId: string, status: "pending" | "cancelled", createdAt: number) {
  return {
    pgId, restaurantId, version: 1, number: createdAt, tableId: null, tableLabel: null, status,
    orderType: "dine_in" as const, items: [], subtotal: 0, tax: 0, tip: 0, discount: 0, total: 0, currency: "INR",
    customerName: null, notes: null, createdAt, updatedAt: createdAt,
  };
}

test("several equalities are indexed together: a restaurant's pending orders skip its cancelled ones", async () => {
  const t = convexTest(schema, modules);
  await installEqualityIndex(t);
  const pending = (ctx: Ctx, r: string) =>
    ctx.db.query("orders")
      .withIndex("by_restaurantId_and_status_and_createdAt", (q) => q.eq("restaurantId", r).eq("status", "pending"))
      .collect();
  await t.run(async (ctx) => {
    for (let i = 0; i < 300; i++) {
      await ctx.db.insert("orders", order(`o${i}`, `r${i % 2}`, i % 10 === 0 ? "pending" : "cancelled", 1000 - i));
    }
  });
  // Moves, in a transaction and after it: each lookup still agrees with a scan, oldest first.
  await t.run(async (ctx) => {
    const [first] = await pending(ctx, "r0");
    await ctx.db.patch(first!._id, { status: "cancelled" });
    const late = (await ctx.db.query("orders").collect()).find((d) => d.pgId === "o3")!;
    await ctx.db.patch(late._id, { status: "pending" });
    for (const r of ["r0", "r1"]) {
      const all = (await ctx.db.query("orders").collect())
        .filter((d) => d.restaurantId === r && d.status === "pending")
        .sort((a, b) => a.createdAt - b.createdAt);
      expect((await pending(ctx, r)).map((d) => d.pgId)).toEqual(all.map((d) => d.pgId));
    }
  });
  const found = await t.run(async (ctx) => (await pending(ctx, "r0")).map((d) => d.pgId));
  expect(found).toHaveLength(29); // 30 pending of r0, one moved
  expect(equalityIndexStats.lastVisited).toBe(29); // not its 150 orders
});
