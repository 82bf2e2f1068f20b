/**
 * A guest session's or a customer's own notifications (order status moves, reservation
 * changes), newest first, with how many are unread. Postgres creates and settles them
 * (marking read and deleting go through the API); this is the live copy a phone subscribes to.
 */
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { query } from "./_generated/server";
import { requireRecipient } from "./auth";
import { notificationFields, syncedFields } from "./schema";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;
// The unread count reads at most this many of the newest: a badge shows "500+" beyond.
const MAX_COUNTED = 500;

const notificationView = v.object({ ...syncedFields, ...notificationFields });

function toView({ _id, _creationTime, ...notification }: Doc<"notifications">) {
  return notification;
}

export const mine = query({
  args: { limit: v.optional(v.number()) },
  returns: v.object({
    items: v.array(notificationView),
    unreadCount: v.number(),
  }),
  handler: async (ctx, { limit }) => {
    const recipient = await requireRecipient(ctx);
    // A number outside 1-200 is clamped; NaN (a valid Convex float64) is the default.
    const asked = Number.isNaN(limit) ? DEFAULT_LIMIT : (limit ?? DEFAULT_LIMIT);
    const wanted = Math.min(Math.max(Math.floor(asked), 1), MAX_LIMIT);
    const newest =
      recipient.kind === "guest"
        ? ctx.db
            .query("notifications")
            .withIndex("by_restaurantId_and_sessionId_and_createdAt", (q) =>
              q
                .eq("restaurantId", recipient.restaurantId)
                .eq("sessionId", recipient.sessionId),
            )
            .order("desc")
        : ctx.db
            .query("notifications")
            .withIndex("by_userId_and_createdAt", (q) =>
              q.eq("userId", recipient.userId),
            )
            .order("desc");
    const counted = await newest.take(Math.max(wanted, MAX_COUNTED));
    return {
      items: counted.slice(0, wanted).map(toView),
      unreadCount: counted.filter((n) => n.readAt === null).length,
    };
  },
});
