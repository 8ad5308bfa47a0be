-- wrk script for the ingest benchmark: POSTs the beacons listed in a data file that
-- scripts/benchmarks/ingest.py writes, in order and round and round, each request with its own
-- User-Agent, Accept-Language and X-Forwarded-For (the visitor's address behind a trusted proxy).
-- The data file's first line is the collect path; each further line is one beacon:
-- body, User-Agent, Accept-Language and address, separated by tabs (none occurs in a field).
--
--   wrk ... URL -- DATA_FILE OFFSET
--
-- Every request is formatted once, at start, so wrk spends its time sending, not building
-- strings: it shares the machine with the server it measures. done() prints one line,
-- "BENCH-RESULT {json}", for ingest.py to read.

local prepared = {}
local position = 1

function init(args)
  local lines = io.lines(args[1])
  local path = lines()
  for line in lines do
    local body, agent, language, address = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
    assert(body, "not a beacon line: " .. line)
    prepared[#prepared + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "text/plain",
      ["User-Agent"] = agent,
      ["Accept-Language"] = language,
      ["X-Forwarded-For"] = address,
    }, body)
  end
  position = (tonumber(args[2]) or 0) % #prepared + 1
end

function request()
  local r = prepared[position]
  position = position % #prepared + 1
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "latency_p50_us": %d, "latency_p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
