/**
 * Convex stand-in: a TEST AND DEV substitute for a Convex deployment, never a production
 * backend. It loads this repo's convex/ functions into convex-test (Convex's own mock
 * backend: real argument validation, indexes, transactions) and serves the parts of
 * Convex's HTTP API that the Python side uses, on 127.0.0.1 only. Data lives in memory
 * and is lost on exit. Subscriptions: the `/api/sync` WebSocket speaks a subset of
 * Convex's sync protocol (scripts/convex_sync_protocol.ts) for the official clients.
 *
 *   CONVEX_DEPLOY_KEY=dev-key npx tsx scripts/convex_standin.ts
 *
 * What it keeps from Convex, because the project depends on it: function errors are
 * HTTP 200 `{status: "error", errorMessage, errorData?}`; infrastructure errors are
 * non-2xx `{code, message}`; internal functions need `Authorization: Convex <admin key>`;
 * public functions see the identity of a verified `Authorization: Bearer <jwt>`; one
 * function runs at a time. Where it differs: an internal function called without the
 * admin key answers 401 here (Convex answers "Could not find public function"), and
 * `logLines` is always empty. See scripts/convex_standin.md for the env and endpoints.
 */
import { timingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import {
  ConvexError,
  convexToJson,
  jsonToConvex,
  type Value,
} from "convex/values";
import {
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  type JWTPayload,
} from "jose";
import schema from "../convex/schema";
import { installEqualityIndex } from "./convex_standin_index";
import { SyncProtocol, syncOptionsFromEnv } from "./convex_sync_protocol";

const CONVEX_DIR = fileURLToPath(new URL("../convex/", import.meta.url));
// Convex's own cap on a function call's arguments.
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const SYNCED_TABLES = [
  "orders",
  "menuItems",
  "tables",
  "reservations",
  "notifications",
  "tombstones",
] as const;
const FAULT_MODES = [
  "ok",
  "down",
  "hang",
  "hang_after_apply",
  "error500",
  "error_status",
  "reject",
  "discard",
] as const;

type FaultMode = (typeof FAULT_MODES)[number];
type Fault = { mode: FaultMode; remaining: number | null; pgIds: Set<string> };
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Caller =
  | { kind: "admin" }
  | { kind: "user"; identity: Record<string, Json> }
  | { kind: "anonymous" };
type Verifier = (token: string) => Promise<JWTPayload>;

// ---------------------------------------------------------------------------------------
// Configuration: read once, fail loudly.

type Config = {
  adminKey: string;
  port: number;
  control: boolean;
  verifyToken: Verifier | null;
};

function fail(message: string): never {
  process.stderr.write(`convex-standin: ${message}\n`);
  process.exit(1);
}

async function readConfig(env: NodeJS.ProcessEnv): Promise<Config> {
  const adminKey = env.CONVEX_DEPLOY_KEY;
  if (!adminKey)
    fail(
      "CONVEX_DEPLOY_KEY is required: internal functions are callable only with it",
    );
  const port = Number(env.CONVEX_STANDIN_PORT ?? "3210");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(
      `CONVEX_STANDIN_PORT must be a port number or 0, got ${env.CONVEX_STANDIN_PORT}`,
    );
  }
  return {
    adminKey,
    port,
    control: env.CONVEX_STANDIN_CONTROL === "1",
    verifyToken: await tokenVerifier(env),
  };
}

/** Mirrors convex/auth.config.ts: RS256 tokens of the Tabletop API for our audience. */
async function tokenVerifier(env: NodeJS.ProcessEnv): Promise<Verifier | null> {
  const keyFile = env.CONVEX_STANDIN_JWT_PUBLIC_KEY_FILE;
  const jwksUrl = env.TABLETOP_JWKS_URL;
  if (!keyFile && !jwksUrl) {
    process.stderr.write(
      "convex-standin: no JWT key configured; every Bearer token will be refused\n",
    );
    return null;
  }
  const issuer = env.TABLETOP_JWT_ISSUER;
  if (!issuer)
    fail("TABLETOP_JWT_ISSUER is required when a JWT key is configured");
  const audience = env.TABLETOP_CONVEX_AUDIENCE ?? "tabletop-convex";
  const options = { issuer, audience, algorithms: ["RS256"] };
  if (keyFile) {
    const key = await importSPKI(readFileSync(keyFile, "utf8"), "RS256");
    return async (token) => (await jwtVerify(token, key, options)).payload;
  }
  const jwks = createRemoteJWKSet(new URL(jwksUrl!));
  return async (token) => (await jwtVerify(token, jwks, options)).payload;
}

