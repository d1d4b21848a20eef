-- Whole conversations for wrk, as `examples/loadtest.rs` sends them: Bonjour
-- and five answers of the DRC flow, every person different, posted as
-- Twilio's form (unsigned: the server runs without TWILIO_AUTH_TOKEN, as
-- issue #15 measured). `benches/throughput.sh` drives its saturation runs so:
--
--   wrk -t2 -c32 -d10s -s benches/conversations.lua http://127.0.0.1:PORT -- 64
--
-- The argument is how many requests apart one person's turns are sent (at
-- least a few times the connections of a thread): wrk gives no way to keep
-- a person on one connection, so a person's next turn goes out that many
-- requests after the last, long after its answer came back, and every
-- conversation arrives in order whichever connections carry it. At the end
-- it prints the lines `benches/throughput.sh` reads, in the load test's words,
-- and how many conversations ended.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  spread = tonumber(args[1]) or 64
end

-- Three letters of each name go into the code: everyone's differ.
local function letters(n)
  local word = ""
  for _ = 1, 5 do
    word = word .. string.char(97 + n % 26)
    n = math.floor(n / 26)
  end
  return word
end

local function post(phone, message_id, body)
  local form = "AccountSid=AC00000000000000000000000000000000&ApiVersion=2010-04-01&Body=" .. body ..
    "&From=whatsapp%3A%2B" .. phone .. "&MessageSid=" .. message_id ..
    "&NumMedia=0&To=whatsapp%3A%2B14155238886&WaId=" .. phone
  return wrk.format("POST", "/whatsapp/webhook", { ["Content-Type"] = "application/x-www-form-urlencoded" }, form)
end

sent = 0 -- global, for done() to read
local primed = false

function request()
  -- wrk builds one request when a thread starts, and may send it: a greeting
  -- from a person of its own, who never goes on.
  if not primed then
    primed = true
    return post(string.format("24389%d0000000", thread_number), "SMprime" .. thread_number, "Bonjour")
  end
  local n = sent
  sent = sent + 1
  local step = math.floor(n / spread) % 6
  local person = math.floor(n / (6 * spread)) * spread + n % spread
  local who = thread_number * 10000000 + person
  local answers = { "Bonjour", letters(who), letters(math.floor(who / 17576) + 3), "1997", "Dakar", "1" }
  return post(string.format("24381%d%07d", thread_number, person), "SM" .. thread_number .. "x" .. n, answers[step + 1])
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local ms = function(p) return latency:percentile(p) / 1000 end
  io.write(string.format("turns         %d (%.0f turns/s)\n", summary.requests, summary.requests / seconds))
  io.write(string.format("latency ms    p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
    ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000))
  -- wrk does not read the replies; the conversations that got their last
  -- answer are how many codes the database should hold, which
  -- `benches/throughput.sh` checks.
  local ended = 0
  for _, thread in ipairs(threads) do
    local n, spread = thread:get("sent"), thread:get("spread")
    local per_round = 6 * spread
    ended = ended + math.floor(n / per_round) * spread + math.max(0, n % per_round - 5 * spread)
  end
  io.write(string.format("conversations %d ended\n", ended))
  io.write(string.format("errors        %d failed requests, unchecked wrong codes\n",
    e.connect + e.read + e.write + e.status + e.timeout))
end
