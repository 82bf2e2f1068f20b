/**
 * Who may read the staff screens. The identity is a JWT issued by the Tabletop API
 * (see auth.config.ts); its custom claims `restaurant_id` and `role` arrive as top-level
 * fields of the identity, both in Convex and in convex-test's `withIdentity`.
 */
import { ConvexError } from "convex/values";
import type { QueryCtx } from "./_generated/server";

// `guest` (table-side QR sessions) and platform `admin` are deliberately absent:
// kitchen and staff screens show every table's orders.
const STAFF_ROLES = ["owner", "manager", "staff", "kitchen"] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

export type Staff = { restaurantId: string; role: StaffRole };

function isStaffRole(role: unknown): role is StaffRole {
  return (
    typeof role === "string" &&
    (STAFF_ROLES as readonly string[]).includes(role)
  );
}

export async function requireStaff(ctx: QueryCtx): Promise<Staff> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    throw new ConvexError({
      code: "unauthenticated",
      message: "Sign in with a Tabletop token",
    });
  }
  const { role, restaurant_id: restaurantId } = identity;
  if (!isStaffRole(role)) {
    throw new ConvexError({
      code: "forbidden",
      message: "This screen is for restaurant staff",
    });
  }
  // A staff token without a restaurant cannot be scoped, so it sees nothing rather than everything.
  if (typeof restaurantId !== "string" || restaurantId === "") {
    throw new ConvexError({
      code: "forbidden",
      message: "The token names no restaurant",
    });
  }
  return { restaurantId, role };
}
