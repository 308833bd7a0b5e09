"""The rollout simulation of fake_kube.py: what the Deployment and StatefulSet controllers, the
scheduler and the kubelet would make of a changed pod template, by the scenario a test set."""

import copy
import hashlib
import uuid

from kubeobjects import (
    HASH_ALPHABET,
    canonical,
    now,
    pod_ready,
    qos_class,
    template_hash,
    tolerates,
    with_label,
    without_label,
)


class Rollouts:
    """Mixed into the Store: its objects, scenarios, rollouts and healthy templates."""

    def after_read(self, namespace):
        """A GET in `namespace`: the controllers catch up with pending rollouts."""
        for key in list(self.rollouts):
            if namespace is not None and key[2] != namespace:
                continue
            rollout = self.rollouts[key]
            rollout["reads"] -= 1
            if rollout["reads"] < 0:
                del self.rollouts[key]
                self.roll_out(key, rollout["outcome"])

    def schedule_rollout(self, key, template):
        ns, name = key[2], key[3]
        scenario = self.scenarios.get(f"{ns}/{name}", "healthy")
        if isinstance(scenario, str):
            scenario = {"outcome": scenario}
        outcome = scenario.get("outcome", "healthy")
        if any(t == template for t in self.healthy_templates.get(key, [])):
            outcome = "healthy"
        self.rollouts[key] = {"outcome": outcome, "reads": int(scenario.get("reads", 1))}

    def roll_out(self, key, outcome):
        group, plural, ns, name = key
        workload = self.objects.get((group, plural), {}).get((ns, name))
        if workload is None:
            return
        if plural == "deployments":
            self.roll_out_deployment(workload, outcome)
        else:
            self.roll_out_statefulset(workload, outcome)
        if outcome == "healthy":
            tmpl = workload["spec"]["template"]
            known = self.healthy_templates.setdefault(key, [])
            if tmpl not in known:
                known.append(copy.deepcopy(tmpl))

    def nodes(self):
        return self.all("", "nodes")

    def fits(self, node, pod_spec):
        labels = node["metadata"].get("labels", {})
        for k, v in (pod_spec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return "selector"
        for taint in node.get("spec", {}).get("taints", []):
            if taint.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any(tolerates(t, taint) for t in pod_spec.get("tolerations") or []):
                return f"taint {{{taint.get('key')}: {taint.get('value', '')}}}"
        return None

    def unschedulable_message(self, pod_spec):
        nodes = self.nodes()
        counts = {}
        for node in nodes:
            why = self.fits(node, pod_spec) or "cpu"
            counts[why] = counts.get(why, 0) + 1
        parts = []
        for why, n in sorted(counts.items()):
            if why == "selector":
                parts.append(f"{n} node(s) didn't match Pod's node affinity/selector")
            elif why == "cpu":
                parts.append(f"{n} Insufficient cpu")
            else:
                parts.append(f"{n} node(s) had untolerated {why}")
        total = len(nodes)
        return (
            f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes are "
            f"available: {total} Preemption is not helpful for scheduling."
        )

    def pick_node(self, pod_spec, index):
        fitting = [n for n in self.nodes() if self.fits(n, pod_spec) is None]
        pool = fitting or self.nodes()
        return pool[index % len(pool)] if pool else None

    def make_pod(self, owner_kind, owner, name, template, extra_labels, state, index):
        meta = template.get("metadata", {})
        spec = copy.deepcopy(template.get("spec", {}))
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("serviceAccountName", "default")
        spec["serviceAccount"] = spec["serviceAccountName"]
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        spec.setdefault("securityContext", {})
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tolerations):
                tolerations.append(
                    {"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300}
                )
        # The service account token volume the admission plugin adds to every pod.
        volume = "kube-api-access-" + "".join(self.rng.choice(HASH_ALPHABET) for _ in range(5))
        spec["volumes"] = spec.get("volumes", []) + [{"name": volume, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
            {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
        ]}}]
        for c in spec.get("containers", []):
            c.setdefault("volumeMounts", []).append(
                {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": volume, "readOnly": True}
            )
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
        ts = now()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "creationTimestamp": ts,
                "labels": {**meta.get("labels", {}), **extra_labels},
                "name": name,
                "namespace": owner["metadata"]["namespace"],
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "blockOwnerDeletion": True,
                    "controller": True,
                    "kind": owner_kind,
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                }],
                "uid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            },
            "spec": spec,
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = dict(meta["annotations"])
        if owner_kind == "ReplicaSet":
            pod["metadata"]["generateName"] = owner["metadata"]["name"] + "-"
        containers = spec.get("containers", [])
        if state == "pending":
            pod["status"] = {
                "conditions": [{
                    "lastProbeTime": None,
                    "lastTransitionTime": ts,
                    "message": self.unschedulable_message(spec),
                    "reason": "Unschedulable",
                    "status": "False",
                    "type": "PodScheduled",
                }],
                "phase": "Pending",
                "qosClass": qos_class(containers),
            }
            return pod
        node = self.pick_node(spec, index)
        node_name = node["metadata"]["name"] if node else "node-0"
        spec["nodeName"] = node_name
        host_ip = next(
            (a["address"] for a in (node or {}).get("status", {}).get("addresses", []) if a.get("type") == "InternalIP"),
            "10.0.0.10",
        )
        octets = host_ip.split(".")
        pod_ip = f"{octets[0]}.{octets[1]}.{octets[2]}.{self.rng.randint(20, 250)}"
        ready = "True" if state == "healthy" else "False"
        statuses = []
        for c in containers:
            cid = "containerd://" + hashlib.sha256(f"{name}/{c.get('name')}/{ts}".encode()).hexdigest()
            cs = {
                "containerID": cid,
                "image": c.get("image", ""),
                "imageID": c.get("image", "").split(":")[0] + "@sha256:" + hashlib.sha256(c.get("image", "").encode()).hexdigest(),
                "lastState": {},
                "name": c.get("name"),
                "ready": state == "healthy",
                "restartCount": 0,
                "started": state == "healthy",
                "state": {"running": {"startedAt": ts}},
            }
            if state == "crashloop":
                cs["restartCount"] = 4
                cs["lastState"] = {"terminated": {
                    "containerID": cid, "exitCode": 1, "finishedAt": ts, "reason": "Error", "startedAt": ts,
                }}
                cs["state"] = {"waiting": {
                    "message": f"back-off 1m20s restarting failed container={c.get('name')} pod={name}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                    "reason": "CrashLoopBackOff",
                }}
            statuses.append(cs)
        conditions = [
            {"lastProbeTime": None, "lastTransitionTime": ts, "status": "True", "type": "PodReadyToStartContainers"},
            {"lastProbeTime": None, "lastTransitionTime": ts, "status": "True", "type": "Initialized"},
            {"lastProbeTime": None, "lastTransitionTime": ts, "status": ready, "type": "Ready"},
            {"lastProbeTime": None, "lastTransitionTime": ts, "status": ready, "type": "ContainersReady"},
            {"lastProbeTime": None, "lastTransitionTime": ts, "status": "True", "type": "PodScheduled"},
        ]
        if state != "healthy":
            names = ",".join(c.get("name", "") for c in containers)
            for cond in conditions[2:4]:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{names}]"
        pod["status"] = {
            "conditions": conditions,
            "containerStatuses": statuses,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "phase": "Running",
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "qosClass": qos_class(containers),
            "startTime": ts,
        }
        return pod

    def pod_suffix(self):
        return "".join(self.rng.choice(HASH_ALPHABET) for _ in range(5))

    def roll_out_deployment(self, d, outcome):
        ns = d["metadata"]["namespace"]
        name = d["metadata"]["name"]
        replicas = d["spec"].get("replicas", 1)
        template = d["spec"]["template"]
        thash = template_hash(template)
        owned = self.owned_by("apps", "replicasets", d)
        revision = 1 + max(
            (int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0")) for rs in owned),
            default=0,
        )
        target = next((rs for rs in owned if without_label(rs["spec"]["template"], "pod-template-hash") == template), None)
        if target is None:
            target = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "annotations": {},
                    "creationTimestamp": now(),
                    "generation": 1,
                    "labels": {**template.get("metadata", {}).get("labels", {}), "pod-template-hash": thash},
                    "name": f"{name}-{thash}",
                    "namespace": ns,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                        "kind": "Deployment", "name": name, "uid": d["metadata"]["uid"],
                    }],
                    "uid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                },
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {**d["spec"]["selector"].get("matchLabels", {}), "pod-template-hash": thash}},
                    "template": with_label(template, "pod-template-hash", thash),
                },
                "status": {"observedGeneration": 1, "replicas": 0},
            }
            owned.append(target)
        target["metadata"]["annotations"].update({
            "deployment.kubernetes.io/desired-replicas": str(replicas),
            "deployment.kubernetes.io/max-replicas": str(replicas + max(1, replicas // 4)),
            "deployment.kubernetes.io/revision": str(revision),
        })
        d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
        want_new = replicas if outcome == "healthy" else 1
        self.scale_rs(target, want_new, "healthy" if outcome == "healthy" else outcome, reuse=outcome == "healthy")
        old_ready = 0
        for rs in owned:
            if rs is target:
                continue
            if outcome == "healthy":
                self.scale_rs(rs, 0, "healthy", reuse=True)
            else:
                old_ready += rs["status"].get("readyReplicas", 0)
        ts = now()
        st = {"observedGeneration": d["metadata"].get("generation", 1)}
        if outcome == "healthy":
            st.update({"availableReplicas": replicas, "readyReplicas": replicas, "replicas": replicas, "updatedReplicas": replicas})
            conditions = [
                {"lastTransitionTime": ts, "lastUpdateTime": ts, "message": "Deployment has minimum availability.",
                 "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"},
                {"lastTransitionTime": ts, "lastUpdateTime": ts,
                 "message": f"ReplicaSet \"{target['metadata']['name']}\" has successfully progressed.",
                 "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"},
            ]
        else:
            st.update({"availableReplicas": old_ready, "readyReplicas": old_ready, "replicas": old_ready + 1,
                       "unavailableReplicas": 1, "updatedReplicas": 1})
            conditions = [
                {"lastTransitionTime": ts, "lastUpdateTime": ts, "message": "Deployment has minimum availability.",
                 "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"},
                {"lastTransitionTime": ts, "lastUpdateTime": ts,
                 "message": f"ReplicaSet \"{target['metadata']['name']}\" is progressing.",
                 "reason": "ReplicaSetUpdated", "status": "True", "type": "Progressing"},
            ]
        st["conditions"] = conditions
        d["status"] = st
        self.put(d)

    def scale_rs(self, rs, want, state, reuse):
        pods = [p for p in self.owned_by("", "pods", rs) if "deletionTimestamp" not in p["metadata"]]
        if not reuse:
            for p in pods:
                self.delete(p)
            pods = []
        while len(pods) > want:
            self.delete(pods.pop())
        while len(pods) < want:
            pod = self.make_pod(
                "ReplicaSet", rs, f"{rs['metadata']['name']}-{self.pod_suffix()}", rs["spec"]["template"],
                {}, state, len(pods),
            )
            self.put(pod)
            pods.append(pod)
        ready = sum(1 for p in pods if pod_ready(p))
        rs["spec"]["replicas"] = want
        rs["status"] = {
            "observedGeneration": rs["metadata"].get("generation", 1),
            "replicas": len(pods),
        }
        if len(pods):
            rs["status"]["fullyLabeledReplicas"] = len(pods)
        if ready:
            rs["status"].update({"availableReplicas": ready, "readyReplicas": ready})
        self.put(rs)

    def roll_out_statefulset(self, s, outcome):
        ns = s["metadata"]["namespace"]
        name = s["metadata"]["name"]
        replicas = s["spec"].get("replicas", 1)
        template = s["spec"]["template"]
        revision = self.revisions.setdefault(("apps", "statefulsets", ns, name), {}).setdefault(
            canonical(template), f"{name}-{template_hash(template)}"
        )
        st = s.setdefault("status", {})
        current = st.get("currentRevision", revision)
        pods = {p["metadata"]["name"]: p for p in self.owned_by("", "pods", s)}
        changed = range(replicas) if outcome == "healthy" else [replicas - 1]
        for i in changed:
            pod_name = f"{name}-{i}"
            old = pods.get(pod_name)
            if old is not None and old["metadata"].get("labels", {}).get("controller-revision-hash") == revision and outcome == "healthy":
                continue
            if old is not None:
                self.delete(old)
            pod = self.make_pod(
                "StatefulSet", s, pod_name, template,
                {
                    "apps.kubernetes.io/pod-index": str(i),
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": pod_name,
                },
                outcome, i,
            )
            pod["spec"]["hostname"] = pod_name
            if s["spec"].get("serviceName"):
                pod["spec"]["subdomain"] = s["spec"]["serviceName"]
            self.put(pod)
            pods[pod_name] = pod
        ready = sum(1 for p in pods.values() if pod_ready(p))
        updated = sum(1 for p in pods.values() if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision)
        st.update({
            "availableReplicas": ready,
            "collisionCount": st.get("collisionCount", 0),
            "currentReplicas": replicas if outcome == "healthy" else replicas - updated,
            "currentRevision": revision if outcome == "healthy" else current,
            "observedGeneration": s["metadata"].get("generation", 1),
            "readyReplicas": ready,
            "replicas": replicas,
            "updateRevision": revision,
            "updatedReplicas": updated,
        })
        self.put(s)
