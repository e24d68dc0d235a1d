#!/usr/bin/env python3
"""The clock of bench/peers/kafka_drain.sh: times a drain from the partner's side.

    drain_clock.py PARTNER_PORT TOTAL PIDFILE MAX_SECONDS [--from-now] [--stub-status CONNS_FILE]

Polls the mock partner's GET /stats over one kept-alive connection every
2 ms; with --stub-status, PARTNER_PORT is nginx's stub_status instead
(tools/nginx_partner), whose request count includes the clock's own status
requests, taken off, and the connections the partner accepted during the
drain (less the clock's) are written to CONNS_FILE. The drain starts at the first request the partner receives after the
clock started (or, with --from-now, when the clock is ready: for a backlog
released by the caller) and ends when the partner has received TOTAL
requests in all; the rate is of the requests received in between (TOTAL
less what the partner had when the clock started). The same clock for
every drainer, so the figures compare.

The drainer's process id is read from PIDFILE (written by the caller right
after it starts the drainer) at both ends, and its CPU time (all threads,
user + system, from /proc/PID/stat) over the drain is reported as well.

With DRAIN_THREADS=FILE in the environment, the drainer's CPU time per
thread over the same window is appended to FILE as one line per drain,
"COMM name=US ..." (µs per delivery, threads of the same name summed; e.g.
librdkafka's rdk:broker1 beside the loop thread).

Prints "ready" on stderr once the baseline is read, then one line on stdout:
    ok RATE SECONDS CPU_US_PER_DELIVERY      (CPU "-" if the pid was unknown)
    failed GOT_of_TOTAL REASON
and exits 0 or 1. Never waits past MAX_SECONDS. Loopback only.
"""
import http.client
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def thread_seconds(pid):
    """CPU seconds (user + system) by thread name, threads of one name summed."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                raw = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        name = raw.split("(", 1)[1].rsplit(")", 1)[0]
        fields = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def main():
    port, total, pidfile, max_s = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    opts = sys.argv[5:]
    from_now = "--from-now" in opts
    conns_file = opts[opts.index("--stub-status") + 1] if "--stub-status" in opts else None
    threads_file = os.environ.get("DRAIN_THREADS")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    polls = 0
    accepted = [0]

    def requests():
        nonlocal polls
        conn.request("GET", "/stats")
        r = conn.getresponse()
        body = r.read()
        if conns_file is None:
            return json.loads(body)["requests"]
        # "Active connections: N\nserver accepts handled requests\n A H R\n..."
        polls += 1
        a, _, n = (int(x) for x in body.decode().splitlines()[2].split())
        accepted[0] = a
        return n - polls

    base = requests()
    accepted0 = accepted[0]
    count = total - base
    deadline = time.monotonic() + max_s
    print("ready", file=sys.stderr, flush=True)
    t0 = time.monotonic() if from_now else None
    pid = read_pid(pidfile) if from_now else None
    c0 = cpu_seconds(pid) if pid else None
    t0s = thread_seconds(pid) if pid and threads_file else {}
    n = base
    while time.monotonic() < deadline:
        n = requests()
        now = time.monotonic()
        if t0 is None and n > base:
            t0 = now
            pid = read_pid(pidfile)
            c0 = cpu_seconds(pid) if pid else None
            t0s = thread_seconds(pid) if pid and threads_file else {}
        if n >= total:
            c1 = cpu_seconds(pid) if pid else None
            if pid and threads_file:
                t1s = thread_seconds(pid)
                with open(threads_file, "a") as f:
                    f.write(" ".join([comm(pid)] + [
                        "%s=%.1f" % (k, (v - t0s.get(k, 0)) * 1e6 / count) for k, v in sorted(t1s.items())]) + "\n")
            secs = now - t0
            cpu = "%.1f" % ((c1 - c0) * 1e6 / count) if c0 is not None and c1 is not None else "-"
            if conns_file is not None:
                with open(conns_file, "w") as f:
                    f.write("%d\n" % (accepted[0] - accepted0))
            print("ok %.0f %.3f %s" % (count / secs, secs, cpu))
            return 0
        time.sleep(0.002)
    print("failed %d_of_%d %s" % (n, total, "nothing_arrived" if t0 is None else "deadline"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
