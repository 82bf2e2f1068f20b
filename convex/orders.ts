/** Orders for kitchen and staff screens, always scoped to the caller's restaurant. */
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { query } from "./_generated/server";
import { requireStaff } from "./auth";
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

const orderView = v.object({ ...syncedFields, ...orderFields });

function toView({ _id, _creationTime, ...order }: Doc<"orders">) {
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
