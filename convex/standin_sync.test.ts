// @vitest-environment node
/**
 * The stand-in's `/api/sync` WebSocket driven by the official `ConvexClient` from
 * `convex/browser`, unchanged: subscriptions, auth, unsubscribe, mutations over the
 * socket, and a reconnect after the stand-in process restarts. The stand-in runs as a
 * child process on a free port, as the Python side and the kitchen screen meet it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { WebSocket } from "ws";
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  test,
} from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ADMIN_KEY = "standin-sync-test-admin-key";
const ISSUER = "https://api.tabletop.test";
const RESTAURANT_A = "00000000-0000-4000-8000-00000000000a";
const RESTAURANT_B = "00000000-0000-4000-8000-00000000000b";
// Generous: a shared 2-core machine under load. Conditions are awaited, never slept on.
const WAIT_MS = 15_000;

const liveByStatus = makeFunctionReference<
  "query",
  { status?: string },
  { pgId: string; status: string }[]
>("orders:liveByStatus");
const applyBatchRef = makeFunctionReference<
  "mutation",
  { changes: unknown[] },
  { results: { pgId: string; result: string }[] }
>("sync:applyBatch");

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
type Standin = { child: ChildProcess; url: string; stderr: string[] };

let keys: KeyPair;
let env: Record<string, string>;
let standin: Standin;
const clients: ConvexClient[] = [];

function start(extra: Record<string, string> = {}): Promise<Standin> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/convex_standin.ts"],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env, ...extra },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const stderr: string[] = [];
  child
    .stderr!.setEncoding("utf8")
    .on("data", (chunk: string) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      const ready =
        /^convex-standin listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(
          stdout,
        );
      if (ready) resolve({ child, url: ready[1]!, stderr });
    });
    child.on("exit", (code) =>
      reject(
        new Error(
          `stand-in exited with ${code} before it was ready: ${stderr.join("")}`,
        ),
      ),
    );
  });
}

function stop(s: Standin): Promise<void> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null)
      return resolve();
    s.child.once("exit", () => resolve());
    s.child.kill("SIGTERM");
  });
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function http(
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(standin.url + route, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, any>,
  };
}

function order(
  pgId: string,
  status: string,
  version: number,
  restaurantId = RESTAURANT_A,
) {
  const doc = {
    number: 7,
    tableId: null,
    tableLabel: "T7",
    status,
    orderType: "dine_in",
    items: [],
    subtotal: 100,
    tax: 5,
    tip: 0,
    discount: 0,
    total: 105,
    currency: "INR",
    customerName: null,
    notes: null,
    createdAt: version,
    updatedAt: version,
  };
  return { entity: "orders", op: "upsert", pgId, restaurantId, version, doc };
}

/** What the Python pusher does: `sync:applyBatch` over HTTP with the admin key. */
async function applyBatch(changes: unknown[]) {
  const reply = await http(
    "/api/mutation",
    { path: "sync:applyBatch", args: { changes }, format: "json" },
    { Authorization: `Convex ${ADMIN_KEY}` },
  );
  expect(reply.body.status).toBe("success");
}

function token(
  claims: Record<string, unknown>,
  key: KeyPair["privateKey"] = keys.privateKey,
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256" })
    .setSubject("user-1")
    .setIssuer(ISSUER)
    .setAudience("tabletop-convex")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key);
}

function client(url = standin.url) {
  const c = new ConvexClient(url, { logger: false });
  clients.push(c);
  return c;
}

/** A client authenticated with `jwt`, recording onAuthChange calls. */
function authedClient(jwt: string, url = standin.url) {
  const c = client(url);
  const auth: boolean[] = [];
  c.setAuth(
    async () => jwt,
    (ok) => auth.push(ok),
  );
  return { c, auth };
}

/** Subscribes and keeps every result and error the client delivers. */
function watch(c: ConvexClient, args: { status?: string } = {}) {
  const results: { pgId: string; status: string }[][] = [];
  const errors: Error[] = [];
  const unsubscribe = c.onUpdate(
    liveByStatus,
    args,
    (value) => results.push(value),
    (err) => errors.push(err),
  );
  const latest = () => results[results.length - 1];
  return { results, errors, unsubscribe, latest };
}

