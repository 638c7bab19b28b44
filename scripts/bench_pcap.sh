#!/usr/bin/env bash
# Benchmark `wsfp pcap` on a large synthetic capture, and tshark on a slice of the same traffic.
#
#   scripts/bench_pcap.sh [MEGABYTES=1100] [FLOWS=1000] [TSHARK_MEGABYTES=50|full]
#
# Builds the release binary and examples/synth_pcap.rs, writes a capture of MEGABYTES (in /tmp,
# deleted afterwards) with FLOWS interleaved WebSocket connections, and measures on one thread:
# wall time, MB/s and peak RSS (/usr/bin/time -v) of `wsfp pcap` writing all logs to /dev/null.
# tshark takes about 100 s per GB, so by default it runs on a TSHARK_MEGABYTES capture of the
# same traffic (the generator's first TSHARK_MEGABYTES), with `-Y websocket -T fields`, and its
# MB/s is compared. TSHARK_MEGABYTES=full runs tshark (and wsfp once more) on the big capture
# itself: the side-by-side figure on one file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MB=${1:-1100}; FLOWS=${2:-1000}; TMB=${3:-50}
cargo build -q --release --bin wsfp --example synth_pcap
BIG=$(mktemp /tmp/wsfp-bench-XXXXXX.pcap); SMALL=$(mktemp /tmp/wsfp-bench-small-XXXXXX.pcap)
trap 'rm -f "$BIG" "$SMALL"' EXIT
target/release/examples/synth_pcap "$BIG" "$MB" "$FLOWS"
if [ "$TMB" = full ]; then
  ln -sf "$BIG" "$SMALL"
else
  target/release/examples/synth_pcap "$SMALL" "$TMB" "$FLOWS"
fi
SIZE=$(stat -c %s "$BIG"); SSIZE=$(stat -L -c %s "$SMALL")
echo "capture: $SIZE bytes, $FLOWS concurrent flows"

# On a shared machine wall time includes waiting for a CPU, so the CPU time (user + sys) is
# reported too; MB/s per CPU-second is what one dedicated core would do.
measure() { # label, command...: prints wall seconds, peak RSS (KiB), CPU seconds
  local label=$1; shift
  /usr/bin/time -v "$@" > /dev/null 2> /tmp/wsfp-bench-time.txt || { cat /tmp/wsfp-bench-time.txt; exit 1; }
  local wall rss cpu
  wall=$(grep 'Elapsed (wall clock)' /tmp/wsfp-bench-time.txt | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident' /tmp/wsfp-bench-time.txt | awk '{print $NF}')
  cpu=$(awk '/User time|System time/ {s += $NF} END {print s}' /tmp/wsfp-bench-time.txt)
  echo "$label $wall $rss $cpu"
}
read -r _ W RSS C < <(measure wsfp target/release/wsfp pcap --no-fingerprint --stats "$BIG")
grep '"stats"' /tmp/wsfp-bench-time.txt | head -1 || true
read -r _ WF RSSF CF < <(measure wsfp-frames target/release/wsfp pcap --no-fingerprint --frames "$BIG")
BULK=$(mktemp /tmp/wsfp-bench-bulk-XXXXXX.pcap); trap 'rm -f "$BIG" "$SMALL" "$BULK"' EXIT
target/release/examples/synth_pcap "$BULK" "$((MB / 2))" 100 16384
BSIZE=$(stat -c %s "$BULK")
read -r _ BW BRSS BC < <(measure wsfp-bulk target/release/wsfp pcap --no-fingerprint "$BULK")
echo "wsfp pcap, bulk (16 KiB messages in 1448-byte segments, 100 flows): $((BSIZE / 1000000)) MB in $BW s wall = $(python3 -c "print(round($BSIZE/1e6/$BW))") MB/s; CPU $BC s = $(python3 -c "print(round($BSIZE/1e6/max($BC,0.01)))") MB/s; peak RSS $((BRSS / 1024)) MiB"
read -r _ SW SRSS SC < <(measure wsfp-small target/release/wsfp pcap --no-fingerprint "$SMALL")
read -r _ TW TRSS TC < <(measure tshark tshark -o tcp.reassemble_out_of_order:TRUE -r "$SMALL" -Y websocket \
    -T fields -e websocket.opcode -e websocket.payload_length)
python3 - "$SIZE" "$W" "$RSS" "$C" "$WF" "$RSSF" "$CF" "$SSIZE" "$SW" "$SC" "$TW" "$TRSS" "$TC" "$SRSS" <<'PY'
import sys
a = sys.argv[1:]
size, w, rss, c, wf, rssf, cf, ssize, sw, sc, tw, trss, tc, srss = (float(x) for x in a)
mb = 1e6
def line(label, n, wall, cpu, rss):
    print(f"{label}: {n/mb:.0f} MB in {wall:.2f} s wall = {n/mb/wall:.0f} MB/s; "
          f"CPU {cpu:.2f} s = {n/mb/max(cpu,0.01):.0f} MB/s; peak RSS {int(rss)//1024} MiB")
line("wsfp pcap, messages (20-1400 B, 1000 flows)", size, w, c, rss)
line("wsfp pcap, messages+frames", size, wf, cf, rssf)
line("tshark -Y websocket, slice", ssize, tw, tc, trss)
print(f"  (tshark extrapolated to the full capture: {tw*size/ssize:.0f} s wall)")
line("wsfp pcap, same slice", ssize, sw, sc, srss)
print(f"speed-up vs tshark on the slice: {tw/max(sw,0.01):.0f}x wall, {tc/max(sc,0.01):.0f}x CPU; "
      f"full-capture wsfp vs slice tshark (MB/s): {(size/w)/(ssize/tw):.0f}x wall, {(size/max(c,0.01))/(ssize/tc):.0f}x CPU")
PY
