#!/usr/bin/env bash
# CI checks of deploy/kubernetes that need no cluster (none is used: nothing here was applied):
#  1. the manifests as written: every file of kustomization.yaml parses as YAML (each document), has
#     apiVersion, kind and metadata.name, and no YAML file of the folder is left out of it; the ConfigMap
#     is made from scb-backup.env as kustomize would; then the checks below (python3 + PyYAML);
#  2. the same checks on what `kubectl kustomize` renders (names hashed, namespace set), and on the
#     rendering with the before-1.29 component, when kubectl (kustomize >= v4) is installed, else skipped
#     with a message.
# The checks hold scb-backup to deploy/docker/compose.yaml's settings: MONITOR_FILE_PATH, taken through
# its mount, is the file compose watches in lnd's data folder; lnd's data read-only; BACKUP_DIRECTORY equal
# and a writable PersistentVolumeClaim of its own (not lnd's, not an emptyDir); SCB_LISTEN equal, its port
# the probes'; the user (0:0), every capability dropped, a read-only root, no privilege escalation, the
# same images; and the Kubernetes parts: native sidecar (or the component's preStop pause), readiness on
# /healthz but liveness not, no startupProbe, the grace period (lnd's plus scb-backup's stop in
# compose.yaml, more than SCB_SHUTDOWN_TIMEOUT), no fsGroup, the IRSA annotation, AWS_REGION under env,
# no access key anywhere in the folder, and the trust policy of docs/operations.md naming this
# ServiceAccount.
#   deploy/kubernetes/check.sh            run the checks
#   deploy/kubernetes/check.sh --prove    break a scratch copy once per check; each must fail (the real
#                                         files are never touched)
# Exit status: 0 all good, 1 a check failed, 2 a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=deploy/kubernetes
compose=deploy/docker/compose.yaml
docs=docs/operations.md

if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "python3 with PyYAML missing: apt-get install -y python3-yaml" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The checks. argv: MODE (source: SOURCE is the kustomization folder; rendered: SOURCE is kustomize's
# output), SOURCE, compose.yaml, LABEL, VARIANT (sidecar: scb-backup a native sidecar; plain: a container
# with a preStop pause), docs/operations.md (source mode).
read -r -d '' checker <<'PY' || true
import json, os, posixpath, re, sys
import yaml

mode, source, compose_path, label, variant = sys.argv[1:6]
docs_path = sys.argv[6] if len(sys.argv) > 6 else ""
errors = []
err = errors.append
FORBIDDEN = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
ROLE_ARN = "eks.amazonaws.com/role-arn"

def finish():
    for e in errors:
        print(f"{label}: {e}")
    print(f"{label}: " + ("ok" if not errors else "FAILED"))
    sys.exit(1 if errors else 0)

def load_all(path, shown):
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        err(f"{shown} does not parse as YAML: {' '.join(str(e).split())}")
        return []

def seconds(text, default=None):
    """A duration as the daemon (plain seconds, ms/s/m/h) or compose (1m30s) writes it."""
    if text is None:
        return default
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"duration {text!r}")
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    return sum(float(n) * unit[u] for n, u in parts)

def under(path, folder):
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")

