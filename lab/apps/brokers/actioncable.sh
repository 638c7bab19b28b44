#!/bin/bash
# ActionCable on puma (single mode, 127.0.0.1 only), for the wsfp lab.
# usage: actioncable.sh PORT [APP] [PATH] [origins]   APP: echo (default) | reject (see actioncable.ru); PATH: mount point
#   (/cable); origins: request forgery protection on, only 127.0.0.1/localhost origins allowed
cd "$(dirname "$0")"
export WSFP_CABLE_APP=${2:-echo} WSFP_CABLE_PATH=${3:-/cable} WSFP_CABLE_ORIGINS=$([ "${4:-}" = origins ] && echo 1 || echo 0)
exec /usr/bin/puma -b "tcp://127.0.0.1:$1" -t 1:4 -w 0 --quiet actioncable.ru
