-- wrk script: POST /api/restaurants/{rid}/orders as guests, three items each, a unique
-- Idempotency-Key per request. BENCH_TARGETS names a file of lines
--   <restaurant id> <guest session token> <item id> <item id> <item id>
-- written by bench/run.py; requests go round-robin over them. BENCH_RUN keeps keys of
-- different runs apart. done() prints one JSON line for bench/run.py.
-- thread_id is a global on purpose: setup() sets it in each thread's own Lua state with
-- thread:set, which a local of the same name would shadow (every thread would then be thread 0,
-- and two threads would send the same key to the same restaurant: replays, not orders).
local next_thread = 0
local targets, counter = {}, 0
thread_id = 0

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TARGETS")) do
    local rid, token, a, b, c = line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
    targets[#targets + 1] = {
      path = "/api/restaurants/" .. rid .. "/orders",
      headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
      body = string.format(
        '{"items":[{"menu_item_id":"%s","quantity":1},{"menu_item_id":"%s","quantity":2},{"menu_item_id":"%s","quantity":1}]}',
        a, b, c),
    }
  end
end

function request()
  counter = counter + 1
  local t = targets[(counter + thread_id * 7) % #targets + 1]
  t.headers["Idempotency-Key"] = string.format("%s-%d-%d", os.getenv("BENCH_RUN") or "wrk", thread_id, counter)
  return wrk.format("POST", t.path, t.headers, t.body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
