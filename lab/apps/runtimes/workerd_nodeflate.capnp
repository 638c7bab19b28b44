# workerd config for the lab: the echo app of workerd_ws.js (upgrade on /ws and /) with permessage-deflate off:
# compatibility flag no_web_socket_compression (workerd negotiates it by default from compatibility date 2023-08-15 on).
#   workerd serve --socket-addr http=127.0.0.1:PORT workerd_nodeflate.capnp
# One Config per file: older workerd (1.20250601.0, 1.20260601.1) ignore the const-name argument of `serve`.
# The socket's address here is a placeholder: --socket-addr on the command line always sets it.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:30599", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "workerd_ws.js")],
  compatibilityDate = "2024-09-23",
  compatibilityFlags = ["no_web_socket_compression"],
  bindings = [(name = "MODE", text = "echo")],
);