# ---- the documents: as written (with the ConfigMap kustomize would make), or as rendered
docs = []  # (where, document)
kust = {}
if mode == "source":
    kpath = os.path.join(source, "kustomization.yaml")
    kdocs = load_all(kpath, "kustomization.yaml")
    kust = kdocs[0] if kdocs and isinstance(kdocs[0], dict) else {}
    if not kust:
        err("kustomization.yaml: no Kustomization")
        finish()
    for f in ("apiVersion", "kind"):
        if not kust.get(f):
            err(f"kustomization.yaml: no {f}")
    resources = kust.get("resources") or []
    for r in resources:
        p = os.path.join(source, r)
        if not os.path.isfile(p):
            err(f"kustomization.yaml lists {r}, which is not a file here")
            continue
        docs += [(r, d) for d in load_all(p, r)]
    for name in sorted(os.listdir(source)):
        if name.endswith((".yaml", ".yml")) and name != "kustomization.yaml" and name not in resources:
            err(f"{name} is not in kustomization.yaml's resources: kubectl apply -k would leave it out")
    for g in kust.get("configMapGenerator") or []:
        data = {}
        for e in g.get("envs") or []:
            try:
                with open(os.path.join(source, e)) as f:
                    for n, line in enumerate(f, 1):
                        line = line.strip()
                        if not line or line.startswith("#"):
                            continue
                        if "=" not in line:
                            err(f"{e}:{n}: not KEY=VALUE")
                            continue
                        k, v = line.split("=", 1)
                        data[k.strip()] = v
            except OSError as x:
                err(f"configMapGenerator: {e}: {x.strerror}")
        for lit in g.get("literals") or []:
            k, _, v = str(lit).partition("=")
            data[k] = v
        docs.append(("configMapGenerator", {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": g.get("name")}, "data": data}))
    if kust.get("secretGenerator"):
        err("kustomization.yaml has a secretGenerator: credentials come from IRSA, not from files here")
else:
    docs = [("kustomize output", d) for d in load_all(source, "kustomize output")]
if errors and not docs:
    finish()

# ---- every document: the fields every object needs
objects = {}
for where, d in docs:
    if not isinstance(d, dict):
        err(f"{where}: a document that is not a mapping")
        continue
    for f in ("apiVersion", "kind"):
        if not isinstance(d.get(f), str) or not d.get(f):
            err(f"{where}: a document without {f}")
    name = (d.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        err(f"{where}: {d.get('kind')} without metadata.name")
    elif not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) or len(name) > 253:
        err(f"{where}: {d.get('kind')} name {name!r} is not a DNS subdomain name")
    objects.setdefault(d.get("kind"), {})[name] = d
    if d.get("kind") == "Secret":
        err(f"{where}: a Secret: credentials come from IRSA, never from these files")

def walk(node, path="", where=""):
    if isinstance(node, dict):
        if node.get("name") in FORBIDDEN:
            err(f"{where}: {path} sets {node['name']}: no access keys in the manifests (IRSA)")
        for k, v in node.items():
            if k in FORBIDDEN:
                err(f"{where}: {path}.{k}: no access keys in the manifests (IRSA)")
            walk(v, f"{path}.{k}", where)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{path}[{i}]", where)
for where, d in docs:
    walk(d, "", where)

statefulsets = list((objects.get("StatefulSet") or {}).values())
if len(statefulsets) != 1:
    err(f"{len(statefulsets)} StatefulSets, one expected")
    finish()
sts = statefulsets[0]
spec = sts.get("spec") or {}
template = spec.get("template") or {}
tmeta = template.get("metadata") or {}
pod = template.get("spec") or {}
containers = pod.get("containers") or []
inits = pod.get("initContainers") or []
for c in containers + inits:
    if not c.get("name") or not c.get("image"):
        err(f"StatefulSet: a container without name or image: {c.get('name')}")
if not containers:
    err("StatefulSet: no containers")
    finish()

# ---- compose.yaml: what scb-backup and lnd are there
with open(compose_path) as f:
    compose = yaml.safe_load(f)
services = compose.get("services") or {}
c_scb, c_lnd = services.get("scb-backup") or {}, services.get("lnd") or {}
c_env = c_scb.get("environment") or {}
if isinstance(c_env, list):
    c_env = dict(e.split("=", 1) for e in c_env if "=" in e)

def compose_mounts(svc):
    out = []
    for v in svc.get("volumes") or []:
        parts = str(v).split(":")
        out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out
c_watched = c_env.get("MONITOR_FILE_PATH", "")
c_mount = next((m for m in compose_mounts(c_scb) if under(c_watched, m[1])), None)
c_lnd_mount = c_mount and next((m for m in compose_mounts(c_lnd) if m[0] == c_mount[0]), None)
if not c_mount or not c_lnd_mount:
    err(f"{compose_path}: cannot tell which file of lnd's scb-backup watches there")
    finish()
c_file_in_lnd = posixpath.join(c_lnd_mount[1], posixpath.relpath(c_watched, c_mount[1]))
c_user = str(c_scb.get("user", "")).split(":")
c_uid = int(c_user[0]) if c_user[0] else None
c_gid = int(c_user[1]) if len(c_user) > 1 else None
c_grace = seconds(c_lnd.get("stop_grace_period"), 10) + seconds(c_scb.get("stop_grace_period"), 10)

# ---- the pod
by_name = lambda cs, n: next((c for c in cs if c.get("name") == n), None)
lnd = by_name(containers, "lnd")
scb_init, scb_main = by_name(inits, "scb-backup"), by_name(containers, "scb-backup")
if lnd is None:
    err("no container lnd")
    finish()
if variant == "sidecar":
    scb = scb_init
    if scb is None:
        err("scb-backup is not an init container: not a native sidecar, it would stop together with lnd "
            "and miss lnd's shutdown version")
        scb = scb_main
    elif scb.get("restartPolicy") != "Always":
        err("scb-backup is an init container without restartPolicy: Always: not a native sidecar (it would "
            "block lnd's start for ever)")
    if scb_main is not None and scb_init is not None:
        err("scb-backup is both an init container and a container")
else:
    scb = scb_main
    if scb is None or scb_init is not None:
        err("before-1.29: scb-backup is not a plain container")
        scb = scb or scb_init
    elif "restartPolicy" in scb:
        err("before-1.29: the container scb-backup keeps a restartPolicy (an API before 1.29 rejects it)")
if scb is None:
    err("no scb-backup container")
    finish()

if spec.get("replicas", 1) != 1:
    err(f"replicas is {spec.get('replicas')}: one lnd per wallet")
if spec.get("podManagementPolicy") != "Parallel":
    err("podManagementPolicy is not Parallel: OrderedReady would not replace a pod that is not Ready "
        "(an S3 outage) on a template change")
labels = tmeta.get("labels") or {}
selector = (spec.get("selector") or {}).get("matchLabels") or {}
if not selector or any(labels.get(k) != v for k, v in selector.items()):
    err("the StatefulSet's selector does not match its pod template's labels")
svc = (objects.get("Service") or {}).get(spec.get("serviceName"))
if svc is None:
    err(f"serviceName {spec.get('serviceName')} names no Service in the set")
else:
    sspec = svc.get("spec") or {}
    if sspec.get("clusterIP") != "None":
        err(f"Service {spec.get('serviceName')} is not headless (clusterIP: None)")
    if sspec.get("publishNotReadyAddresses") is not True:
        err(f"Service {spec.get('serviceName')} lacks publishNotReadyAddresses: an S3 outage (scb-backup "
            "not Ready) would take lnd off it")
    if any(labels.get(k) != v for k, v in (sspec.get("selector") or {}).items()):
        err(f"Service {spec.get('serviceName')}'s selector does not match the pod")

# ---- images: those of compose.yaml
for name, c, cc in (("lnd", lnd, c_lnd), ("scb-backup", scb, c_scb)):
    if c.get("image") != cc.get("image"):
        err(f"{name}'s image is {c.get('image')}, compose.yaml's is {cc.get('image')}")

# ---- scb-backup's settings, as the kubelet would set them
configmaps = objects.get("ConfigMap") or {}
def resolve_env(c):
    env = {}
    for ef in c.get("envFrom") or []:
        if "secretRef" in ef:
            err("scb-backup takes a Secret (envFrom): credentials come from IRSA here")
        ref = (ef.get("configMapRef") or {}).get("name")
        if ref is None:
            continue
        if ref not in configmaps:
            err(f"scb-backup's envFrom names ConfigMap {ref}, which is not in the set")
            continue
        env.update({ef.get("prefix", "") + k: str(v) for k, v in (configmaps[ref].get("data") or {}).items()})
    def expand(value):  # $(VAR) from what is defined so far, $$ for a $ (Kubernetes' rules)
        return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                      lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = expand(str(e["value"]))
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            if "secretKeyRef" in vf:
                err(f"scb-backup's {e['name']} comes from a Secret: credentials come from IRSA here")
            ref = vf.get("configMapKeyRef")
            if ref:
                data = (configmaps.get(ref.get("name")) or {}).get("data") or {}
                if ref.get("key") not in data:
                    err(f"scb-backup's {e['name']} takes key {ref.get('key')} of ConfigMap {ref.get('name')}, "
                        "which has no such key")
                env[e["name"]] = str(data.get(ref.get("key"), ""))
        else:
            env[e["name"]] = ""
    return env
env = resolve_env(scb)
env_names = [e.get("name") for e in scb.get("env") or []]
for key in ("BACKUP_DIRECTORY", "SCB_LISTEN"):
    if env.get(key) != c_env.get(key):
        err(f"{key} is {env.get(key)!r}, compose.yaml's is {c_env.get(key)!r}")
if "AWS_REGION" not in env_names:
    err("AWS_REGION is not under scb-backup's env: EKS's webhook would add the cluster's region there, "
        "which wins over envFrom")
if not env.get("S3_BUCKET_NAME") and not env.get("SCB_DESTINATIONS"):
    err("scb-backup has no S3_BUCKET_NAME")

# ---- volumes
claims = {(t.get("metadata") or {}).get("name") for t in spec.get("volumeClaimTemplates") or []}
pod_volumes = {v.get("name"): v for v in pod.get("volumes") or []}
def kind_of(volume):
    if volume in claims:
        return "pvc"
    v = pod_volumes.get(volume)
    if v is None:
        return None
    return "pvc" if "persistentVolumeClaim" in v else next((k for k in v if k != "name"), "?")
for c in containers + inits:
    for m in c.get("volumeMounts") or []:
        if kind_of(m.get("name")) is None:
            err(f"{c.get('name')} mounts volume {m.get('name')}, which is neither a claim template nor a pod volume")
mounts = scb.get("volumeMounts") or []
def mount_of(path):
    found = [m for m in mounts if under(path, m.get("mountPath", ""))]
    return max(found, key=lambda m: len(m.get("mountPath", "")), default=None)

watched = env.get("MONITOR_FILE_PATH", "")
data_mount = mount_of(watched) if watched else None
if "$(" in watched:
    err(f"MONITOR_FILE_PATH {watched} keeps a $(…) the kubelet cannot fill (no such variable before it)")
if data_mount is None:
    err(f"MONITOR_FILE_PATH {watched!r} is under no volumeMount of scb-backup")
else:
    vol = data_mount.get("name")
    if data_mount.get("readOnly") is not True:
        err(f"lnd's data (volume {vol} on {data_mount.get('mountPath')}) is not mounted readOnly in scb-backup")
    if kind_of(vol) != "pvc":
        err(f"lnd's data volume {vol} is not a PersistentVolumeClaim")
    in_volume = posixpath.join(data_mount.get("subPath", ""),
                               posixpath.relpath(watched, data_mount.get("mountPath")))
    lnd_mount = next((m for m in lnd.get("volumeMounts") or [] if m.get("name") == vol), None)
    if lnd_mount is None:
        err(f"scb-backup watches a file on volume {vol}, which lnd does not mount")
    else:
        sub = lnd_mount.get("subPath", "")
        if lnd_mount.get("readOnly"):
            err(f"lnd mounts its data volume {vol} read-only")
        if sub and not under(in_volume, sub):
            err(f"scb-backup's file is outside lnd's subPath {sub}")
        else:
            in_lnd = posixpath.normpath(posixpath.join(lnd_mount.get("mountPath"),
                                                       posixpath.relpath(in_volume, sub or ".")))
            if in_lnd != c_file_in_lnd:
                err(f"scb-backup watches {in_lnd} of lnd's, compose.yaml's watches {c_file_in_lnd} "
                    f"(MONITOR_FILE_PATH {watched}, volume {vol} on {data_mount.get('mountPath')} in scb-backup, "
                    f"on {lnd_mount.get('mountPath')} in lnd)")

spool = env.get("BACKUP_DIRECTORY", "")
spool_mount = next((m for m in mounts if spool and m.get("mountPath", "").rstrip("/") == spool.rstrip("/")), None)
if spool_mount is None:
    err(f"the spool BACKUP_DIRECTORY={spool!r} is not a volumeMount of its own (it would be lost with the container)")
else:
    vol = spool_mount.get("name")
    if spool_mount.get("readOnly"):
        err(f"the spool {spool} is mounted readOnly")
    if data_mount is not None and vol == data_mount.get("name"):
        err(f"the spool {spool} is on lnd's data volume {vol}: it needs a volume of its own")
    kind = kind_of(vol)
    if kind != "pvc":
        err(f"the spool's volume {vol} is {kind}, not a PersistentVolumeClaim: the versions it holds must "
            "survive the pod (an emptyDir dies with it)")
for m in mounts:
    if m is not spool_mount and not m.get("readOnly"):
        err(f"scb-backup mounts {m.get('name')} on {m.get('mountPath')} writable: only the spool may be")

# ---- the health port and the probes
listen = env.get("SCB_LISTEN", "")
try:
    listen_port = int(listen.rsplit(":", 1)[1])
except (IndexError, ValueError):
    listen_port = None
    err(f"SCB_LISTEN {listen!r} has no port")
ports = {p.get("name"): p.get("containerPort") for p in scb.get("ports") or []}
if listen_port not in ports.values():
    err(f"SCB_LISTEN's port {listen_port} is not a containerPort of scb-backup")
def probe_target(probe):
    action = probe.get("httpGet") or probe.get("tcpSocket") or {}
    port = action.get("port")
    return (ports.get(port) if isinstance(port, str) else port), action.get("path"), action
readiness, liveness = scb.get("readinessProbe"), scb.get("livenessProbe")
if not readiness:
    err("scb-backup has no readinessProbe")
else:
    port, path, _ = probe_target(readiness)
    if "httpGet" not in readiness or path != "/healthz":
        err("scb-backup's readinessProbe is not an httpGet of /healthz")
    if port != listen_port:
        err(f"the readinessProbe asks port {port}, SCB_LISTEN listens on {listen_port}")
if not liveness:
    err("scb-backup has no livenessProbe")
else:
    port, path, _ = probe_target(liveness)
    if port != listen_port:
        err(f"the livenessProbe asks port {port}, SCB_LISTEN listens on {listen_port}")
    if path == "/healthz":
        err("the livenessProbe asks /healthz: an S3 outage would restart scb-backup, which does not fix S3")
    budget = liveness.get("initialDelaySeconds", 0) + liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
    if budget < 120:
        err(f"the livenessProbe restarts after {budget} s without an answer: at start the listener answers "
            "only after the first HEAD to S3 (up to 70 s, and as long again for STS with IRSA)")
if scb.get("startupProbe") and variant == "sidecar":
    err("scb-backup has a startupProbe: on a native sidecar it holds back lnd's start until it passes")

# ---- hardening, as compose.yaml's (user 0:0, cap_drop ALL, no-new-privileges, read_only)
sc = scb.get("securityContext") or {}
psc = pod.get("securityContext") or {}
caps = sc.get("capabilities") or {}
if "ALL" not in (caps.get("drop") or []):
    err("scb-backup's capabilities do not drop ALL")
if caps.get("add"):
    err(f"scb-backup adds capabilities {caps.get('add')}")
if sc.get("readOnlyRootFilesystem") is not True:
    err("scb-backup's root file system is not readOnlyRootFilesystem")
if sc.get("allowPrivilegeEscalation") is not False:
    err("scb-backup's allowPrivilegeEscalation is not false")
if sc.get("privileged"):
    err("scb-backup is privileged")
seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
if seccomp not in ("RuntimeDefault", "Localhost"):
    err(f"scb-backup's seccompProfile is {seccomp}, not RuntimeDefault")
uid = sc.get("runAsUser", psc.get("runAsUser"))
gid = sc.get("runAsGroup", psc.get("runAsGroup"))
if uid != c_uid or gid != c_gid:
    err(f"scb-backup runs as {uid}:{gid}, compose.yaml's user is {c_uid}:{c_gid} (lnd's uid: its folders are 0700)")
if "fsGroup" in psc:
    err("the pod sets fsGroup: the kubelet would make the spool group-writable (scb-backup refuses it) "
        "and lnd's keys group-readable")
resources = scb.get("resources") or {}
if not all((resources.get(a) or {}).get(b) for a, b in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))):
    err("scb-backup lacks resources.requests cpu/memory or limits.memory")

# ---- stopping: lnd first, then scb-backup, in one grace period
try:
    shutdown = seconds(env.get("SCB_SHUTDOWN_TIMEOUT"), 10)
except ValueError as e:
    err(f"SCB_SHUTDOWN_TIMEOUT: {e}")
    shutdown = 10
grace = pod.get("terminationGracePeriodSeconds", 30)
if grace <= shutdown:
    err(f"terminationGracePeriodSeconds {grace} is not more than SCB_SHUTDOWN_TIMEOUT ({shutdown:g} s)")
if grace < c_grace:
    err(f"terminationGracePeriodSeconds {grace} is less than lnd's and scb-backup's stop_grace_period in "
        f"compose.yaml together ({c_grace:g} s): one stops after the other")
if variant == "plain":
    pre = ((scb.get("lifecycle") or {}).get("preStop") or {})
    command = (pre.get("exec") or {}).get("command") or []
    pause = (pre.get("sleep") or {}).get("seconds")
    if pause is None and len(command) == 2 and command[0].endswith("sleep"):
        pause = seconds(command[1])
    if pause is None:
        err("before-1.29: scb-backup has no preStop pause: it would stop together with lnd")
    elif pause + shutdown >= grace:
        err(f"before-1.29: the preStop pause ({pause:g} s) and SCB_SHUTDOWN_TIMEOUT leave nothing of "
            f"terminationGracePeriodSeconds {grace}")

# ---- IRSA
sa_name = pod.get("serviceAccountName")
sa = (objects.get("ServiceAccount") or {}).get(sa_name)
if sa is None:
    err(f"the pod's serviceAccountName {sa_name} names no ServiceAccount in the set")
else:
    arn = ((sa.get("metadata") or {}).get("annotations") or {}).get(ROLE_ARN, "")
    if not re.fullmatch(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
        err(f"ServiceAccount {sa_name} has no IRSA annotation {ROLE_ARN} with a role ARN ({arn!r})")
skip = ((tmeta.get("annotations") or {}).get("eks.amazonaws.com/skip-containers") or "").split(",")
if "lnd" not in [s.strip() for s in skip]:
    err("the pod lacks eks.amazonaws.com/skip-containers: lnd (lnd would get the role's credentials too)")

# ---- as written only: no key in any file of the folder; the trust policy of the docs
if mode == "source":
    key_id = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
    secret = re.compile(r"AWS_SECRET_ACCESS_KEY\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")
    for root, _, files in os.walk(source):
        for name in files:
            p = os.path.join(root, name)
            try:
                with open(p, errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            for rx, what in ((key_id, "an AWS access key id"), (secret, "an AWS secret access key")):
                if rx.search(text):
                    err(f"{os.path.relpath(p, source)} holds {what}")
    ns = kust.get("namespace")
    section, inside = [], False
    with open(docs_path) as f:
        for line in f:
            if line.startswith("## "):
                inside = line.strip() == "## Kubernetes"
            elif inside:
                section.append(line)
    blocks = re.findall(r"^```json\n(.*?)^```$", "".join(section), re.S | re.M)
    policies = []
    for b in blocks:
        try:
            policies.append(json.loads(b))
        except ValueError as e:
            err(f"{docs_path}, Kubernetes: a json block does not parse: {e}")
    trust = [s for p in policies for s in p.get("Statement", [])
             if s.get("Action") == "sts:AssumeRoleWithWebIdentity"]
    if len(trust) != 1:
        err(f"{docs_path}, Kubernetes: {len(trust)} trust statements with sts:AssumeRoleWithWebIdentity, one expected")
    else:
        cond = (trust[0].get("Condition") or {}).get("StringEquals") or {}
        sub = next((v for k, v in cond.items() if k.endswith(":sub")), None)
        aud = next((v for k, v in cond.items() if k.endswith(":aud")), None)
        if sub != f"system:serviceaccount:{ns}:{sa_name}":
            err(f"{docs_path}, Kubernetes: the trust policy's sub is {sub}, the pod runs as "
                f"system:serviceaccount:{ns}:{sa_name}")
        if aud != "sts.amazonaws.com":
            err(f"{docs_path}, Kubernetes: the trust policy's aud is {aud}, IRSA's tokens say sts.amazonaws.com")
finish()
PY

# kustomize_build DIR OUT: `kubectl kustomize` (or `kustomize build`); returns 3 when neither is there.
kustomize_build() {
  if command -v kubectl >/dev/null 2>&1; then
    local v
    v=$(kubectl version --client -o json 2>/dev/null |
      python3 -c 'import json, sys; print(json.load(sys.stdin).get("kustomizeVersion", ""))' || true)
    if [[ $v =~ ^v([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 4 ]; then
      kubectl kustomize "$1" >"$2" 2>"$2.err" || { sed 's/^/  /' "$2.err"; return 1; }
      return 0
    fi
  fi
  if command -v kustomize >/dev/null 2>&1; then
    kustomize build "$1" >"$2" 2>"$2.err" || { sed 's/^/  /' "$2.err"; return 1; }
    return 0
  fi
  return 3
}

# run_checks DIR COMPOSE DOCS SCRATCH: every check on one copy of the files. Returns 0 or 1.
run_checks() {
  local d=$1 c=$2 o=$3 s=$4 failed=0 rc
  echo "== the manifests as written (python3 + PyYAML)"
  python3 -c "$checker" source "$d" "$c" "$d" sidecar "$o" || failed=1
  echo "== kustomize: what kubectl apply -k applies"
  rc=0
  kustomize_build "$d" "$s/rendered.yaml" || rc=$?
  if [ "$rc" = 3 ]; then
    echo "skipped: no kubectl with kustomize >= v4, nor kustomize (Debian 12's kubernetes-client 1.20 is too old)"
  elif [ "$rc" != 0 ]; then
    echo "kustomize $d: FAILED"
    failed=1
  else
    python3 -c "$checker" rendered "$s/rendered.yaml" "$c" "kustomize $d" sidecar || failed=1
    # The component, enabled as an operator would: in a copy of the folder.
    rm -rf "$s/plain"
    cp -r "$d" "$s/plain"
    printf 'components:\n  - before-1.29\n' >>"$s/plain/kustomization.yaml"
    if kustomize_build "$s/plain" "$s/plain.yaml"; then
      python3 -c "$checker" rendered "$s/plain.yaml" "$c" "kustomize $d with before-1.29" plain || failed=1
    else
      echo "kustomize $d with before-1.29: FAILED"
      failed=1
    fi
  fi
  return "$failed"
}

if [ "${1:-}" != "--prove" ]; then
  if run_checks "$dir" "$compose" "$docs" "$work"; then
    echo "deploy/kubernetes/check.sh: all checks passed"
    exit 0
  fi
  echo "deploy/kubernetes/check.sh: FAILED"
  exit 1
fi

# --prove: each case breaks one thing in a scratch copy (deploy/kubernetes, compose.yaml, the docs), and
# the checks must fail on it with the expected line. CASE FILE EXPECTED: the mutation is in breaker below.
read -r -d '' breaker <<'PY' || true
import re, sys, yaml
case, root = sys.argv[1:3]
k = f"{root}/k"

def edit(path, fn):
    with open(path) as f:
        docs = list(yaml.safe_load_all(f))
    fn(docs)
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)

def text(path, old, new):
    with open(path) as f:
        s = f.read()
    if old not in s:
        sys.exit(f"breaker {case}: {old!r} not in {path}")
    with open(path, "w") as f:
        f.write(s.replace(old, new, 1))

def cut(path, start):  # the file from `start` on
    with open(path) as f:
        s = f.read()
    if start not in s:
        sys.exit(f"breaker {case}: {start!r} not in {path}")
    with open(path, "w") as f:
        f.write(s[:s.index(start)])

def pod(docs):
    return docs[0]["spec"]["template"]["spec"]
def scb(docs):
    return next(c for c in pod(docs)["initContainers"] if c["name"] == "scb-backup")
def lnd(docs):
    return next(c for c in pod(docs)["containers"] if c["name"] == "lnd")
def env(docs, name):
    return next(e for e in scb(docs)["env"] if e["name"] == name)
def mount(c, name):
    return next(m for m in c["volumeMounts"] if m["name"] == name)
sts = f"{k}/statefulset.yaml"
S = lambda fn: edit(sts, fn)

def set_(d, key, value):
    d[key] = value
def drop(d, key):
    d.pop(key)

cases = {
    "yaml": lambda: text(f"{k}/service.yaml", "clusterIP: None", "clusterIP: [None"),
    "name": lambda: edit(f"{k}/serviceaccount.yaml", lambda d: drop(d[0]["metadata"], "name")),
    "apiVersion": lambda: edit(f"{k}/service.yaml", lambda d: drop(d[0], "apiVersion")),
    "kind": lambda: edit(f"{k}/namespace.yaml", lambda d: drop(d[0], "kind")),
    "unlisted": lambda: open(f"{k}/extra.yaml", "w").write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"),
    "network": lambda: text(f"{k}/scb-backup.env", "BITCOIN_NETWORK=mainnet", "BITCOIN_NETWORK=testnet"),
    "compose-network": lambda: text(f"{root}/compose.yaml", "bitcoin/mainnet/", "bitcoin/signet/"),
    "watched-path": lambda: S(lambda d: set_(env(d, "MONITOR_FILE_PATH"), "value",
                                             "/lnd/chain/bitcoin/$(BITCOIN_NETWORK)/channel.backup")),
    "no-mount": lambda: S(lambda d: set_(mount(scb(d), "lnd-data"), "mountPath", "/lnd-data")),
    "unknown-var": lambda: text(f"{k}/scb-backup.env", "BITCOIN_NETWORK=", "NETWORK="),
    "lnd-mount": lambda: S(lambda d: set_(mount(lnd(d), "lnd-data"), "mountPath", "/data")),
    "data-writable": lambda: S(lambda d: drop(mount(scb(d), "lnd-data"), "readOnly")),
    "spool-emptydir": lambda: S(lambda d: (d[0]["spec"]["volumeClaimTemplates"].pop(),
                                           pod(d).setdefault("volumes", []).append({"name": "scb-spool", "emptyDir": {}}))),
    "spool-readonly": lambda: S(lambda d: set_(mount(scb(d), "scb-spool"), "readOnly", True)),
    "spool-path": lambda: S(lambda d: set_(env(d, "BACKUP_DIRECTORY"), "value", "/spool/x")),
    "spool-on-lnd": lambda: S(lambda d: mount(scb(d), "scb-spool").update(name="lnd-data", subPath="spool")),
    "listen": lambda: S(lambda d: set_(env(d, "SCB_LISTEN"), "value", "0.0.0.0:9581")),
    "probe-port": lambda: S(lambda d: set_(scb(d)["readinessProbe"]["httpGet"], "port", 9581)),
    "readiness-path": lambda: S(lambda d: set_(scb(d)["readinessProbe"]["httpGet"], "path", "/metrics")),
    "liveness-healthz": lambda: S(lambda d: set_(scb(d)["livenessProbe"]["httpGet"], "path", "/healthz")),
    "liveness-short": lambda: S(lambda d: set_(scb(d)["livenessProbe"], "failureThreshold", 2)),
    "startup-probe": lambda: S(lambda d: set_(scb(d), "startupProbe", {"tcpSocket": {"port": 9580}})),
    "caps": lambda: S(lambda d: set_(scb(d)["securityContext"]["capabilities"], "drop", ["NET_RAW"])),
    "caps-add": lambda: S(lambda d: set_(scb(d)["securityContext"]["capabilities"], "add", ["DAC_OVERRIDE"])),
    "rootfs": lambda: S(lambda d: set_(scb(d)["securityContext"], "readOnlyRootFilesystem", False)),
    "escalation": lambda: S(lambda d: drop(scb(d)["securityContext"], "allowPrivilegeEscalation")),
    "privileged": lambda: S(lambda d: set_(scb(d)["securityContext"], "privileged", True)),
    "seccomp": lambda: S(lambda d: (drop(scb(d)["securityContext"], "seccompProfile"), drop(pod(d), "securityContext"))),
    "uid": lambda: S(lambda d: set_(scb(d)["securityContext"], "runAsUser", 10001)),
    "fsgroup": lambda: S(lambda d: set_(pod(d)["securityContext"], "fsGroup", 0)),
    "resources": lambda: S(lambda d: drop(scb(d)["resources"], "limits")),
    "grace-10": lambda: S(lambda d: set_(pod(d), "terminationGracePeriodSeconds", 10)),
    "grace-60": lambda: S(lambda d: set_(pod(d), "terminationGracePeriodSeconds", 60)),
    "shutdown-timeout": lambda: open(f"{k}/scb-backup.env", "a").write("SCB_SHUTDOWN_TIMEOUT=2m\n"),
    "not-sidecar": lambda: S(lambda d: drop(scb(d), "restartPolicy")),
    "plain-container": lambda: S(lambda d: pod(d)["containers"].append(pod(d).pop("initContainers")[0])),
    "irsa": lambda: edit(f"{k}/serviceaccount.yaml", lambda d: drop(d[0]["metadata"], "annotations")),
    "irsa-arn": lambda: text(f"{k}/serviceaccount.yaml", "arn:aws:iam::123456789012:role/", "arn:aws:iam::1234:role/"),
    "skip-lnd": lambda: S(lambda d: drop(d[0]["spec"]["template"]["metadata"], "annotations")),
    "region-envfrom": lambda: S(lambda d: scb(d)["env"].remove(env(d, "AWS_REGION"))),
    "key-env": lambda: S(lambda d: scb(d)["env"].append({"name": "AWS_ACCESS_KEY_ID", "value": "x"})),
    "key-configmap": lambda: open(f"{k}/scb-backup.env", "a").write("AWS_SECRET_ACCESS_KEY=x\n"),
    "key-readme": lambda: open(f"{k}/README.md", "a").write("\n" + "AKIA" + "IOSFODNN7EXAMPLE\n"),
    "secret": lambda: (open(f"{k}/secret.yaml", "w").write("apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws\n"),
                       text(f"{k}/kustomization.yaml", "  - statefulset.yaml\n", "  - statefulset.yaml\n  - secret.yaml\n")),
    "configmap-name": lambda: S(lambda d: set_(scb(d)["envFrom"][0]["configMapRef"], "name", "scb")),
    "policy": lambda: S(lambda d: set_(d[0]["spec"], "podManagementPolicy", "OrderedReady")),
    "not-ready-service": lambda: edit(f"{k}/service.yaml", lambda d: drop(d[0]["spec"], "publishNotReadyAddresses")),
    "replicas": lambda: S(lambda d: set_(d[0]["spec"], "replicas", 2)),
    "lnd-image": lambda: S(lambda d: set_(lnd(d), "image", "lightninglabs/lnd:v0.18.4-beta")),
    "trust-sub": lambda: text(f"{root}/operations.md", "system:serviceaccount:lnd:scb-backup",
                              "system:serviceaccount:default:scb-backup"),
    "component-prestop": lambda: cut(f"{k}/before-1.29/kustomization.yaml", "      - op: add\n"),
    "component-restartpolicy": lambda: text(f"{k}/before-1.29/kustomization.yaml", "      - op: remove\n"
                                           "        path: /spec/template/spec/containers/1/restartPolicy\n", ""),
}
if case == "--list":
    print("\n".join(cases))
else:
    cases[case]()
PY

# CASE EXPECTED (a piece of the line the checks must print; cases marked kustomize need kubectl).
expected() {
  case $1 in
    yaml) echo "does not parse as YAML" ;;
    name) echo "ServiceAccount without metadata.name" ;;
    apiVersion) echo "a document without apiVersion" ;;
    kind) echo "a document without kind" ;;
    unlisted) echo "extra.yaml is not in kustomization.yaml's resources" ;;
    network|watched-path|lnd-mount|compose-network) echo "compose.yaml's watches /root/.lnd/data/chain/bitcoin/" ;;
    no-mount) echo "is under no volumeMount of scb-backup" ;;
    unknown-var) echo "keeps a \$(…) the kubelet cannot fill" ;;
    data-writable) echo "is not mounted readOnly in scb-backup" ;;
    spool-emptydir) echo "is emptyDir, not a PersistentVolumeClaim" ;;
    spool-readonly) echo "the spool /spool is mounted readOnly" ;;
    spool-path) echo "BACKUP_DIRECTORY is '/spool/x', compose.yaml's is '/spool'" ;;
    spool-on-lnd) echo "is on lnd's data volume lnd-data" ;;
    listen) echo "SCB_LISTEN is '0.0.0.0:9581', compose.yaml's is '0.0.0.0:9580'" ;;
    probe-port) echo "the readinessProbe asks port 9581" ;;
    readiness-path) echo "readinessProbe is not an httpGet of /healthz" ;;
    liveness-healthz) echo "the livenessProbe asks /healthz" ;;
    liveness-short) echo "the livenessProbe restarts after 60 s" ;;
    startup-probe) echo "has a startupProbe" ;;
    caps) echo "capabilities do not drop ALL" ;;
    caps-add) echo "adds capabilities" ;;
    rootfs) echo "is not readOnlyRootFilesystem" ;;
    escalation) echo "allowPrivilegeEscalation is not false" ;;
    privileged) echo "scb-backup is privileged" ;;
    seccomp) echo "seccompProfile is None" ;;
    uid) echo "scb-backup runs as 10001:0, compose.yaml's user is 0:0" ;;
    fsgroup) echo "the pod sets fsGroup" ;;
    resources) echo "lacks resources" ;;
    grace-10) echo "terminationGracePeriodSeconds 10 is not more than SCB_SHUTDOWN_TIMEOUT" ;;
    grace-60) echo "terminationGracePeriodSeconds 60 is less than" ;;
    shutdown-timeout) echo "is not more than SCB_SHUTDOWN_TIMEOUT (120 s)" ;;
    not-sidecar) echo "without restartPolicy: Always" ;;
    plain-container) echo "scb-backup is not an init container" ;;
    irsa) echo "has no IRSA annotation" ;;
    irsa-arn) echo "has no IRSA annotation eks.amazonaws.com/role-arn with a role ARN ('arn:aws:iam::1234" ;;
    skip-lnd) echo "lacks eks.amazonaws.com/skip-containers: lnd" ;;
    region-envfrom) echo "AWS_REGION is not under scb-backup's env" ;;
    key-env) echo "sets AWS_ACCESS_KEY_ID" ;;
    key-configmap) echo "AWS_SECRET_ACCESS_KEY: no access keys" ;;
    key-readme) echo "README.md holds an AWS access key id" ;;
    secret) echo "a Secret: credentials come from IRSA" ;;
    configmap-name) echo "envFrom names ConfigMap scb" ;;
    policy) echo "podManagementPolicy is not Parallel" ;;
    not-ready-service) echo "lacks publishNotReadyAddresses" ;;
    replicas) echo "replicas is 2" ;;
    lnd-image) echo "lnd's image is lightninglabs/lnd:v0.18.4-beta" ;;
    trust-sub) echo "the trust policy's sub is system:serviceaccount:default:scb-backup" ;;
    component-prestop) echo "before-1.29: scb-backup has no preStop pause" ;;
    component-restartpolicy) echo "before-1.29: the container scb-backup keeps a restartPolicy" ;;
    *) echo "?" ;;
  esac
}

