/**
 * Who may read the staff screens. The identity is a JWT issued by the Tabletop API
 * (see auth.config.ts); its custom claims `restaurant_id` and `role` arrive as top-level
 * fields of the identity, both in Convex and in convex-test's `withIdentity`.
 */
import { ConvexError } from "convex/values";
import type { QueryCtx } from "./_generated/server";

// `guest` (table-side QR sessions), `customer` and platform `admin` are deliberately
// absent: kitchen and staff screens show every table's orders. Guests and customers read
// their own orders and notifications through requireRecipient below.
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

/** A table-side guest: the restaurant and the one guest session its token names. */
export type Guest = { kind: "guest"; restaurantId: string; sessionId: string };
/** A customer's account (notifications across restaurants). */
export type Customer = { kind: "customer"; userId: string };
export type Recipient = Guest | Customer;

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/**
 * The person a notification or order tracker is for: a guest token (role `guest`, with
 * `restaurant_id` and `session_id`, from POST /api/qr/session/convex-token) or a customer
 * token (role `customer`, with `user_id`, from POST /api/me/convex-token). Staff tokens are
 * refused here, as guest and customer tokens are refused by requireStaff: neither reads
 * the other's queries.
 */
export async function requireRecipient(ctx: QueryCtx): Promise<Recipient> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    throw new ConvexError({
      code: "unauthenticated",
      message: "Sign in with a Tabletop token",
    });
  }
  const { role } = identity;
  if (role === "guest") {
    const { restaurant_id: restaurantId, session_id: sessionId } = identity;
    // A guest token that names no session could match nothing safely: refuse it.
    if (nonEmpty(restaurantId) && nonEmpty(sessionId)) {
      return { kind: "guest", restaurantId, sessionId };
    }
    throw new ConvexError({
      code: "forbidden",
      message: "The guest token names no session",
    });
  }
  if (role === "customer") {
    const { user_id: userId } = identity;
    if (nonEmpty(userId)) {
      return { kind: "customer", userId };
    }
    throw new ConvexError({
      code: "forbidden",
      message: "The customer token names no account",
    });
  }
  throw new ConvexError({
    code: "forbidden",
    message: "This is for a guest session or a customer",
  });
}

export async function requireGuest(ctx: QueryCtx): Promise<Guest> {
  const recipient = await requireRecipient(ctx);
  if (recipient.kind !== "guest") {
    throw new ConvexError({
      code: "forbidden",
      message: "This is for a table-side guest session",
    });
  }
  return recipient;
}
