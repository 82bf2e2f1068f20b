import { describe, expect, test } from "vitest";
import { internal } from "./_generated/api";
import {
  type Backend,
  RESTAURANT_A,
  RESTAURANT_B,
  expectConvexError,
  menuItemDoc,
  newBackend,
  orderDoc,
  tableDoc,
  uuid,
} from "./test.fixtures";

function upsertOrder(
  pgId: string,
  version: number,
  overrides = {},
  restaurantId = RESTAURANT_A,
) {
  return {
    entity: "orders" as const,
    op: "upsert" as const,
    pgId,
    restaurantId,
    version,
    doc: orderDoc(overrides),
  };
}

function deleteOf(
  entity: "orders" | "menuItems" | "tables",
  pgId: string,
  version: number,
) {
  return {
    entity,
    op: "delete" as const,
    pgId,
    restaurantId: RESTAURANT_A,
    version,
  };
}

async function apply(t: Backend, changes: unknown[]) {
  // The args validator is what checks shapes at run time, so tests may hand it anything.
  const { results } = await t.mutation(internal.sync.applyBatch, {
    changes: changes as never,
  });
  return results.map((r) => r.result);
}

function storedOrder(t: Backend, pgId: string) {
  return t.run((ctx) =>
    ctx.db
      .query("orders")
      .withIndex("by_pgId", (q) => q.eq("pgId", pgId))
      .unique(),
  );
}

function tombstones(t: Backend) {
  return t.run((ctx) => ctx.db.query("tombstones").collect());
}

