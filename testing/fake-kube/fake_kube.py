#!/usr/bin/env python3
"""A fake Kubernetes API server for tests: serves the objects of a fixture directory.

No real API server can run on the test machines (no kube-apiserver, kind, k3s, envtest or kwok),
so tests start this one on a free loopback port:

    python3 testing/fake-kube/fake_kube.py --fixtures testing/fake-kube/fixtures/prod --port 0

It prints `listening on http://127.0.0.1:PORT` on its first stdout line, then serves:

* GET of single objects and of lists, namespaced and across namespaces, for every kind its
  fixtures hold (`kubectl get -o json` output: one object or a `List`), with `labelSelector`
  (`=`, `==`, `!=`, `in`, `notin`, exists, `!key`), `fieldSelector` (`=`, `==`, `!=` on dotted
  paths such as `spec.nodeName`) and `limit`/`continue` paging.
* PATCH with `application/strategic-merge-patch+json` (maps merged, `null` deletes, lists
  replaced except those with a merge key such as `containers` by `name`) and
  `application/merge-patch+json` (RFC 7386), with the `metadata.resourceVersion` precondition
  (409 Conflict); a changed `spec` bumps `metadata.generation`, every write bumps
  `metadata.resourceVersion`.
* A rollout simulation for Deployments and StatefulSets whose pod template a patch changed: the
  controller "observes" the new generation after `reads` further GETs in the namespace (default
  1), then, by the scenario the test set for the workload:
    - `healthy`: new ReplicaSet (or StatefulSet revision) and pods Running and Ready on a node
      that fits the template (nodeSelector, taints), old pods gone, status complete;
    - `pending`: one new pod Pending with PodScheduled=False, reason Unschedulable;
    - `crashloop`: one new pod whose containers wait in CrashLoopBackOff after restarts.
  A template the workload already ran healthily (its fixture template, or one rolled out
  healthily since) always rolls out healthy: restoring the previous template heals it.
* Errors as Kubernetes `Status` objects: 404 NotFound, 409 Conflict, 403 Forbidden for the
  requests matched by a forbid rule, 415 for patch types it does not implement.

Control endpoints (not recorded):
    POST /_fake/scenario  {"NAMESPACE/NAME": "healthy"|"pending"|"crashloop"
                           or {"outcome": ..., "reads": N}}
    POST /_fake/forbid    {"verb": "patch", "resource": "deployments", "group": "apps", "namespace": "payments",
                           "name": "ledger", "user": "system:serviceaccount:costmill:costmill"}
                          (every field optional: absent matches all)
    GET  /_fake/requests  every API request received: method, path, query, content_type, body
    POST /_fake/absent    {"group": "metrics.k8s.io"}: the group answers 404 (API not installed)
    POST /_fake/expire    {"resource": "pods", "times": 1}: the next `times` list requests of
                          the resource with a `continue` token answer 410 Gone (Expired)
    POST /_fake/reset     reload the fixtures, forget requests, scenarios, forbid, absent and
                          expire rules

Stdlib only (Python 3.8+). Not a conformance fake: no watches, no server-side apply, no
admission, no garbage collection beyond what the rollout simulation does. This file is the HTTP
side and the store; kubeobjects.py holds selectors, patches and Status errors, kuberollout.py the
rollout simulation, harness.rs a Rust test harness (README.md).
"""

import argparse
import copy
import json
import os
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from kubeobjects import (
    DEFAULT_USER,
    KINDS,
    canonical,
    field_matches,
    kind_info,
    label_matches,
    merge_patch,
    not_found,
    resource_name,
    status,
    strategic_merge,
)
from kuberollout import Rollouts


