-- split.lua: one message per order line.
-- Returning a list fans a message out; plain tables become new messages that
-- inherit whatever they do not set (key, headers, route, ...) from the order.
-- The order is acknowledged once every line is delivered. No items: dropped.
function process(msg)
  local order = msg.record
  local out = {}
  for i, item in ipairs(order.items) do
    out[#out + 1] = {
      record = { order_id = order.id, line = i, sku = item.sku, qty = item.qty },
      key = tostring(order.id),
    }
  end
  return out
end