describe("versioning", () => {
  test("an upsert of an unknown pgId is applied and stored with its version and restaurant", async () => {
    const t = newBackend();
    const id = uuid();
    expect(
      await apply(t, [upsertOrder(id, 1, { status: "confirmed" })]),
    ).toEqual(["applied"]);
    expect(await storedOrder(t, id)).toMatchObject({
      pgId: id,
      restaurantId: RESTAURANT_A,
      version: 1,
      status: "confirmed",
    });
  });

  test("a newer upsert replaces the stored document", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 1)]);
    expect(
      await apply(t, [upsertOrder(id, 2, { status: "preparing" })]),
    ).toEqual(["applied"]);
    expect(await storedOrder(t, id)).toMatchObject({
      version: 2,
      status: "preparing",
    });
  });

  test("an upsert with the same version as the stored document is stale and changes nothing", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 3, { status: "ready" })]);
    expect(await apply(t, [upsertOrder(id, 3, { status: "served" })])).toEqual([
      "stale",
    ]);
    expect(await storedOrder(t, id)).toMatchObject({
      version: 3,
      status: "ready",
    });
  });

  test("replaying a whole applied batch returns stale for every change and changes nothing", async () => {
    const t = newBackend();
    const batch = [
      upsertOrder(uuid(), 1),
      {
        entity: "menuItems",
        op: "upsert",
        pgId: uuid(),
        restaurantId: RESTAURANT_A,
        version: 1,
        doc: menuItemDoc(),
      },
      deleteOf("tables", uuid(), 2),
    ];
    expect(await apply(t, batch)).toEqual(["applied", "applied", "deleted"]);
    const before = await t.run(async (ctx) => ({
      orders: await ctx.db.query("orders").collect(),
      menuItems: await ctx.db.query("menuItems").collect(),
      tombstones: await ctx.db.query("tombstones").collect(),
    }));
    expect(await apply(t, batch)).toEqual(["stale", "stale", "stale"]);
    const after = await t.run(async (ctx) => ({
      orders: await ctx.db.query("orders").collect(),
      menuItems: await ctx.db.query("menuItems").collect(),
      tombstones: await ctx.db.query("tombstones").collect(),
    }));
    expect(after).toEqual(before);
  });

  test("an older upsert arriving after a newer one is stale and keeps the newer state", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 5, { status: "ready" })]);
    expect(
      await apply(t, [upsertOrder(id, 4, { status: "preparing" })]),
    ).toEqual(["stale"]);
    expect(await storedOrder(t, id)).toMatchObject({
      version: 5,
      status: "ready",
    });
  });

  test("a delete newer than the document removes it and leaves a tombstone at the delete's version", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 1)]);
    expect(await apply(t, [deleteOf("orders", id, 2)])).toEqual(["deleted"]);
    expect(await storedOrder(t, id)).toBeNull();
    expect(await tombstones(t)).toMatchObject([
      { entity: "orders", pgId: id, restaurantId: RESTAURANT_A, version: 2 },
    ]);
  });

  test("a late upsert older than a delete stays deleted", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 1), deleteOf("orders", id, 3)]);
    expect(await apply(t, [upsertOrder(id, 2)])).toEqual(["stale"]);
    expect(await apply(t, [upsertOrder(id, 3)])).toEqual(["stale"]);
    expect(await storedOrder(t, id)).toBeNull();
  });

  test("a delete of an unknown pgId records a tombstone that makes older upserts stale", async () => {
    const t = newBackend();
    const id = uuid();
    expect(await apply(t, [deleteOf("orders", id, 7)])).toEqual(["deleted"]);
    expect(await tombstones(t)).toMatchObject([
      { entity: "orders", pgId: id, version: 7 },
    ]);
    expect(await apply(t, [upsertOrder(id, 6)])).toEqual(["stale"]);
    expect(await storedOrder(t, id)).toBeNull();
  });

  test("an upsert newer than the tombstone re-creates the document and drops the tombstone", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 1), deleteOf("orders", id, 2)]);
    expect(
      await apply(t, [upsertOrder(id, 3, { status: "confirmed" })]),
    ).toEqual(["applied"]);
    expect(await storedOrder(t, id)).toMatchObject({
      version: 3,
      status: "confirmed",
    });
    expect(await tombstones(t)).toEqual([]);
  });

  test("a delete not newer than the stored document is stale and keeps it", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 4)]);
    expect(await apply(t, [deleteOf("orders", id, 4)])).toEqual(["stale"]);
    expect(await apply(t, [deleteOf("orders", id, 3)])).toEqual(["stale"]);
    expect(await storedOrder(t, id)).toMatchObject({ version: 4 });
    expect(await tombstones(t)).toEqual([]);
  });

  test("a newer delete raises the existing tombstone and a replayed delete is stale", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [deleteOf("tables", id, 2)]);
    expect(await apply(t, [deleteOf("tables", id, 5)])).toEqual(["deleted"]);
    expect(await apply(t, [deleteOf("tables", id, 5)])).toEqual(["stale"]);
    expect(await tombstones(t)).toMatchObject([
      { entity: "tables", pgId: id, version: 5 },
    ]);
  });

  test("changes to one pgId within a batch apply in input order, each seeing the one before", async () => {
    const t = newBackend();
    const id = uuid();
    const results = await apply(t, [
      upsertOrder(id, 2, { status: "confirmed" }),
      upsertOrder(id, 1, { status: "pending" }),
      upsertOrder(id, 3, { status: "preparing" }),
      upsertOrder(id, 3, { status: "ready" }),
    ]);
    expect(results).toEqual(["applied", "stale", "applied", "stale"]);
    expect(await storedOrder(t, id)).toMatchObject({
      version: 3,
      status: "preparing",
    });
  });

  test("results name each change's entity and pgId in input order", async () => {
    const t = newBackend();
    const [a, b, c] = [uuid(), uuid(), uuid()];
    const { results } = await t.mutation(internal.sync.applyBatch, {
      changes: [
        {
          entity: "tables",
          op: "upsert",
          pgId: a,
          restaurantId: RESTAURANT_A,
          version: 1,
          doc: tableDoc(),
        },
        upsertOrder(b, 1),
        {
          entity: "menuItems",
          op: "delete",
          pgId: c,
          restaurantId: RESTAURANT_A,
          version: 1,
        },
      ],
    });
    expect(results).toEqual([
      { entity: "tables", pgId: a, result: "applied" },
      { entity: "orders", pgId: b, result: "applied" },
      { entity: "menuItems", pgId: c, result: "deleted" },
    ]);
  });

  test("the same pgId under two entities is two independent documents", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [deleteOf("menuItems", id, 9)]);
    expect(await apply(t, [upsertOrder(id, 1)])).toEqual(["applied"]);
  });
});

