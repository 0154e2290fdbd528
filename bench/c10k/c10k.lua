-- bench/c10k/c10k.lua — wrk script for bench/c10k/run.sh.
--   wrk ... -s c10k.lua http://host:port/path                 the same path every request
--   wrk ... -s c10k.lua http://host:port/ -- random-article   /dynamic/<1..10000>, seeded
-- done() prints one machine-readable line (as bench/http/report.lua):
--   WRKJSON {"requests":N,"duration_us":N,"bytes":N,"errors":{...},"latency_us":{...}}
function init(args)
  if args[1] == "random-article" then
    math.randomseed(1)
    -- Defined only here: wrk then builds each request in Lua (for the other routes it
    -- sends one pre-built request, at full speed).
    request = function()
      return wrk.format(nil, "/dynamic/" .. math.random(1, 10000))
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
