/**
 * What a table-side guest's Convex token (and a customer's) may read: its own session's
 * orders and notifications, nothing of another session, restaurant or any staff query.
 */
import { describe, expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import {
  type Backend,
  RESTAURANT_A,
  RESTAURANT_B,
  customerOf,
  expectConvexError,
  guestOf,
  newBackend,
  notificationDoc,
  orderDoc,
  reservationDoc,
  staffOf,
  uuid,
} from "./test.fixtures";

type OrderOverrides = Parameters<typeof orderDoc>[0];
type NotificationOverrides = Parameters<typeof notificationDoc>[0];

async function seedOrder(
  t: Backend,
  restaurantId: string,
  overrides: OrderOverrides = {},
) {
  const pgId = uuid();
  await t.mutation(internal.sync.applyBatch, {
    changes: [
      {
        entity: "orders",
        op: "upsert",
        pgId,
        restaurantId,
        version: 1,
        doc: orderDoc(overrides),
      },
    ],
  });
  return pgId;
}

async function seedNotification(
  t: Backend,
  restaurantId: string,
  overrides: NotificationOverrides = {},
) {
  const pgId = uuid();
  await t.mutation(internal.sync.applyBatch, {
    changes: [
      {
        entity: "notifications",
        op: "upsert",
        pgId,
        restaurantId,
        version: 1,
        doc: notificationDoc(overrides),
      },
    ],
  });
  return pgId;
}

describe("orders:forGuestSession", () => {
  test("a guest reads its own session's orders, newest first, with status and latest reason", async () => {
    const t = newBackend();
    const session = uuid();
    const older = await seedOrder(t, RESTAURANT_A, {
      sessionId: session,
      number: 1,
      createdAt: 1000,
    });
    const newer = await seedOrder(t, RESTAURANT_A, {
      sessionId: session,
      number: 2,
      status: "cancelled",
      statusReason: "out of paneer",
      createdAt: 2000,
    });
    const orders = await guestOf(t, RESTAURANT_A, session).query(
      api.orders.forGuestSession,
      {},
    );
    expect(orders.map((o) => o.pgId)).toEqual([newer, older]);
    expect(orders[0]).toMatchObject({
      status: "cancelled",
      statusReason: "out of paneer",
    });
    // The session an order came from is the key, never shown.
    expect(orders[0]).not.toHaveProperty("sessionId");
  });

  test("another session's orders, at the same restaurant or another, are not read", async () => {
    const t = newBackend();
    const mine = uuid();
    const theirs = uuid();
    await seedOrder(t, RESTAURANT_A, { sessionId: theirs });
    await seedOrder(t, RESTAURANT_B, { sessionId: mine });
    await seedOrder(t, RESTAURANT_A, { sessionId: null });
    await seedOrder(t, RESTAURANT_A, {});
    expect(
      await guestOf(t, RESTAURANT_A, mine).query(api.orders.forGuestSession, {}),
    ).toEqual([]);
  });

  test("staff, customer and anonymous callers are refused", async () => {
    const t = newBackend();
    await expectConvexError(
      t.query(api.orders.forGuestSession, {}),
      "unauthenticated",
    );
    await expectConvexError(
      staffOf(t, RESTAURANT_A, "owner").query(api.orders.forGuestSession, {}),
      "forbidden",
    );
    await expectConvexError(
      customerOf(t, uuid()).query(api.orders.forGuestSession, {}),
      "forbidden",
    );
  });

  test("a guest token without a session is refused", async () => {
    const t = newBackend();
    const noSession = t.withIdentity({
      subject: "guest:x",
      issuer: "https://api.tabletop.test",
      role: "guest",
      restaurant_id: RESTAURANT_A,
    });
    await expectConvexError(
      noSession.query(api.orders.forGuestSession, {}),
      "forbidden",
    );
  });
});

describe("a guest token reads no staff query", () => {
  test("orders, menu and reservations queries refuse a guest", async () => {
    const t = newBackend();
    const guest = guestOf(t, RESTAURANT_A, uuid());
    await expectConvexError(
      guest.query(api.orders.liveByStatus, {}),
      "forbidden",
    );
    await expectConvexError(
      guest.query(api.orders.get, { pgId: uuid() }),
      "forbidden",
    );
    await expectConvexError(
      guest.query(api.reservations.today, {}),
      "forbidden",
    );
    await expectConvexError(
      customerOf(t, uuid()).query(api.reservations.today, {}),
      "forbidden",
    );
  });

  test("staff views of orders drop the guest session", async () => {
    const t = newBackend();
    const pgId = await seedOrder(t, RESTAURANT_A, { sessionId: uuid() });
    const order = await staffOf(t, RESTAURANT_A).query(api.orders.get, { pgId });
    expect(order).not.toBeNull();
    expect(order).not.toHaveProperty("sessionId");
  });
});

describe("notifications:mine", () => {
  test("a guest reads its session's notifications newest first with the unread count", async () => {
    const t = newBackend();
    const session = uuid();
    const first = await seedNotification(t, RESTAURANT_A, {
      sessionId: session,
      createdAt: 1000,
      readAt: 1500,
    });
    const second = await seedNotification(t, RESTAURANT_A, {
      sessionId: session,
      createdAt: 2000,
    });
    await seedNotification(t, RESTAURANT_A, { sessionId: uuid() });
    await seedNotification(t, RESTAURANT_B, { sessionId: session });
    await seedNotification(t, RESTAURANT_A, { userId: uuid() });
    const mine = await guestOf(t, RESTAURANT_A, session).query(
      api.notifications.mine,
      {},
    );
    expect(mine.items.map((n) => n.pgId)).toEqual([second, first]);
    expect(mine.unreadCount).toBe(1);
    const one = await guestOf(t, RESTAURANT_A, session).query(
      api.notifications.mine,
      { limit: 1 },
    );
    expect(one.items.map((n) => n.pgId)).toEqual([second]);
    expect(one.unreadCount).toBe(1);
    for (const odd of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, 1e9]) {
      const clamped = await guestOf(t, RESTAURANT_A, session).query(
        api.notifications.mine,
        { limit: odd },
      );
      expect(clamped.items.length).toBe(odd === 0 || odd === -5 ? 1 : 2);
    }
  });

  test("a customer reads their notifications across restaurants, nobody else's", async () => {
    const t = newBackend();
    const user = uuid();
    const a = await seedNotification(t, RESTAURANT_A, {
      userId: user,
      createdAt: 1000,
    });
    const b = await seedNotification(t, RESTAURANT_B, {
      userId: user,
      createdAt: 2000,
      type: "reservation",
      referenceType: "reservation",
    });
    await seedNotification(t, RESTAURANT_A, { userId: uuid() });
    await seedNotification(t, RESTAURANT_A, { sessionId: uuid() });
    const mine = await customerOf(t, user).query(api.notifications.mine, {});
    expect(mine.items.map((n) => n.pgId)).toEqual([b, a]);
    expect(mine.unreadCount).toBe(2);
  });

  test("staff tokens and anonymous callers are refused", async () => {
    const t = newBackend();
    await expectConvexError(
      t.query(api.notifications.mine, {}),
      "unauthenticated",
    );
    await expectConvexError(
      staffOf(t, RESTAURANT_A, "manager").query(api.notifications.mine, {}),
      "forbidden",
    );
  });

  test("a deleted notification disappears", async () => {
    const t = newBackend();
    const session = uuid();
    const pgId = await seedNotification(t, RESTAURANT_A, { sessionId: session });
    await t.mutation(internal.sync.applyBatch, {
      changes: [
        {
          entity: "notifications",
          op: "delete",
          pgId,
          restaurantId: RESTAURANT_A,
          version: 2,
        },
      ],
    });
    const mine = await guestOf(t, RESTAURANT_A, session).query(
      api.notifications.mine,
      {},
    );
    expect(mine).toEqual({ items: [], unreadCount: 0 });
  });
});