class Store(Rollouts):
    """The objects served, the requests received, and what the test asked for."""

    def __init__(self, fixtures, seed):
        self.fixtures = fixtures
        self.seed = seed
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.objects = {}  # (group, plural) -> {(namespace, name): object}
            self.requests = []
            self.scenarios = {}
            self.forbid = []
            self.absent = set()  # API groups answering 404 (an aggregated API not installed)
            self.expire = {}  # plural -> how many list requests with `continue` answer 410 Gone
            self.rollouts = {}  # (group, plural, ns, name) -> pending rollout
            self.healthy_templates = {}  # (group, plural, ns, name) -> [template, ...]
            self.revisions = {}  # (group, plural, ns, name) -> {template JSON: revision name}
            self.rng = random.Random(self.seed)
            self.rv = 1
            for root, _, files in sorted(os.walk(self.fixtures)):
                for f in sorted(files):
                    if f.endswith(".json"):
                        with open(os.path.join(root, f)) as fh:
                            self.load(json.load(fh))
            for (group, plural), objs in self.objects.items():
                if plural in ("deployments", "statefulsets") and group == "apps":
                    for (ns, name), obj in objs.items():
                        tmpl = obj.get("spec", {}).get("template", {})
                        self.healthy_templates[(group, plural, ns, name)] = [tmpl]
                        revision = obj.get("status", {}).get("updateRevision")
                        if plural == "statefulsets" and revision:
                            self.revisions[(group, plural, ns, name)] = {canonical(tmpl): revision}

    def load(self, doc):
        items = doc.get("items") if doc.get("kind", "").endswith("List") else [doc]
        list_kind = doc.get("kind", "")
        for item in items or []:
            obj = copy.deepcopy(item)
            if "kind" not in obj and list_kind.endswith("List") and list_kind != "List":
                obj["kind"] = list_kind[: -len("List")]
                obj["apiVersion"] = doc.get("apiVersion", "v1")
            group, _, plural, namespaced = kind_info(obj)
            meta = obj.setdefault("metadata", {})
            ns = meta.get("namespace", "") if namespaced else ""
            self.objects.setdefault((group, plural), {})[(ns, meta.get("name", ""))] = obj
            try:
                self.rv = max(self.rv, int(meta.get("resourceVersion", "0")) + 1)
            except ValueError:
                pass

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put(self, obj):
        group, _, plural, namespaced = kind_info(obj)
        meta = obj["metadata"]
        meta["resourceVersion"] = self.next_rv()
        ns = meta.get("namespace", "") if namespaced else ""
        self.objects.setdefault((group, plural), {})[(ns, meta["name"])] = obj

    def delete(self, obj):
        group, _, plural, namespaced = kind_info(obj)
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if namespaced else ""
        self.objects.get((group, plural), {}).pop((ns, meta["name"]), None)

    def all(self, group, plural, namespace=None):
        objs = self.objects.get((group, plural), {})
        return [objs[k] for k in sorted(objs) if namespace is None or k[0] == namespace]

    def owned_by(self, group, plural, owner):
        uid = owner["metadata"].get("uid")
        ns = owner["metadata"].get("namespace")
        return [
            o for o in self.all(group, plural, ns)
            if any(r.get("uid") == uid and r.get("controller") for r in o["metadata"].get("ownerReferences", []))
        ]

    # ------------------------------------------------------------ rollouts


