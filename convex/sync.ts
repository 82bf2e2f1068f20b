/**
 * The only way data enters Convex: Postgres changes pushed by the Python outbox
 * (sync/) and by scripts/fullSync, over the HTTP API with the deployment's admin key.
 *
 * Delivery is at-least-once and may be out of order, so every change carries the
 * Postgres row version and is applied only if it is newer than anything Convex has
 * seen for that pgId, document or tombstone. Replays and late retries come back
 * `stale` and change nothing.
 */
import {
  paginationOptsValidator,
  paginationResultValidator,
} from "convex/server";
import {
  ConvexError,
  v,
  type Infer,
  type PropertyValidators,
} from "convex/values";
import type { Doc } from "./_generated/dataModel";
import {
  internalMutation,
  internalQuery,
  type DatabaseReader,
  type MutationCtx,
} from "./_generated/server";
import {
  menuItemFields,
  notificationFields,
  orderFields,
  reservationFields,
  syncedEntity,
  syncedFields,
  tableFields,
} from "./schema";

/** Also the largest prune; a Convex mutation must stay well inside its read/write limits. */
export const MAX_BATCH_CHANGES = 500;
const MAX_PAGE_SIZE = 1000;

type Entity = Infer<typeof syncedEntity>;

const op = v.union(v.literal("upsert"), v.literal("delete"));

function changeOf<E extends Entity, F extends PropertyValidators>(
  entity: E,
  fields: F,
) {
  // A delete needs no payload; an upsert without one is refused in the handler so the
  // error names the change instead of a validator path.
  return v.object({
    entity: v.literal(entity),
    op,
    ...syncedFields,
    doc: v.optional(v.object(fields)),
  });
}

const change = v.union(
  changeOf("orders", orderFields),
  changeOf("menuItems", menuItemFields),
  changeOf("tables", tableFields),
  changeOf("reservations", reservationFields),
  changeOf("notifications", notificationFields),
);
type Change = Infer<typeof change>;

const changeResult = v.object({
  entity: syncedEntity,
  pgId: v.string(),
  result: v.union(
    v.literal("applied"),
    v.literal("stale"),
    v.literal("deleted"),
  ),
});
type ChangeResult = Infer<typeof changeResult>["result"];

export const applyBatch = internalMutation({
  args: { changes: v.array(change) },
  returns: v.object({ results: v.array(changeResult) }),
  handler: async (ctx, { changes }) => {
    if (changes.length > MAX_BATCH_CHANGES) {
      throw new ConvexError({
        code: "batch_too_large",
        message: `applyBatch takes at most ${MAX_BATCH_CHANGES} changes, got ${changes.length}`,
      });
    }
    const results = [];
    // One at a time: a batch may carry several changes to one pgId, and each must see
    // the previous one's write for the version rule to hold.
    for (const c of changes) {
      results.push({
        entity: c.entity,
        pgId: c.pgId,
        result: await applyChange(ctx, c),
      });
    }
    return { results };
  },
});

async function applyChange(ctx: MutationCtx, c: Change): Promise<ChangeResult> {
  if (!Number.isSafeInteger(c.version) || c.version < 0) {
    throw new ConvexError({
      code: "invalid_version",
      message: `${c.entity} ${c.pgId}: version must be a non-negative integer, got ${c.version}`,
    });
  }
  if (c.op === "upsert" && c.doc === undefined) {
    throw new ConvexError({
      code: "missing_doc",
      message: `${c.entity} ${c.pgId}: an upsert needs a doc`,
    });
  }
  const stored = await findDocument(ctx.db, c.entity, c.pgId);
  const tombstone = await findTombstone(ctx.db, c.entity, c.pgId);
  for (const known of [stored, tombstone]) {
    if (known !== null && known.restaurantId !== c.restaurantId) {
      throw new ConvexError({
        code: "restaurant_mismatch",
        message: `${c.entity} ${c.pgId} belongs to restaurant ${known.restaurantId}, not ${c.restaurantId}`,
      });
    }
  }
  const newest = Math.max(stored?.version ?? -1, tombstone?.version ?? -1);
  if (c.version <= newest) {
    return "stale";
  }
  const key = {
    pgId: c.pgId,
    restaurantId: c.restaurantId,
    version: c.version,
  };
  if (c.op === "delete") {
    if (stored !== null) {
      await ctx.db.delete(stored._id);
    }
    await raiseTombstone(ctx, tombstone, { entity: c.entity, ...key });
    return "deleted";
  }
  const value = { ...c.doc!, ...key }; // present: checked on entry
  if (stored !== null) {
    await ctx.db.replace(stored._id, value);
  } else {
    // The three tables differ only in payload, which the args validator has already
    // matched to `entity`; TypeScript cannot follow that correlation through the union.
    await ctx.db.insert(c.entity, value as never);
  }
  // The document now carries a newer version than the tombstone, so it guards alone.
  if (tombstone !== null) {
    await ctx.db.delete("tombstones", tombstone._id);
  }
  return "applied";
}

async function raiseTombstone(
  ctx: MutationCtx,
  tombstone: Doc<"tombstones"> | null,
  value: Omit<Doc<"tombstones">, "_id" | "_creationTime">,
) {
  if (tombstone === null) {
    await ctx.db.insert("tombstones", value);
  } else {
    await ctx.db.patch("tombstones", tombstone._id, { version: value.version });
  }
}

