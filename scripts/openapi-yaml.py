#!/usr/bin/env python3
"""docs/openapi.yaml is generated from docs/openapi.json, the source of truth.

hookloop compiles docs/openapi.json into its binary (GET /openapi.json) with
no parser but its own JSON one, so the document is written as JSON; this
script writes the same document as YAML for people who read YAML, with the
standard library only (python3 has no YAML parser, but writing YAML needs
none). Strings are plain where that is unambiguous in YAML 1.1 and 1.2,
literal blocks when they span lines, and JSON-quoted otherwise (a JSON
string is a valid YAML double-quoted scalar).

  scripts/openapi-yaml.py           rewrite docs/openapi.yaml
  scripts/openapi-yaml.py --check   exit 1 unless docs/openapi.yaml is what this
                                    script writes AND a real YAML parser
                                    (PyYAML) reads it as the same document
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "docs", "openapi.json")
OUT = os.path.join(ROOT, "docs", "openapi.yaml")

PLAIN = re.compile(r"^[A-Za-z_/$][A-Za-z0-9_/$.{}()' -]*$")
RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def scalar(s):
    if PLAIN.match(s) and not s.endswith(" ") and s.lower() not in RESERVED:
        return s
    return json.dumps(s, ensure_ascii=False)


def literal_ok(s):
    lines = s.rstrip("\n").split("\n")
    return ("\n" in s.rstrip("\n") and not s.startswith((" ", "\n")) and not s.endswith("\n\n")
            and all(not l.endswith(" ") and all(c >= " " for c in l) for l in lines))


def emit(v, indent, out):
    pad = "  " * indent
    if isinstance(v, dict):
        for k, x in v.items():
            head = pad + scalar(k) + ":"
            block(x, indent, head, out)
    else:
        for x in v:
            block(x, indent, pad + "-", out, in_list=True)


def block(x, indent, head, out, in_list=False):
    pad = "  " * (indent + 1)
    if isinstance(x, dict) and x:
        if in_list:
            # the first key on the dash's line, the others under it
            sub = []
            emit(x, indent + 1, sub)
            out.append(head + " " + sub[0].lstrip())
            out.extend(sub[1:])
        else:
            out.append(head)
            emit(x, indent + 1, out)
    elif isinstance(x, list) and x:
        out.append(head)
        emit(x, indent + 1, out)
    elif isinstance(x, str) and literal_ok(x):
        out.append(head + (" |" if x.endswith("\n") else " |-"))
        out.extend((pad + l) if l else "" for l in x.rstrip("\n").split("\n"))
    else:
        out.append(head + " " + json.dumps(x, ensure_ascii=False) if not isinstance(x, str) else head + " " + scalar(x))


def render(doc):
    out = ["# Generated from docs/openapi.json by scripts/openapi-yaml.py: edit the JSON, then run the script."]
    emit(doc, 0, out)
    return "\n".join(out) + "\n"


def main():
    with open(SRC, encoding="utf-8") as f:
        doc = json.load(f)
    text = render(doc)
    if "--check" not in sys.argv[1:]:
        with open(OUT, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    try:
        with open(OUT, encoding="utf-8") as f:
            have = f.read()
    except OSError:
        have = None
    if have != text:
        print("docs/openapi.yaml is not what docs/openapi.json gives: run scripts/openapi-yaml.py", file=sys.stderr)
        return 1
    import yaml  # python3-yaml (scripts/install-deps.sh test)
    if yaml.safe_load(have) != doc:
        print("docs/openapi.yaml does not read back as docs/openapi.json (a YAML quoting bug in the script)", file=sys.stderr)
        return 1
    print("docs/openapi.yaml matches docs/openapi.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
