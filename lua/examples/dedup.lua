-- dedup.lua: drop repeated orders (same id), remembering the last `max_ids` ids.
-- A bounded table by hand: a ring of ids plus a set; the oldest id is forgotten
-- when the ring is full. State is per worker: use workers = 1 (or ordered = true
-- with the id as key) so every id meets the same state.
local max_ids = 10000
local ring, seen, next_slot = {}, {}, 1

function init(conf)
  if conf.params and conf.params.max_ids then
    max_ids = conf.params.max_ids
  end
end

function process(msg)
  local id = msg.record.id
  if seen[id] then
    sluice.counter("duplicates", 1)
    return nil
  end
  local old = ring[next_slot]
  if old ~= nil then
    seen[old] = nil
  end
  ring[next_slot] = id
  seen[id] = true
  next_slot = next_slot % max_ids + 1
  return msg
end
