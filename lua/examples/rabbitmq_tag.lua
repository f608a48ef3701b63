-- rabbitmq_tag.lua - tag each record with where it came from in RabbitMQ
-- (configs/rabbitmq_to_kafka_lua.conf). AMQP properties and delivery facts
-- arrive as amqp_* headers. Records that are not JSON objects pass unchanged.
function process(msg)
  if type(msg.record) == "table" then
    msg.record.tagged_by = "sluice"
    msg.record.message_id = msg.headers.amqp_message_id
    msg.record.routing_key = msg.headers.amqp_routing_key
    msg.record.queue = msg.source.name
  end
  msg.headers["x-tagged"] = "1"
  return msg
end