/** A bare socket speaking the protocol by hand, to check what the client does not show. */
async function rawSocket(url = standin.url, sessionId = crypto.randomUUID()) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/api/sync`);
  const received: any[] = [];
  ws.on("message", (data) => received.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) =>
    ws.once("open", resolve).once("error", reject),
  );
  const send = (message: unknown) => ws.send(JSON.stringify(message));
  send({
    type: "Connect",
    sessionId,
    connectionCount: 0,
    lastCloseReason: null,
    clientTs: Date.now(),
  });
  const closed = new Promise((resolve) => ws.once("close", resolve));
  const close = async () => {
    if (ws.readyState !== ws.CLOSED) ws.close();
    await closed;
  };
  return { ws, received, send, close, sessionId };
}

const tsOf = (encoded: string) =>
  Buffer.from(encoded, "base64").readBigUInt64LE();

const pgIds = (rows: { pgId: string }[] | undefined) =>
  rows?.map((o) => o.pgId);

beforeAll(async () => {
  keys = await generateKeyPair("RS256", { extractable: true });
  const publicKeyFile = path.join(
    mkdtempSync(path.join(tmpdir(), "standin-sync-")),
    "jwt.pem",
  );
  writeFileSync(publicKeyFile, await exportSPKI(keys.publicKey));
  env = {
    CONVEX_DEPLOY_KEY: ADMIN_KEY,
    CONVEX_STANDIN_PORT: "0",
    CONVEX_STANDIN_CONTROL: "1",
    CONVEX_STANDIN_JWT_PUBLIC_KEY_FILE: publicKeyFile,
    TABLETOP_JWT_ISSUER: ISSUER,
  };
  standin = await start();
}, 60_000);

afterAll(async () => {
  await stop(standin);
});

beforeEach(async () => {
  const reply = await fetch(`${standin.url}/_standin/reset`, {
    method: "POST",
    headers: { Authorization: `Convex ${ADMIN_KEY}` },
    body: "{}",
  });
  expect(reply.status).toBe(200);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe("subscriptions over /api/sync", () => {
  test("a staff subscription gets its restaurant's orders, then the update after an HTTP applyBatch", async () => {
    await applyBatch([
      order("o-1", "pending", 1),
      order("o-b", "pending", 1, RESTAURANT_B),
    ]);
    const { c, auth } = authedClient(
      await token({ restaurant_id: RESTAURANT_A, role: "kitchen" }),
    );
    const live = watch(c);
    await waitFor(
      "the first result",
      () => pgIds(live.latest())?.join() === "o-1",
    );
    await waitFor("the server to confirm the token", () => auth.includes(true));

    await applyBatch([order("o-2", "pending", 2)]);
    await waitFor(
      "o-2 to arrive",
      () => pgIds(live.latest())?.join() === "o-1,o-2",
    );

    await applyBatch([order("o-1", "ready", 3)]);
    await waitFor("o-1 to move to ready", () =>
      live.latest()?.find((o) => o.pgId === "o-1" && o.status === "ready"),
    );
    // Another restaurant's change reaches nobody here: no result is sent for it.
    const seen = live.results.length;
    await applyBatch([order("o-b2", "pending", 4, RESTAURANT_B)]);
    await applyBatch([order("o-3", "confirmed", 5)]);
    await waitFor("o-3", () => pgIds(live.latest())?.includes("o-3"));
    expect(live.results.length).toBe(seen + 1);
    expect(live.errors).toEqual([]);
  });

  test("two screens on one restaurant both receive the update; a status filter sees only its column", async () => {
    const jwt = await token({ restaurant_id: RESTAURANT_A, role: "staff" });
    const one = watch(authedClient(jwt).c);
    const two = watch(authedClient(jwt).c, { status: "ready" });
    await waitFor("both first results", () => one.latest() && two.latest());
    await applyBatch([order("o-1", "pending", 1)]);
    await waitFor("screen one", () => pgIds(one.latest())?.join() === "o-1");
    await applyBatch([order("o-1", "ready", 2)]);
    await waitFor("screen two", () => pgIds(two.latest())?.join() === "o-1");
    expect(two.results.map(pgIds)).toEqual([[], ["o-1"]]);
  });

  test("the same query under two identities is never shared: each restaurant's screen sees its own", async () => {
    const a = watch(
      authedClient(
        await token({ restaurant_id: RESTAURANT_A, role: "kitchen" }),
      ).c,
    );
    const b = watch(
      authedClient(
        await token({ restaurant_id: RESTAURANT_B, role: "kitchen" }),
      ).c,
    );
    await waitFor("both first results", () => a.latest() && b.latest());
    await applyBatch([
      order("o-a", "pending", 1),
      order("o-b", "pending", 1, RESTAURANT_B),
    ]);
    await waitFor("A's order", () => pgIds(a.latest())?.join() === "o-a");
    await waitFor("B's order", () => pgIds(b.latest())?.join() === "o-b");
    expect(a.results.flat().map((o) => o.pgId)).not.toContain("o-b");
    expect(b.results.flat().map((o) => o.pgId)).not.toContain("o-a");
  });

  test("a query error reaches onError as a ConvexError with its data", async () => {
    const { c } = authedClient(
      await token({ restaurant_id: RESTAURANT_A, role: "guest" }),
    );
    const live = watch(c);
    const err = await waitFor("the forbidden error", () => live.errors[0]);
    expect((err as Error & { data?: unknown }).data).toMatchObject({
      code: "forbidden",
    });
    expect(live.results).toEqual([]);
  });

  test("without a token the staff query fails as unauthenticated", async () => {
    const live = watch(client());
    const err = await waitFor("the error", () => live.errors[0]);
    expect((err as Error & { data?: unknown }).data).toMatchObject({
      code: "unauthenticated",
    });
  });

  test("a forged token is refused: onAuthChange(false) and no data", async () => {
    const forger = await generateKeyPair("RS256");
    const forged = await token(
      { restaurant_id: RESTAURANT_A, role: "kitchen" },
      forger.privateKey,
    );
    await applyBatch([order("o-1", "pending", 1)]);
    const { c, auth } = authedClient(forged);
    const live = watch(c);
    await waitFor("onAuthChange(false)", () => auth.includes(false));
    await waitFor("the unauthenticated error", () => live.errors.length > 0);
    expect(auth).not.toContain(true);
    expect(live.results).toEqual([]);
    expect(standin.stderr.join("")).toMatch(
      /WS AuthError conn=\d+ tokenType=User/,
    );
    expect(standin.stderr.join("")).not.toContain(forged);
  });

  test("after unsubscribe no more updates arrive for that query; the others keep theirs", async () => {
    const jwt = await token({ restaurant_id: RESTAURANT_A, role: "kitchen" });
    const { c } = authedClient(jwt);
    const gone = watch(c, { status: "pending" });
    const kept = watch(c);
    await waitFor("first results", () => gone.latest() && kept.latest());
    gone.unsubscribe();
    await applyBatch([order("o-1", "pending", 1)]);
    await waitFor(
      "the kept subscription's update",
      () => pgIds(kept.latest())?.join() === "o-1",
    );
    await applyBatch([order("o-2", "pending", 2)]);
    await waitFor("o-2", () => pgIds(kept.latest())?.join() === "o-1,o-2");
    expect(gone.results.map(pgIds)).toEqual([[]]);
  });

  test("token refresh: a new Authenticate on the open socket re-runs the queries with the new identity", async () => {
    await applyBatch([
      order("o-a", "pending", 1),
      order("o-b", "pending", 1, RESTAURANT_B),
    ]);
    let jwt = await token({ restaurant_id: RESTAURANT_A, role: "kitchen" });
    const c = client();
    const fetched: boolean[] = [];
    c.setAuth(
      async ({ forceRefreshToken }) => {
        fetched.push(forceRefreshToken);
        return jwt;
      },
      () => {},
    );
    const live = watch(c);
    await waitFor("restaurant A", () => pgIds(live.latest())?.join() === "o-a");
    // The client fetches a fresh token right after the server confirms the cached one.
    jwt = await token({ restaurant_id: RESTAURANT_B, role: "kitchen" });
    c.setAuth(
      async () => jwt,
      () => {},
    );
    await waitFor(
      "restaurant B after the new token",
      () => pgIds(live.latest())?.join() === "o-b",
    );
    expect(fetched.length).toBeGreaterThan(0);
  });
});

describe("mutations over /api/sync", () => {
  test("an admin-authenticated mutation resolves with its result, after the transition that shows it", async () => {
    const c = client();
    // The admin key over the socket, as the Convex dashboard and CLI authenticate.
    (c as unknown as { setAdminAuth(key: string): void }).setAdminAuth(
      ADMIN_KEY,
    );
    const watcher = watch(
      authedClient(
        await token({ restaurant_id: RESTAURANT_A, role: "kitchen" }),
      ).c,
    );
    await waitFor("the watcher's first result", () => watcher.latest());
    const result = await c.mutation(applyBatchRef, {
      changes: [order("o-ws", "pending", 1)],
    });
    expect(result.results).toEqual([
      { entity: "orders", pgId: "o-ws", result: "applied" },
    ]);
    await waitFor(
      "the other client to see it",
      () => pgIds(watcher.latest())?.join() === "o-ws",
    );
    // The client resolved the mutation only once its own transition reached the commit ts.
    expect(c.client.connectionState().inflightMutations).toBe(0);
  });

  test("a mutation refused over the socket rejects: an internal function without the admin key", async () => {
    const { c } = authedClient(
      await token({ restaurant_id: RESTAURANT_A, role: "kitchen" }),
    );
    await expect(c.mutation(applyBatchRef, { changes: [] })).rejects.toThrow(
      /Could not find public function for 'sync:applyBatch'/,
    );
    const wrongKind = makeFunctionReference<"mutation">("orders:get");
    await expect(c.mutation(wrongKind, { pgId: "x" })).rejects.toThrow(
      /defined as Query/,
    );
  });

  test("a wrong admin key is an AuthError: the admin mutation never runs", async () => {
    const c = client();
    (c as unknown as { setAdminAuth(key: string): void }).setAdminAuth(
      "not-the-key",
    );
    const outcome = await Promise.race([
      c.mutation(applyBatchRef, { changes: [order("o-x", "pending", 1)] }).then(
        () => "resolved",
        () => "rejected",
      ),
      waitFor("the AuthError log line", () =>
        /WS AuthError conn=\d+ tokenType=Admin/.test(standin.stderr.join("")),
      ).then(() => "auth error"),
    ]);
    expect(outcome).not.toBe("resolved");
    const dump = await fetch(`${standin.url}/_standin/dump`, {
      headers: { Authorization: `Convex ${ADMIN_KEY}` },
    });
    expect(((await dump.json()) as { orders: unknown[] }).orders).toEqual([]);
  });
});

describe("the connection", () => {
  test("a raw socket gets the protocol's messages: Transition versions and ts, and FatalError on garbage", async () => {
    const ws = new WebSocket(`${standin.url.replace("http", "ws")}/api/sync`);
    const received: any[] = [];
    ws.on("message", (data) => received.push(JSON.parse(data.toString())));
    await new Promise((resolve, reject) =>
      ws.once("open", resolve).once("error", reject),
    );
    ws.send(
      JSON.stringify({
        type: "Connect",
        sessionId: "00000000-0000-4000-8000-000000000001",
        connectionCount: 0,
        lastCloseReason: "InitialConnect",
        clientTs: Date.now(),
      }),
    );
    ws.send(
      JSON.stringify({
        type: "ModifyQuerySet",
        baseVersion: 0,
        newVersion: 1,
        modifications: [
          {
            type: "Add",
            queryId: 0,
            udfPath: "orders:get",
            args: [{ pgId: "x" }],
          },
        ],
      }),
    );
    const first = await waitFor("a Transition", () =>
      received.find((m) => m.type === "Transition"),
    );
    expect(first.startVersion).toEqual({
      querySet: 0,
      identity: 0,
      ts: "AAAAAAAAAAA=",
    });
    expect(first.endVersion.querySet).toBe(1);
    expect(first.endVersion.identity).toBe(0);
    expect(Buffer.from(first.endVersion.ts, "base64").length).toBe(8);
    expect(first.modifications).toEqual([
      expect.objectContaining({
        type: "QueryFailed",
        queryId: 0,
        errorData: {
          code: "unauthenticated",
          message: "Sign in with a Tabletop token",
        },
      }),
    ]);
    ws.send("not json");
    await waitFor("a FatalError", () =>
      received.find((m) => m.type === "FatalError"),
    );
    await new Promise((resolve) =>
      ws.readyState === ws.CLOSED ? resolve(null) : ws.once("close", resolve),
    );
  });

  test("a quiet socket gets a Ping every CONVEX_STANDIN_SYNC_PING_MS", async () => {
    const own = await start({ CONVEX_STANDIN_SYNC_PING_MS: "200" });
    try {
      const raw = await rawSocket(own.url);
      await waitFor(
        "two Pings",
        () => raw.received.filter((m) => m.type === "Ping").length >= 2,
      );
      await raw.close();
    } finally {
      await stop(own);
    }
  }, 30_000);

  test("a mutation re-sent after a reconnect in the same session is answered again, not run twice", async () => {
    const first = await rawSocket();
    first.send({
      type: "Authenticate",
      tokenType: "Admin",
      value: ADMIN_KEY,
      baseVersion: 0,
    });
    first.send({
      type: "Mutation",
      requestId: 0,
      udfPath: "sync:applyBatch",
      args: [{ changes: [order("o-1", "pending", 1)] }],
    });
    const answer = await waitFor("the MutationResponse", () =>
      first.received.find((m) => m.type === "MutationResponse"),
    );
    expect(answer).toMatchObject({
      success: true,
      result: { results: [{ pgId: "o-1", result: "applied" }] },
    });
    // The transition that lets the client resolve the mutation: past the commit ts.
    const transition = await waitFor("a Transition past the commit", () =>
      first.received.find(
        (m) =>
          m.type === "Transition" && tsOf(m.endVersion.ts) >= tsOf(answer.ts),
      ),
    );
    expect(transition.endVersion.identity).toBe(1);
    expect(first.received.indexOf(answer)).toBeLessThan(
      first.received.indexOf(transition),
    );
    await first.close();

    const second = await rawSocket(standin.url, first.sessionId);
    second.send({
      type: "Authenticate",
      tokenType: "Admin",
      value: ADMIN_KEY,
      baseVersion: 0,
    });
    // Same request id, different body: answered from memory, so o-2 is never written.
    second.send({
      type: "Mutation",
      requestId: 0,
      udfPath: "sync:applyBatch",
      args: [{ changes: [order("o-2", "pending", 1)] }],
    });
    const again = await waitFor("the repeated answer", () =>
      second.received.find((m) => m.type === "MutationResponse"),
    );
    expect(again).toEqual(answer);
    await waitFor("a Transition past it", () =>
      second.received.find(
        (m) =>
          m.type === "Transition" && tsOf(m.endVersion.ts) >= tsOf(answer.ts),
      ),
    );
    await second.close();
    const dump = await fetch(`${standin.url}/_standin/dump`, {
      headers: { Authorization: `Convex ${ADMIN_KEY}` },
    });
    expect(
      ((await dump.json()) as { orders: { pgId: string }[] }).orders.map(
        (o) => o.pgId,
      ),
    ).toEqual(["o-1"]);
  });

  test("a token that expires on an open socket gets AuthError (authUpdateAttempted false) and no more results", async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const shortLived = await new SignJWT({
      restaurant_id: RESTAURANT_A,
      role: "kitchen",
    })
      .setProtectedHeader({ alg: "RS256" })
      .setSubject("user-1")
      .setIssuer(ISSUER)
      .setAudience("tabletop-convex")
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(keys.privateKey);
    const raw = await rawSocket();
    raw.send({
      type: "Authenticate",
      tokenType: "User",
      value: shortLived,
      baseVersion: 0,
    });
    raw.send({
      type: "ModifyQuerySet",
      baseVersion: 0,
      newVersion: 1,
      modifications: [
        { type: "Add", queryId: 0, udfPath: "orders:liveByStatus", args: [{}] },
      ],
    });
    const first = await waitFor("the first Transition", () =>
      raw.received.find((m) => m.type === "Transition"),
    );
    expect(first.endVersion).toMatchObject({ querySet: 1, identity: 1 });
    expect(first.modifications).toEqual([
      {
        type: "QueryUpdated",
        queryId: 0,
        value: [],
        logLines: [],
        journal: null,
      },
    ]);
    await waitFor(
      "the token to expire",
      () => Date.now() > exp * 1000 + 200,
      10_000,
    );
    await applyBatch([order("o-1", "pending", 1)]);
    const error = await waitFor("the AuthError", () =>
      raw.received.find((m) => m.type === "AuthError"),
    );
    expect(error).toMatchObject({ authUpdateAttempted: false, baseVersion: 1 });
    expect(raw.received.filter((m) => m.type === "Transition")).toHaveLength(1);
    await raw.close();
  }, 30_000);

  test("only /api/sync and /api/<version>/sync upgrade; the down fault refuses sockets and closes open ones", async () => {
    const wsUrl = standin.url.replace("http", "ws");
    const refused = (url: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url);
        ws.on("unexpected-response", (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on("open", () => resolve(101));
        ws.on("error", () => {});
      });
    expect(await refused(`${wsUrl}/api/elsewhere`)).toBe(404);

    const jwt = await token({ restaurant_id: RESTAURANT_A, role: "kitchen" });
    const { c } = authedClient(jwt);
    const live = watch(c);
    await waitFor("first result", () => live.latest());
    await waitFor("connected", () => c.connectionState().isWebSocketConnected);
    const faulted = await fetch(`${standin.url}/_standin/fault`, {
      method: "POST",
      headers: { Authorization: `Convex ${ADMIN_KEY}` },
      body: JSON.stringify({ mode: "down" }),
    });
    expect(faulted.status).toBe(200);
    expect(await refused(`${wsUrl}/api/sync`)).toBe(503);
    await waitFor(
      "the client to see the socket closed",
      () => !c.connectionState().isWebSocketConnected,
    );
    // The fault ends: the client reconnects by itself and its subscription works again.
    await fetch(`${standin.url}/_standin/fault`, {
      method: "POST",
      headers: { Authorization: `Convex ${ADMIN_KEY}` },
      body: JSON.stringify({ mode: "ok" }),
    });
    await applyBatch([order("o-1", "pending", 1)]);
    await waitFor(
      "the update after the reconnect",
      () => pgIds(live.latest())?.join() === "o-1",
      30_000,
    );
  }, 60_000);

  test("after the stand-in restarts, the client reconnects, resubscribes and receives the re-applied data", async () => {
    const jwt = await token({ restaurant_id: RESTAURANT_A, role: "kitchen" });
    const own = await start();
    try {
      const { c, auth } = authedClient(jwt, own.url);
      const live = watch(c);
      await waitFor("first result", () => live.latest());
      await fetch(`${own.url}/api/mutation`, {
        method: "POST",
        headers: {
          Authorization: `Convex ${ADMIN_KEY}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          path: "sync:applyBatch",
          args: { changes: [order("o-1", "pending", 1)] },
        }),
      });
      await waitFor("o-1", () => pgIds(live.latest())?.join() === "o-1");

      await stop(own);
      await waitFor(
        "the client to notice",
        () => !c.connectionState().isWebSocketConnected,
      );
      const port = new URL(own.url).port;
      const again = await start({ CONVEX_STANDIN_PORT: port });
      own.child = again.child;
      own.stderr = again.stderr;
      // The new process starts empty: the client's resubscription shows that, then the re-apply.
      await waitFor(
        "the empty result from the new process",
        () => pgIds(live.latest())?.join() === "",
        30_000,
      );
      await fetch(`${again.url}/api/mutation`, {
        method: "POST",
        headers: {
          Authorization: `Convex ${ADMIN_KEY}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          path: "sync:applyBatch",
          args: {
            changes: [order("o-1", "pending", 1), order("o-2", "pending", 2)],
          },
        }),
      });
      await waitFor(
        "the re-applied orders",
        () => pgIds(live.latest())?.join() === "o-1,o-2",
      );
      expect(auth.filter((ok) => !ok)).toEqual([]);
      expect(c.connectionState().connectionCount).toBeGreaterThanOrEqual(2);
    } finally {
      await stop(own);
    }
  }, 90_000);

  test("SIGTERM ends the process with exit code 0 while sockets are open", async () => {
    const own = await start();
    const c = client(own.url);
    const live = watch(c);
    await waitFor(
      "first result or error",
      () => live.latest() || live.errors[0],
    );
    const code = new Promise((resolve) =>
      own.child.once("exit", (code) => resolve(code)),
    );
    own.child.kill("SIGTERM");
    expect(await code).toBe(0);
  }, 30_000);
});