// ---------------------------------------------------------------------------------------
// The backend: convex-test over this repo's function modules.

type ModuleLoader = () => Promise<Record<string, unknown>>;

/**
 * The modules a Convex push would bundle, keyed the way convex-test expects. Like
 * Convex, files with more than one dot (tests, auth.config.ts) are not function
 * modules; `_generated` must be present because convex-test finds the root through it.
 */
function functionModules(): Record<string, ModuleLoader> {
  const modules: Record<string, ModuleLoader> = {};
  for (const entry of readdirSync(CONVEX_DIR, {
    recursive: true,
    withFileTypes: true,
  })) {
    const base = entry.name;
    if (
      !entry.isFile() ||
      !/\.(ts|js)$/.test(base) ||
      (base.match(/\./g) ?? []).length > 1
    )
      continue;
    const absolute = path.join(entry.parentPath, base);
    const relative = path
      .relative(CONVEX_DIR, absolute)
      .split(path.sep)
      .join("/");
    modules[`./convex/${relative}`] = () =>
      import(pathToFileURL(absolute).href);
  }
  return modules;
}

const modules = functionModules();

function newBackend() {
  // Real Convex limits, so a batch that would fail in production fails here too.
  return convexTest({ schema, modules, transactionLimits: true });
}

type RegisteredFunction = {
  isQuery?: boolean;
  isMutation?: boolean;
  isAction?: boolean;
  isInternal?: boolean;
};

type Resolved =
  | { found: true; canonicalPath: string; internal: boolean }
  | { found: false; errorMessage: string };

/** Finds `module:export` as Convex does, without running anything. */
async function resolveFunction(
  udfPath: string,
  kind: "query" | "mutation",
): Promise<Resolved> {
  const [rawModule = "", exportName = "default"] = udfPath.split(":");
  const modulePath = rawModule.replace(/\.js$/, "");
  const canonicalPath = `${modulePath}:${exportName}`;
  const notFound = {
    found: false as const,
    errorMessage: `Could not find public function for '${canonicalPath}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`,
  };
  const loader =
    modules[`./convex/${modulePath}.ts`] ??
    modules[`./convex/${modulePath}.js`];
  if (modulePath.startsWith("_generated") || loader === undefined)
    return notFound;
  const fn = (await loader())[exportName] as RegisteredFunction | undefined;
  if (fn === undefined || !(fn.isQuery || fn.isMutation || fn.isAction))
    return notFound;
  const isKind = kind === "query" ? fn.isQuery : fn.isMutation;
  if (!isKind) {
    const actual = fn.isQuery ? "Query" : fn.isMutation ? "Mutation" : "Action";
    const wanted = kind === "query" ? "Query" : "Mutation";
    return {
      found: false,
      errorMessage: `Trying to execute ${canonicalPath} as ${wanted}, but it is defined as ${actual}.`,
    };
  }
  return { found: true, canonicalPath, internal: fn.isInternal === true };
}

// ---------------------------------------------------------------------------------------
// State shared by all requests.

let backend = newBackend();
// convex-test scans the whole database per index query; index equality lookups instead.
await installEqualityIndex(backend);
let fault: Fault = { mode: "ok", remaining: null, pgIds: new Set() };
// The sync-protocol WebSocket server; told about every commit so subscriptions re-run.
let sync: SyncProtocol | undefined;
const stats = {
  mutationCalls: 0,
  queryCalls: 0,
  applied: 0,
  stale: 0,
  deleted: 0,
  inFlightMutations: 0,
  maxInFlightMutations: 0,
};
// pgId -> commit ts of the first sync:applyBatch that carried the order (GET /_standin/trace).
const firstCommits = new Map<string, bigint>();
const KEPT_COMMITS = 100_000;

