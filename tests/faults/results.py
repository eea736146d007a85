"""Writes tests/faults/RESULTS.md (on stdout) from the JSON lines that the
fault scenarios' report() appended during `tests/run faults`."""
import datetime
import json
import os
import platform
import sys


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1048576
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB memory, {platform.system()} {platform.release()}"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    print("# hookpipe fault scenarios\n")
    print(f"Written by `tests/run faults` (part of `make test`) on {now}.")
    print(f"Machine: {machine()}.\n")
    print("Each scenario runs against the real local stack (Kafka, PostgreSQL, registry,")
    print("gateway, sinks) under load. *lost* counts events answered 2xx that are not in")
    print("the warehouse (must be 0); *duplicated* counts extra rows for a primary key")
    print("(must be 0). Events not answered 2xx stay with their sender, as a webhook")
    print("provider would retry them.\n")
    print("| scenario | sent | 2xx | in warehouse | lost | duplicated | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        note = str(r.get("note", "")).replace("|", "\\|")
        print(f"| {r['scenario']} | {r['sent']} | {r['acked']} | {r['warehouse']} | "
              f"{r['lost']} | {r['duplicated']} | {note} |")


if __name__ == "__main__":
    main(sys.argv[1])
