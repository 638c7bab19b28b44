#!/bin/bash
# uWSGI (C) native websocket support, http-socket on 127.0.0.1 ; usage: PORT
cd "$(dirname "$0")"; exec /usr/bin/uwsgi --plugin python3 --http-socket "127.0.0.1:${1:-9001}" --wsgi-file uwsgi_echo.py --master --processes 1 --threads 4 --disable-logging --die-on-term
