-- kafka_tag.lua - tag each Kafka record with where it came from (configs/kafka_to_kafka_lua.conf).
-- Records that are not JSON objects pass through unchanged.
function process(msg)
  if type(msg.record) == "table" then
    msg.record.tagged_by = "sluice"
    if msg.source then
      msg.record.from = msg.source
    end
  end
  msg.headers["x-tagged"] = "1"
  return msg
end
