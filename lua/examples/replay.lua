-- replay.lua: dead letters fed back through a pipeline (configs/replay_dead_letters.conf).
-- The envelope codec restores each message as it was before it failed; why it
-- failed is in msg.source.failure (its x-sluice-* headers). This stands for the
-- fixed handler: it notes the old error on the record and passes the message on.
function process(msg)
  local failure = msg.source.failure
  if failure and msg.record then
    msg.record.replayed_after = failure["x-sluice-error"]
  end
  sluice.counter("replayed", 1)
  return msg
end
