/** A restaurant's book of reservations for staff screens, scoped to the caller's restaurant. */
import { ConvexError, v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { query } from "./_generated/server";
import { requireStaff } from "./auth";
import { reservationFields, syncedFields } from "./schema";

// A day's book is a few hundred reservations at most; the cap bounds the query's reads.
const MAX_DAY = 1000;
const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;

const reservationView = v.object({ ...syncedFields, ...reservationFields });

function toView({ _id, _creationTime, ...reservation }: Doc<"reservations">) {
  return reservation;
}

/** The calendar date (YYYY-MM-DD) at `now` in an IANA time zone. */
export function localDateIn(timezone: string, now: number): string {
  // en-CA formats a date as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(new Date(now));
}

/**
 * The restaurant's reservations of one local date, by slot: `localDate` when given, else
 * today in the restaurant's time zone (each reservation carries it; a restaurant without
 * any reservation has an empty book).
 */
export const today = query({
  args: { localDate: v.optional(v.string()) },
  returns: v.object({
    localDate: v.union(v.string(), v.null()),
    items: v.array(reservationView),
  }),
  handler: async (ctx, { localDate }) => {
    const { restaurantId } = await requireStaff(ctx);
    if (localDate !== undefined && !LOCAL_DATE.test(localDate)) {
      throw new ConvexError({
        code: "invalid_date",
        message: "localDate is YYYY-MM-DD",
      });
    }
    let day = localDate ?? null;
    if (day === null) {
      const any = await ctx.db
        .query("reservations")
        .withIndex("by_restaurantId_and_localDate_and_slotStart", (q) =>
          q.eq("restaurantId", restaurantId),
        )
        .order("desc")
        .first();
      if (any === null) {
        return { localDate: null, items: [] };
      }
      day = localDateIn(any.timezone, Date.now());
    }
    const book = await ctx.db
      .query("reservations")
      .withIndex("by_restaurantId_and_localDate_and_slotStart", (q) =>
        q.eq("restaurantId", restaurantId).eq("localDate", day),
      )
      .take(MAX_DAY);
    return { localDate: day, items: book.map(toView) };
  },
});
