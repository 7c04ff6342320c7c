-- wrk script for bench/ingest.py: POST JSON bodies to one ingest endpoint at saturation.
--
--   BENCH_BODIES=bodies.jsonl BENCH_KEY=<public key> \
--     wrk -t1 -c32 -d10s -s bench/post.lua http://127.0.0.1:8000/api/monitoring/security
--
-- BENCH_BODIES holds one JSON document per line; each connection rotates through them.
-- The requests are built once per thread, so wrk spends no time on Lua per request.
-- At the end one line "BENCH_JSON {...}" carries the figures bench/ingest.py reads.

local requests = {}
local counter = 0

function init(args)
  local path = os.getenv("BENCH_BODIES")
  local key = os.getenv("BENCH_KEY")
  local agent = os.getenv("BENCH_USER_AGENT") or "Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0"
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Syncmon-Key"] = key,
    ["User-Agent"] = agent,
  }
  for line in io.lines(path) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  counter = math.random(#requests)
end

function request()
  counter = counter + 1
  return requests[counter % #requests + 1]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
