-- wrk script for scripts/bench: at the end of a run, prints one line
--   BENCH_JSON {...}
-- with the request count, duration, errors and a fine set of latency
-- percentiles (microseconds), so run.py need not parse wrk's text.
local points = { 0, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 95, 97.5,
                 99, 99.5, 99.9, 99.99, 100 }

done = function(summary, latency, requests)
   local p = {}
   for _, q in ipairs(points) do
      p[#p + 1] = string.format('"%s": %d', tostring(q), latency:percentile(q))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "max": %d, "mean": %.3f, "stdev": %.3f, "percentiles": {%s}}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.max, latency.mean, latency.stdev, table.concat(p, ", ")))
end
