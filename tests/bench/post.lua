-- wrk script: POSTs a ~1 KB JSON event with a distinct primary key per
-- request (id = thread number * 2^32 + counter).
local counter = 0
local thread_id = 0
local padding = string.rep("x", 820)

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"id":%d,"type":"invoice.paid","created":1764187200,"livemode":false,' ..
    '"data":{"amount":4200,"currency":"eur","customer":"cus_9s6XKzkNRiz8i3"},"note":"%s"}',
    thread_id * 4294967296 + counter, padding)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