# ---------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-kube/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read /_fake/requests instead
        if os.environ.get("FAKE_KUBE_LOG"):
            sys.stderr.write("fake-kube: " + (fmt % args) + "\n")

    @property
    def store(self):
        return self.server.store

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def do_GET(self):
        self.handle_any("GET")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        url = urlsplit(self.path)
        body = self.read_body()
        try:
            if url.path.startswith("/_fake/"):
                code, out = self.control(method, url.path, body)
            else:
                with self.store.lock:
                    self.store.requests.append({
                        "method": method,
                        "path": url.path,
                        "query": url.query,
                        "content_type": self.headers.get("Content-Type", ""),
                        "body": body,
                    })
                    code, out = self.api(method, url.path, parse_qs(url.query), body)
        except Exception as e:  # a bug in the fake: say so rather than hang the client
            code, out = status(500, "InternalError", f"fake-kube: {type(e).__name__}: {e}")
        self.reply(code, out)

    def control(self, method, path, body):
        store = self.store
        with store.lock:
            if path == "/_fake/requests" and method == "GET":
                return 200, store.requests
            if path == "/_fake/scenario" and method == "POST":
                store.scenarios.update(json.loads(body or "{}"))
                return 200, store.scenarios
            if path == "/_fake/forbid" and method == "POST":
                store.forbid.append(json.loads(body or "{}"))
                return 200, store.forbid
            if path == "/_fake/absent" and method == "POST":
                store.absent.add(json.loads(body or "{}").get("group", ""))
                return 200, sorted(store.absent)
            if path == "/_fake/expire" and method == "POST":
                rule = json.loads(body or "{}")
                store.expire[rule.get("resource", "")] = int(rule.get("times", 1))
                return 200, store.expire
            if path == "/_fake/reset" and method == "POST":
                store.reset()
                return 200, {}
        return status(404, "NotFound", f"no control endpoint {method} {path}")

    def api(self, method, path, query, body):
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.4-fake", "platform": "linux/amd64"}
        if len(parts) >= 2 and parts[0] == "api":
            group, rest = "", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, rest = parts[1], parts[3:]
        else:
            return status(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2:
            return status(404, "NotFound", "the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) == 2 else None
        q = {k: v[0] for k, v in query.items()}
        verb = {
            "GET": "watch" if q.get("watch") in ("true", "1") else ("get" if name else "list"),
            "PATCH": "patch",
            "PUT": "update",
            "POST": "create",
            "DELETE": "delete" if name else "deletecollection",
        }[method]
        denied = self.forbidden(verb, group, plural, namespace, name)
        if denied:
            return denied
        if group in self.store.absent:
            return status(404, "NotFound", "the server could not find the requested resource")
        store = self.store
        if verb == "get":
            store.after_read(namespace)
            obj = store.objects.get((group, plural), {}).get((namespace or "", name))
            if obj is None:
                return not_found(group, plural, name)
            return 200, obj
        if verb == "list":
            store.after_read(namespace)
            return self.list(group, plural, namespace, q)
        if verb == "patch":
            return self.patch(group, plural, namespace or "", name, body)
        return status(405, "MethodNotAllowed", f"fake-kube does not implement {verb} on {plural}")

    def forbidden(self, verb, group, plural, namespace, name):
        for rule in self.store.forbid:
            if rule.get("verb", verb) != verb or rule.get("resource", plural) != plural:
                continue
            if rule.get("group", group) != group:
                continue
            if rule.get("namespace", namespace) != namespace or rule.get("name", name) != name:
                continue
            user = rule.get("user", DEFAULT_USER)
            what = f"{resource_name(group, plural)} \"{name}\"" if name else resource_name(group, plural)
            where = f"in the namespace \"{namespace}\"" if namespace else "at the cluster scope"
            message = (
                f"{what} is forbidden: User \"{user}\" cannot {verb} resource \"{plural}\" "
                f"in API group \"{group}\" {where}"
            )
            details = {"group": group, "kind": plural}
            if name:
                details["name"] = name
            return status(403, "Forbidden", message, details)
        return None

    def list(self, group, plural, namespace, q):
        store = self.store
        if q.get("continue") and store.expire.get(plural, 0) > 0:
            store.expire[plural] -= 1
            return status(
                410, "Expired",
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter.",
            )
        items = [
            o for o in store.all(group, plural, namespace)
            if label_matches(o["metadata"].get("labels", {}), q.get("labelSelector"))
            and field_matches(o, q.get("fieldSelector"))
        ]
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": str(store.rv)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        kind = next((k for k, v in KINDS.items() if v[0] == group and v[2] == plural), plural.capitalize())
        version = next((v[1] for v in KINDS.values() if v[0] == group and v[2] == plural), "v1")
        out_items = []
        for o in page:
            o = copy.deepcopy(o)
            o.pop("apiVersion", None)  # the API server leaves them out of typed list items
            o.pop("kind", None)
            out_items.append(o)
        return 200, {
            "kind": kind + "List",
            "apiVersion": f"{group}/{version}" if group else version,
            "metadata": meta,
            "items": out_items,
        }

    def patch(self, group, plural, namespace, name, body):
        store = self.store
        obj = store.objects.get((group, plural), {}).get((namespace, name))
        if obj is None:
            return not_found(group, plural, name)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            patch = json.loads(body)
        except ValueError as e:
            return status(400, "BadRequest", f"error decoding patch: {e}")
        if ctype == "application/strategic-merge-patch+json":
            new = strategic_merge(obj, patch)
        elif ctype == "application/merge-patch+json":
            new = merge_patch(obj, patch)
        else:
            return status(415, "UnsupportedMediaType", f"fake-kube does not implement patch type {ctype!r}")
        want_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if want_rv is not None and want_rv != obj["metadata"].get("resourceVersion"):
            return status(
                409, "Conflict",
                f"Operation cannot be fulfilled on {resource_name(group, plural)} \"{name}\": the object has "
                "been modified; please apply your changes to the latest version and try again",
                {"name": name, "group": group, "kind": plural},
            )
        for k in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if k in obj["metadata"]:
                new["metadata"][k] = obj["metadata"][k]
        new["status"] = copy.deepcopy(obj.get("status", {}))
        if new.get("spec") != obj.get("spec"):
            new["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        store.put(new)
        if group == "apps" and plural in ("deployments", "statefulsets"):
            tmpl = new.get("spec", {}).get("template")
            if tmpl != obj.get("spec", {}).get("template"):
                store.schedule_rollout((group, plural, namespace, name), tmpl)
        return 200, new


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=os.path.join(here, "fixtures", "prod"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--seed", type=int, default=0, help="seeds generated names and uids")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.store = Store(args.fixtures, args.seed)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
