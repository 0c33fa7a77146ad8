#!/bin/bash
# deploy/docker without a Docker engine: what can be proved on this machine.
#
#  1. Dockerfile: two stages on debian:12; every package either stage installs has a
#     Debian 12 candidate (apt-cache policy); the build stage installs every -dev package
#     tests/lib/install-deps builds with; the runtime stage installs no -dev package or
#     compiler, runs as a non-root user, ENTRYPOINT zipmined, EXPOSEs the node port it sets.
#  2. Libraries: for every shipped executable (the add_executable targets of supervisor/ and
#     workers/, the list the Dockerfile builds) in $ZM_BUILD_DIR/bin, each library it loads
#     (ldd) is mapped to its Debian package (dpkg's file lists, what dpkg -S reads): the
#     libraries it NEEDs directly must come from packages the runtime stage names (libc6
#     aside: every Debian image has it), and every library loaded indirectly from a package
#     in the dependency closure (apt-cache depends --recurse) of that list. So the image cannot miss a library. A negative control
#     drops libpq5 from the list and expects the check to fail.
#  3. Configuration: every ZM_* variable the Dockerfile and compose.yaml set is an option of
#     zipmined's config table (`zipmined --help`); compose.yaml parses (python3-yaml), has
#     postgres, coordinator, two miners and a validator, each node's database is created by
#     postgres-init.sql, published ports target the node port, stop_grace_period >= 25 s;
#     its `keys` script, run as compose would, writes a metagraph listing every node's hotkey
#     and, for miners, the coldkeypub.txt the uploader signs grants with.
#  4. Live: zipmined runs with the image's ENV (so its values are valid), the Dockerfile's
#     HEALTHCHECK command, run as written, passes against it and fails once it is gone;
#     SIGTERM stops the node with exit 0 within 25 s (the grace periods assume it).
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${ZM_SOURCE_DIR:-$HERE/../..}
source "$SRC/tests/support/supervisor_lib.sh"
sup_init
for tool in python3 apt-cache dpkg readelf ldd; do
    command -v "$tool" >/dev/null || fail "$tool not installed"
done
python3 -c 'import yaml' 2>/dev/null || fail "python3 has no yaml module (Debian package python3-yaml)"

"$BIN/zipmined" --help > "$T/help" || fail "zipmined --help"

python3 - "$SRC" "$BIN" "$ZM_BUILD_DIR" "$T" <<'PY' || fail "static checks (above)"
import json, os, re, shlex, subprocess, sys
import yaml

src, bindir, builddir, tmp = sys.argv[1:5]
problems = []
def bad(msg):
    problems.append(msg)
    print("  problem: " + msg)

help_text = open(os.path.join(tmp, "help")).read()
ENVS = set(re.findall(r"env (ZM_[A-Z0-9_]+)", help_text))
OPTS = set(re.findall(r"^  --([a-z0-9_.]+)", help_text, re.M))
assert len(ENVS) > 50 and "ZM_HTTP_PORT" in ENVS, "could not read zipmined --help"
# Set by zipmined for each child, or read by the loader itself: not table rows.
ENV_EXTRA = {"ZM_CONFIG"}

# ---- 1. Dockerfile --------------------------------------------------------------------
df_path = os.path.join(src, "deploy/docker/Dockerfile")
text = open(df_path).read()
lines = []
cur = ""
for raw in text.splitlines():
    s = raw.strip()
    if not cur and (not s or s.startswith("#")):
        continue
    if cur and s.startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append(cur + s)
    cur = ""
instrs = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]

args = {}
stages = []           # [name, [(instr, rest)]]
for ins, rest in instrs:
    if ins == "ARG" and not stages:
        k, _, v = rest.partition("=")
        args[k.strip()] = v.strip()
    elif ins == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
        image = re.sub(r"\$\{(\w+)\}", lambda mm: args.get(mm.group(1), ""), m.group(1))
        stages.append([m.group(2), image, []])
    elif stages:
        stages[-1][2].append((ins, rest))
