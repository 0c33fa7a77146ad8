#!/bin/bash
# deploy/k8s without a cluster: what can be proved on this machine.
#
#  1. Every document of every deploy/k8s/*.yaml parses (python3-yaml) and has apiVersion,
#     kind, metadata.name (and namespace zipmine when namespaced); kustomization.yaml lists
#     every manifest but the Secret template (so empty Secrets are never applied).
#  2. Workloads (coordinator Deployment, miner and validator StatefulSets): liveness probe
#     GET /livez and readiness GET /readyz on the port that is the node's http.port; the
#     Prometheus annotations name that port and /metrics; terminationGracePeriodSeconds
#     covers the preStop pause plus the node's 25 s drain, and the config's
#     shutdown.budget.ms fits in it; requests and limits for cpu and memory, request <=
#     limit; non-root uid 10001 (the image's USER); the run directory is a writable
#     emptyDir under a read-only root; every ZM_* variable is a config option, every
#     $(VAR) is defined before use; ConfigMaps, Secrets and their keys that pods reference
#     exist (the Secrets in secret.template.yaml); each StatefulSet's hotkey mount is
#     <wallet.path>/<wallet.name>/hotkeys with one Secret key per replica, and miners get
#     <wallet.path>/<wallet.name>/coldkeypub.txt (the uploader's grant commitment); Services select
#     a workload and target its named ports; StatefulSets name a headless Service.
#  3. The ConfigMap's zipmine.conf: every key is an option, and a real zipmined runs on it
#     configured the way the pods configure it (ZM_CONFIG, ZM_NODE_NAME in env), answers the
#     probes' paths with 200, and `zipminectl scale` works from that same environment (what
#     `kubectl exec POD -- zipminectl scale POOL N` does). With kubectl installed,
#     `kubectl kustomize` must render the directory too.
#  4. docs/deploy.md's alert rules pass `promtool check rules` and use only metrics the code
#     registers.
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${ZM_SOURCE_DIR:-$HERE/../..}
source "$SRC/tests/support/supervisor_lib.sh"
sup_init
command -v python3 >/dev/null || fail "python3 not installed"
command -v curl >/dev/null || fail "curl not installed"
python3 -c 'import yaml' 2>/dev/null || fail "python3 has no yaml module (Debian package python3-yaml)"
"$BIN/zipmined" --help > "$T/help" || fail "zipmined --help"

python3 - "$SRC" "$T" <<'PY' || fail "manifest checks (above)"
import glob, json, os, re, sys
import yaml

src, tmp = sys.argv[1:3]
kdir = os.path.join(src, "deploy/k8s")
problems = []
def bad(msg):
    problems.append(msg)
    print("  problem: " + msg)

help_text = open(os.path.join(tmp, "help")).read()
ENVS = set(re.findall(r"env (ZM_[A-Z0-9_]+)", help_text)) | {"ZM_CONFIG"}
OPTS = set(re.findall(r"^  --([a-z0-9_.]+)", help_text, re.M))
assert "ZM_HTTP_PORT" in ENVS and "http.port" in OPTS, "could not read zipmined --help"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "Kustomization"}

docs = {}            # file -> [doc]
for path in sorted(glob.glob(os.path.join(kdir, "*.yaml"))):
    f = os.path.basename(path)
    try:
        docs[f] = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        bad("%s does not parse: %s" % (f, e))
        continue
    for i, d in enumerate(docs[f]):
        where = "%s[%d]" % (f, i)
        for k in ("apiVersion", "kind"):
            if not d.get(k):
                bad("%s: no %s" % (where, k))
        if d.get("kind") != "Kustomization":
            name = (d.get("metadata") or {}).get("name")
            if not name:
                bad("%s: no metadata.name" % where)
            if d.get("kind") not in CLUSTER_SCOPED and d["metadata"].get("namespace") != "zipmine":
                bad("%s %s: namespace is not zipmine" % (where, name))
print("parsed: " + ", ".join("%s (%d)" % (f, len(v)) for f, v in docs.items()))

kust = docs.get("kustomization.yaml", [{}])[0]
res = kust.get("resources", [])
for r in res:
    if not os.path.exists(os.path.join(kdir, r)):
        bad("kustomization lists %s, which does not exist" % r)
