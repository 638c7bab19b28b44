#!/bin/bash
# Stand-in for wsfp, to test lab/evaluate.sh's parsing without the real scanner:
#   WSFP=lab/fake_wsfp.sh lab/evaluate.sh --subset ci
# Answers the lab id that $WSFP_LAB_RUN/ports.tsv gives for the port of -u, as one NDJSON line.
# FAKE_WRONG=id misidentifies that id (as node-ws), FAKE_CRASH=id exits 3 with no output,
# FAKE_GARBAGE=id prints an incomplete record.
t=""; while [ $# -gt 0 ]; do [ "$1" = -u ] && t=${2:-}; shift; done
port=${t#127.0.0.1:}; port=${port%%/*}
id=$(awk -F'\t' -v p="$port" '$1 == p { print $4 }' "${WSFP_LAB_RUN:?}/ports.tsv")
[ "$id" = "${FAKE_WRONG:-}" ] && id=node-ws
[ "$id" = "${FAKE_CRASH:-}" ] && { echo "fake: connection reset" >&2; exit 3; }
[ "$id" = "${FAKE_GARBAGE:-}" ] && { echo "{\"implementation\": \"$id\", \"confidence\": 1.7, \"status\": \"ok\"}"; exit 0; }
printf '{"target":"%s","implementation":"%s","confidence":0.93,"status":"ok","elapsed_ms":412,"bytes_sent":2310,"connections":9,"observations":{"100":{},"101":{},"102":{}}}\n' "$t" "${id:-unknown}"
