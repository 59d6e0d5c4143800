-- wrk script for the mixed workload: reads GETs and comment POSTs from a plan file.
--   wrk ... -s bench/mixed.lua http://127.0.0.1:PORT -- PLAN_FILE ORIGIN
-- Plan lines (tab-separated):
--   GET  <path>
--   POST <path>        (a comment; the form carries no token, the site's Origin is sent)
-- The plan file lists 100 slots; each thread walks them in turn, so 5 POST lines = 5%.
-- Every comment text is unique, so the duplicate guard never turns a POST into a no-op:
-- across wrk runs too (the warm-up and the measured run on one server), by the second the
-- run began. Before, a measured run repeated its warm-up's texts, and those POSTs were
-- answered as repeats (no write, no page made stale): they inflated the mixed figures.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local plan = {}
local position = 0
sent = 0  -- a global, so done() can read it from each thread
local origin
local started  -- the second this run's threads began: one warm-up lasts a second at least

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "[^\t]+") do
    table.insert(fields, field)
  end
  return fields
end

local function urlencode(text)
  return (string.gsub(text, "[^%w%-_%.~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function init(args)
  origin = args[2]
  started = os.time()
  for line in io.lines(args[1]) do
    local f = split(line)
    if f[1] == "GET" then
      table.insert(plan, { kind = "GET", request = wrk.format("GET", f[2]) })
    elseif f[1] == "POST" then
      table.insert(plan, { kind = "POST", path = f[2] })
    end
  end
end

function request()
  position = position % #plan + 1
  local slot = plan[position]
  if slot.kind == "GET" then
    return slot.request
  end
  sent = sent + 1
  local text = string.format("Load test comment %d-%d-%d: ça marche, naïve café.", started, id, sent)
  local body = "name=bench&website=&text=" .. urlencode(text)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Origin"] = origin,
    ["Referer"] = origin .. slot.path,
  }
  return wrk.format("POST", slot.path, headers, body)
end

function done(summary, latency, requests)
  local posts = 0
  for _, thread in ipairs(threads) do
    posts = posts + (thread:get("sent") or 0)
  end
  io.write(string.format("POSTS %d\n", posts))
end
