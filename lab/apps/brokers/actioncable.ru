# ActionCable (Rails 6.1, Debian ruby-actioncable) mounted at /cable in a bare rack app, on puma; run via actioncable.sh.
# No Rails application: only action_cable, with the in-process `async` subscription adapter (no Redis, no database).
# ActionCable volunteers {"type":"welcome"} as soon as the WebSocket opens, then {"type":"ping","message":UNIX_TIME}
# every 3 s; subprotocols actioncable-v1-json (picked) and actioncable-unsupported.
# The app is chosen by WSFP_CABLE_APP (set by actioncable.sh):
#   echo   (default): channel EchoChannel; {"command":"subscribe","identifier":"{\"channel\":\"EchoChannel\"}"} is
#          confirmed, and each {"command":"message",...,"data":"{...}"} is transmitted back to the subscriber.
#   reject: the connection is refused in `connect` (reject_unauthorized_connection): the server sends
#          {"type":"disconnect","reason":"unauthorized","reconnect":false} and closes.
# WSFP_CABLE_ORIGINS=1 (config variant): request forgery protection on, as a Rails app has it by default, with
#   allowed_request_origins = http(s)://127.0.0.1[:port] and localhost: a handshake from another Origin, or none, is
#   refused (ActionCable answers 404 to it, and logs "Request origin not allowed").
require 'logger'
require 'action_cable'

APP = ENV.fetch('WSFP_CABLE_APP', 'echo')
MOUNT = ENV.fetch('WSFP_CABLE_PATH', '/cable')

module ApplicationCable
  class Connection < ActionCable::Connection::Base
    def connect
      reject_unauthorized_connection if APP == 'reject'
    end
  end

  class Channel < ActionCable::Channel::Base
  end
end

class EchoChannel < ApplicationCable::Channel
  def receive(data)
    transmit(data)
  end
end

ActionCable.server.config.cable = { 'adapter' => 'async' }
ActionCable.server.config.connection_class = -> { ApplicationCable::Connection }
if ENV['WSFP_CABLE_ORIGINS'] == '1'
  ActionCable.server.config.disable_request_forgery_protection = false
  ActionCable.server.config.allowed_request_origins = [%r{\Ahttps?://(127\.0\.0\.1|localhost)(:\d+)?\z}]
else
  ActionCable.server.config.disable_request_forgery_protection = true
end
ActionCable.server.config.logger = Logger.new($stderr, level: Logger::WARN)
ActionCable.server.config.worker_pool_size = 4

map MOUNT do
  run ActionCable.server
end
map '/' do
  run ->(_env) { [404, { 'content-type' => 'text/plain' }, ["not found\n"]] }
end