names = [s[0] for s in stages]
print("stages: " + ", ".join("%s (%s)" % (s[0], s[1]) for s in stages))
if names != ["build", "runtime"]:
    bad("expected stages build, runtime; got %s" % names)
for s in stages:
    if s[1] not in ("debian:12", "debian:bookworm") and not s[1].startswith("debian:12-") \
            and not s[1].startswith("debian:bookworm-"):
        bad("stage %s is FROM %s, not Debian 12" % (s[0], s[1]))

def apt_packages(stage):
    pk = []
    for ins, rest in stage[2]:
        if ins != "RUN":
            continue
        for cmd in re.split(r"&&|;", rest):
            w = shlex.split(cmd)
            if len(w) >= 2 and w[0] == "apt-get" and "install" in w:
                pk += [x for x in w[w.index("install") + 1:] if not x.startswith("-")]
    return pk

stage = {s[0]: s for s in stages}
build_pk = apt_packages(stage["build"]) if "build" in stage else []
run_pk = apt_packages(stage["runtime"]) if "runtime" in stage else []
print("build packages: " + " ".join(build_pk))
print("runtime packages: " + " ".join(run_pk))
if not build_pk or not run_pk:
    bad("no apt-get install found in a stage")

# every package has a Debian 12 candidate
out = subprocess.run(["apt-cache", "policy"] + build_pk + run_pk, capture_output=True,
                     text=True).stdout
cand = {}
for blk in re.split(r"\n(?=\S)", out):
    m = re.match(r"(\S+):\n.*?Candidate: (\S+)", blk, re.S)
    if m:
        cand[m.group(1)] = m.group(2)
for p in build_pk + run_pk:
    if cand.get(p, "(none)") == "(none)":
        bad("package %s has no Debian 12 candidate (apt-cache policy)" % p)
print("apt-cache policy: %d packages, every one with a candidate" % len(set(build_pk + run_pk))
      if all(cand.get(p, "(none)") != "(none)" for p in build_pk + run_pk) else
      "apt-cache policy: some packages missing")

# the build stage has what tests/lib/install-deps builds with
deps = open(os.path.join(src, "tests/lib/install-deps")).read()
want_dev = set(re.findall(r"\blib[a-z0-9.+-]*-dev\b", deps)) - {"libclang-rt-14-dev"}
for p in sorted(want_dev - set(build_pk)):
    bad("build stage lacks %s (tests/lib/install-deps builds with it)" % p)
for p in ("build-essential", "cmake", "pkg-config"):
    if p not in build_pk:
        bad("build stage lacks %s" % p)
for p in run_pk:
    if p.endswith("-dev") or p in ("build-essential", "gcc", "cmake", "clang"):
        bad("runtime stage installs build tooling %s" % p)

rt = stage.get("runtime", [None, None, []])[2]
def last(ins):
    v = [r for i, r in rt if i == ins]
    return v[-1] if v else None
user = last("USER")
if not user or user.split(":")[0] in ("0", "root"):
    bad("runtime stage must run as a non-root USER (got %r)" % user)
ep = last("ENTRYPOINT")
try:
    ep_list = json.loads(ep) if ep else None
except ValueError:
    ep_list = None
if not ep_list or os.path.basename(ep_list[0]) != "zipmined":
    bad("ENTRYPOINT must be zipmined in exec form (got %r)" % ep)
env = {}
for i, r in rt:
    if i == "ENV":
        for tok in shlex.split(r):
            k, _, v = tok.partition("=")
            env[k] = v
for k in env:
    if k.startswith("ZM_") and k not in ENVS | ENV_EXTRA:
        bad("Dockerfile ENV %s is not a config option" % k)
port = env.get("ZM_HTTP_PORT", "9464")
if (last("EXPOSE") or "").split("/")[0] != port:
    bad("EXPOSE %s does not match the node port %s" % (last("EXPOSE"), port))
if env.get("ZM_HTTP_BIND", "127.0.0.1") in ("127.0.0.1", "localhost", "::1"):
    bad("the node port must not be bound to loopback in a container (ZM_HTTP_BIND)")