has_kustomize=1
kustomize_build "$dir" "$work/probe.yaml" >/dev/null 2>&1 || has_kustomize=0
proved=0 unproved=0 skipped=0
for c in $(python3 -c "$breaker" --list "$work"); do
  case_dir="$work/$c"
  mkdir -p "$case_dir"
  cp -r "$dir" "$case_dir/k"
  cp "$compose" "$case_dir/compose.yaml"
  cp "$docs" "$case_dir/operations.md"
  if [[ $c == component-* ]] && [ "$has_kustomize" = 0 ]; then
    echo "skipped: $c (needs kubectl's kustomize)"
    skipped=$((skipped + 1))
    continue
  fi
  python3 -c "$breaker" "$c" "$case_dir"
  want=$(expected "$c")
  if run_checks "$case_dir/k" "$case_dir/compose.yaml" "$case_dir/operations.md" "$case_dir" >"$case_dir/out" 2>&1; then
    echo "NOT PROVED: $c: the checks passed on the broken copy"
    unproved=$((unproved + 1))
  elif line=$(grep -F -m1 -- "$want" "$case_dir/out"); then
    echo "proved: $c -> $line"
    proved=$((proved + 1))
  else
    echo "NOT PROVED: $c: failed, but without '$want':"
    grep -E 'FAILED|: ' "$case_dir/out" | sed 's/^/  /' | head -n 8
    unproved=$((unproved + 1))
  fi
done
echo "deploy/kubernetes/check.sh --prove: $proved proved, $unproved not proved, $skipped skipped"
[ "$unproved" = 0 ]
