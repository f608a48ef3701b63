-- quickstart.lua: the handler `make run` shows. Adds each order's total,
-- counts the unpaid ones, and routes orders over 100 to their own label.
function process(msg)
  local order = msg.record
  local total = 0
  for _, item in ipairs(order.items) do
    total = total + item.qty * item.price
  end
  order.total = total
  if not order.paid then
    sluice.counter("unpaid", 1)
  end
  if total > 100 then
    msg.route = "big-orders"
  end
  return msg
end
