/**
 * Orders for kitchen and staff screens, always scoped to the caller's restaurant, and a
 * table-side guest's own orders (forGuestSession), scoped to the session its token names.
 */
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { query } from "./_generated/server";
import { requireGuest, requireStaff } from "./auth";
import { orderFields, orderStatus, syncedFields } from "./schema";

// Statuses a kitchen still acts on; completed, delivered, cancelled and rejected are history.
const LIVE_STATUSES = [
  "pending",
  "confirmed",
  "preparing",
  "ready",
  "served",
  "dispatched",
] as const;
// A screen shows a page of work, not the archive; the cap also bounds the query's reads.
const MAX_LIVE_ORDERS = 500;

// A guest session lives hours and orders a few times; the cap bounds the query's reads.
const MAX_SESSION_ORDERS = 100;

// The guest session an order came from is the tracker's key, never shown (as in the API).
const { sessionId: _sessionId, ...shownOrderFields } = orderFields;
const orderView = v.object({ ...syncedFields, ...shownOrderFields });

function toView({ _id, _creationTime, sessionId, ...order }: Doc<"orders">) {
  return order;
}

export const liveByStatus = query({
  args: { status: v.optional(orderStatus) },
  returns: v.array(orderView),
  handler: async (ctx, { status }) => {
    const { restaurantId } = await requireStaff(ctx);
    const statuses = status === undefined ? LIVE_STATUSES : [status];
    const perStatus = await Promise.all(
      statuses.map((s) =>
        ctx.db
          .query("orders")
          .withIndex("by_restaurantId_and_status_and_createdAt", (q) =>
            q.eq("restaurantId", restaurantId).eq("status", s),
          )
          .take(MAX_LIVE_ORDERS),
      ),
    );
    // Each list is already oldest first; merging keeps the oldest MAX_LIVE_ORDERS overall.
    return perStatus
      .flat()
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, MAX_LIVE_ORDERS)
      .map(toView);
  },
});

export const get = query({
  args: { pgId: v.string() },
  returns: v.union(orderView, v.null()),
  handler: async (ctx, { pgId }) => {
    const { restaurantId } = await requireStaff(ctx);
    const order = await ctx.db
      .query("orders")
      .withIndex("by_pgId", (q) => q.eq("pgId", pgId))
      .unique();
    // Another restaurant's order looks exactly like a missing one, so ids do not leak.
    if (order === null || order.restaurantId !== restaurantId) {
      return null;
    }
    return toView(order);
  },
});

/**
 * The orders of the guest session the caller's token names, newest first, with their
 * status and the latest status reason: what the table-side tracker subscribes to. Only a
 * guest token may call it, and it reads nothing but that session's orders.
 */
export const forGuestSession = query({
  args: {},
  returns: v.array(orderView),
  handler: async (ctx) => {
    const { restaurantId, sessionId } = await requireGuest(ctx);
    const orders = await ctx.db
      .query("orders")
      .withIndex("by_restaurantId_and_sessionId_and_createdAt", (q) =>
        q.eq("restaurantId", restaurantId).eq("sessionId", sessionId),
      )
      .order("desc")
      .take(MAX_SESSION_ORDERS);
    return orders.map(toView);
  },
});
