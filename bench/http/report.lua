-- bench/http/report.lua — wrk's done() hook: prints one machine-readable line after wrk's
-- own report, so run.sh never has to parse wrk's human-readable units.
--
--   WRKJSON {"requests":N,"duration_us":N,"bytes":N,"errors":{...},"latency_us":{...}}
--
-- errors: connect/read/write/timeout are wrk's socket errors; status counts responses
-- with a status above 399 (wrk's "Non-2xx or 3xx responses").
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
