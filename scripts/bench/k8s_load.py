#!/usr/bin/env python3
"""Benchmark helpers that talk to a test cluster's API server directly.

  k8s_load.py create KUBECONFIG CONTEXT N NAMESPACES   create N ConfigMaps+Secrets (half each) across NAMESPACES namespaces
  k8s_load.py rawcopy KUBECONFIG FROM TO PREFIX CONCURRENCY [post|apply]
        copy the ConfigMaps and Secrets of namespaces bench-* from FROM into PREFIX-* namespaces of TO
        with plain concurrent POSTs (namespaces created first, untimed); prints the timed POST phase

Loopback only: the server comes from the test kubeconfig. Standard library only.
"""
import base64, concurrent.futures, http.client, json, os, ssl, sys, tempfile, threading, time, urllib.parse

def load(kubeconfig, context):
    import subprocess
    cfg = json.loads(subprocess.check_output(["kubectl", "--kubeconfig", kubeconfig, "config", "view", "--raw", "-o", "json"]))
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == context)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
    url = urllib.parse.urlparse(cluster["server"])
    assert url.hostname in ("127.0.0.1", "localhost", "::1"), "benchmarks only talk to loopback"
    ca = tempfile.NamedTemporaryFile(delete=False, suffix=".crt")
    ca.write(base64.b64decode(cluster["certificate-authority-data"])); ca.close()
    sslctx = ssl.create_default_context(cafile=ca.name)
    return url.hostname, url.port, sslctx, user["token"]

local = threading.local()
def conn(host, port, sslctx):
    # One keep-alive connection per thread and per server.
    pool = local.__dict__.setdefault("pool", {})
    if (host, port) not in pool:
        pool[(host, port)] = http.client.HTTPSConnection(host, port, context=sslctx, timeout=60)
    return pool[(host, port)]

def request(target, method, path, body=None, content_type="application/json"):
    host, port, sslctx, token = target
    for attempt in range(5):
        c = conn(host, port, sslctx)
        try:
            headers = {"Authorization": "Bearer " + token, "Content-Type": content_type, "Accept": "application/json"}
            c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = c.getresponse()
            data = r.read()
            if r.status in (429, 500, 503) and attempt < 4:
                time.sleep(0.2 * (attempt + 1)); continue
            return r.status, data
        except (ConnectionError, http.client.HTTPException):
            local.__dict__.get("pool", {}).pop((host, port), None)
            if attempt == 4: raise
    raise RuntimeError("unreachable")

def create(kubeconfig, context, n, nss):
    target = load(kubeconfig, context)
    names = [f"bench-{i:03d}" for i in range(nss)]
    for ns in names:
        s, _ = request(target, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"abshift.io/bench": "true"}}})
        assert s in (201, 409), s
    def one(i):
        ns = names[i % nss]
        if i % 2 == 0:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": ns, "labels": {"app": f"svc-{i % 50}"}},
                    "data": {"app.properties": f"feature.{i}=on\nreplicas={i % 7}\n", "owner": f"team-{i % 13}"}}
            path = f"/api/v1/namespaces/{ns}/configmaps"
        else:
            body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"sec-{i}", "namespace": ns}, "type": "Opaque",
                    "data": {"password": base64.b64encode(os.urandom(24)).decode()}}
            path = f"/api/v1/namespaces/{ns}/secrets"
        s, d = request(target, "POST", path, body)
        if s not in (201, 409): raise RuntimeError(f"{s} {d[:200]}")
    t = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for _ in ex.map(one, range(n)): pass
    print(f"created {n} objects in {nss} namespaces in {time.time() - t:.1f}s", file=sys.stderr)

def rawcopy(kubeconfig, src_ctx, dst_ctx, prefix, concurrency, mode="post"):
    src, dst = load(kubeconfig, src_ctx), load(kubeconfig, dst_ctx)
    objects = []
    for kind, plural in (("ConfigMap", "configmaps"), ("Secret", "secrets")):
        cont = ""
        while True:
            s, d = request(src, "GET", f"/api/v1/{plural}?limit=500" + ("&continue=" + urllib.parse.quote(cont) if cont else ""))
            page = json.loads(d)
            for item in page["items"]:
                ns = item["metadata"]["namespace"]
                if not ns.startswith("bench-"): continue
                # The same objects abshift plans: not what B's controllers generate.
                if item.get("type") == "kubernetes.io/service-account-token" or item["metadata"]["name"] == "kube-root-ca.crt": continue
                body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": item["metadata"]["name"], "namespace": prefix + ns[len("bench"):],
                        "labels": item["metadata"].get("labels", {})}}
                for f in ("data", "type"):
                    if f in item: body[f] = item[f]
                objects.append((plural, body))
            cont = page["metadata"].get("continue", "")
            if not cont: break
    for ns in sorted({b["metadata"]["namespace"] for _, b in objects}):
        s, _ = request(dst, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        assert s in (201, 409), s
    def post(item):
        plural, body = item
        base = f"/api/v1/namespaces/{body['metadata']['namespace']}/{plural}"
        if mode == "apply":  # server-side apply, as abshift writes
            s, d = request(dst, "PATCH", f"{base}/{body['metadata']['name']}?fieldManager=rawbench", body, "application/apply-patch+yaml")
        else:
            s, d = request(dst, "POST", base, body)
        if s not in (200, 201, 409): raise RuntimeError(f"{s} {d[:200]}")
    t = time.time()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
        for _ in ex.map(post, objects): pass
    secs = time.time() - t
    print(json.dumps({"seconds": round(secs, 3), "objects": len(objects), "per_sec": round(len(objects) / secs, 1)}))

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "create": create(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "rawcopy": rawcopy(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7] if len(sys.argv) > 7 else "post")
    else: sys.exit(__doc__)