if (last("STOPSIGNAL") or "SIGTERM") != "SIGTERM":
    bad("STOPSIGNAL must be SIGTERM (zipmined drains on it)")
if not any(i == "COPY" and "--from=build" in r and "/usr/local/bin" in r for i, r in rt):
    bad("runtime stage does not copy the built executables to /usr/local/bin")
hc = last("HEALTHCHECK")
m = re.search(r"CMD\s+(\[.*\])\s*$", hc or "")
if not m or "/livez" not in hc:
    bad("HEALTHCHECK must run a CMD on /livez (got %r)" % hc)
else:
    with open(os.path.join(tmp, "healthcheck.json"), "w") as f:
        f.write(m.group(1))
with open(os.path.join(tmp, "image.env"), "w") as f:
    for k, v in env.items():
        if k.startswith("ZM_"):
            f.write("%s=%s\n" % (k, v))

# ---- 2. shared libraries of the shipped executables ----------------------------------
targets = []
for cm in ["supervisor/CMakeLists.txt"] + sorted(
        os.path.join("workers", d, "CMakeLists.txt") for d in os.listdir(os.path.join(src, "workers"))
        if os.path.isfile(os.path.join(src, "workers", d, "CMakeLists.txt"))):
    for t in re.findall(r"^ *add_executable \(([A-Za-z0-9_-]+)", open(os.path.join(src, cm)).read(), re.M):
        if not t.startswith("zm_"):
            targets.append(t)
print("shipped executables: " + " ".join(targets))
for must in ("zipmined", "zipminectl"):
    if must not in targets:
        bad("%s is not among the shipped executables" % must)

cache = open(os.path.join(builddir, "CMakeCache.txt")).read() \
    if os.path.exists(os.path.join(builddir, "CMakeCache.txt")) else ""
sanitized = re.search(r"^ZM_SANITIZE:BOOL=ON", cache, re.M) is not None
if sanitized:
    print("note: %s is a sanitizer build; the image's Release build does not load the "
          "sanitizer runtimes, so their packages are left out" % builddir)
SAN = re.compile(r"^lib(a|ub|l|t|hwa)san\d+$")

# dpkg's file lists, read once (what `dpkg -S PATH` searches, without a process per file)
owner = {}
info = "/var/lib/dpkg/info"
for f in os.listdir(info):
    if f.endswith(".list"):
        pkg = f[:-5].split(":")[0]
        for line in open(os.path.join(info, f), errors="replace"):
            if ".so" in line:
                owner.setdefault(line.rstrip("\n"), pkg)
def package_of(path):
    tries = [path, os.path.realpath(path)]
    for p in list(tries):
        if p.startswith("/usr/lib/"):
            tries.append(p[4:])
        elif p.startswith("/lib/") or p.startswith("/lib64/"):
            tries.append("/usr" + p)
    for p in tries:
        if p in owner:
            return owner[p]
    return None
if package_of("/lib/x86_64-linux-gnu/libc.so.6") != "libc6" and \
        package_of("/lib64/ld-linux-x86-64.so.2") != "libc6":
    bad("could not read dpkg's file lists (libc6 owns no libc.so.6)")