for f in docs:
    if f not in ("kustomization.yaml", "secret.template.yaml") and f not in res:
        bad("kustomization does not list %s" % f)
if "secret.template.yaml" in res:
    bad("kustomization must not apply the Secret template")

objs = [d for f, ds in docs.items() if f != "kustomization.yaml" for d in ds]
def of_kind(*kinds):
    return [d for d in objs if d.get("kind") in kinds]
cms = {d["metadata"]["name"]: d for d in of_kind("ConfigMap")}
secrets = {d["metadata"]["name"]: d for d in docs.get("secret.template.yaml", [])
           if d.get("kind") == "Secret"}
conf_text = cms.get("zipmine-config", {}).get("data", {}).get("zipmine.conf", "")
conf = {}
for n, line in enumerate(conf_text.splitlines(), 1):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    k, eq, v = line.partition("=")
    k = k.strip()
    if not eq or k not in OPTS:
        bad("zipmine.conf line %d: %r is not an option" % (n, line))
    conf[k] = v.strip().strip('"')
with open(os.path.join(tmp, "zipmine.conf"), "w") as f:
    f.write(conf_text)
node_port = int(conf.get("http.port", "9464"))
budget_ms = int(conf.get("shutdown.budget.ms", "5000"))
if budget_ms > 20000:
    bad("shutdown.budget.ms %d: the node must be down within 25 s" % budget_ms)
try:
    json.loads(cms.get("zipmine-metagraph", {}).get("data", {}).get("metagraph.json", ""))
except ValueError as e:
    bad("metagraph.json does not parse: %s" % e)

def qty(v, cpu):
    v = str(v)
    if cpu:
        return float(v[:-1]) / 1000 if v.endswith("m") else float(v)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    for u, m in units.items():
        if v.endswith(u):
            return float(v[:-len(u)]) * m
    return float(v)

