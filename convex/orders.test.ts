import { describe, expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import {
  type Backend,
  RESTAURANT_A,
  RESTAURANT_B,
  expectConvexError,
  newBackend,
  orderDoc,
  staffOf,
  uuid,
} from "./test.fixtures";

type OrderOverrides = Parameters<typeof orderDoc>[0];

const ISSUER = "https://api.tabletop.test";

async function seedOrder(
  t: Backend,
  restaurantId: string,
  overrides: OrderOverrides = {},
  doc = orderDoc(overrides),
) {
  const pgId = uuid();
  await t.mutation(internal.sync.applyBatch, {
    changes: [
      { entity: "orders", op: "upsert", pgId, restaurantId, version: 1, doc },
    ],
  });
  return pgId;
}

describe("orders:liveByStatus", () => {
  test("a caller without an identity is refused as unauthenticated", async () => {
    const t = newBackend();
    await expectConvexError(
      t.query(api.orders.liveByStatus, {}),
      "unauthenticated",
    );
  });

  test("a guest session token is refused as forbidden", async () => {
    const t = newBackend();
    await seedOrder(t, RESTAURANT_A);
    await expectConvexError(
      staffOf(t, RESTAURANT_A, "guest").query(api.orders.liveByStatus, {}),
      "forbidden",
    );
  });

  test("a token with an unknown role or no role is refused as forbidden", async () => {
    const t = newBackend();
    await expectConvexError(
      staffOf(t, RESTAURANT_A, "admin").query(api.orders.liveByStatus, {}),
      "forbidden",
    );
    const noRole = t.withIdentity({
      subject: uuid(),
      issuer: ISSUER,
      restaurant_id: RESTAURANT_A,
    });
    await expectConvexError(
      noRole.query(api.orders.liveByStatus, {}),
      "forbidden",
    );
  });

  test("a staff token without a restaurant is refused as forbidden", async () => {
    const t = newBackend();
    const unscoped = t.withIdentity({
      subject: uuid(),
      issuer: ISSUER,
      role: "owner",
    });
    await expectConvexError(
      unscoped.query(api.orders.liveByStatus, {}),
      "forbidden",
    );
  });

  test("staff see exactly their restaurant's unfinished orders, oldest first", async () => {
    const t = newBackend();
    const newer = await seedOrder(t, RESTAURANT_A, {
      status: "pending",
      createdAt: 3000,
    });
    const oldest = await seedOrder(t, RESTAURANT_A, {
      status: "ready",
      createdAt: 1000,
    });
    const middle = await seedOrder(t, RESTAURANT_A, {
      status: "dispatched",
      createdAt: 2000,
    });
    await seedOrder(t, RESTAURANT_A, { status: "completed", createdAt: 500 });
    await seedOrder(t, RESTAURANT_A, { status: "cancelled", createdAt: 500 });
    await seedOrder(t, RESTAURANT_B, { status: "pending", createdAt: 100 });
    const orders = await staffOf(t, RESTAURANT_A).query(
      api.orders.liveByStatus,
      {},
    );
    expect(orders.map((o) => o.pgId)).toEqual([oldest, middle, newer]);
    expect(orders.every((o) => o.restaurantId === RESTAURANT_A)).toBe(true);
  });

  test("a status filter returns only that status, finished statuses included", async () => {
    const t = newBackend();
    const done = await seedOrder(t, RESTAURANT_A, { status: "completed" });
    await seedOrder(t, RESTAURANT_A, { status: "pending" });
    await seedOrder(t, RESTAURANT_B, { status: "completed" });
    const orders = await staffOf(t, RESTAURANT_A).query(
      api.orders.liveByStatus,
      { status: "completed" },
    );
    expect(orders.map((o) => o.pgId)).toEqual([done]);
  });

  test("another restaurant's staff see none of this restaurant's orders", async () => {
    const t = newBackend();
    await seedOrder(t, RESTAURANT_A, { status: "pending" });
    expect(
      await staffOf(t, RESTAURANT_B).query(api.orders.liveByStatus, {}),
    ).toEqual([]);
  });

  test("every staff role may read the live orders", async () => {
    const t = newBackend();
    const id = await seedOrder(t, RESTAURANT_A);
    for (const role of ["owner", "manager", "staff", "kitchen"]) {
      const orders = await staffOf(t, RESTAURANT_A, role).query(
        api.orders.liveByStatus,
        {},
      );
      expect(orders.map((o) => o.pgId)).toEqual([id]);
    }
  });

  test("an order comes back exactly as synced, items included, without Convex system fields", async () => {
    const t = newBackend();
    const doc = orderDoc({ tableLabel: "Patio 4" });
    const pgId = await seedOrder(t, RESTAURANT_A, {}, doc);
    expect(
      await staffOf(t, RESTAURANT_A).query(api.orders.liveByStatus, {}),
    ).toEqual([{ ...doc, pgId, restaurantId: RESTAURANT_A, version: 1 }]);
  });

  test("an order line's variation and addons come back as synced, and a line without them still validates", async () => {
    const t = newBackend();
    const doc = orderDoc({
      items: [
        {
          pgId: uuid(),
          menuItemId: uuid(),
          name: "Margherita",
          unitPrice: 52000,
          quantity: 1,
          lineTotal: 52000,
          notes: null,
          variationName: "Large",
          addons: [
            {
              pgId: uuid(),
              name: "Extra cheese",
              groupName: "Toppings",
              price: 6000,
            },
            { pgId: uuid(), name: "Olives", groupName: null, price: 4000 },
          ],
        },
        {
          pgId: uuid(),
          menuItemId: uuid(),
          name: "Masala dosa",
          unitPrice: 12000,
          quantity: 1,
          lineTotal: 12000,
          notes: null,
        },
      ],
    });
    const pgId = await seedOrder(t, RESTAURANT_A, {}, doc);
    const [order] = await staffOf(t, RESTAURANT_A).query(
      api.orders.liveByStatus,
      {},
    );
    expect(order).toEqual({
      ...doc,
      pgId,
      restaurantId: RESTAURANT_A,
      version: 1,
    });
    expect(
      order?.items.map((i) => [i.variationName, i.addons?.map((a) => a.name)]),
    ).toEqual([
      ["Large", ["Extra cheese", "Olives"]],
      [undefined, undefined],
    ]);
  });

  test("an addon without a price is refused by applyBatch's validator", async () => {
    const t = newBackend();
    const doc = orderDoc();
    const bad = {
      ...doc,
      items: [
        {
          ...doc.items[0],
          addons: [{ pgId: uuid(), name: "Extra cheese", groupName: null }],
        },
      ],
    };
    await expect(seedOrder(t, RESTAURANT_A, {}, bad as never)).rejects.toThrow(
      /Validator error/,
    );
  });

  test("an unknown status filter is refused by the args validator", async () => {
    const t = newBackend();
    await expect(
      staffOf(t, RESTAURANT_A).query(api.orders.liveByStatus, {
        status: "lost" as never,
      }),
    ).rejects.toThrow(/Validator error/);
  });
});

describe("orders:get", () => {
  test("a caller without an identity is refused as unauthenticated", async () => {
    const t = newBackend();
    const id = await seedOrder(t, RESTAURANT_A);
    await expectConvexError(
      t.query(api.orders.get, { pgId: id }),
      "unauthenticated",
    );
  });

  test("a guest session token is refused as forbidden even for an order of its restaurant", async () => {
    const t = newBackend();
    const id = await seedOrder(t, RESTAURANT_A);
    await expectConvexError(
      staffOf(t, RESTAURANT_A, "guest").query(api.orders.get, { pgId: id }),
      "forbidden",
    );
  });

  test("staff get their restaurant's order by pgId", async () => {
    const t = newBackend();
    const id = await seedOrder(t, RESTAURANT_A, { number: 42 });
    expect(
      await staffOf(t, RESTAURANT_A).query(api.orders.get, { pgId: id }),
    ).toMatchObject({
      pgId: id,
      number: 42,
      restaurantId: RESTAURANT_A,
    });
  });

  test("another restaurant's order is null, exactly like a missing one", async () => {
    const t = newBackend();
    const id = await seedOrder(t, RESTAURANT_A);
    expect(
      await staffOf(t, RESTAURANT_B).query(api.orders.get, { pgId: id }),
    ).toBeNull();
    expect(
      await staffOf(t, RESTAURANT_B).query(api.orders.get, { pgId: uuid() }),
    ).toBeNull();
  });
});
