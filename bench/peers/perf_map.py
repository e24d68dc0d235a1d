#!/usr/bin/env python3
"""A map of where a process's CPU went, from a `perf record --call-graph dwarf` file.

    perf script --no-inline -F comm,tid,ip,sym,dso -i perf.data | bench/peers/perf_map.py [TOP]

(--no-inline: an inlined function's frame carries no library name.)

Prints four Markdown tables, each as a share of all samples:
  1. by thread (the loop thread, librdkafka's threads by their names);
  2. self time by library (the frame the sample landed in);
  3. by owner: the first frame, walking from the leaf towards main, that
     is in hookloop, libcurl, SQLite, mbedTLS, librdkafka or libuv — so the
     kernel's and libc's time (send/recv, malloc/free) is charged to the
     library that asked for it;
  4. each owner's time split by where it was spent: its own code, libc
     (malloc/free, mem/str, other) or the kernel (by system call, named
     by its libc wrapper; page faults; interrupts);
  5. each library's time by the nearest function of the main binary
     above it (which of hookloop's calls paid for it), TOP rows;
  6. inclusive time of the functions of the main binary (a sample counts
     once for each distinct function on its stack), TOP rows (40).
Libraries without symbols (Debian's libcurl) show as one bucket each.
"""
import collections
import os
import re
import sys

OWNERS = [("libcurl", "libcurl"), ("libsqlite3", "SQLite"), ("libmbedcrypto", "mbedTLS"),
          ("librdkafka", "librdkafka"), ("libuv", "libuv (the loop)")]
FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def lib_of(dso, main):
    base = os.path.basename(dso)
    if dso.startswith("[kernel") or base.startswith("[kernel"):
        return "kernel"
    if base == main:
        return "main"
    for key, name in OWNERS:
        if base.startswith(key):
            return name
    if base.startswith("libc.so") or base.startswith("libm.so") or base.startswith("ld-linux"):
        return "libc"
    if base == "[vdso]":
        return "vdso"
    return base or "?"


def samples(lines):
    head, frames = None, []
    for line in lines:
        if not line.strip():
            if head is not None:
                yield head, frames
            head, frames = None, []
            continue
        if head is None:
            head = line.rstrip("\n")
            continue
        m = FRAME.match(line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(2))
            frames.append((sym, m.group(3)))
    if head is not None:
        yield head, frames


MALLOC = re.compile(r"(malloc|free|calloc|realloc|unlink_chunk|consolidate|tcache|cfree|memalign)")


# hookloop's generic helpers: the operation above them is the one that paid.
GENERIC = {"exec_stmt", "exec_ctl", "stmt"}


def where(frames, libs, owner):
    leaf_sym, _ = frames[0]
    if libs[0] == "kernel":
        n = next((i for i, l in enumerate(libs) if l != "kernel"), len(libs))
        ksyms = [sym for sym, _ in frames[:n]]
        if "entry_SYSCALL_64_after_hwframe" in ksyms:
            # The system call by its libc wrapper (the kernel's own entry
            # points are often folded away); else the frame below do_syscall_64.
            if n < len(frames) and libs[n] == "libc":
                name = re.sub(r"^(__GI_+|_*libc_|__)+", "", frames[n][0])
                name = re.sub(r"(_nocancel.*|@.*)$", "", name)
            else:
                i = ksyms.index("do_syscall_64") if "do_syscall_64" in ksyms else len(ksyms)
                name = re.sub(r"^_+(x64_)?(sys_)?|^_+", "", ksyms[i - 1] if i > 0 else ksyms[0])
            return "kernel: " + name
        return "kernel: page fault" if "asm_exc_page_fault" in ksyms else "kernel: interrupt"
    if libs[0] in ("libc", "vdso"):
        if MALLOC.search(leaf_sym):
            return "libc: malloc/free"
        if re.search(r"(mem|str)", leaf_sym):
            return "libc: mem*/str*"
        return "libc: other (%s)" % leaf_sym
    return "own code" if libs[0] == owner else libs[0]


def table(title, counter, total, top=None):
    print("\n| %s | share |\n|---|---|" % title)
    for k, v in counter.most_common(top):
        print("| %s | %.1f %% |" % (k, 100.0 * v / total))


def main():
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    by_thread, by_lib, by_owner, incl, split, payer = (collections.Counter() for _ in range(6))
    total = 0
    main_bin = None
    stacks = list(samples(sys.stdin))
    # The main binary: the dso of the outermost frame most samples share.
    outer = collections.Counter(os.path.basename(f[-1][1]) for _, f in stacks if f)
    # Stacks that DWARF unwinding cut short end in a library: then the
    # program's own frames anywhere in the stack decide.
    outer.update(os.path.basename(d) for _, f in stacks for _, d in f[:-1])
    for name, _ in outer.most_common():
        if not name.startswith("lib") and not name.startswith("["):
            main_bin = name
            break
    for head, frames in stacks:
        if not frames:
            continue
        total += 1
        comm = head.split()[0]
        by_thread[re.sub(r"\d+$", "N", comm)] += 1
        libs = [lib_of(d, main_bin) for _, d in frames]
        by_lib[libs[0]] += 1
        owner = next((l for l in libs if l not in ("kernel", "libc", "vdso")), "?")
        split[(owner if owner != "main" else main_bin) + " — " + where(frames, libs, owner).replace("own code", "its own code")] += 1
        if owner != "main":
            caller = next((sym for (sym, _), l in zip(frames, libs) if l == "main" and sym not in GENERIC),
                          "(none: its own thread)")
            payer["%s, called from %s" % (owner, caller)] += 1
        if owner == "main":
            owner = main_bin + " (its own code and what it calls in libc/kernel directly)"
        by_owner[owner] += 1
        seen = set()
        for (sym, _), lib in zip(frames, libs):
            if lib == "main" and sym not in seen:
                seen.add(sym)
                incl[sym] += 1
    print("%d samples, main binary %s" % (total, main_bin))
    table("thread", by_thread, total)
    table("self time by library", by_lib, total)
    table("owner (kernel and libc time charged to the library that called)", by_owner, total)
    table("owner — where the time went", split, total, top)
    table("library time by the nearest %s function above it" % main_bin, payer, total, top)
    table("inclusive time, functions of %s" % main_bin, incl, total, top)


if __name__ == "__main__":
    main()
