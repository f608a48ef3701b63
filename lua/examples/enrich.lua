-- enrich.lua: add computed fields to every order.
-- Each order gains `total` (sum of qty * price; an integer when every price is),
-- `items_count`, an upper-case `country`, and `tag` from the handler's params.
local tag = "enriched"

function init(conf)
  -- conf is the handler's config group; free-form settings live in conf.params
  if conf.params and conf.params.tag then
    tag = conf.params.tag
  end
end

function process(msg)
  local order = msg.record
  if order == nil then
    error("not a JSON record")
  end
  local total = 0
  for _, item in ipairs(order.items) do
    total = total + item.qty * item.price
  end
  order.total = total
  order.items_count = #order.items
  order.country = string.upper(order.country)
  order.tag = tag
  return msg
end
