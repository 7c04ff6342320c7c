-- wrk script for bench/sentry.py and bench/posthog.py: POST pre-built (possibly binary,
-- gzip-compressed) bodies at saturation, each body once until the pool wraps.
--
--   BENCH_BODIES=bodies.rec BENCH_HEADERS=headers.txt \
--     wrk -t1 -c32 -d10s -s bench/sentry.lua http://127.0.0.1:8000/api/1/envelope/
--
-- BENCH_BODIES holds length-prefixed records, "<byte count>\n<bytes>", one after the other,
-- so a body may contain newlines or any byte (Sentry envelopes are newline-delimited, gzip
-- is binary). BENCH_HEADERS holds one "Name: value" line per request header. Requests are
-- built once in init, so wrk spends no time on Lua per request. Run with -t1: every wrk
-- thread walks the whole pool from the start, so two threads would send each body twice.
-- At the end one line "BENCH_JSON {...}" carries the figures the benchmark reads.

local requests = {}
local counter = 0

function init(args)
  local headers = {}
  for line in io.lines(os.getenv("BENCH_HEADERS")) do
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then
      headers[name] = value
    end
  end
  local file = assert(io.open(os.getenv("BENCH_BODIES"), "rb"))
  local data = file:read("*a")
  file:close()
  local pos = 1
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    requests[#requests + 1] = wrk.format("POST", nil, headers, data:sub(newline + 1, newline + length))
    pos = newline + 1 + length
  end
  data = nil
  collectgarbage()
end

function request()
  counter = counter + 1
  return requests[(counter - 1) % #requests + 1]
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
