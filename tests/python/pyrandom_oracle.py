"""Oracle for common/pyrandom: CPython's own random module (stdlib only).

Reads lines on stdin, answers one line each on stdout:
  S <seed> <n> <k>                  random.seed(seed); random.sample(range(n), k)  (draw order)
  B <seed> <k> <count>              random.seed(seed); count x random.getrandbits(k)
  R <seed> <count>                  random.seed(seed); count x repr(random.random())
  W <seed> <n> <count>              random.seed(seed); count x random._inst._randbelow(n)
  T <nonce_hex> <hotkey_hex> <time_hex> <n>
                                    the tier-3 sample, written from DESIGN.md section 8:
                                    seed = int(sha256("{nonce}:{hotkey}:{time}:{n}")[:8], 16),
                                    k = min(10, max(3, n // 10)) capped at n,
                                    sorted(random.sample(range(n), k)); answers "seed idx..."
Strings travel hex-encoded (UTF-8) so that any byte survives the line format."""
import hashlib
import random
import sys


def tier3(nonce, hotkey, when, n):
    text = f"{nonce}:{hotkey}:{when}:{n}"
    seed = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)
    k = min(10, max(3, n // 10))
    k = min(k, n)
    random.seed(seed)
    return seed, sorted(random.sample(range(n), k))


def main():
    out = []
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        op = f[0]
        if op == "S":
            random.seed(int(f[1]))
            out.append(" ".join(map(str, random.sample(range(int(f[2])), int(f[3])))))
        elif op == "B":
            random.seed(int(f[1]))
            k = int(f[2])
            out.append(" ".join(str(random.getrandbits(k)) for _ in range(int(f[3]))))
        elif op == "R":
            random.seed(int(f[1]))
            out.append(" ".join(repr(random.random()) for _ in range(int(f[2]))))
        elif op == "W":
            random.seed(int(f[1]))
            n = int(f[2])
            out.append(" ".join(str(random._inst._randbelow(n)) for _ in range(int(f[3]))))
        elif op == "T":
            nonce, hotkey, when = (bytes.fromhex(x).decode("utf-8") if x != "-" else ""
                                   for x in f[1:4])
            seed, idx = tier3(nonce, hotkey, when, int(f[4]))
            out.append(" ".join([str(seed)] + [str(i) for i in idx]))
        else:
            sys.exit(f"pyrandom_oracle: unknown op {op!r}")
    sys.stdout.write("\n".join(out) + "\n")


main()
