#!/bin/bash
# ActionCable on puma (single mode, 127.0.0.1 only), for the wsfp lab.
# usage: actioncable.sh PORT [APP] [PATH]   APP: echo (default) | reject (see actioncable.ru); PATH: mount point (/cable)
cd "$(dirname "$0")"
export WSFP_CABLE_APP=${2:-echo} WSFP_CABLE_PATH=${3:-/cable}
exec /usr/bin/puma -b "tcp://127.0.0.1:$1" -t 1:4 -w 0 --quiet actioncable.ru
