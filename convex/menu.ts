/** The menu as the kitchen sees it: what is on, what is 86'd. */
import { v } from "convex/values";
import { query } from "./_generated/server";
import { requireStaff } from "./auth";
import { menuItemFields } from "./schema";

// Far above any real menu; keeps the query bounded if a sync bug floods the table.
const MAX_MENU_ITEMS = 2000;

const availabilityRow = v.object({
  pgId: v.string(),
  name: menuItemFields.name,
  isAvailable: menuItemFields.isAvailable,
  price: menuItemFields.price,
  categoryName: menuItemFields.categoryName,
});

export const availability = query({
  args: {},
  returns: v.array(availabilityRow),
  handler: async (ctx) => {
    const { restaurantId } = await requireStaff(ctx);
    const items = await ctx.db
      .query("menuItems")
      .withIndex("by_restaurantId", (q) => q.eq("restaurantId", restaurantId))
      .take(MAX_MENU_ITEMS);
    // Menu order: category, then the rank staff gave the item, then name as a tie-break.
    items.sort(
      (a, b) =>
        (a.categoryName ?? "").localeCompare(b.categoryName ?? "") ||
        a.rank - b.rank ||
        a.name.localeCompare(b.name),
    );
    return items.map(({ pgId, name, isAvailable, price, categoryName }) => ({
      pgId,
      name,
      isAvailable,
      price,
      categoryName,
    }));
  },
});
