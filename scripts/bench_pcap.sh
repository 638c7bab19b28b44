#!/usr/bin/env bash
# Benchmark `wsfp pcap` on a large synthetic capture, and tshark on a slice of the same traffic.
#
#   scripts/bench_pcap.sh [MEGABYTES=1100] [FLOWS=1000] [TSHARK_MEGABYTES=50]
#
# Builds the release binary and examples/synth_pcap.rs, writes a capture of MEGABYTES (in /tmp,
# deleted afterwards) with FLOWS interleaved WebSocket connections, and measures on one thread:
# wall time, MB/s and peak RSS (/usr/bin/time -v) of `wsfp pcap` writing all logs to /dev/null.
# tshark takes minutes per 100 MB, so it runs on a TSHARK_MEGABYTES capture of the same traffic
# (the generator's first TSHARK_MEGABYTES), with `-Y websocket -T fields`; its MB/s is compared.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MB=${1:-1100}; FLOWS=${2:-1000}; TMB=${3:-50}
cargo build -q --release --bin wsfp --example synth_pcap
BIG=$(mktemp /tmp/wsfp-bench-XXXXXX.pcap); SMALL=$(mktemp /tmp/wsfp-bench-small-XXXXXX.pcap)
trap 'rm -f "$BIG" "$SMALL"' EXIT
target/release/examples/synth_pcap "$BIG" "$MB" "$FLOWS"
target/release/examples/synth_pcap "$SMALL" "$TMB" "$FLOWS"
SIZE=$(stat -c %s "$BIG"); SSIZE=$(stat -c %s "$SMALL")
echo "capture: $SIZE bytes, $FLOWS concurrent flows"

measure() { # label, command...: prints wall seconds and peak RSS
  local label=$1; shift
  /usr/bin/time -v "$@" > /dev/null 2> /tmp/wsfp-bench-time.txt || { cat /tmp/wsfp-bench-time.txt; exit 1; }
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' /tmp/wsfp-bench-time.txt | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident' /tmp/wsfp-bench-time.txt | awk '{print $NF}')
  echo "$label $wall $rss"
}
read -r _ W RSS < <(measure wsfp target/release/wsfp pcap --no-fingerprint --stats "$BIG")
grep '"stats"' /tmp/wsfp-bench-time.txt | head -1 || true
read -r _ WF RSSF < <(measure wsfp-frames target/release/wsfp pcap --no-fingerprint --frames "$BIG")
BULK=$(mktemp /tmp/wsfp-bench-bulk-XXXXXX.pcap); trap 'rm -f "$BIG" "$SMALL" "$BULK"' EXIT
target/release/examples/synth_pcap "$BULK" "$((MB / 2))" 100 16384
BSIZE=$(stat -c %s "$BULK")
read -r _ BW BRSS < <(measure wsfp-bulk target/release/wsfp pcap --no-fingerprint "$BULK")
echo "bulk (16 KiB messages in 1448-byte segments, 100 flows): $((BSIZE / 1000000)) MB in $BW s = $(python3 -c "print(round($BSIZE/1e6/$BW))") MB/s, peak RSS $((BRSS / 1024)) MiB"
read -r _ SW _ < <(measure wsfp-small target/release/wsfp pcap --no-fingerprint "$SMALL")
read -r _ TW TRSS < <(measure tshark tshark -o tcp.reassemble_out_of_order:TRUE -r "$SMALL" -Y websocket \
    -T fields -e websocket.opcode -e websocket.payload_length)
python3 - "$SIZE" "$W" "$RSS" "$WF" "$RSSF" "$SSIZE" "$SW" "$TW" "$TRSS" <<'PY'
import sys
size, w, rss, wf, rssf, ssize, sw, tw, trss = sys.argv[1:]
size, w, wf, ssize, sw, tw = int(size), float(w), float(wf), int(ssize), float(sw), float(tw)
mb = 1e6
print(f"wsfp pcap (messages):        {size/mb:.0f} MB in {w:.2f} s = {size/mb/w:.0f} MB/s, peak RSS {int(rss)//1024} MiB")
print(f"wsfp pcap (messages+frames): {size/mb:.0f} MB in {wf:.2f} s = {size/mb/wf:.0f} MB/s, peak RSS {int(rssf)//1024} MiB")
print(f"tshark on {ssize/mb:.0f} MB slice:   {tw:.2f} s = {ssize/mb/tw:.1f} MB/s, peak RSS {int(trss)//1024} MiB"
      f" (extrapolated to the full capture: {tw*size/ssize:.0f} s)")
print(f"wsfp on the same slice:      {sw:.2f} s = {ssize/mb/max(sw,1e-3):.0f} MB/s")
print(f"speed-up vs tshark: {(ssize/max(sw,1e-3))/(ssize/tw):.0f}x on the slice, "
      f"{(size/w)/(ssize/tw):.0f}x full-capture wsfp vs slice tshark")
PY
