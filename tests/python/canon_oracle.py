"""Oracle for common/canon: CPython's json module (stdlib only).

stdin: one JSON document per line (written by jansson, whose reals carry 17 significant digits,
so every double arrives exactly). stdout: for each, one line
    json.dumps(doc, sort_keys=True, separators=(',', ':'))
which with ensure_ascii (the default) never contains a newline.
A line "F <hex of 8 bytes, big-endian IEEE double>" answers repr(float) instead, so doubles the
JSON transport cannot carry are checked too."""
import json
import struct
import sys


def main():
    out = []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.startswith("F "):
            (x,) = struct.unpack(">d", bytes.fromhex(line[2:]))
            out.append(repr(x))
        else:
            out.append(json.dumps(json.loads(line), sort_keys=True, separators=(",", ":")))
    sys.stdout.write("\n".join(out) + "\n")


main()
