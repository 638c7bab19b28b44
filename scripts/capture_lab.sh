#!/usr/bin/env bash
# Capture real WebSocket traffic on loopback and check `wsfp pcap` against tshark on it.
#
#   scripts/capture_lab.sh [OUT.pcap]
#
# Starts tcpdump on `lo` (only 127.0.0.0/8 traffic), runs `wsfp demo` (an in-process farm of real
# tokio-tungstenite servers on 127.0.0.1, scanned by wsfp's probes), stops the capture, then
# compares wsfp's frames with tshark's (scripts/pcap_vs_tshark.py). Needs root (or capture
# capabilities), tcpdump, tshark. Only loopback is ever captured or scanned. The capture is a
# temporary file unless OUT is given; never commit it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-$(mktemp /tmp/wsfp-lab-XXXXXX.pcap)}
cargo build -q --bin wsfp
WSFP=$PWD/target/debug/wsfp

tcpdump -i lo -U -s 0 -w "$OUT" 'tcp and net 127.0.0.0/8' 2>/tmp/wsfp-tcpdump.log &
TCPDUMP=$!
trap 'kill "$TCPDUMP" 2>/dev/null || true' EXIT
sleep 1
"$WSFP" demo --format ndjson > /tmp/wsfp-lab-demo.ndjson
sleep 1
kill -INT "$TCPDUMP"; wait "$TCPDUMP" || true
trap - EXIT
echo "capture: $OUT ($(stat -c %s "$OUT") bytes)"
"$WSFP" pcap --out-dir "${OUT%.pcap}.logs" "$OUT"
wc -l "${OUT%.pcap}.logs"/*.ndjson
python3 scripts/pcap_vs_tshark.py "$WSFP" "$OUT"
