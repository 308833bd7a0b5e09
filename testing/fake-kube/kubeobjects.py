"""Kubernetes object helpers for fake_kube.py: kinds and paths, Status errors, label and field
selectors, strategic merge and JSON merge patches, and small pod and template predicates."""

import copy
import datetime
import hashlib
import json

KINDS = {
    "Namespace": ("", "v1", "namespaces", False),
    "Node": ("", "v1", "nodes", False),
    "PersistentVolume": ("", "v1", "persistentvolumes", False),
    "Pod": ("", "v1", "pods", True),
    "Service": ("", "v1", "services", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "PersistentVolumeClaim": ("", "v1", "persistentvolumeclaims", True),
    "Event": ("", "v1", "events", True),
    "Deployment": ("apps", "v1", "deployments", True),
    "StatefulSet": ("apps", "v1", "statefulsets", True),
    "ReplicaSet": ("apps", "v1", "replicasets", True),
    "DaemonSet": ("apps", "v1", "daemonsets", True),
    "ControllerRevision": ("apps", "v1", "controllerrevisions", True),
    "Job": ("batch", "v1", "jobs", True),
    "CronJob": ("batch", "v1", "cronjobs", True),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets", True),
    "PodMetrics": ("metrics.k8s.io", "v1beta1", "pods", True),
    "NodeMetrics": ("metrics.k8s.io", "v1beta1", "nodes", False),
}

# Strategic merge: lists merged by key instead of replaced (the subset of the Kubernetes
# `patchMergeKey` tags that workload templates use).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}

# Map-typed fields that Kubernetes omits when empty (`omitempty` on a Go map).
OMIT_EMPTY_MAPS = {"nodeSelector", "labels", "annotations", "matchLabels"}

DEFAULT_USER = "system:serviceaccount:costmill:costmill"
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind_info(obj):
    kind = obj.get("kind", "")
    if kind in KINDS:
        return KINDS[kind]
    api_version = obj.get("apiVersion", "v1")
    group, _, version = api_version.rpartition("/")
    namespaced = "namespace" in obj.get("metadata", {})
    return (group, version, kind.lower() + "s", namespaced)


def resource_name(group, plural):
    return f"{plural}.{group}" if group else plural


def status(code, reason, message, details=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return code, body


def template_hash(template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(HASH_ALPHABET[b % len(HASH_ALPHABET)] for b in digest[:10])


# ---------------------------------------------------------------- selectors


def split_selector(text):
    """Split a label selector on the commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def label_matches(labels, selector):
    for req in split_selector(selector or ""):
        words = req.split()
        if len(words) >= 2 and words[1] in ("in", "notin"):
            key, op = words[0], words[1]
            values = {v.strip() for v in req.split("(", 1)[1].rstrip(")").split(",")}
            present = key in labels and labels[key] in values
            if (op == "in") != present:
                return False
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "==" in req or "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif req.startswith("!"):
            if req[1:].strip() in labels:
                return False
        elif req not in labels:
            return False
    return True


def dotted(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def field_matches(obj, selector):
    for req in split_selector(selector or ""):
        if "!=" in req:
            path, value = req.split("!=", 1)
            if dotted(obj, path.strip()) == value.strip():
                return False
        else:
            path, value = req.replace("==", "=").split("=", 1)
            if dotted(obj, path.strip()) != value.strip():
                return False
    return True


def selector_text(selector):
    """A LabelSelector object as selector text."""
    parts = [f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions", []):
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values", [])
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append("!" + key)
    return ",".join(parts)


# ---------------------------------------------------------------- patches


def strategic_merge(target, patch, key=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue  # $patch, $retainKeys, $setElementOrder/...: not needed here
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            result[k] = strategic_merge(result.get(k), v, k)
            if k in OMIT_EMPTY_MAPS and not result[k]:
                del result[k]
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(result.get(k), list):
            merge_key = MERGE_KEYS[k]
            merged = copy.deepcopy(result[k])
            for item in v:
                idx = next(
                    (i for i, cur in enumerate(merged)
                     if isinstance(item, dict) and cur.get(merge_key) == item.get(merge_key)),
                    None,
                )
                if isinstance(item, dict) and item.get("$patch") == "delete":
                    if idx is not None:
                        merged.pop(idx)
                elif idx is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[idx] = strategic_merge(merged[idx], item)
            result[k] = merged
        else:
            result[k] = copy.deepcopy(v)
    return result


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
            if k in OMIT_EMPTY_MAPS and result[k] == {}:
                del result[k]
    return result


def canonical(value):
    return json.dumps(value, sort_keys=True)


def without_label(template, key):
    t = copy.deepcopy(template)
    labels = t.get("metadata", {}).get("labels", {})
    labels.pop(key, None)
    return t


def with_label(template, key, value):
    t = copy.deepcopy(template)
    t.setdefault("metadata", {}).setdefault("labels", {})[key] = value
    return t


def tolerates(toleration, taint):
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration.get("key") == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", "")


def qos_class(containers):
    resources = [c.get("resources", {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    if all(r.get("limits") and r.get("requests", r.get("limits")) == r.get("limits") for r in resources):
        return "Guaranteed"
    return "Burstable"


def pod_ready(pod):
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", [])
    )


def not_found(group, plural, name):
    return status(
        404, "NotFound", f"{resource_name(group, plural)} \"{name}\" not found",
        {"name": name, "group": group, "kind": plural},
    )
