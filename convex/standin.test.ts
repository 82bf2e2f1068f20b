// @vitest-environment node
/**
 * scripts/convex_standin.ts as the Python side meets it: a child process on a free port,
 * spoken to over HTTP in Convex's wire format.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";
import {
  afterAll,
  beforeAll,
  beforeEach,
  describe,
  expect,
  test,
} from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ADMIN_KEY = "standin-test-admin-key";
const ISSUER = "https://api.tabletop.test";
const RESTAURANT_A = "00000000-0000-4000-8000-00000000000a";
const RESTAURANT_B = "00000000-0000-4000-8000-00000000000b";
const ADMIN = { Authorization: `Convex ${ADMIN_KEY}` };

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
type Standin = { child: ChildProcess; url: string; stderr: string[] };

let keys: KeyPair;
let publicKeyFile: string;
let standin: Standin;

function start(env: Record<string, string>): Promise<Standin> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/convex_standin.ts"],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
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

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

async function post(
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
) {
  const response = await fetch(standin.url + route, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, any>,
  };
}

async function control(route: string, body?: unknown) {
  const response = await fetch(standin.url + route, {
    method: body === undefined ? "GET" : "POST",
    headers: ADMIN,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, any>;
}

function upsertTable(
  pgId: string,
  version: number,
  restaurantId = RESTAURANT_A,
) {
  const doc = { label: `T-${pgId}`, seats: 2, isActive: true };
  return { entity: "tables", op: "upsert", pgId, restaurantId, version, doc };
}

function applyBatch(
  changes: unknown[],
  headers: Record<string, string> = ADMIN,
  signal?: AbortSignal,
) {
  return post(
    "/api/mutation",
    { path: "sync:applyBatch", args: { changes }, format: "json" },
    headers,
    signal,
  );
}

function token(
  claims: Record<string, unknown>,
  options: { key?: KeyPair["privateKey"]; audience?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256" })
    .setSubject("user-1")
    .setIssuer(ISSUER)
    .setAudience(options.audience ?? "tabletop-convex")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(options.key ?? keys.privateKey);
}

beforeAll(async () => {
  keys = await generateKeyPair("RS256", { extractable: true });
  publicKeyFile = path.join(
    mkdtempSync(path.join(tmpdir(), "standin-")),
    "jwt.pem",
  );
  writeFileSync(publicKeyFile, await exportSPKI(keys.publicKey));
  standin = await start({
    CONVEX_DEPLOY_KEY: ADMIN_KEY,
    CONVEX_STANDIN_PORT: "0",
    CONVEX_STANDIN_CONTROL: "1",
    CONVEX_STANDIN_JWT_PUBLIC_KEY_FILE: publicKeyFile,
    TABLETOP_JWT_ISSUER: ISSUER,
  });
}, 30_000);

afterAll(() => {
  standin?.child.kill("SIGKILL");
});

beforeEach(async () => {
  await control("/_standin/reset", {});
});

describe("Convex wire format", () => {
  test("an internal mutation with the admin key answers 200 with status success, its value and logLines", async () => {
    const reply = await applyBatch([upsertTable("t1", 1)]);
    expect(reply).toEqual({
      status: 200,
      body: {
        status: "success",
        value: {
          results: [{ entity: "tables", pgId: "t1", result: "applied" }],
        },
        logLines: [],
      },
    });
  });

  test("the Python client's convex_encoded_json call with bare args is accepted", async () => {
    const reply = await post(
      "/api/mutation",
      {
        path: "sync:applyBatch",
        args: { changes: [upsertTable("t1", 1)] },
        format: "convex_encoded_json",
      },
      ADMIN,
    );
    expect(reply.body.status).toBe("success");
  });

  test("a ConvexError thrown by a function answers 200 with status error and its errorData", async () => {
    const changes = Array.from({ length: 501 }, (_, i) =>
      upsertTable(`t${i}`, 1),
    );
    const reply = await applyBatch(changes);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      status: "error",
      errorData: { code: "batch_too_large" },
    });
    expect(reply.body.errorMessage).toContain("batch_too_large");
  });

  test("an argument validation failure answers 200 with status error and no errorData", async () => {
    const reply = await applyBatch([
      { ...upsertTable("t1", 1), entity: "customers" },
    ]);
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe("error");
    expect(reply.body.errorMessage).toMatch(/Validator error/);
    expect(reply.body).not.toHaveProperty("errorData");
  });

  test("an unknown function answers 200 with status error, like Convex", async () => {
    const reply = await post(
      "/api/mutation",
      { path: "sync:nothingHere", args: {} },
      ADMIN,
    );
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: "error" });
    expect(reply.body.errorMessage).toContain(
      "Could not find public function for 'sync:nothingHere'",
    );
  });

  test("a query called as a mutation answers 200 with status error", async () => {
    const reply = await post("/api/mutation", {
      path: "orders:get",
      args: { pgId: "x" },
    });
    expect(reply.body).toMatchObject({ status: "error" });
  });

  test("a malformed body answers 400 with a JSON error", async () => {
    const broken = await post(
      "/api/mutation",
      '{"path": "sync:applyBatch", ',
      ADMIN,
    );
    expect(broken).toMatchObject({
      status: 400,
      body: { code: "BadJsonBody" },
    });
    const noPath = await post("/api/query", { args: {} });
    expect(noPath).toMatchObject({
      status: 400,
      body: { code: "BadJsonBody" },
    });
  });

  test("actions are not served", async () => {
    const reply = await post(
      "/api/action",
      { path: "sync:applyBatch", args: {} },
      ADMIN,
    );
    expect(reply.status).toBe(404);
  });
});

describe("admin key", () => {
  test("an internal function without the admin key is refused with 401 and runs nothing", async () => {
    expect((await applyBatch([upsertTable("t1", 1)], {})).status).toBe(401);
    const bearer = {
      Authorization: `Bearer ${await token({ restaurant_id: RESTAURANT_A, role: "owner" })}`,
    };
    expect((await applyBatch([upsertTable("t1", 1)], bearer)).status).toBe(401);
    expect((await control("/_standin/dump")).tables).toEqual([]);
  });

  test("a wrong admin key is refused with 401 BadAdminKey", async () => {
    const reply = await applyBatch([upsertTable("t1", 1)], {
      Authorization: "Convex not-the-key",
    });
    expect(reply).toMatchObject({ status: 401, body: { code: "BadAdminKey" } });
  });

  test("control endpoints refuse callers without the admin key", async () => {
    const response = await fetch(`${standin.url}/_standin/dump`);
    expect(response.status).toBe(401);
  });
});

describe("bearer identity", () => {
  async function seedOrder(pgId: string, restaurantId: string) {
    const doc = {
      number: 7,
      tableId: null,
      tableLabel: "T7",
      status: "pending",
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
      createdAt: 1,
      updatedAt: 1,
    };
    await applyBatch([
      { entity: "orders", op: "upsert", pgId, restaurantId, version: 1, doc },
    ]);
  }

  test("a verified staff token's restaurant_id and role reach the public query", async () => {
    await seedOrder("o-a", RESTAURANT_A);
    await seedOrder("o-b", RESTAURANT_B);
    const bearer = {
      Authorization: `Bearer ${await token({ restaurant_id: RESTAURANT_A, role: "kitchen" })}`,
    };
    const reply = await post(
      "/api/query",
      { path: "orders:liveByStatus", args: {}, format: "json" },
      bearer,
    );
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe("success");
    expect(reply.body.value.map((o: { pgId: string }) => o.pgId)).toEqual([
      "o-a",
    ]);
  });

  test("a verified guest token gets the query's forbidden error", async () => {
    const bearer = {
      Authorization: `Bearer ${await token({ restaurant_id: RESTAURANT_A, role: "guest" })}`,
    };
    const reply = await post(
      "/api/query",
      { path: "menu:availability", args: {} },
      bearer,
    );
    expect(reply.body).toMatchObject({
      status: "error",
      errorData: { code: "forbidden" },
    });
  });

  test("a public query without a token runs without identity and reports unauthenticated", async () => {
    const reply = await post("/api/query", {
      path: "orders:get",
      args: { pgId: "o-a" },
    });
    expect(reply.body).toMatchObject({
      status: "error",
      errorData: { code: "unauthenticated" },
    });
  });

  test("a token signed by another key or for another audience is refused with 401", async () => {
    const stranger = await generateKeyPair("RS256");
    for (const bad of [
      await token(
        { restaurant_id: RESTAURANT_A, role: "owner" },
        { key: stranger.privateKey },
      ),
      await token(
        { restaurant_id: RESTAURANT_A, role: "owner" },
        { audience: "someone-else" },
      ),
      "not-a-jwt",
    ]) {
      const reply = await post(
        "/api/query",
        { path: "menu:availability", args: {} },
        { Authorization: `Bearer ${bad}` },
      );
      expect(reply).toMatchObject({
        status: 401,
        body: { code: "InvalidAuthHeader" },
      });
    }
  });
});

describe("JWKS", () => {
  test("a token is verified against the key set served at TABLETOP_JWKS_URL", async () => {
    const jwk = {
      ...(await exportJWK(keys.publicKey)),
      alg: "RS256",
      use: "sig",
    };
    const api = createServer((_, res) =>
      res.end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    const jwksUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/.well-known/jwks.json`;
    const own = await start({
      CONVEX_DEPLOY_KEY: ADMIN_KEY,
      CONVEX_STANDIN_PORT: "0",
      TABLETOP_JWKS_URL: jwksUrl,
      TABLETOP_JWT_ISSUER: ISSUER,
    });
    try {
      const call = async (jwt: string) => {
        const response = await fetch(`${own.url}/api/query`, {
          method: "POST",
          headers: { Authorization: `Bearer ${jwt}` },
          body: JSON.stringify({ path: "menu:availability", args: {} }),
        });
        return { status: response.status, body: await response.json() };
      };
      const good = await call(
        await token({ restaurant_id: RESTAURANT_A, role: "manager" }),
      );
      expect(good).toEqual({
        status: 200,
        body: { status: "success", value: [], logLines: [] },
      });
      const stranger = await generateKeyPair("RS256");
      expect(
        (
          await call(
            await token({ role: "manager" }, { key: stranger.privateKey }),
          )
        ).status,
      ).toBe(401);
    } finally {
      own.child.kill("SIGKILL");
      api.close();
    }
  });
});

describe("fault injection", () => {
  test("down answers 503 for the next count calls, then the stand-in recovers", async () => {
    await control("/_standin/fault", { mode: "down", count: 2 });
    expect((await applyBatch([upsertTable("t1", 1)])).status).toBe(503);
    expect(
      (await post("/api/query", { path: "menu:availability", args: {} }))
        .status,
    ).toBe(503);
    expect((await applyBatch([upsertTable("t1", 1)])).body.status).toBe(
      "success",
    );
  });

  test("error500 answers HTTP 500 and error_status answers 200 with status error, both without applying", async () => {
    await control("/_standin/fault", { mode: "error500", count: 1 });
    expect((await applyBatch([upsertTable("t1", 1)])).status).toBe(500);
    await control("/_standin/fault", { mode: "error_status", count: 1 });
    expect(await applyBatch([upsertTable("t1", 1)])).toEqual({
      status: 200,
      body: { status: "error", errorMessage: "injected", logLines: [] },
    });
    expect((await control("/_standin/dump")).tables).toEqual([]);
  });

  test("hang holds the call until the caller's timeout fires, and mode ok ends it", async () => {
    await control("/_standin/fault", { mode: "hang" });
    await expect(
      applyBatch([upsertTable("t1", 1)], ADMIN, AbortSignal.timeout(300)),
    ).rejects.toThrow(/abort|timeout/i);
    expect((await control("/_standin/dump")).tables).toEqual([]);
    await control("/_standin/fault", { mode: "ok" });
    expect((await applyBatch([upsertTable("t1", 1)])).body.status).toBe(
      "success",
    );
  });

  test("hang_after_apply commits the batch but never answers, so the retry comes back stale", async () => {
    await control("/_standin/fault", { mode: "hang_after_apply", count: 1 });
    await expect(
      applyBatch([upsertTable("t1", 1)], ADMIN, AbortSignal.timeout(300)),
    ).rejects.toThrow(/abort|timeout/i);
    const retry = await applyBatch([upsertTable("t1", 1)]);
    expect(retry.body.value.results[0].result).toBe("stale");
  });

  test("reject fails only the batches that carry a listed pgId, with a function error", async () => {
    await control("/_standin/fault", { mode: "reject", pgIds: ["poison"] });
    const rejected = await applyBatch([
      upsertTable("t1", 1),
      upsertTable("poison", 1),
    ]);
    expect(rejected).toMatchObject({
      status: 200,
      body: {
        status: "error",
        errorData: { code: "injected_reject", pgIds: ["poison"] },
      },
    });
    expect((await applyBatch([upsertTable("t1", 1)])).body.status).toBe(
      "success",
    );
    expect(
      (await control("/_standin/dump")).tables.map(
        (t: { pgId: string }) => t.pgId,
      ),
    ).toEqual(["t1"]);
  });

  test("an unknown fault mode is refused with 400", async () => {
    const response = await fetch(`${standin.url}/_standin/fault`, {
      method: "POST",
      headers: ADMIN,
      body: JSON.stringify({ mode: "explode" }),
    });
    expect(response.status).toBe(400);
  });
});

describe("oracles", () => {
  test("dump returns every document without system fields, and reset empties it", async () => {
    await applyBatch([
      upsertTable("t1", 3),
      {
        entity: "orders",
        op: "delete",
        pgId: "o1",
        restaurantId: RESTAURANT_A,
        version: 2,
      },
    ]);
    expect(await control("/_standin/dump")).toEqual({
      orders: [],
      menuItems: [],
      reservations: [],
      notifications: [],
      tables: [
        {
          pgId: "t1",
          restaurantId: RESTAURANT_A,
          version: 3,
          label: "T-t1",
          seats: 2,
          isActive: true,
        },
      ],
      tombstones: [
        {
          entity: "orders",
          pgId: "o1",
          restaurantId: RESTAURANT_A,
          version: 2,
        },
      ],
    });
    await control("/_standin/reset", {});
    expect(await control("/_standin/dump")).toEqual({
      orders: [],
      menuItems: [],
      tables: [],
      reservations: [],
      notifications: [],
      tombstones: [],
    });
  });

  test("stats count mutation calls and applyBatch results", async () => {
    await applyBatch([upsertTable("t1", 1), upsertTable("t2", 1)]);
    await applyBatch([
      upsertTable("t1", 1),
      {
        entity: "tables",
        op: "delete",
        pgId: "t2",
        restaurantId: RESTAURANT_A,
        version: 2,
      },
    ]);
    expect(await control("/_standin/stats")).toMatchObject({
      mutationCalls: 2,
      applied: 2,
      stale: 1,
      deleted: 1,
    });
  });

  test("stats report the most mutation requests that were in flight at once", async () => {
    await control("/_standin/fault", { mode: "hang", count: 3 });
    const held = [1, 2, 3].map(() =>
      applyBatch([upsertTable("t1", 1)], ADMIN, AbortSignal.timeout(500)).catch(
        () => "aborted",
      ),
    );
    expect(await Promise.all(held)).toEqual(["aborted", "aborted", "aborted"]);
    expect((await control("/_standin/stats")).maxInFlightMutations).toBe(3);
  });
});

describe("process", () => {
  test("a missing CONVEX_DEPLOY_KEY is reported and exits 1", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/convex_standin.ts"],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", CONVEX_STANDIN_PORT: "0" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr
      .setEncoding("utf8")
      .on("data", (chunk: string) => (stderr += chunk));
    expect(await exited(child)).toBe(1);
    expect(stderr).toContain("CONVEX_DEPLOY_KEY");
  });

  test("every request is logged to stderr, and SIGTERM ends the process with exit code 0", async () => {
    const own = await start({
      CONVEX_DEPLOY_KEY: ADMIN_KEY,
      CONVEX_STANDIN_PORT: "0",
    });
    await fetch(`${own.url}/api/query`, {
      method: "POST",
      body: JSON.stringify({ path: "orders:get", args: { pgId: "x" } }),
    });
    own.child.kill("SIGTERM");
    expect(await exited(own.child)).toBe(0);
    expect(own.stderr.join("")).toMatch(
      /POST \/api\/query 200 .*fn=orders:get/,
    );
  });
});