workloads = of_kind("Deployment", "StatefulSet")
services = {d["metadata"]["name"]: d for d in of_kind("Service")}
roles = []
for w in workloads:
    name = "%s/%s" % (w["kind"], w["metadata"]["name"])
    spec = w["spec"]
    tpl = spec["template"]
    labels = tpl["metadata"].get("labels", {})
    for k, v in spec["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            bad("%s: selector %s=%s does not match the pod labels" % (name, k, v))
    ann = tpl["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(node_port) \
            or ann.get("prometheus.io/path") != "/metrics":
        bad("%s: prometheus annotations must scrape port %d /metrics (got %s)" % (name, node_port, ann))
    pod = tpl["spec"]
    sc = pod.get("securityContext", {})
    if not sc.get("runAsNonRoot") or sc.get("runAsUser") != 10001:
        bad("%s: must run as non-root uid 10001 (the image's USER)" % name)
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    c = pod["containers"][0]
    args = c.get("args", [])
    role = args[args.index("--role") + 1] if "--role" in args else None
    if role not in ("coordinator", "miner", "validator"):
        bad("%s: no --role" % name)
    roles.append(role)
    env = {}
    for e in c.get("env", []):
        for ref in re.findall(r"\$\((\w+)\)", str(e.get("value", ""))):
            if ref not in env:
                bad("%s: env %s uses $(%s) before it is defined" % (name, e["name"], ref))
        if e["name"].startswith("ZM_") and e["name"] not in ENVS:
            bad("%s: env %s is not a config option" % (name, e["name"]))
        env[e["name"]] = e
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            s = secrets.get(ref["name"])
            if not s or ref["key"] not in (s.get("stringData") or s.get("data") or {}):
                bad("%s: secret %s key %s is not in secret.template.yaml" % (name, ref["name"], ref["key"]))
    for must in ("ZM_CONFIG", "ZM_NODE_NAME"):
        if must not in env:
            bad("%s: %s must be set in env (zipminectl in `kubectl exec` reads the same)" % (name, must))
    if "ZM_DB_DSN" not in env or "dbname=" not in env["ZM_DB_DSN"].get("value", ""):
        bad("%s: ZM_DB_DSN must name the pod's database" % name)
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for m in mounts.values():
        v = vols.get(m["name"])
        if not v:
            bad("%s: mount %s names no volume" % (name, m["name"]))
        elif "configMap" in v and v["configMap"]["name"] not in cms:
            bad("%s: ConfigMap %s does not exist" % (name, v["configMap"]["name"]))
        elif "secret" in v and v["secret"]["secretName"] not in secrets:
            bad("%s: Secret %s is not in secret.template.yaml" % (name, v["secret"]["secretName"]))
    cfgpath = env.get("ZM_CONFIG", {}).get("value")
    if cfgpath not in mounts or mounts[cfgpath].get("subPath") != "zipmine.conf":
        bad("%s: ZM_CONFIG %s is not the mounted zipmine.conf" % (name, cfgpath))
    run = mounts.get(conf.get("run.dir", "/run/zipmine"))
    if not run or "emptyDir" not in vols.get(run["name"], {}) or run.get("readOnly"):
        bad("%s: run.dir must be a writable emptyDir" % name)
    csc = c.get("securityContext", {})
    if not csc.get("readOnlyRootFilesystem") or csc.get("allowPrivilegeEscalation") is not False:
        bad("%s: container must have a read-only root and no privilege escalation" % name)
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    def port_of(p):
        return ports.get(p) if isinstance(p, str) else p
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        g = (c.get(probe) or {}).get("httpGet") or {}
        if g.get("path") != path or port_of(g.get("port")) != node_port:
            bad("%s: %s must GET %s on port %d (got %s)" % (name, probe, path, node_port, g))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command", [])
    pre_s = int(pre[-1]) if pre and os.path.basename(pre[0]) == "sleep" else 0
    if grace < pre_s + 25:
        bad("%s: terminationGracePeriodSeconds %d < preStop %d s + 25 s drain" % (name, grace, pre_s))
    r = c.get("resources", {})
    for kind in ("cpu", "memory"):
        rq, lm = r.get("requests", {}).get(kind), r.get("limits", {}).get(kind)
        if rq is None or lm is None:
            bad("%s: %s request and limit required" % (name, kind))
        elif qty(rq, kind == "cpu") > qty(lm, kind == "cpu"):
            bad("%s: %s request %s above limit %s" % (name, kind, rq, lm))
    if w["kind"] == "StatefulSet":
        svc = services.get(spec.get("serviceName"))
        if not svc or svc["spec"].get("clusterIP") != "None":
            bad("%s: serviceName %s is not a headless Service" % (name, spec.get("serviceName")))
        wname = env.get("ZM_WALLET_NAME", {}).get("value")
        hk = env.get("ZM_WALLET_HOTKEY", {}).get("value")
        wpath = conf.get("wallet.path", "")
        m = mounts.get("%s/%s/hotkeys" % (wpath, wname))
        if hk != "$(POD_NAME)" or not m:
            bad("%s: hotkey must be mounted at %s/%s/hotkeys and named by the pod" % (name, wpath, wname))
        else:
            sec = secrets.get(vols[m["name"]]["secret"]["secretName"], {})
            keys = set((sec.get("stringData") or {}).keys())
            want = {"%s-%d" % (w["metadata"]["name"], i) for i in range(spec.get("replicas", 1))}
            if not want <= keys:
                bad("%s: Secret template lacks hotkeys %s" % (name, sorted(want - keys)))
        if role == "miner":
            ck = mounts.get("%s/%s/coldkeypub.txt" % (wpath, wname))
            if not ck or ck.get("subPath") != "coldkeypub.txt" or "secret" not in vols.get(ck["name"], {}):
                bad("%s: the uploader needs %s/%s/coldkeypub.txt" % (name, wpath, wname))
for sname, s in services.items():
    sel = s["spec"].get("selector", {})
    match = [w for w in workloads
             if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
    if len(match) != 1:
        bad("Service %s selects %d workloads" % (sname, len(match)))
        continue
    cports = {p.get("name") for p in match[0]["spec"]["template"]["spec"]["containers"][0].get("ports", [])}
    for p in s["spec"].get("ports", []):
        if isinstance(p.get("targetPort"), str) and p["targetPort"] not in cports:
            bad("Service %s: targetPort %s is no container port" % (sname, p["targetPort"]))
print("workloads: " + ", ".join("%s/%s (%s)" % (w["kind"], w["metadata"]["name"], r)
                                for w, r in zip(workloads, roles)))
if sorted(roles) != ["coordinator", "miner", "validator"]:
    bad("expected a coordinator, a miner and a validator workload (got %s)" % roles)
if problems:
    print("%d problem(s)" % len(problems))
    sys.exit(1)
print("manifest checks: ok")
PY

if command -v kubectl >/dev/null; then
    kubectl kustomize "$SRC/deploy/k8s" > "$T/rendered.yaml" 2> "$T/kustomize.err" \
        || { cat "$T/kustomize.err"; fail "kubectl kustomize deploy/k8s"; }
    echo "kubectl kustomize: $(grep -c '^kind:' "$T/rendered.yaml") objects rendered"
else
    echo "kubectl not installed: kustomization checked by the parser above only"
fi

# ---- the alert rules of docs/deploy.md: promtool accepts them, and every metric they use is
# one the code registers (so a renamed metric cannot leave a silent alert behind)
command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
python3 - "$SRC" "$T" <<'PY' || fail "docs/deploy.md alert rules"
import os, re, subprocess, sys, yaml
src, t = sys.argv[1:3]
doc = open(os.path.join(src, "docs/deploy.md")).read()
m = re.search(r"<!-- alerts -->\s*```yaml\n(.*?)```", doc, re.S)
assert m, "docs/deploy.md has no alerts block"
open(os.path.join(t, "alerts.yml"), "w").write(m.group(1))
code = ""
for d in ("common", "workers", "supervisor"):
    for root, _, files in os.walk(os.path.join(src, d)):
        for f in files:
            if f.endswith(".c"):
                code += open(os.path.join(root, f), errors="replace").read()
used = set()
for g in yaml.safe_load(m.group(1))["groups"]:
    for r in g["rules"]:
        used |= set(re.findall(r"zipmine_[a-z0-9_]+", r["expr"]))
missing = sorted(n for n in used if '"%s"' % n not in code)
assert not missing, "alert rules use metrics the code does not register: %s" % missing
print("alert rules use %d metrics, all registered in the code" % len(used))
PY
promtool check rules "$T/alerts.yml" > "$T/promtool.out" 2>&1 || { cat "$T/promtool.out"; fail "promtool check rules"; }
echo "promtool check rules: $(grep -o 'SUCCESS.*' "$T/promtool.out")"

# ---- 3. a node configured as the pods configure it ------------------------------------------
sup_link fast
export ZM_CONFIG="$T/zipmine.conf" ZM_NODE_NAME=tn ZM_RUN_DIR="$T/run" ZM_HTTP_PORT=0
"$BIN/zipmined" --role miner --workers fast:2 --bin.dir "$T/bin" > "$T/log" 2>&1 &
SUP_PID=$!
wait_until 15000 test -s "$T/run/tn/http.port" || fail "zipmined did not start on zipmine.conf"
SUP_PORT=$(cat "$T/run/tn/http.port")
code () { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$SUP_PORT$1"; }
ready () { [ "$(code /readyz)" = 200 ]; }
wait_until 30000 ready || fail "/readyz never 200 on zipmine.conf"
[ "$(code /livez)" = 200 ] || fail "/livez"
echo "zipmined on the ConfigMap's zipmine.conf: /livez 200, /readyz 200 (port $SUP_PORT)"
# `kubectl exec POD -- zipminectl scale POOL N`: zipminectl finds the node from the same env
"$BIN/zipminectl" --timeout 3000 scale fast 3 > "$T/scale" 2>&1 || { cat "$T/scale"; fail "zipminectl scale from the pod's environment"; }
three () { "$BIN/zipminectl" --timeout 3000 status 2>/dev/null | grep -q '^fast\.2 .*READY'; }
wait_until 20000 three || fail "fast.2 not READY after zipminectl scale fast 3"
echo "zipminectl scale fast 3 from the pod's environment: fast.2 READY"
kill -TERM "$SUP_PID"; wait "$SUP_PID"; rc=$?; SUP_PID=""
[ "$rc" = 0 ] || fail "zipmined exit $rc after SIGTERM"
echo "PASS"
