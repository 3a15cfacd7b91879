-- wrk script for the benchmarks: POSTs the file named by WRK_BODY_FILE (GET when unset) and,
-- when done, prints one "WRK_JSON {...}" line with exact counts and percentiles (microseconds).
-- With WRK_EXPECT set, every answer is checked: one whose status is not 200 or whose body lacks
-- that text counts as "unexpected" (statuses over 399 are wrk's own "status" errors already).
local path = os.getenv("WRK_BODY_FILE")
if path and path ~= "" then
  local f = assert(io.open(path, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/octet-stream"
end
unexpected = 0 -- per thread: each wrk thread runs this script in its own Lua state
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
local expect = os.getenv("WRK_EXPECT")
if expect and expect ~= "" then
  response = function(status, headers, body)
    if status < 400 and (status ~= 200 or not string.find(body, expect, 1, true)) then
      unexpected = unexpected + 1
    end
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"unexpected":%d,"mean_us":%f,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    bad, latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
