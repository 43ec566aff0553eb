#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# examples/k8s/passthru.yaml against the Kubernetes API schema: every
# object, key and value type of each document checked against the models
# python3-kubernetes (Debian 12, API 1.22) generates from the OpenAPI spec,
# and the required fields through its deserializer. Then what is ours: the
# DaemonSet is on hostNetwork, its config (the ConfigMap) passes
# passthru --check, the paths the containers use agree, and the capabilities
# it adds are within those passthru@.service allows.
# Ends "N passed, N failed[, N skipped]".
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
    import kubernetes.client as k8s
except ImportError:
    # Debian's python3-kubernetes lives in the system Python, not in a venv.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("skip: python3-kubernetes or python3-yaml missing (make deps)")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(0)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MANIFEST = os.path.join(ROOT, "examples", "k8s", "passthru.yaml")
BUILD = os.environ.get("BUILD", "build")
passed = failed = skipped = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def walk(v, typ, path, errs):
    """Check value v against the model type name typ; append errors to errs."""
    if typ.startswith("list["):
        if not isinstance(v, list):
            errs.append(f"{path}: expected a list, got {type(v).__name__}")
            return
        for i, x in enumerate(v):
            walk(x, typ[5:-1], f"{path}[{i}]", errs)
    elif typ.startswith("dict("):
        inner = typ[5:-1].split(", ", 1)[1]
        if not isinstance(v, dict):
            errs.append(f"{path}: expected a map, got {type(v).__name__}")
            return
        for k, x in v.items():
            walk(x, inner, f"{path}.{k}", errs)
    elif typ in ("str", "datetime", "date"):
        if not isinstance(v, str):
            errs.append(f"{path}: expected a string, got {v!r}")
    elif typ == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            errs.append(f"{path}: expected an integer, got {v!r}")
    elif typ == "bool":
        if not isinstance(v, bool):
            errs.append(f"{path}: expected true or false, got {v!r}")
    elif typ == "object":  # IntOrString, quantities, raw extensions
        pass
    else:
        cls = getattr(k8s, typ)
        if not isinstance(v, dict):
            errs.append(f"{path}: expected a {typ} object, got {v!r}")
            return
        keys = {json_key: attr for attr, json_key in cls.attribute_map.items()}
        for k, x in v.items():
            if k not in keys:
                errs.append(f"{path}: unknown key {k!r} in {typ}")
            else:
                walk(x, cls.openapi_types[keys[k]], f"{path}.{k}", errs)


docs = [d for d in yaml.safe_load_all(open(MANIFEST)) if d]
api = k8s.ApiClient()
by_kind = {}
for d in docs:
    kind, version = d.get("kind"), d.get("apiVersion", "")
    typ = "V1" + kind if version in ("v1", "apps/v1") else None
    check(typ is not None and hasattr(k8s, typ), f"{kind} {version}: no model for it")
    if typ is None or not hasattr(k8s, typ):
        continue
    errs = []
    walk(d, typ, kind, errs)
    check(not errs, "; ".join(errs))
    try:
        api._ApiClient__deserialize(d, typ)  # required fields, enums
        check(True, "")
    except ValueError as e:
        check(False, f"{kind}: {e}")
    by_kind[kind] = d

ds, cm = by_kind.get("DaemonSet"), by_kind.get("ConfigMap")
check(ds is not None and cm is not None, "a DaemonSet and a ConfigMap")
if ds and cm:
    pod = ds["spec"]["template"]["spec"]
    check(pod.get("hostNetwork") is True, "the DaemonSet is on hostNetwork")
    main = pod["containers"][0]
    cmd = " ".join(main["command"])
    m = re.search(r"/usr/sbin/passthru -c /etc/passthru/(\S+) --instance (\S+)", cmd)
    check(m is not None, f"the first container runs passthru -c /etc/passthru/X --instance N: {cmd}")
    if m:
        key, inst = m.group(1), m.group(2)
        check(key in cm["data"], f"ConfigMap has the key {key}")
        reload = " ".join(" ".join(c["command"]) for c in pod["containers"][1:])
        check(f"/run/passthru/{inst}.sock" in reload and f"/etc/passthru/{key}" in reload,
              "the reload container watches the config and uses the instance's socket")
        mounts = {v["name"]: v["mountPath"] for v in main["volumeMounts"]}
        check(mounts.get("config") == "/etc/passthru" and mounts.get("run") == "/run/passthru"
              and mounts.get("bpffs") == "/sys/fs/bpf", f"mounts: {mounts}")
        daemon = os.path.join(ROOT, BUILD, "passthru")
        if os.access(daemon, os.X_OK) and key in cm["data"]:
            text = cm["data"][key]
            # Its "user" exists in the image (the package makes it), maybe not here.
            if subprocess.run(["getent", "passwd", "passthru"], capture_output=True).returncode:
                text = re.sub(r'\s*"user":\s*"[^"]*",', "", text)
            with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                f.write(text)
                f.flush()
                r = subprocess.run([daemon, "--check", "-c", f.name], capture_output=True, text=True)
            check(r.returncode == 0, f"the ConfigMap's config passes passthru --check: {r.stderr}")
        else:
            skipped += 1
            print(f"skip: {daemon} not built: the config is not checked")
    unit = open(os.path.join(ROOT, "dist", "systemd", "passthru@.service.in")).read()
    allowed = set(re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1).split())
    added = {"CAP_" + c for c in main["securityContext"]["capabilities"]["add"]}
    check(added <= allowed, f"capabilities beyond the unit's: {sorted(added - allowed)}")

print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
