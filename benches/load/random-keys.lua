-- wrk script: every request asks for a random key of the 100k-URL space
-- (/k/00000 .. /k/99999 by default). Usage:
--   wrk -s random-keys.lua URL -- [KEYS]
local keys = 100000

function init(args)
   if args[1] ~= nil then
      keys = tonumber(args[1])
   end
   -- A different sequence per wrk thread and per run.
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
   return wrk.format("GET", string.format("/k/%05d", math.random(0, keys - 1)))
end
