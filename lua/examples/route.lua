-- route.lua: route orders by content; outputs pick them with `match`.
-- Orders worth 100 or more go to route "orders.big", the rest to "orders.small".
function process(msg)
  local total = 0
  for _, item in ipairs(msg.record.items) do
    total = total + item.qty * item.price
  end
  msg.route = total >= 100 and "orders.big" or "orders.small"
  return msg
end
