#!/usr/bin/env bash
# Idle traffic of a mesh, from the kernel's own counters: N meshd processes in a network namespace of their own
# (root), so the TCP segments and IP bytes counted there are theirs alone, headers included. Prints one JSON line,
# then a second with the bytes by protocol (mycel_protocol_bytes_total, from each agent's /metrics; bench/wire-table.ts)
# next to the kernel's total, unless the bundle predates that metric; then how long the others take to suspect an
# agent stopped with SIGSTOP (bench/suspect-time.ts).
#   bench/idle-traffic.sh [BUNDLE=dist/meshd.mjs] [N=6] [IDLE_S=60] [WARM_S=25]
set -eu
BUNDLE=${1:-dist/meshd.mjs}; N=${2:-6}; IDLE=${3:-60}; WARM=${4:-25}
NS=mycel-idle-$$
NODE=${NODE:-node_modules/.bin/node}
ip netns add $NS; ip netns exec $NS ip link set lo up
D=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; sleep 1; ip netns del $NS; rm -rf $D; }
trap cleanup EXIT
for i in $(seq 0 $((N-1))); do
  join=(); [ $i -gt 0 ] && join=(--join /ip4/127.0.0.1/tcp/4100)
  ip netns exec $NS $NODE $BUNDLE --name n$i --data-dir $D/n$i --listen /ip4/127.0.0.1/tcp/$((4100+i)) --api 127.0.0.1:$((7500+i)) --driver none --log-level warn --registry-listen off "${join[@]}" >$D/n$i.log 2>&1 &
  pids+=($!)
  sleep 0.5
done
# The mesh forms and its first anti-entropy rounds end (give a loaded machine and a big mesh longer).
sleep $WARM
snap() { ip netns exec $NS awk '/^Tcp:/{getline; print $12}' /proc/net/snmp; ip netns exec $NS awk '/^IpExt:/{getline; print $9}' /proc/net/netstat; }
TABLE=dist/build/bench/wire-table.js
scrape() { ip netns exec $NS $NODE $TABLE snap 7500 $N $D >$1; }
t0=$(date +%s.%N); scrape $D/before.json
read s0 o0 < <(snap | tr '\n' ' '; echo)
sleep $IDLE
read s1 o1 < <(snap | tr '\n' ' '; echo)
scrape $D/after.json; t1=$(date +%s.%N)
echo "{\"bundle\":\"$BUNDLE\",\"agents\":$N,\"idleS\":$IDLE,\"segmentsPerAgentPerS\":$(echo "scale=2; ($s1-$s0)/$N/$IDLE" | bc),\"bytesPerAgentPerS\":$(echo "scale=1; ($o1-$o0)/$N/$IDLE" | bc)}"
if [ -s $D/after.json ] && [ "$(cat $D/after.json)" != "{}" ]; then
  $NODE $TABLE table $D/before.json $D/after.json $N $IDLE $(echo "$t1-$t0" | bc) $((o1-o0)) $((s1-s0))
fi
# A silent failure: the process stops, its sockets stay open, only the beats stop.
victim=$((N-1))
stoppedAt=$(date +%s%3N)
kill -STOP ${pids[$victim]}
ip netns exec $NS $NODE dist/build/bench/suspect-time.js 7500 $N $D $victim $stoppedAt
kill -CONT ${pids[$victim]}