function findDocument(db: DatabaseReader, entity: Entity, pgId: string) {
  // `unique` throws on a duplicate pgId: that would be a bug in this module, and
  // failing the batch is better than updating an arbitrary one of the two.
  return db
    .query(entity)
    .withIndex("by_pgId", (q) => q.eq("pgId", pgId))
    .unique();
}

function findTombstone(db: DatabaseReader, entity: Entity, pgId: string) {
  return db
    .query("tombstones")
    .withIndex("by_entity_and_pgId", (q) =>
      q.eq("entity", entity).eq("pgId", pgId),
    )
    .unique();
}

const pgIdEntry = v.object(syncedFields);

/**
 * Pages of every document's key and version, for fullSync to find documents that no
 * longer exist in Postgres. Tombstones are not listed: they are not documents.
 */
export const listPgIds = internalQuery({
  args: {
    entity: syncedEntity,
    restaurantId: v.optional(v.string()),
    paginationOpts: paginationOptsValidator,
  },
  returns: paginationResultValidator(pgIdEntry),
  handler: async (ctx, { entity, restaurantId, paginationOpts }) => {
    const opts = {
      ...paginationOpts,
      numItems: Math.min(paginationOpts.numItems, MAX_PAGE_SIZE),
    };
    const page = await byRestaurant(ctx.db, entity, restaurantId).paginate(
      opts,
    );
    return {
      ...page,
      page: page.page.map(({ pgId, restaurantId, version }) => ({
        pgId,
        restaurantId,
        version,
      })),
    };
  },
});

function byRestaurant(
  db: DatabaseReader,
  entity: Entity,
  restaurantId: string | undefined,
) {
  if (restaurantId === undefined) {
    return db.query(entity);
  }
  if (entity === "orders") {
    // The live-orders index starts with restaurantId, so it doubles as the scope here.
    return db
      .query("orders")
      .withIndex("by_restaurantId_and_status_and_createdAt", (q) =>
        q.eq("restaurantId", restaurantId),
      );
  }
  if (entity === "reservations") {
    return db
      .query("reservations")
      .withIndex("by_restaurantId_and_localDate_and_slotStart", (q) =>
        q.eq("restaurantId", restaurantId),
      );
  }
  if (entity === "notifications") {
    return db
      .query("notifications")
      .withIndex("by_restaurantId_and_sessionId_and_createdAt", (q) =>
        q.eq("restaurantId", restaurantId),
      );
  }
  return db
    .query(entity)
    .withIndex("by_restaurantId", (q) => q.eq("restaurantId", restaurantId));
}

const pruneResult = v.object({
  pgId: v.string(),
  result: v.union(
    v.literal("pruned"),
    v.literal("changed"),
    v.literal("absent"),
  ),
});

/**
 * Removes documents that fullSync found in Convex but not in Postgres. Each target names
 * the version fullSync saw in `listPgIds`; a document whose version moved since then was
 * written by a live push, so it exists in Postgres after all and is kept (`changed`).
 * A pruned document leaves a tombstone at that version, exactly like a synced delete.
 */
export const prune = internalMutation({
  args: {
    entity: syncedEntity,
    targets: v.array(v.object({ pgId: v.string(), version: v.number() })),
  },
  returns: v.object({ results: v.array(pruneResult) }),
  handler: async (ctx, { entity, targets }) => {
    if (targets.length > MAX_BATCH_CHANGES) {
      throw new ConvexError({
        code: "batch_too_large",
        message: `prune takes at most ${MAX_BATCH_CHANGES} targets, got ${targets.length}`,
      });
    }
    const results = [];
    for (const { pgId, version } of targets) {
      const stored = await findDocument(ctx.db, entity, pgId);
      if (stored === null) {
        results.push({ pgId, result: "absent" as const });
      } else if (stored.version !== version) {
        results.push({ pgId, result: "changed" as const });
      } else {
        await ctx.db.delete(stored._id);
        const tombstone = await findTombstone(ctx.db, entity, pgId);
        await raiseTombstone(ctx, tombstone, {
          entity,
          pgId,
          restaurantId: stored.restaurantId,
          version,
        });
        results.push({ pgId, result: "pruned" as const });
      }
    }
    return { results };
  },
});

const EPOCH_KEY = "epoch";

/**
 * The epoch of the last full rebuild from Postgres. fullSync writes a new one before it
 * pushes everything and records it in Postgres after; a worker that finds another epoch
 * here than Postgres records (none: the deployment was wiped or replaced; an older one:
 * restored from a backup) knows documents may be missing and rebuilds.
 */
export const epoch = internalQuery({
  args: {},
  returns: v.union(v.string(), v.null()),
  handler: async (ctx) => {
    const stored = await ctx.db
      .query("syncState")
      .withIndex("by_key", (q) => q.eq("key", EPOCH_KEY))
      .unique();
    return stored?.value ?? null;
  },
});

export const setEpoch = internalMutation({
  args: { epoch: v.string() },
  returns: v.null(),
  handler: async (ctx, { epoch }) => {
    if (epoch.length === 0 || epoch.length > 100) {
      throw new ConvexError({
        code: "invalid_epoch",
        message: "an epoch is 1 to 100 characters",
      });
    }
    const stored = await ctx.db
      .query("syncState")
      .withIndex("by_key", (q) => q.eq("key", EPOCH_KEY))
      .unique();
    if (stored === null) {
      await ctx.db.insert("syncState", { key: EPOCH_KEY, value: epoch });
    } else {
      await ctx.db.patch(stored._id, { value: epoch });
    }
    return null;
  },
});
