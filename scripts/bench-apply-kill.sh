#!/usr/bin/env bash
# bench-apply-kill.sh: kill -9 the real lifeline process in the middle of an apply,
# again and again, and show that resuming finishes the restore with nothing created
# twice.
#
#   scripts/bench-apply-kill.sh [USERS] [KILLS] [SCENARIO]   default 300 6 kitchen-sink
#
# It builds lifeline, starts 'lifeline sim serve --throttle realistic' (Graph's published
# budgets, so an apply takes long enough to be killed mid-flight), captures a baseline,
# injects the incident, builds the plan, then starts 'lifeline apply PLAN --yes' and
# sends it SIGKILL a random 1-4 s after its run started, KILLS times; each start resumes from the
# journal. A last apply runs to the end. Then 'lifeline verify' must exit 0: a
# duplicate (a user, group, app, policy created twice) would be an object the snapshot
# does not have, and verify would exit 3. It prints the ledger size and how many
# creates were found by natural key after a lost answer.
set -euo pipefail

cd "$(dirname "$0")/.."
users=${1:-300}
kills=${2:-6}
scenario=${3:-kitchen-sink}

work=$(mktemp -d)
sim_pid=""
cleanup() {
	if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building lifeline..." >&2
go build -o "$work/lifeline" ./cmd/lifeline
ll="$work/lifeline"

"$ll" sim serve --users "$users" --seed 7 --throttle realistic --addr 127.0.0.1:0 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 1 100); do
	if grep -q graph_url "$work/sim.out" 2>/dev/null; then break; fi
	sleep 0.1
done
url=$(sed -n 's/.*"graph_url":"\([^"]*\)".*/\1/p' "$work/sim.out" | head -1)
if [ -z "$url" ]; then echo "the sim printed no graph_url" >&2; exit 1; fi

db="$work/tenant.db"
plan="$work/plan.json"
echo "capture, $scenario, plan ($users users, realistic throttling)..." >&2
"$ll" capture --graph-url "$url" --out "$db" --label baseline >/dev/null
"$ll" drill incident "$scenario" --graph-url "$url" --seed 7 >/dev/null
"$ll" plan --db "$db" --from 1 --graph-url "$url" --out "$plan" | head -2

start=$(date +%s)
for i in $(seq 1 "$kills"); do
	"$ll" apply "$plan" --yes --json >"$work/apply-$i.jsonl" 2>"$work/apply-$i.err" &
	pid=$!
	# The kill lands once steps are going out: the first start reads the live tenant
	# to check the plan is current, and dying there would prove nothing.
	for _ in $(seq 1 1200); do
		if grep -q '"type":"run"' "$work/apply-$i.jsonl" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.1f", 1 + rand() * 3 }')"
	if kill -9 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
		done_steps=$(grep -c '"state":"done"' "$work/apply-$i.jsonl" || true)
		echo "kill -9 #$i: $done_steps steps done in that run" >&2
	else
		wait "$pid" || true
		echo "apply #$i finished before the kill" >&2
		finished=1
		break
	fi
done
# A plan is applied once: the last apply resumes only a run that was killed.
if [ -z "${finished:-}" ]; then
	"$ll" apply "$plan" --yes | tee "$work/final.txt"
fi
end=$(date +%s)

if "$ll" verify --db "$db" --snapshot 1 --graph-url "$url" >"$work/verify.txt"; then
	echo "verify: clean after $kills kills ($((end - start)) s of apply in all)"
else
	cat "$work/verify.txt"
	echo "verify found differences after kill -9 and resume" >&2
	exit 1
fi
echo "ledger: $("$ll" ledger --db "$db" --csv | tail -n +2 | wc -l) recreated objects, each once"
grep -h "found by natural key" "$work/final.txt" || true
