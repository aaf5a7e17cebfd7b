#!/usr/bin/env bash
# Set up fleetfix in its own virtual environment, start a simulated Windows fleet on loopback
# (the lab), import it as an incident would start, recover it, and show the record. Leaves no
# process behind. Options: HOSTS=200 SEED=7 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FLEETFIX_DEMO_VENV:-.venv-demo}"
hosts="${HOSTS:-50}"
seed="${SEED:-7}"
run_dir="${DEMO_DIR:-demo-run}"

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e .
export PATH="$PWD/$venv/bin:$PATH"

rm -rf "$run_dir"
mkdir -p "$run_dir"
# Port 22 needs root; elsewhere the lab's SSH listens on 2222 (WinRM keeps 5985/5986).
ssh_port=22
if [ "$(id -u)" != 0 ]; then ssh_port=2222; fi

echo "== starting a lab of $hosts hosts (crowdstrike-291, seed $seed)" >&2
fleetfix lab up --hosts "$hosts" --scenario crowdstrike-291 --seed "$seed" --time-scale 20 \
    --ssh-port "$ssh_port" --dir "$run_dir/lab" >"$run_dir/lab.json" 2>"$run_dir/lab.log" &
lab_pid=$!
trap 'kill -TERM "$lab_pid" 2>/dev/null; wait "$lab_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    [ -s "$run_dir/lab.json" ] && break
    kill -0 "$lab_pid" 2>/dev/null || { cat "$run_dir/lab.log" >&2; exit 1; }
    sleep 0.5
done
[ -s "$run_dir/lab.json" ] || { echo "lab did not come up; see $run_dir/lab.log" >&2; exit 1; }
cat "$run_dir/lab.log" >&2

# lab.env carries the lab's credentials, CA and known_hosts as FLEETFIX_* variables.
set -a
# shellcheck disable=SC1091
. "$run_dir/lab/lab.env"
set +a
export FLEETFIX_DB="$run_dir/fleetfix.db"

echo "== importing the fleet's inventory into $FLEETFIX_DB" >&2
fleetfix inventory import "$run_dir/lab/inventory.csv"
echo "== recovering the fleet with the crowdstrike-291 pack (canary wave first)" >&2
# Lab time runs 20x faster: a 90 s reboot takes under 5 s. Hosts that never answer go to the
# hands-on queue after 90 seconds, with their BitLocker key IDs from the lab's escrow export.
rc=0
fleetfix run -i "$run_dir/lab/inventory.csv" --pack crowdstrike-291 --canary 5 \
    --max-fail-percent 50 --watch-interval 0.1 --hands-on-after 90 --reboot-timeout 120 \
    --retry-deadline 60 --config "$run_dir/lab/fleetfix.toml" || rc=$?
# 7 = some hosts wait for hands at the console: expected, the scenario makes some unreachable.
if [ "$rc" != 0 ] && [ "$rc" != 7 ]; then
    echo "fleetfix run exited $rc" >&2
    exit "$rc"
fi
echo "== the incident database" >&2
fleetfix status
echo "== what the lab's hosts are really doing" >&2
fleetfix lab status --dir "$run_dir/lab"
echo "== the audit log" >&2
fleetfix audit verify
echo "demo finished: database $FLEETFIX_DB, lab files in $run_dir/lab" >&2