describe("batch limits", () => {
  test("a batch of 501 changes is refused with batch_too_large and writes nothing", async () => {
    const t = newBackend();
    const changes = Array.from({ length: 501 }, () =>
      deleteOf("tables", uuid(), 1),
    );
    await expectConvexError(apply(t, changes), "batch_too_large");
    expect(await tombstones(t)).toEqual([]);
  });

  test("a batch of 500 upserts is applied in full", async () => {
    const t = newBackend();
    const changes = Array.from({ length: 500 }, () => upsertOrder(uuid(), 1));
    const results = await apply(t, changes);
    expect(results).toHaveLength(500);
    expect(new Set(results)).toEqual(new Set(["applied"]));
  });
});

describe("validation", () => {
  test("an upsert without a doc fails the whole batch with missing_doc", async () => {
    const t = newBackend();
    const good = upsertOrder(uuid(), 1);
    const { doc: _, ...withoutDoc } = upsertOrder(uuid(), 1);
    await expectConvexError(apply(t, [good, withoutDoc]), "missing_doc");
    expect(await storedOrder(t, good.pgId)).toBeNull();
  });

  test("an upsert whose restaurant differs from the stored document's fails with restaurant_mismatch", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 1)]);
    await expectConvexError(
      apply(t, [upsertOrder(id, 2, {}, RESTAURANT_B)]),
      "restaurant_mismatch",
    );
    expect(await storedOrder(t, id)).toMatchObject({
      restaurantId: RESTAURANT_A,
      version: 1,
    });
  });

  test("an upsert whose restaurant differs from the tombstone's fails with restaurant_mismatch", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [deleteOf("orders", id, 1)]);
    await expectConvexError(
      apply(t, [upsertOrder(id, 2, {}, RESTAURANT_B)]),
      "restaurant_mismatch",
    );
  });

  test("a version that is not a non-negative integer fails with invalid_version", async () => {
    const t = newBackend();
    await expectConvexError(
      apply(t, [upsertOrder(uuid(), 1.5)]),
      "invalid_version",
    );
    await expectConvexError(
      apply(t, [upsertOrder(uuid(), -1)]),
      "invalid_version",
    );
  });

  test("an unknown entity is refused by the args validator", async () => {
    const t = newBackend();
    await expect(
      apply(t, [{ ...deleteOf("orders", uuid(), 1), entity: "customers" }]),
    ).rejects.toThrow(/Validator error/);
  });

  test("a doc that does not match its entity's fields is refused by the args validator", async () => {
    const t = newBackend();
    const change = { ...upsertOrder(uuid(), 1), entity: "menuItems" };
    await expect(apply(t, [change])).rejects.toThrow(/Validator error/);
  });

  test("an unknown op is refused by the args validator", async () => {
    const t = newBackend();
    await expect(
      apply(t, [{ ...upsertOrder(uuid(), 1), op: "merge" }]),
    ).rejects.toThrow(/Validator error/);
  });
});

