-- filter.lua: keep paid orders, drop the rest.
-- Returning nil drops a message (its input still gets its acknowledgement).
function process(msg)
  if msg.record.status ~= "paid" then
    sluice.counter("orders_dropped", 1)
    return nil
  end
  return msg
end
