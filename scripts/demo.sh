#!/usr/bin/env bash
# scripts/demo.sh (make demo): Warren's main jobs on one machine, no internet.
# A local bootstrap node stands in for the public HyperDHT; then a folder is
# shared and cloned peer to peer, and a local HTTP service is reached through
# a holesail-compatible tunnel. Everything runs under a temporary directory
# and on 127.0.0.1, and is stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

work=$(mktemp -d /tmp/warren-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

# wait_line FILE PATTERN: wait (up to 60 s) until FILE has a line matching PATTERN, print it.
wait_line() {
  for _ in $(seq 600); do
    if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

step "build"
go build -o "$work/warren" ./cmd/warren
w="$work/warren"

step "a local bootstrap node"
# A bootstrap node needs a fixed port: try a few random ones until one is free.
addr=
for _ in 1 2 3 4 5; do
  port=$((40000 + RANDOM % 20000))
  "$w" dht bootstrap --host 127.0.0.1 --port "$port" >"$work/boot.out" 2>"$work/boot.err" &
  bpid=$!
  for _ in $(seq 100); do
    grep -q '^listening ' "$work/boot.out" 2>/dev/null && break
    kill -0 "$bpid" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '^listening ' "$work/boot.out"; then
    pids+=("$bpid"); addr=127.0.0.1:$port; break
  fi
  kill "$bpid" 2>/dev/null || true
done
[ -n "$addr" ] || { echo "demo: could not start a bootstrap node:" >&2; cat "$work/boot.err" >&2; exit 1; }
export WARREN_BOOTSTRAP=$addr
echo "bootstrap at $addr"

step "share a folder"
mkdir -p "$work/folder/notes"
echo "hello from warren" >"$work/folder/hello.txt"
echo "peer to peer, no servers" >"$work/folder/notes/readme.md"
head -c 5000000 /dev/urandom >"$work/folder/big.bin"
"$w" --storage "$work/alice" share "$work/folder" >"$work/share.out" 2>"$work/share.err" &
pids+=($!)
wait_line "$work/share.out" '^ready ' >/dev/null
key=$(head -1 "$work/share.out")
echo "drive key: $key"

step "clone it from another peer"
"$w" --storage "$work/bob" clone "$key" "$work/copy"
diff -r "$work/folder" "$work/copy" && echo "the copy is identical"
"$w" --storage "$work/carol" cat "$key" /hello.txt

step "a tunnel to a local HTTP service"
if command -v python3 >/dev/null; then
  mkdir -p "$work/site" && echo "hello through the tunnel" >"$work/site/index.html"
  python3 -m http.server 18080 --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
  pids+=($!)
  "$w" --storage "$work/srv" tunnel serve --port 18080 >"$work/serve.out" 2>"$work/serve.err" &
  pids+=($!)
  wait_line "$work/serve.out" '^hs://' >/dev/null
  tkey=$(head -1 "$work/serve.out")
  "$w" --storage "$work/cli" tunnel connect "$tkey" --port 19090 >"$work/connect.out" 2>"$work/connect.err" &
  pids+=($!)
  wait_line "$work/connect.out" '^listening ' >/dev/null
  if command -v curl >/dev/null; then
    curl -s http://127.0.0.1:19090/
  else
    python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:19090/").read().decode(), end="")'
  fi
else
  echo "python3 not found: skipping the tunnel step (warren tunnel serve/connect work with any TCP service)"
fi

step "done"