function traceCommits(call: FunctionCall, ts: bigint) {
  const changes = call.args.changes;
  if (!Array.isArray(changes)) return;
  for (const c of changes) {
    if (!isObject(c) || c.entity !== "orders" || typeof c.pgId !== "string") continue;
    if (firstCommits.has(c.pgId)) continue;
    firstCommits.set(c.pgId, ts);
    if (firstCommits.size > KEPT_COMMITS) firstCommits.delete(firstCommits.keys().next().value!);
  }
}

/** Per order: when its first batch committed and when the last socket was sent that commit. */
function trace() {
  const orders: Record<string, [number, number | null, number]> = {};
  for (const [pgId, ts] of firstCommits) {
    const f = sync?.timing.fanOut(ts);
    if (f !== undefined) orders[pgId] = [f.at, f.lastSentAt, f.sockets];
  }
  return { orders, sync: sync?.timing.summary() ?? null };
}

// Convex runs mutations as serializable transactions; one at a time in arrival order is
// the simplest schedule with the same observable results.
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(work);
  queue = run.catch(() => undefined);
  return run;
}

/** Uses up one application of the current fault if it applies to this request. */
function takeFault(applies: (f: Fault) => boolean): FaultMode {
  if (fault.mode === "ok" || !applies(fault)) return "ok";
  const mode = fault.mode;
  if (fault.remaining !== null && --fault.remaining <= 0) {
    fault = { mode: "ok", remaining: null, pgIds: new Set() };
  }
  return mode;
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing.

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(
        413,
        "PayloadTooLarge",
        `Body exceeds ${MAX_BODY_BYTES} bytes`,
      );
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw new HttpError(
      400,
      "BadJsonBody",
      `Body is not valid JSON: ${(err as Error).message}`,
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function secretMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function identify(
  req: http.IncomingMessage,
  config: Config,
): Promise<Caller> {
  const header = req.headers.authorization;
  if (header === undefined || header === "") return { kind: "anonymous" };
  const [scheme, credential = ""] = header.split(/\s+/, 2);
  if (scheme === "Convex") {
    if (!secretMatches(credential, config.adminKey)) {
      throw new HttpError(
        401,
        "BadAdminKey",
        "The provided admin key was invalid for this instance",
      );
    }
    return { kind: "admin" };
  }
  if (scheme === "Bearer") {
    if (config.verifyToken === null) {
      throw new HttpError(
        401,
        "NoAuthProvider",
        "No auth provider is configured on this stand-in",
      );
    }
    let claims: JWTPayload;
    try {
      claims = await config.verifyToken(credential);
    } catch (err) {
      throw new HttpError(
        401,
        "InvalidAuthHeader",
        `Could not verify the token: ${(err as Error).message}`,
      );
    }
    const { sub, iss, ...rest } = claims;
    const identity = {
      ...(rest as Record<string, Json>),
      subject: sub ?? "",
      issuer: iss ?? "",
      tokenIdentifier: `${iss}|${sub}`,
    };
    return { kind: "user", identity };
  }
  throw new HttpError(
    401,
    "InvalidAuthHeader",
    "Authorization must be 'Convex <admin key>' or 'Bearer <token>'",
  );
}

function requireAdmin(caller: Caller) {
  if (caller.kind !== "admin") {
    throw new HttpError(
      401,
      "Unauthorized",
      "This endpoint needs 'Authorization: Convex <admin key>'",
    );
  }
}

type FunctionCall = { udfPath: string; args: Record<string, Value> };

function parseFunctionCall(body: unknown): FunctionCall {
  if (!isObject(body) || typeof body.path !== "string" || body.path === "") {
    throw new HttpError(
      400,
      "BadJsonBody",
      "Body must be an object with a string 'path'",
    );
  }
  const format = body.format ?? "json";
  if (format !== "json" && format !== "convex_encoded_json") {
    throw new HttpError(
      400,
      "BadJsonBody",
      `Unsupported format ${JSON.stringify(format)}`,
    );
  }
  // The JS client sends [args], the Python client sends args itself.
  const raw =
    Array.isArray(body.args) && body.args.length <= 1
      ? (body.args[0] ?? {})
      : (body.args ?? {});
  if (!isObject(raw))
    throw new HttpError(400, "BadJsonBody", "'args' must be an object");
  try {
    return {
      udfPath: body.path,
      args: jsonToConvex(raw as Json) as Record<string, Value>,
    };
  } catch (err) {
    throw new HttpError(
      400,
      "BadConvexValue",
      `'args' is not a Convex value: ${(err as Error).message}`,
    );
  }
}

function functionError(err: unknown) {
  if (err instanceof ConvexError) {
    return {
      status: "error",
      errorMessage: err.message,
      errorData: convexToJson(err.data as Value),
      logLines: [],
    };
  }
  return {
    status: "error",
    errorMessage: err instanceof Error ? err.message : String(err),
    logLines: [],
  };
}

function countResults(value: unknown) {
  if (!isObject(value) || !Array.isArray(value.results)) return;
  for (const entry of value.results) {
    const result = isObject(entry) ? entry.result : undefined;
    if (result === "applied" || result === "stale" || result === "deleted")
      stats[result] += 1;
  }
}

function rejectedPgIds(call: FunctionCall, pgIds: Set<string>): string[] {
  const changes = call.args.changes;
  if (!Array.isArray(changes)) return [];
  return changes.flatMap((c) =>
    isObject(c) && typeof c.pgId === "string" && pgIds.has(c.pgId)
      ? [c.pgId]
      : [],
  );
}

// ---------------------------------------------------------------------------------------
// Endpoints.

async function handleFunction(
  kind: "query" | "mutation",
  req: http.IncomingMessage,
  res: http.ServerResponse,
  config: Config,
  note: (s: string) => void,
) {
  const injected = takeFault((f) => f.mode !== "reject" && f.mode !== "discard");
  if (injected !== "ok") {
    note(`fault=${injected}`);
    // Drain the unread body so a keep-alive connection stays usable for the retry.
    if (injected !== "hang_after_apply") req.resume();
  }
  if (injected === "down")
    return sendJson(res, 503, {
      code: "ServiceUnavailable",
      message: "injected: down",
    });
  if (injected === "error500")
    return sendJson(res, 500, {
      code: "InternalServerError",
      message: "injected",
    });
  if (injected === "error_status")
    return sendJson(res, 200, {
      status: "error",
      errorMessage: "injected",
      logLines: [],
    });
  // Never answered: the connection stays open until the caller gives up.
  if (injected === "hang") return;

  const call = parseFunctionCall(await readJson(req));
  note(`fn=${call.udfPath}`);
  const caller = await identify(req, config);
  const resolved = await resolveFunction(call.udfPath, kind);
  if (!resolved.found) {
    note("outcome=not_found");
    return sendJson(res, 200, {
      status: "error",
      errorMessage: resolved.errorMessage,
      logLines: [],
    });
  }
  if (resolved.internal && caller.kind !== "admin") {
    throw new HttpError(
      401,
      "Unauthorized",
      `${resolved.canonicalPath} is internal: call it with the admin key`,
    );
  }
  if (resolved.canonicalPath === "sync:applyBatch") {
    const matched = rejectedPgIds(call, fault.pgIds);
    if (
      matched.length > 0 &&
      takeFault((f) => f.mode === "reject") === "reject"
    ) {
      note("fault=reject");
      return sendJson(res, 200, {
        status: "error",
        errorMessage: `injected rejection of ${matched.join(", ")}`,
        errorData: { code: "injected_reject", pgIds: matched },
        logLines: [],
      });
    }
  }

  if (
    resolved.canonicalPath === "sync:applyBatch" &&
    takeFault((f) => f.mode === "discard") === "discard"
  ) {
    // A sink for measuring the caller alone: answers as if every change applied, stores nothing.
    note("fault=discard");
    const changes = isObject(call.args) && Array.isArray(call.args.changes) ? call.args.changes : [];
    return sendJson(res, 200, {
      status: "success",
      value: {
        results: changes.map((c) => ({
          entity: isObject(c) ? c.entity : null,
          pgId: isObject(c) ? c.pgId : null,
          result: "applied",
        })),
      },
      logLines: [],
    });
  }

  const as =
    caller.kind === "user" ? backend.withIdentity(caller.identity) : backend;
  const name = resolved.canonicalPath;
  let reply;
  try {
    const value = await serialized(() =>
      kind === "query"
        ? as.query(
            makeFunctionReference<"query", Record<string, Value>, Value>(name),
            call.args,
          )
        : as.mutation(
            makeFunctionReference<"mutation", Record<string, Value>, Value>(
              name,
            ),
            call.args,
          ),
    );
    if (resolved.canonicalPath === "sync:applyBatch") countResults(value);
    const ts = kind === "mutation" ? sync?.committed() : undefined;
    if (ts !== undefined && resolved.canonicalPath === "sync:applyBatch") traceCommits(call, ts);
    reply = {
      status: "success",
      value: convexToJson(value as Value),
      logLines: [],
    };
  } catch (err) {
    reply = functionError(err);
  }
  note(`outcome=${reply.status}`);
  // The write is committed, only the answer is lost: what a caller sees when its
  // timeout fires after Convex applied the batch.
  if (injected === "hang_after_apply") return;
  sendJson(res, 200, reply);
}

async function dump() {
  return serialized(() =>
    backend.run(async (ctx) => {
      const tables: Record<string, unknown[]> = {};
      for (const table of SYNCED_TABLES) {
        const docs = await ctx.db.query(table).collect();
        tables[table] = docs.map(({ _id, _creationTime, ...fields }) =>
          convexToJson(fields as Value),
        );
      }
      return tables;
    }),
  );
}

function parseFault(body: unknown): Fault {
  if (!isObject(body) || !FAULT_MODES.includes(body.mode as FaultMode)) {
    throw new HttpError(
      400,
      "BadFault",
      `'mode' must be one of ${FAULT_MODES.join(", ")}`,
    );
  }
  const { mode, count, pgIds } = body as {
    mode: FaultMode;
    count?: unknown;
    pgIds?: unknown;
  };
  if (
    count !== undefined &&
    !(Number.isInteger(count) && (count as number) > 0)
  ) {
    throw new HttpError(400, "BadFault", "'count' must be a positive integer");
  }
  if (
    mode === "reject" &&
    !(Array.isArray(pgIds) && pgIds.every((id) => typeof id === "string"))
  ) {
    throw new HttpError(
      400,
      "BadFault",
      "'reject' needs 'pgIds', a list of strings",
    );
  }
  return {
    mode,
    remaining: (count as number | undefined) ?? null,
    pgIds: new Set(mode === "reject" ? (pgIds as string[]) : []),
  };
}

async function handleControl(
  route: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  config: Config,
) {
  requireAdmin(await identify(req, config));
  if (route === "POST /_standin/fault") {
    fault = parseFault(await readJson(req));
    // Down: open sockets close too, and new ones are refused until the fault ends.
    if (fault.mode === "down") sync?.closeAll(1011, "InternalServerError: injected down");
    return sendJson(res, 200, {
      mode: fault.mode,
      remaining: fault.remaining,
      pgIds: [...fault.pgIds],
    });
  }
  if (route === "GET /_standin/dump") return sendJson(res, 200, await dump());
  if (route === "GET /_standin/trace") return sendJson(res, 200, trace());
  if (route === "POST /_standin/trace/reset") {
    firstCommits.clear();
    sync?.timing.reset();
    return sendJson(res, 200, {});
  }
  if (route === "GET /_standin/stats") {
    const { inFlightMutations: _, ...counts } = stats;
    return sendJson(res, 200, counts);
  }
  if (route === "POST /_standin/reset") {
    await serialized(async () => {
      backend = newBackend();
    });
    sync?.committed();
    fault = { mode: "ok", remaining: null, pgIds: new Set() };
    Object.assign(stats, {
      mutationCalls: 0,
      queryCalls: 0,
      applied: 0,
      stale: 0,
      deleted: 0,
      maxInFlightMutations: stats.inFlightMutations,
    });
    return sendJson(res, 200, {});
  }
  throw new HttpError(404, "NotFound", `No such endpoint: ${route}`);
}

function handler(config: Config): http.RequestListener {
  return async (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const route = `${req.method} ${url.pathname}`;
    const notes: string[] = [];
    res.on("close", () => {
      const outcome = res.writableFinished
        ? String(res.statusCode)
        : "unanswered";
      const ms = (performance.now() - started).toFixed(1);
      process.stderr.write(
        `convex-standin ${route} ${outcome} ${ms}ms ${notes.join(" ")}\n`,
      );
    });
    try {
      if (route === "POST /api/mutation") {
        stats.mutationCalls += 1;
        // Counted before the queue, so a caller that overlaps its pushes shows up here.
        stats.inFlightMutations += 1;
        stats.maxInFlightMutations = Math.max(
          stats.maxInFlightMutations,
          stats.inFlightMutations,
        );
        res.on("close", () => (stats.inFlightMutations -= 1));
        await handleFunction("mutation", req, res, config, (s) =>
          notes.push(s),
        );
      } else if (route === "POST /api/query") {
        stats.queryCalls += 1;
        await handleFunction("query", req, res, config, (s) => notes.push(s));
      } else if (config.control && url.pathname.startsWith("/_standin/")) {
        await handleControl(route, req, res, config);
      } else {
        throw new HttpError(
          404,
          "NotFound",
          `The stand-in does not serve ${route}`,
        );
      }
    } catch (err) {
      if (err instanceof HttpError) {
        sendJson(res, err.status, { code: err.code, message: err.message });
      } else {
        process.stderr.write(
          `convex-standin: ${(err as Error).stack ?? err}\n`,
        );
        sendJson(res, 500, {
          code: "InternalServerError",
          message: String(err),
        });
      }
    }
  };
}

async function main() {
  // stdout carries the ready line alone; a function's console output goes to stderr.
  console.log = console.info = console.debug = console.error;
  const config = await readConfig(process.env);
  const server = http.createServer(handler(config));
  sync = new SyncProtocol(
    {
      serialized,
      resolve: resolveFunction,
      run: (kind, name, args, caller) => {
        const as =
          caller.kind === "user" ? backend.withIdentity(caller.identity) : backend;
        return kind === "query"
          ? as.query(makeFunctionReference<"query", Record<string, Value>, Value>(name), args)
          : as.mutation(
              makeFunctionReference<"mutation", Record<string, Value>, Value>(name),
              args,
            );
      },
      functionError,
      // The same check as an HTTP `Authorization: Bearer` header.
      verifyUserToken: async (token) => {
        const caller = await identify(
          { headers: { authorization: `Bearer ${token}` } } as http.IncomingMessage,
          config,
        );
        if (caller.kind !== "user") throw new Error("Not a user token");
        return caller.identity;
      },
      isAdminKey: (key) => secretMatches(key, config.adminKey),
      refusing: () => fault.mode === "down",
    },
    (line) => process.stderr.write(`${line}\n`),
    syncOptionsFromEnv(process.env),
  );
  server.on("upgrade", sync.handleUpgrade);
  const stop = () => {
    sync?.terminateAll();
    // Also drops connections held open by the hang faults.
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  server.listen(config.port, "127.0.0.1", () => {
    const { port } = server.address() as { port: number };
    // The only line on stdout: callers wait for it and read the port from it.
    process.stdout.write(
      `convex-standin listening on http://127.0.0.1:${port}\n`,
    );
  });
}

await main();