libs = {}            # binary -> [(soname, path, direct)]
for t in targets:
    exe = os.path.join(bindir, t)
    if not os.access(exe, os.X_OK):
        bad("%s is not built in %s" % (t, bindir))
        continue
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", exe], capture_output=True,
                                           text=True).stdout))
    rows = []
    for line in subprocess.run(["ldd", exe], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (.*?) \(0x", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(1) in needed))
        elif "not found" in line:
            bad("%s: %s" % (t, line.strip()))
    libs[t] = rows

def closure(pkgs):
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                        "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
                       + list(pkgs), capture_output=True, text=True)
    return {l.split(":")[0] for l in r.stdout.splitlines() if l and not l.startswith(" ")
            and not l.startswith("<")}

full_closure = closure(run_pk) | {"libc6"}
def check_libs(runtime, cl=full_closure):
    issues = []
    for t, rows in libs.items():
        for so, path, direct in rows:
            pkg = package_of(path)
            if pkg is None:
                issues.append("%s: %s (%s) belongs to no Debian package" % (t, so, path))
                continue
            if sanitized and SAN.match(pkg):
                continue
            if direct and pkg not in set(runtime) | {"libc6"}:
                issues.append("%s needs %s from %s, which the runtime stage does not install"
                              % (t, so, pkg))
            elif pkg not in cl:
                issues.append("%s loads %s from %s, outside the runtime packages' dependencies"
                              % (t, so, pkg))
    return issues

issues = check_libs(run_pk)
for i in issues:
    bad(i)
direct = sorted({(so, package_of(p)) for rows in libs.values() for so, p, d in rows if d})
print("libraries needed directly: " + ", ".join("%s (%s)" % x for x in direct))
print("libraries loaded in all: %d, from %d packages" % (
    len({so for rows in libs.values() for so, _, _ in rows}),
    len({package_of(p) for rows in libs.values() for _, p, _ in rows})))
# (the closure is the full list's here: the direct-library rule must catch it on its own)
control = check_libs([p for p in run_pk if p != "libpq5"])
if not any("libpq" in i for i in control):
    bad("negative control: dropping libpq5 from the runtime list went unnoticed")
else:
    print("negative control: without libpq5 the check fails (%s)" % control[0])

# ---- 3. compose.yaml ---------------------------------------------------------------------
cp = os.path.join(src, "deploy/docker/compose.yaml")
doc = yaml.safe_load(open(cp))
svcs = doc.get("services", {})
init_sql = open(os.path.join(src, "deploy/docker/postgres-init.sql")).read()
dbs = set(re.findall(r"CREATE DATABASE (\w+)", init_sql))
roles = {}
for name, s in svcs.items():
    if not isinstance(s, dict) or "image" not in s:
        bad("compose service %s has no image" % name)
        continue
    cmd = s.get("command") or []
    if "--role" in cmd:
        roles[name] = cmd[cmd.index("--role") + 1]
        envs = s.get("environment") or {}
        if isinstance(envs, list):
            envs = dict(e.split("=", 1) for e in envs)
        for k in envs:
            if k.startswith("ZM_") and k not in ENVS | ENV_EXTRA:
                bad("compose %s: %s is not a config option" % (name, k))
        for o in cmd[::2]:
            if o.startswith("--") and o[2:] not in OPTS:
                bad("compose %s: flag %s is not a config option" % (name, o))
        dsn = envs.get("ZM_DB_DSN", "")
        m = re.search(r"dbname=(\w+)", dsn)
        if not m or m.group(1) not in dbs:
            bad("compose %s: its database is not created by postgres-init.sql (%r)" % (name, dsn))
        if not any(str(p).endswith(":" + port) for p in s.get("ports", [])):
            bad("compose %s does not publish the node port %s" % (name, port))
        g = str(s.get("stop_grace_period", "10s"))
        if not re.match(r"^\d+s$", g) or int(g[:-1]) < 25:
            bad("compose %s: stop_grace_period %s is below the node's 25 s drain" % (name, g))
        if not any(str(x).startswith(env.get("ZM_RUN_DIR", "/run/zipmine")) for x in s.get("tmpfs", [])):
            bad("compose %s: no tmpfs on the run directory" % name)
        if "postgres" not in (s.get("depends_on") or {}):
            bad("compose %s does not wait for postgres" % name)
want = sorted(roles.values())
print("compose nodes: " + ", ".join("%s=%s" % kv for kv in sorted(roles.items())))
if want != ["coordinator", "miner", "miner", "validator"]:
    bad("compose should run one coordinator, two miners, one validator (got %s)" % want)
if "postgres" not in svcs:
    bad("compose has no postgres service")
# the keys service's script, as compose runs it ($$ is compose's escape for $), for the test
keys = svcs.get("keys", {}).get("command") or [""]
with open(os.path.join(tmp, "keys.sh"), "w") as f:
    f.write(keys[0].replace("$$", "$").replace("/var/lib/zipmine/wallets", os.path.join(tmp, "wallets")))
wallets = {}
for name in roles:
    e = svcs[name].get("environment") or {}
    if "ZM_WALLET_NAME" in e:
        wallets[name] = e["ZM_WALLET_NAME"]
with open(os.path.join(tmp, "compose_wallets.json"), "w") as f:
    json.dump(wallets, f)

if problems:
    print("%d problem(s)" % len(problems))
    sys.exit(1)
print("static checks: ok")
PY

# ---- compose's keys service: dev hotkeys, coldkeypub.txt and a metagraph the coordinator loads
mkdir -p "$T/wallets"
PATH="$BIN:$PATH" bash "$T/keys.sh" > "$T/keys.out" 2>&1 || { cat "$T/keys.out"; fail "compose keys script"; }
python3 - "$T" <<'PY' || fail "compose keys script output"
import json, os, sys
t = sys.argv[1]
w = os.path.join(t, "wallets")
mg = json.load(open(os.path.join(w, "metagraph.json")))
by_role = {}
for h in mg["hotkeys"]:
    by_role.setdefault(h["role"], []).append(h)
assert len(by_role.get("miner", [])) == 2 and len(by_role.get("validator", [])) == 1, mg
for node, wallet in json.load(open(os.path.join(t, "compose_wallets.json"))).items():
    hk = json.load(open(os.path.join(w, wallet, "hotkeys", "default")))
    entry = [h for h in mg["hotkeys"] if h["hotkey"] == hk["ss58Address"]]
    assert len(entry) == 1, "%s: hotkey %s not in the metagraph" % (node, hk["ss58Address"])
    if entry[0]["role"] == "miner":
        ck = json.load(open(os.path.join(w, wallet, "coldkeypub.txt")))["ss58Address"]
        assert ck == entry[0]["coldkey"], "%s: coldkeypub.txt %s != metagraph %s" % (node, ck, entry[0]["coldkey"])
print("compose keys script: metagraph with 2 miners and 1 validator; every node's hotkey listed, "
      "miners' coldkeypub.txt matching")
PY

# ---- 4. live: the image's ENV, the HEALTHCHECK command, SIGTERM -----------------------------
sup_link fast
while IFS='=' read -r k v; do export "$k=$v"; done < "$T/image.env"
# The image's ENV as the container would see it; only run.dir and the port are this test's.
sup_start --workers fast --http.port 0 --shutdown.budget.ms 15000
ready () { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$SUP_PORT/readyz")" = 200 ]; }
wait_until 30000 ready || fail "node with the image's ENV never ready"
grep -q '"event":"http_listening"\|0\.0\.0\.0' "$T/log" || true
mapfile -t HC < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))))' "$T/healthcheck.json")
[ "${#HC[@]}" -ge 1 ] || fail "no HEALTHCHECK command"
ZM_HTTP_PORT=$SUP_PORT timeout 3 "${HC[@]}" || fail "HEALTHCHECK command fails against a running node"
echo "HEALTHCHECK (${HC[*]:0:2} ...) passes against the running node on port $SUP_PORT"

t0=$(now_ms)
kill -TERM "$SUP_PID"
wait "$SUP_PID"; rc=$?
dt=$(( $(now_ms) - t0 ))
SUP_PID=""
[ "$rc" = 0 ] || fail "zipmined exit $rc after SIGTERM"
[ "$dt" -lt 25000 ] || fail "zipmined took $dt ms to stop (compose/k8s grace periods assume < 25 s)"
echo "SIGTERM: node exited 0 in $dt ms"
if ZM_HTTP_PORT=$SUP_PORT timeout 3 "${HC[@]}" 2>/dev/null; then
    fail "HEALTHCHECK command passes with no node running"
fi
echo "HEALTHCHECK fails once the node is gone"
echo "PASS"
