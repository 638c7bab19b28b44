#!/bin/bash
# Start lab servers from lab/manifest.tsv on 127.0.0.1, in the background, each in its own process group (setsid).
# usage: [ONLY="id ..."] [BASE_PORT=9001] [WSFP_LAB=/tmp/wsfp-lab] lab/start.sh
#   App variants: MANIFEST=lab/variants.tsv BASE_PORT=29101 lab/start.sh (rows of that file; its own BASE_PORT).
#   Ports: BASE_PORT + row index in the manifest (as in ../shared/lab/start_all.sh), whatever ONLY selects;
#   a plain TCP echo (for lighttpd-wstunnel, py-websockify) gets BASE_PORT + number of servers, only when needed.
#   An entry whose command uses {PORT:other} (the reverse proxies) pulls `other` in too.
# Run state (never in the repo): $WSFP_LAB_RUN (default $WSFP_LAB/run/$BASE_PORT):
#   ports.tsv (port implementation version id language probe), pids.tsv (pgid id port starttime), logs/ID.log
# Waits (at most START_TIMEOUT s, default 60) until every started port listens.
# Exit 0 if every selected server listens, 1 otherwise (the ones that did start stay up: run stop.sh).
set -u
case "${1:-}" in -h|--help) sed -n '2,11p' "$0"; exit 0 ;; "") ;; *) echo "start: no arguments (use ONLY=\"id ...\"); see --help" >&2; exit 2 ;; esac
set +m  # background jobs must not lead their own group, so `setsid` below execs in place and $! is the server's pid
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
load_manifest
RUN=$WSFP_LAB_RUN
TIMEOUT=${START_TIMEOUT:-60}
SEL=$(select_ids "" "${ONLY:-}") || exit 2
N=${#M_IDS[@]}
TCPECHO=$((BASE_PORT + N))
declare -A PORTOF=() WANT=()
for i in "${!M_IDS[@]}"; do PORTOF[${M_IDS[$i]}]=$((BASE_PORT + i)); done
for id in $SEL; do WANT[$id]=1; done
# pull in backends referenced as {PORT:id}
for id in $SEL; do
  c=${M_CMD[${M_IDX[$id]}]}
  while [[ "$c" =~ \{PORT:([a-z0-9-]+)\} ]]; do
    ref=${BASH_REMATCH[1]}; c=${c//\{PORT:$ref\}/}
    if [[ -z "${WANT[$ref]+x}" ]]; then echo "start: $id needs $ref, starting it too"; WANT[$ref]=1; fi
  done
done
if [ $((BASE_PORT + N)) -gt 65535 ] || [ "$BASE_PORT" -lt 1024 ]; then echo "start: BASE_PORT $BASE_PORT out of range" >&2; exit 2; fi

mkdir -p "$RUN/logs"
if [ -s "$RUN/pids.tsv" ]; then
  live=0
  while IFS=$'\t' read -r pid id port st; do [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 -- "-$pid" 2>/dev/null && live=$((live + 1)); done < "$RUN/pids.tsv"
  if [ $live -gt 0 ]; then echo "start: a lab is already running on base port $BASE_PORT ($live groups in $RUN/pids.tsv); run lab/stop.sh first" >&2; exit 1; fi
  echo "start: $RUN/pids.tsv is stale (nothing alive), replacing it"; mv "$RUN/pids.tsv" "$RUN/pids.tsv.stale"
fi
: > "$RUN/pids.tsv"
printf "port\timplementation\tversion\tid\tlanguage\tprobe\n" > "$RUN/ports.tsv"
FAILED=()

start_one() { # id port command
  local id=$1 port=$2 cmd=$3 exe
  if port_listening "$port"; then echo "start: port $port busy (not ours), skipping $id" >&2; FAILED+=("$id"); return 1; fi
  exe=${cmd%% *}
  if [[ "$exe" == /* && ! -x "$exe" ]]; then echo "start: $id not installed ($exe missing; run lab/install.sh)" >&2; FAILED+=("$id"); return 1; fi
  setsid bash -c "exec $cmd" > "$RUN/logs/$id.log" 2>&1 < /dev/null &
  local pid=$!
  printf "%s\t%s\t%s\t%s\n" "$pid" "$id" "$port" "$(proc_starttime "$pid")" >> "$RUN/pids.tsv"
}

T0=$SECONDS
need_echo=0
for id in "${!WANT[@]}"; do [[ "${M_CMD[${M_IDX[$id]}]}" == *"{TCPECHO}"* ]] && need_echo=1; done
if [ $need_echo -eq 1 ]; then
  start_one tcp-echo "$TCPECHO" "python3 $APPS/tcp_echo.py $TCPECHO" && \
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$TCPECHO" "plain TCP echo backend (NOT WebSocket; used by lighttpd-wstunnel, py-websockify)" "stdlib asyncio" tcp-echo Python none >> "$RUN/ports.tsv"
fi
for i in "${!M_IDS[@]}"; do
  id=${M_IDS[$i]}; [[ -n "${WANT[$id]+x}" ]] || continue
  port=${PORTOF[$id]}; c=${M_CMD[$i]}
  c=${c//\{D\}/$APPS}; c=${c//\{VENV\}/$VENV}; c=${c//\{VENVS\}/$WSFP_LAB/venvs}; c=${c//\{NPM\}/$WSFP_LAB/npm}; c=${c//\{BIN\}/$WSFP_LAB}; c=${c//\{TCPECHO\}/$TCPECHO}
  while [[ "$c" =~ \{PORT:([a-z0-9-]+)\} ]]; do ref=${BASH_REMATCH[1]}; c=${c//\{PORT:$ref\}/${PORTOF[$ref]}}; done
  c=${c//\{PORT\}/$port}
  start_one "$id" "$port" "$c" && \
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$port" "${M_IMPL[$i]}" "${M_VER[$i]}" "$id" "${M_LANG[$i]}" "${M_PROBE[$i]}" >> "$RUN/ports.tsv"
  sleep 0.1
done

# bounded wait until every started port listens; a server whose group died is reported at once
deadline=$((SECONDS + TIMEOUT))
declare -A UP=() DEAD=()
while :; do
  pending=0
  while IFS=$'\t' read -r pid id port st; do
    [[ -n "${UP[$id]+x}${DEAD[$id]+x}" ]] && continue
    if port_listening "$port"; then UP[$id]=1
    elif ! kill -0 -- "-$pid" 2>/dev/null; then DEAD[$id]=1
    else pending=$((pending + 1)); fi
  done < "$RUN/pids.tsv"
  [ $pending -eq 0 ] && break
  [ $SECONDS -ge $deadline ] && break
  sleep 0.5
done
while IFS=$'\t' read -r pid id port st; do
  if [[ -n "${UP[$id]+x}" ]]; then continue; fi
  if [[ -n "${DEAD[$id]+x}" ]]; then why="exited"; else why="not listening after ${TIMEOUT} s"; fi
  echo "start: $id (port $port, pgid $pid) $why; last log lines:" >&2
  tail -n 5 "$RUN/logs/$id.log" 2>/dev/null | sed 's/^/  | /' >&2
  FAILED+=("$id")
done < "$RUN/pids.tsv"
echo "start: ${#UP[@]} listening, ${#FAILED[@]} failed${FAILED[*]:+ (${FAILED[*]})} in $((SECONDS - T0)) s; base port $BASE_PORT; state in $RUN"
[ ${#FAILED[@]} -eq 0 ]