describe("recovery helpers", () => {
  async function listAll(
    t: Backend,
    entity: "orders" | "menuItems" | "tables",
    restaurantId?: string,
  ) {
    const seen = [];
    let cursor: string | null = null;
    for (;;) {
      const page: {
        page: { pgId: string }[];
        isDone: boolean;
        continueCursor: string;
      } = await t.query(internal.sync.listPgIds, {
        entity,
        restaurantId,
        paginationOpts: { numItems: 2, cursor },
      });
      seen.push(...page.page);
      if (page.isDone) return seen;
      cursor = page.continueCursor;
    }
  }

  test("listPgIds pages through every document of an entity with its version and restaurant", async () => {
    const t = newBackend();
    const ids = [uuid(), uuid(), uuid(), uuid(), uuid()];
    await apply(
      t,
      ids.map((id, i) =>
        upsertOrder(id, i + 1, {}, i % 2 ? RESTAURANT_B : RESTAURANT_A),
      ),
    );
    await apply(t, [deleteOf("orders", uuid(), 1)]);
    const listed = await listAll(t, "orders");
    expect(listed).toHaveLength(5);
    expect(listed).toContainEqual({
      pgId: ids[1],
      restaurantId: RESTAURANT_B,
      version: 2,
    });
    expect(new Set(listed.map((e) => e.pgId))).toEqual(new Set(ids));
  });

  test("listPgIds scoped to a restaurant lists only that restaurant's documents", async () => {
    const t = newBackend();
    const mine = {
      entity: "tables",
      op: "upsert",
      pgId: uuid(),
      restaurantId: RESTAURANT_A,
      version: 1,
      doc: tableDoc(),
    };
    const theirs = { ...mine, pgId: uuid(), restaurantId: RESTAURANT_B };
    await apply(t, [mine, theirs]);
    expect(await listAll(t, "tables", RESTAURANT_A)).toEqual([
      { pgId: mine.pgId, restaurantId: RESTAURANT_A, version: 1 },
    ]);
    expect(await listAll(t, "menuItems", RESTAURANT_A)).toEqual([]);
  });

  test("prune removes a document still at the listed version and tombstones it against late upserts", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 4)]);
    const { results } = await t.mutation(internal.sync.prune, {
      entity: "orders",
      targets: [{ pgId: id, version: 4 }],
    });
    expect(results).toEqual([{ pgId: id, result: "pruned" }]);
    expect(await storedOrder(t, id)).toBeNull();
    expect(await apply(t, [upsertOrder(id, 4)])).toEqual(["stale"]);
  });

  test("prune keeps a document whose version moved since it was listed", async () => {
    const t = newBackend();
    const id = uuid();
    await apply(t, [upsertOrder(id, 4), upsertOrder(id, 5)]);
    const { results } = await t.mutation(internal.sync.prune, {
      entity: "orders",
      targets: [{ pgId: id, version: 4 }],
    });
    expect(results).toEqual([{ pgId: id, result: "changed" }]);
    expect(await storedOrder(t, id)).toMatchObject({ version: 5 });
  });

  test("prune of a pgId Convex does not hold reports absent and writes nothing", async () => {
    const t = newBackend();
    const id = uuid();
    const { results } = await t.mutation(internal.sync.prune, {
      entity: "tables",
      targets: [{ pgId: id, version: 1 }],
    });
    expect(results).toEqual([{ pgId: id, result: "absent" }]);
    expect(await tombstones(t)).toEqual([]);
  });

  test("prune of more than 500 targets is refused with batch_too_large", async () => {
    const t = newBackend();
    const targets = Array.from({ length: 501 }, () => ({
      pgId: uuid(),
      version: 1,
    }));
    await expectConvexError(
      t.mutation(internal.sync.prune, { entity: "tables", targets }),
      "batch_too_large",
    );
  });
});

describe("epoch", () => {
  test("a fresh deployment has no epoch, and the epoch set last is the one read", async () => {
    const t = newBackend();
    expect(await t.query(internal.sync.epoch, {})).toBeNull();
    await t.mutation(internal.sync.setEpoch, { epoch: "first" });
    await t.mutation(internal.sync.setEpoch, { epoch: "second" });
    expect(await t.query(internal.sync.epoch, {})).toBe("second");
    const stored = await t.run((ctx) => ctx.db.query("syncState").collect());
    expect(stored.map((d) => [d.key, d.value])).toEqual([["epoch", "second"]]);
  });

  test("an empty or overlong epoch is refused with invalid_epoch and stores nothing", async () => {
    const t = newBackend();
    for (const epoch of ["", "x".repeat(101)]) {
      await expectConvexError(
        t.mutation(internal.sync.setEpoch, { epoch }),
        "invalid_epoch",
      );
    }
    expect(await t.query(internal.sync.epoch, {})).toBeNull();
  });
});