describe("reservations:today", () => {
  async function seedReservation(
    t: Backend,
    restaurantId: string,
    overrides: Parameters<typeof reservationDoc>[0] = {},
  ) {
    const pgId = uuid();
    await t.mutation(internal.sync.applyBatch, {
      changes: [
        {
          entity: "reservations",
          op: "upsert",
          pgId,
          restaurantId,
          version: 1,
          doc: reservationDoc(overrides),
        },
      ],
    });
    return pgId;
  }

  test("staff read the book of a given date, by slot, their restaurant's only", async () => {
    const t = newBackend();
    const late = await seedReservation(t, RESTAURANT_A, {
      localDate: "2026-12-03",
      slotStart: 2000,
    });
    const early = await seedReservation(t, RESTAURANT_A, {
      localDate: "2026-12-03",
      slotStart: 1000,
    });
    await seedReservation(t, RESTAURANT_A, { localDate: "2026-12-04" });
    await seedReservation(t, RESTAURANT_B, { localDate: "2026-12-03" });
    const book = await staffOf(t, RESTAURANT_A).query(api.reservations.today, {
      localDate: "2026-12-03",
    });
    expect(book.localDate).toBe("2026-12-03");
    expect(book.items.map((r) => r.pgId)).toEqual([early, late]);
  });

  test("without a date it is today in the restaurant's time zone", async () => {
    const t = newBackend();
    const zone = "Pacific/Kiritimati"; // UTC+14: often a different date than UTC
    const today = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).format(new Date());
    const mine = await seedReservation(t, RESTAURANT_A, {
      localDate: today,
      timezone: zone,
    });
    await seedReservation(t, RESTAURANT_A, {
      localDate: "2000-01-01",
      timezone: zone,
    });
    const book = await staffOf(t, RESTAURANT_A).query(api.reservations.today, {});
    expect(book.localDate).toBe(today);
    expect(book.items.map((r) => r.pgId)).toEqual([mine]);
  });

  test("an empty book, and a malformed date is refused", async () => {
    const t = newBackend();
    expect(
      await staffOf(t, RESTAURANT_A).query(api.reservations.today, {}),
    ).toEqual({ localDate: null, items: [] });
    await expectConvexError(
      staffOf(t, RESTAURANT_A).query(api.reservations.today, {
        localDate: "3 Dec",
      }),
      "invalid_date",
    );
  });
});
