#!/bin/bash
# Stop exactly the process groups lab/start.sh recorded in $WSFP_LAB_RUN/pids.tsv (default $WSFP_LAB/run/$BASE_PORT):
# SIGTERM to each group (kill -- -PGID), SIGKILL after 5 s to any group still alive. No pkill/killall.
# A recorded leader that is alive but has another start time is a reused pid, not ours: left alone.
# usage: [BASE_PORT=9001] [WSFP_LAB=/tmp/wsfp-lab] lab/stop.sh        exit 1 if a group survived SIGKILL
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
P="$WSFP_LAB_RUN/pids.tsv"
[ -s "$P" ] || { echo "stop: nothing to stop ($P empty or missing)"; exit 0; }
# alive PGID: the group has a member that is not a zombie (a killed child waits a moment to be reaped)
alive() { kill -0 -- "-$1" 2>/dev/null && ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }
ours() { # pgid starttime: the group still exists and, if its leader lives, the leader is the process we started
  local now; alive "$1" || return 1
  now=$(proc_starttime "$1"); [ -z "$now" ] || [ -z "$2" ] || [ "$now" = "$2" ]
}
declare -A MINE=()
while IFS=$'\t' read -r pid id port st; do
  [[ "$pid" =~ ^[0-9]+$ ]] || continue
  if ours "$pid" "$st"; then MINE[$pid]=$id; kill -TERM -- "-$pid" 2>/dev/null
  elif alive "$pid"; then echo "stop: pid $pid ($id) is now another process (start time differs), not touching it" >&2; fi
done < "$P"
for _ in $(seq 1 25); do
  left=0; for pid in "${!MINE[@]}"; do alive "$pid" && left=$((left + 1)); done
  [ $left -eq 0 ] && break; sleep 0.2
done
for pid in "${!MINE[@]}"; do
  if alive "$pid"; then echo "stop: ${MINE[$pid]} (pgid $pid) ignored SIGTERM, sending SIGKILL"; kill -KILL -- "-$pid" 2>/dev/null; fi
done
sleep 0.3
left=0; for pid in "${!MINE[@]}"; do alive "$pid" && { echo "stop: ${MINE[$pid]} (pgid $pid) still alive" >&2; left=$((left + 1)); }; done
mv "$P" "$P.stopped"
echo "stop: stopped ${#MINE[@]} process groups under $WSFP_LAB_RUN ($left left alive)"
[ $left -eq 0 ]
