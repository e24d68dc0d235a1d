#!/usr/bin/env python3
"""The table of kafka_drain.sh's instructions mode: the user-space
instructions a delivery costs, by library, from callgrind's counts of one
drain of K1 records and one of K2 (per delivery: the difference over
K2 - K1, so that start-up, set-up and shut-down cancel out).

  instr_table.py <dir> <K1> <K2> <drainer>...

<dir>/<K>/<drainer>.<pid> are callgrind's output files (one per drain; the
largest is taken if a drainer left more than one). Self cost is summed by
the object (ob=) it ran in; the cost lines after calls= are the callee's
inclusive cost and are not counted again."""
import glob
import os
import re
import sys

SHORT = [("libcurl", "libcurl"), ("libmbedcrypto", "mbedTLS"), ("libsqlite3", "SQLite"),
         ("libc.so", "libc"), ("librdkafka", "librdkafka"), ("libuv", "libuv"), ("ld-linux", "loader"),
         ("libssl", "OpenSSL"), ("libcrypto", "OpenSSL")]
COLUMNS = ["libcurl", "libc", "mbedTLS", "SQLite", "own code", "librdkafka", "libuv", "other"]
# Shown only when a drainer ran in it: libcurl's TLS, for drainers into an
# https partner (NAME@h1tls, NAME@h2).
TLS_COLUMN = "OpenSSL"


def short(obj, main):
    if os.path.basename(obj) == main:
        return "own code"
    for key, name in SHORT:
        if key in os.path.basename(obj):
            return name
    return "other"


def self_costs(path, main):
    """{library: instructions} and the total, from one callgrind file."""
    names, by_lib, ob = {}, {}, ""
    after_calls = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("ob=") or line.startswith("cob="):
                # An object's name is given once, with its number, in
                # whichever of the two comes first; only ob= moves the count.
                m = re.match(r"c?ob=(\(\d+\))?\s*(.*)", line.rstrip("\n"))
                ref, name = m.group(1), m.group(2)
                if ref and name:
                    names[ref] = name
                if line.startswith("ob="):
                    ob = names.get(ref, name) if ref else name
                continue
            if line.startswith("calls="):
                after_calls = True
                continue
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if after_calls:
                    after_calls = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    lib = short(ob, main)
                    by_lib[lib] = by_lib.get(lib, 0) + int(parts[1])
    return by_lib


def count(d, k, drainer):
    files = glob.glob(os.path.join(d, str(k), drainer + ".*"))
    if not files:
        return None
    main = "bare_curl" if drainer.startswith("bare") else "hookloop"
    return self_costs(max(files, key=os.path.getsize), main)


def main():
    d, k1, k2, drainers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    rows = []
    for dr in drainers:
        a, b = count(d, k1, dr), count(d, k2, dr)
        per = None if a is None or b is None else \
            {lib: (b.get(lib, 0) - a.get(lib, 0)) / (k2 - k1) for lib in set(a) | set(b)}
        rows.append((dr, per))
    columns = list(COLUMNS)
    if any(per and per.get(TLS_COLUMN) for _, per in rows):
        columns.insert(1, TLS_COLUMN)
    print("| drainer | instructions per delivery | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for dr, per in rows:
        if per is None:
            print(f"| {dr} | failed |" + " |" * len(columns))
            continue
        total = sum(per.values())
        cells = " | ".join(f"{per.get(c, 0) / 1000:.1f}k" for c in columns)
        print(f"| {dr} | {total / 1000:.1f}k | {cells} |")


if __name__ == "__main__":
    main()
