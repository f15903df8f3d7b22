#!/usr/bin/env bash
# Commit rate of a local 4-validator network (`shroud testnet --dealer`, default node
# files, idle) with all up, then with validator 3 stopped by SIGKILL. Every process it starts
# it stops; the network's folder is removed at the end. Traffic stays on 127.0.0.1.
# Usage: benches/scripts/one-down.sh target/release/shroud [SECONDS]
set -euo pipefail
bin=$1; secs=${2:-30}
dir=$(mktemp -d)
"$bin" testnet --dir "$dir" --dealer >/dev/null 2>&1
pids=()
for i in 0 1 2 3; do
  RUST_LOG=warn "$bin" run --config "$dir/validator-$i/node.toml" 2>"$dir/v$i.log" &
  pids+=($!)
done
addr=$(grep http_address "$dir/committee.toml" | head -1 | sed 's/.*"\(.*\)"/\1/')
height() { curl -s -m 5 "$addr/v1/status" | sed 's/.*"committed_height":"\([0-9]*\)".*/\1/'; }
sleep 8
h0=$(height); sleep "$secs"; h1=$(height)
kill -9 "${pids[3]}"; sleep 5
h2=$(height); sleep "$secs"; h3=$(height)
echo "all up: $(( (h1 - h0) )) heights in ${secs} s; validator 3 stopped: $(( (h3 - h2) )) heights in ${secs} s"
for p in "${pids[@]:0:3}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
rm -rf "$dir"
