-- wrk script for `make bench`: POST one ~1 KB OpenAI chat request per call.
--
-- Environment (set by bench/tollgate_bench/processes.py):
--   BENCH_BODY_FILE  the JSON body; with BENCH_UNIQUE=1 every "__N__" in it is replaced
--                    by a per-request counter, so each request has a distinct cache key
--   BENCH_KEY        the team key sent as `Authorization: Bearer ...`
--   BENCH_UNIQUE     "1": a distinct body per request (cache miss + store every time)
--   BENCH_STOP_AFTER stop each thread after this many responses (0 = run for -d)
--   BENCH_PATH       the request path (default /v1/chat/completions)
--   BENCH_HEADERS    more request headers, "name: value" pairs separated by "|"
--                    (what another gateway needs to reach the same upstream)
--
-- `done` prints one line `BENCH_JSON {...}` that processes.py parses.

local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "kt_cg_support_prod")
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
   local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
   if name then
      wrk.headers[name] = value
   end
end

local unique = os.getenv("BENCH_UNIQUE") == "1"
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0") or 0
-- Distinct across wrk threads and across runs against the same Envoy.
local run_tag = os.getenv("BENCH_RUN_TAG") or tostring(os.time())

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("tid", next_id)
   table.insert(threads, thread)
end

local counter = 0
local responses = 0

if unique then
   function request()
      counter = counter + 1
      local n = run_tag .. "-" .. tostring(tid) .. "-" .. tostring(counter)
      return wrk.format(nil, nil, nil, (body:gsub("__N__", n)))
   end
end

if stop_after > 0 then
   function response(status, headers, resp_body)
      responses = responses + 1
      if responses >= stop_after then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
