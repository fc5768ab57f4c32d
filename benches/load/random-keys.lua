-- wrk script: every request asks for a random key of a URL space
-- (/k/00000 .. /k/99999 by default), uniformly or Zipf-like. Usage:
--   wrk -s random-keys.lua URL -- [KEYS [PREFIX WIDTH [zipf]]]
-- e.g. -- 1000000 /f/ 7 zipf for /f/0000000 .. /f/0999999 where key k is
-- asked with probability proportional to 1/(k+1) (Zipf, s = 1: the 10% most
-- popular keys take 5/6 of the requests), as a CDN's traffic is skewed.
local keys = 100000
local prefix = "/k/"
local fmt = "%05d"
local zipf = false

function init(args)
   if args[1] ~= nil then
      keys = tonumber(args[1])
   end
   if args[2] ~= nil then
      prefix = args[2]
      fmt = "%0" .. tonumber(args[3] or "7") .. "d"
   end
   zipf = args[4] == "zipf"
   -- A different sequence per wrk thread and per run.
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

local function key()
   if zipf then
      -- floor(N^u) for u uniform in [0, 1) is log-uniform on 1..N:
      -- P(k) is proportional to 1/k.
      return math.min(math.floor(keys ^ math.random()), keys) - 1
   end
   return math.random(0, keys - 1)
end

function request()
   return wrk.format("GET", prefix .. string.format(fmt, key()))
end
