/**
 * The Convex data model: a denormalised, read-only copy of the Postgres rows that live
 * screens need. Postgres is the source of truth; every document is keyed by its Postgres
 * id (`pgId`) and carries the Postgres `version` that `sync:applyBatch` compares against.
 */
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

const nullableString = v.union(v.string(), v.null());

/** Fields every synced document carries; applyBatch owns them, never the entity payload. */
export const syncedFields = {
  pgId: v.string(),
  restaurantId: v.string(),
  version: v.number(),
};

export const orderStatus = v.union(
  v.literal("pending"),
  v.literal("confirmed"),
  v.literal("preparing"),
  v.literal("ready"),
  v.literal("served"),
  v.literal("completed"),
  v.literal("dispatched"),
  v.literal("delivered"),
  v.literal("cancelled"),
  v.literal("rejected"),
);

export const orderType = v.union(
  v.literal("dine_in"),
  v.literal("takeaway"),
  v.literal("delivery"),
);

/** An addon chosen on an order line; its price is already in the line's unitPrice. */
export const orderItemAddon = v.object({
  pgId: v.string(),
  name: v.string(),
  groupName: nullableString,
  price: v.number(),
});

// variationName and addons are optional: documents synced before order lines had options
// carry neither.
export const orderItem = v.object({
  pgId: v.string(),
  menuItemId: v.string(),
  name: v.string(),
  unitPrice: v.number(),
  quantity: v.number(),
  lineTotal: v.number(),
  notes: nullableString,
  variationName: v.optional(nullableString),
  addons: v.optional(v.array(orderItemAddon)),
});

// Money is integer minor units; JSON from Python carries them as numbers, hence v.number().
export const orderFields = {
  number: v.number(),
  tableId: nullableString,
  tableLabel: nullableString,
  status: orderStatus,
  orderType: orderType,
  items: v.array(orderItem),
  subtotal: v.number(),
  tax: v.number(),
  tip: v.number(),
  discount: v.number(),
  total: v.number(),
  currency: v.string(),
  customerName: nullableString,
  notes: nullableString,
  createdAt: v.number(),
  updatedAt: v.number(),
  // Optional: documents synced before they existed carry neither. sessionId is the guest
  // session that placed the order (orders:forGuestSession reads by it; staff views drop it);
  // statusReason the reason of the latest status move (null: none given).
  sessionId: v.optional(nullableString),
  statusReason: v.optional(nullableString),
  // A takeaway's pickup time (ms since the epoch; null: as soon as ready) and the payment
  // status (unpaid, pending, paid, failed, refunded): what the pass needs to hand it over.
  pickupAt: v.optional(v.union(v.number(), v.null())),
  paymentStatus: v.optional(v.string()),
  // A delivery order's address (the geocoder's formatted one; null for other orders) and its
  // delivery fee (0 without one).
  deliveryAddress: v.optional(nullableString),
  deliveryFee: v.optional(v.number()),
};

export const reservationStatus = v.union(
  v.literal("pending"),
  v.literal("confirmed"),
  v.literal("seated"),
  v.literal("completed"),
  v.literal("cancelled"),
  v.literal("no_show"),
);

// slotStart is epoch ms; localDate (YYYY-MM-DD) is the slot's date in the restaurant's
// timezone, which each document carries so that reservations:today can work out "today".
export const reservationFields = {
  slotStart: v.number(),
  localDate: v.string(),
  timezone: v.string(),
  partySize: v.number(),
  status: reservationStatus,
  userId: nullableString,
  guestName: v.string(),
  guestPhone: nullableString,
  tablePreference: nullableString,
  note: nullableString,
  createdAt: v.number(),
  updatedAt: v.number(),
};

// Exactly one of userId (a customer's account) and sessionId (a guest session) is set.
export const notificationFields = {
  userId: nullableString,
  sessionId: nullableString,
  type: v.union(v.literal("order_status"), v.literal("reservation")),
  title: v.string(),
  message: v.string(),
  referenceType: v.union(v.literal("order"), v.literal("reservation")),
  referenceId: v.string(),
  status: v.string(),
  readAt: v.union(v.number(), v.null()),
  createdAt: v.number(),
};

export const menuItemFields = {
  categoryId: v.string(),
  categoryName: nullableString,
  name: v.string(),
  description: nullableString,
  price: v.number(),
  isAvailable: v.boolean(),
  rank: v.number(),
};

export const tableFields = {
  label: v.string(),
  seats: v.union(v.number(), v.null()),
  isActive: v.boolean(),
};

export const syncedEntity = v.union(
  v.literal("orders"),
  v.literal("menuItems"),
  v.literal("tables"),
  v.literal("reservations"),
  v.literal("notifications"),
);

export default defineSchema({
  // createdAt ends the index so one status reads back oldest first without sorting.
  orders: defineTable({ ...syncedFields, ...orderFields })
    .index("by_pgId", ["pgId"])
    .index("by_restaurantId_and_status_and_createdAt", [
      "restaurantId",
      "status",
      "createdAt",
    ])
    .index("by_restaurantId_and_sessionId_and_createdAt", [
      "restaurantId",
      "sessionId",
      "createdAt",
    ]),
  menuItems: defineTable({ ...syncedFields, ...menuItemFields })
    .index("by_pgId", ["pgId"])
    .index("by_restaurantId", ["restaurantId"]),
  tables: defineTable({ ...syncedFields, ...tableFields })
    .index("by_pgId", ["pgId"])
    .index("by_restaurantId", ["restaurantId"]),
  reservations: defineTable({ ...syncedFields, ...reservationFields })
    .index("by_pgId", ["pgId"])
    .index("by_restaurantId_and_localDate_and_slotStart", [
      "restaurantId",
      "localDate",
      "slotStart",
    ]),
  notifications: defineTable({ ...syncedFields, ...notificationFields })
    .index("by_pgId", ["pgId"])
    .index("by_restaurantId_and_sessionId_and_createdAt", [
      "restaurantId",
      "sessionId",
      "createdAt",
    ])
    .index("by_userId_and_createdAt", ["userId", "createdAt"]),
  // A deleted document leaves its last version here so that a late, older upsert is
  // recognised as stale instead of resurrecting the row. A pgId has a document or a
  // tombstone, never both.
  tombstones: defineTable({ entity: syncedEntity, ...syncedFields }).index(
    "by_entity_and_pgId",
    ["entity", "pgId"],
  ),
  // Bookkeeping of the sync itself, one document per key. "epoch": the epoch of the last
  // full rebuild (sync:setEpoch); a deployment that lost its data no longer has it.
  syncState: defineTable({ key: v.string(), value: v.string() }).index(
    "by_key",
    ["key"],
  ),
});
