"""`fleetfix exec -- hostname` against Ansible's `raw` module and a plain pywinrm thread pool,
on one lab of N hosts (500 by default), NTLM over HTTP, in one run.

    .venv/bin/python benchmarks/exec_vs_ansible.py [--hosts 500] [--forks 50] [--skip-ansible]

The lab runs in its own process (`fleetfix lab up`, free ports on 127.77.x.y) so the clients
do not share its interpreter. Every tool gets the same hosts and the same parallelism; the
table counts the hosts each one reached, so a fast tool that skipped hosts cannot win.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import winrm

VENV_BIN = Path(sys.executable).parent


def start_lab(directory: Path, hosts: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [
        str(VENV_BIN / "fleetfix"), "lab", "up", "--hosts", str(hosts),
        "--scenario", "service-outage", "--seed", "1", "--dir", str(directory),
        "--ssh-port", "0", "--winrm-port", "0", "--winrms-port", "0",
    ]  # fmt: skip
    lab = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert lab.stdout is not None
    line = lab.stdout.readline()
    if not line:
        raise SystemExit("the lab did not start")
    return lab, json.loads(line)


def lab_credentials(lab_env: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in lab_env.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = "".join(shlex.split(value))  # lab.env quotes values for sh
    return values


def http_hosts(inventory_csv: Path) -> list[tuple[str, str, int]]:
    """(name, address, WinRM HTTP port) per lab host."""
    hosts = []
    with inventory_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            tags = dict(tag.split("=", 1) for tag in row["tags"].split(";") if "=" in tag)
            hosts.append((row["name"], row["address"], int(tags["winrm_port"])))
    return hosts


def write_inventories(directory: Path, hosts: list[tuple[str, str, int]], user: str) -> None:
    with (directory / "http.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "address", "port", "transport"])
        writer.writerows([name, address, port, "winrm"] for name, address, port in hosts)
    lines = ["[windows]"]
    lines += [f"{name} ansible_host={address} ansible_port={port}" for name, address, port in hosts]
    lines += [
        "", "[windows:vars]", f"ansible_user={user}", "ansible_connection=winrm",
        "ansible_winrm_transport=ntlm", "ansible_winrm_scheme=http",
        "ansible_winrm_message_encryption=auto", "",
    ]  # fmt: skip
    (directory / "http.ini").write_text("\n".join(lines), encoding="utf-8")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - began, done.stdout


def run_fleetfix(directory: Path, env: dict[str, str], forks: int) -> tuple[float, int]:
    code = "from fleetfix.cli_transport import exec_command; exec_command()"
    command = [
        sys.executable, "-c", code, "-i", str(directory / "http.csv"), "--concurrency",
        str(forks), "--db", str(directory / "bench.db"), "--json", "--", "hostname",
    ]  # fmt: skip
    seconds, stdout = timed(command, env)
    ok = sum(json.loads(line)["status"] == "ok" for line in stdout.splitlines() if line)
    return seconds, ok


def run_ansible(
    directory: Path, env: dict[str, str], forks: int, password: str
) -> tuple[float, int]:
    secrets = directory / "password.json"  # -e @file: the password stays off the process list
    secrets.write_text(json.dumps({"ansible_password": password}), encoding="utf-8")
    secrets.chmod(0o600)
    command = [
        str(VENV_BIN / "ansible"), "all", "-i", str(directory / "http.ini"), "-m", "raw",
        "-a", "hostname", "-f", str(forks), "-e", f"@{secrets}", "-o",
    ]  # fmt: skip
    seconds, stdout = timed(command, env | {"ANSIBLE_HOST_KEY_CHECKING": "False"})
    ok = sum(
        " | CHANGED | rc=0 " in line or " | SUCCESS | rc=0 " in line for line in stdout.splitlines()
    )
    return seconds, ok


def run_pywinrm_pool(hosts: list[tuple[str, str, int]], user: str, password: str,
                     forks: int) -> tuple[float, int]:  # fmt: skip
    def one(host: tuple[str, str, int]) -> bool:
        _, address, port = host
        session = winrm.Session(f"http://{address}:{port}/wsman", auth=(user, password),
                                transport="ntlm")  # fmt: skip
        try:
            return session.run_cmd("hostname").status_code == 0
        except Exception:  # a down host is a miss, as for the other tools
            return False

    began = time.perf_counter()
    with ThreadPoolExecutor(forks) as pool:
        ok = sum(pool.map(one, hosts))
    return time.perf_counter() - began, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--skip-ansible", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetfix-bench-") as temp:
        directory = Path(temp)
        lab, paths = start_lab(directory / "lab", args.hosts)
        try:
            creds = lab_credentials(Path(paths["lab_env"]))
            user, password = creds["FLEETFIX_USERNAME"], creds["FLEETFIX_PASSWORD"]
            hosts = http_hosts(Path(paths["inventory_csv"]))
            write_inventories(directory, hosts, user)
            env = dict(os.environ) | {"FLEETFIX_USERNAME": user, "FLEETFIX_PASSWORD": password}
            rows = [("fleetfix exec", *run_fleetfix(directory, env, args.forks))]
            if not args.skip_ansible:
                rows.append(("ansible -m raw", *run_ansible(directory, env, args.forks, password)))
            rows.append(
                ("pywinrm thread pool", *run_pywinrm_pool(hosts, user, password, args.forks))
            )
        finally:
            lab.terminate()
            lab.wait(30)
    print(f"{len(hosts)} lab hosts, NTLM over HTTP, parallelism {args.forks}\n")
    print("| tool | seconds | hosts ok | vs fleetfix |")
    print("|---|---:|---:|---:|")
    for name, seconds, ok in rows:
        print(f"| {name} | {seconds:.2f} | {ok} | {seconds / rows[0][1]:.1f}x |")


if __name__ == "__main__":
    main()
