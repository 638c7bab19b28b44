#!/usr/bin/env bash
# Benchmark `wsfp pcap` on a large synthetic capture, and tshark on a slice of the same traffic.
#
#   scripts/bench_pcap.sh [MEGABYTES=1100] [FLOWS=1000] [TSHARK_MEGABYTES=50|full]
#
# Builds the release binary and examples/synth_pcap.rs (into $CARGO_TARGET_DIR, default target/),
# writes a capture of MEGABYTES (in /tmp, deleted afterwards) with FLOWS interleaved WebSocket
# connections, and measures on one thread: wall time, MB/s, CPU and peak RSS (/usr/bin/time -v)
# of `wsfp pcap` writing its logs to /dev/null. Every line names the flags it ran with:
#   wsfp pcap FILE                     the default: every log, with the passive fingerprint hint
#   wsfp pcap --no-fingerprint FILE    the same logs without the hint (no DB loaded or scored)
#   wsfp pcap --frames FILE            the default plus the websocket_frame log
# tshark takes about 100 s per GB, so by default it runs on a TSHARK_MEGABYTES capture of the
# same traffic (the generator's first TSHARK_MEGABYTES), with `-Y websocket -T fields`, and its
# MB/s is compared with the default `wsfp pcap` on that slice. TSHARK_MEGABYTES=full runs tshark
# (and wsfp once more) on the big capture itself: the side-by-side figure on one file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MB=${1:-1100}; FLOWS=${2:-1000}; TMB=${3:-50}
cargo build -q --release --bin wsfp --example synth_pcap
T=${CARGO_TARGET_DIR:-target}/release
BIG=$(mktemp /tmp/wsfp-bench-XXXXXX.pcap); SMALL=$(mktemp /tmp/wsfp-bench-small-XXXXXX.pcap)
trap 'rm -f "$BIG" "$SMALL"' EXIT
"$T"/examples/synth_pcap "$BIG" "$MB" "$FLOWS"
if [ "$TMB" = full ]; then
  ln -sf "$BIG" "$SMALL"
else
  "$T"/examples/synth_pcap "$SMALL" "$TMB" "$FLOWS"
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
read -r _ W RSS C < <(measure wsfp "$T/wsfp" pcap --stats "$BIG")
grep '"stats"' /tmp/wsfp-bench-time.txt | head -1 || true
read -r _ WN RSSN CN < <(measure wsfp-nofp "$T/wsfp" pcap --no-fingerprint "$BIG")
read -r _ WF RSSF CF < <(measure wsfp-frames "$T/wsfp" pcap --frames "$BIG")
BULK=$(mktemp /tmp/wsfp-bench-bulk-XXXXXX.pcap); trap 'rm -f "$BIG" "$SMALL" "$BULK"' EXIT
"$T"/examples/synth_pcap "$BULK" "$((MB / 2))" 100 16384
BSIZE=$(stat -c %s "$BULK")
read -r _ BW BRSS BC < <(measure wsfp-bulk "$T/wsfp" pcap "$BULK")
read -r _ SW SRSS SC < <(measure wsfp-small "$T/wsfp" pcap "$SMALL")
read -r _ TW TRSS TC < <(measure tshark tshark -o tcp.reassemble_out_of_order:TRUE -r "$SMALL" -Y websocket \
    -T fields -e websocket.opcode -e websocket.payload_length)
python3 - "$SIZE" "$W" "$RSS" "$C" "$WN" "$RSSN" "$CN" "$WF" "$RSSF" "$CF" "$BSIZE" "$BW" "$BRSS" "$BC" \
    "$SSIZE" "$SW" "$SC" "$SRSS" "$TW" "$TRSS" "$TC" "$FLOWS" "$TMB" <<'PY'
import sys
(size, w, rss, c, wn, rssn, cn, wf, rssf, cf, bsize, bw, brss, bc,
 ssize, sw, sc, srss, tw, trss, tc, flows) = (float(x) for x in sys.argv[1:-1])
part = "the full capture" if sys.argv[-1] == "full" else "slice"
mb = 1e6
def line(label, n, wall, cpu, rss):
    print(f"{label}: {n/mb:.0f} MB in {wall:.2f} s wall = {n/mb/wall:.0f} MB/s; "
          f"CPU {cpu:.2f} s = {n/mb/max(cpu,0.01):.0f} MB/s; peak RSS {int(rss)//1024} MiB")
line(f"wsfp pcap (all logs, fingerprint hint on), messages 20-1400 B, {flows:.0f} flows", size, w, c, rss)
line("wsfp pcap --no-fingerprint, the same capture", size, wn, cn, rssn)
line("wsfp pcap --frames, the same capture", size, wf, cf, rssf)
line("wsfp pcap, bulk (16 KiB messages in 1448-byte segments, 100 flows)", bsize, bw, bc, brss)
line(f"tshark -Y websocket -T fields, {part}", ssize, tw, tc, trss)
if part == "slice":
    print(f"  (tshark extrapolated to the full capture: {tw*size/ssize:.0f} s wall)")
line(f"wsfp pcap (default flags), {part} again", ssize, sw, sc, srss)
print(f"speed-up of wsfp pcap vs tshark on {part}: {tw/max(sw,0.01):.0f}x wall, {tc/max(sc,0.01):.0f}x CPU; "
      f"full-capture wsfp vs {part} tshark (MB/s): {(size/w)/(ssize/tw):.0f}x wall, {(size/max(c,0.01))/(ssize/tc):.0f}x CPU")
PY
