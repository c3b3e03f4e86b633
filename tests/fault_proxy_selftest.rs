//! The fault proxy's own tests, against the real paas-b test API server:
//! traffic passes through intact, each fault kind reaches the client as it
//! would from a struggling server, and the counters add up.

#[path = "fault_proxy/mod.rs"]
mod fault_proxy;
#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fault_proxy::{Fault, FaultPlan, FaultProxy};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

/// A proxy in front of paas-b plus a kubeconfig whose `paas-b` context uses it.
struct Fixture {
    env: &'static support::Env,
    proxy: FaultProxy,
    kubeconfig: PathBuf,
}

fn fixture(label: &str, plan: FaultPlan) -> Option<Fixture> {
    let env = support::env("faultproxy")?;
    let upstream = fault_proxy::paas_b_upstream(&env.dir).expect("paas-b port");
    let proxy = FaultProxy::start(&env.dir, &upstream, plan).expect("proxy starts");
    let kubeconfig = fault_proxy::proxied_kubeconfig_path(&env.dir, label);
    fault_proxy::kubeconfig_via_proxy(&env.kubeconfig, &kubeconfig, proxy.url())
        .expect("proxied kubeconfig written");
    Some(Fixture {
        env,
        proxy,
        kubeconfig,
    })
}

impl Fixture {
    /// kubectl on context paas-b through the proxy, with a discovery cache of
    /// its own so that runs do not share cached answers.
    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--context")
            .arg("paas-b")
            .arg("--cache-dir")
            .arg(self.kubeconfig.with_extension("cache"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    }

    /// kubectl straight at the real paas-b server.
    fn kubectl_direct(&self, args: &[&str]) -> Output {
        self.env.kubectl("paas-b", args)
    }

    fn namespace_exists(&self, name: &str) -> bool {
        self.kubectl_direct(&["get", "namespace", name, "-o", "name"])
            .status
            .success()
    }

    /// One raw HTTPS request to the proxy with the admin token, so a test
    /// sees exactly what the proxy sent, without client-side retries.
    fn raw(&self, method: &str, path: &str, body: Option<&str>) -> Result<RawResponse, String> {
        let token = std::fs::read_to_string(self.env.dir.join("paas-b/admin.token"))
            .expect("admin token")
            .trim()
            .to_string();
        let ca = self.env.dir.join("paas-b/certs/ca.crt");
        raw_request(&ca, self.proxy.addr(), &token, method, path, body)
    }
}

struct RawResponse {
    status: StatusCode,
    retry_after: Option<String>,
    body: serde_json::Value,
}

fn raw_request(
    ca: &Path,
    addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<RawResponse, String> {
    let config = fault_proxy::client_tls(ca).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(
                tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
                tcp,
            )
            .await
            .map_err(|e| format!("tls: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string())
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| format!("exchange: {e}"))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    })
}

fn namespace_body(name: &str) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        .to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn passes_reads_and_writes_through_and_counts_them() {
    let Some(fx) = fixture("pass", FaultPlan::pass_through()) else {
        return;
    };
    let out = fx.kubectl(&["get", "namespaces", "-o", "name"]);
    assert!(out.status.success(), "get ns via proxy: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));

    let c = fx.proxy.counters();
    assert!(c.received("GET") >= 1, "{c:?}");
    assert_eq!(c.forwarded("GET"), c.received("GET"), "{c:?}");
    assert_eq!(c.total, c.received("GET"), "kubectl get only reads: {c:?}");
    assert_eq!(c.writes_forwarded(), 0);
    assert_eq!(c.faults.total(), 0);
    assert_eq!(c.upstream_errors, 0);

    fx.proxy.reset_counters();
    let out = fx.kubectl(&["create", "namespace", "fp-pass"]);
    assert!(out.status.success(), "create via proxy: {}", stderr(&out));
    assert!(fx.namespace_exists("fp-pass"));
    let c = fx.proxy.counters();
    assert_eq!(c.received("POST"), 1, "{c:?}");
    assert_eq!(c.forwarded("POST"), 1, "{c:?}");
    assert_eq!(c.writes_forwarded(), 1, "{c:?}");

    // The read-only context is untouched by the rewrite and still goes direct.
    fx.proxy.reset_counters();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&fx.kubeconfig)
        .args([
            "--context",
            "paas-b-readonly",
            "get",
            "namespace",
            "fp-pass",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "readonly direct: {}", stderr(&out));
    assert_eq!(fx.proxy.counters().total, 0);
}

#[test]
fn too_many_requests_carries_retry_after_and_a_status_body() {
    let plan = FaultPlan::pass_through().then(Fault::TooManyRequests {
        retry_after_secs: 1,
    });
    let Some(fx) = fixture("429", plan) else {
        return;
    };
    let resp = fx
        .raw(
            "POST",
            "/api/v1/namespaces",
            Some(&namespace_body("fp-429-raw")),
        )
        .expect("proxy answers");
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.retry_after.as_deref(), Some("1"));
    assert_eq!(resp.body["kind"], "Status");
    assert_eq!(resp.body["status"], "Failure");
    assert_eq!(resp.body["reason"], "TooManyRequests");
    assert_eq!(resp.body["code"], 429);
    assert!(
        !fx.namespace_exists("fp-429-raw"),
        "a 429 must not reach the server"
    );

    // A real client honours Retry-After: kubectl retries once and succeeds.
    fx.proxy
        .set_plan(FaultPlan::pass_through().then(Fault::TooManyRequests {
            retry_after_secs: 1,
        }));
    fx.proxy.reset_counters();
    let out = fx.kubectl(&["create", "namespace", "fp-429-kubectl"]);
    assert!(out.status.success(), "kubectl retried: {}", stderr(&out));
    assert!(fx.namespace_exists("fp-429-kubectl"));
    let c = fx.proxy.counters();
    assert_eq!(c.received("POST"), 2, "{c:?}");
    assert_eq!(c.forwarded("POST"), 1, "{c:?}");
    assert_eq!(c.faults.too_many_requests, 1, "{c:?}");
}

#[test]
fn service_unavailable_reaches_the_client() {
    let plan = FaultPlan::pass_through().every(1, Fault::Unavailable);
    let Some(fx) = fixture("503", plan) else {
        return;
    };
    let resp = fx
        .raw(
            "POST",
            "/api/v1/namespaces",
            Some(&namespace_body("fp-503")),
        )
        .expect("proxy answers");
    assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.body["kind"], "Status");
    assert_eq!(resp.body["reason"], "ServiceUnavailable");
    assert_eq!(resp.body["code"], 503);

    let out = fx.kubectl(&["create", "namespace", "fp-503"]);
    assert!(!out.status.success(), "kubectl must see the 503");
    assert!(
        stderr(&out).contains("injected by the fault proxy"),
        "kubectl shows the Status message: {}",
        stderr(&out)
    );
    assert!(!fx.namespace_exists("fp-503"));
    let c = fx.proxy.counters();
    assert_eq!(c.forwarded("POST"), 0, "{c:?}");
    assert_eq!(c.faults.unavailable, c.received("POST"), "{c:?}");
    assert!(c.forwarded("GET") >= 1, "reads still pass: {c:?}");
}

#[test]
fn drop_before_forward_loses_the_request() {
    let plan = FaultPlan::pass_through().then(Fault::DropBeforeForward);
    let Some(fx) = fixture("drop-before", plan) else {
        return;
    };
    let err = fx
        .raw(
            "POST",
            "/api/v1/namespaces",
            Some(&namespace_body("fp-drop-before")),
        )
        .err()
        .expect("the client gets no answer");
    assert!(err.contains("exchange"), "{err}");
    assert!(!fx.namespace_exists("fp-drop-before"));
    let c = fx.proxy.counters();
    assert_eq!(c.faults.dropped_before_forward, 1, "{c:?}");
    assert_eq!(c.forwarded("POST"), 0, "{c:?}");
}

#[test]
fn drop_after_forward_still_writes_upstream() {
    let plan = FaultPlan::pass_through().then(Fault::DropAfterForward);
    let Some(fx) = fixture("drop-after", plan) else {
        return;
    };
    let err = fx
        .raw(
            "POST",
            "/api/v1/namespaces",
            Some(&namespace_body("fp-drop-after")),
        )
        .err()
        .expect("the client gets no answer");
    assert!(err.contains("exchange"), "{err}");
    assert!(
        fx.namespace_exists("fp-drop-after"),
        "the write happened on the real server"
    );
    let c = fx.proxy.counters();
    assert_eq!(c.faults.dropped_after_forward, 1, "{c:?}");
    assert_eq!(c.forwarded("POST"), 1, "{c:?}");

    // The script is used up: the retry passes and meets the existing object.
    let resp = fx
        .raw(
            "POST",
            "/api/v1/namespaces",
            Some(&namespace_body("fp-drop-after")),
        )
        .expect("proxy answers");
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert_eq!(resp.body["reason"], "AlreadyExists");
}

#[test]
fn every_nth_write_is_faulted_and_reads_are_not() {
    let plan = FaultPlan::pass_through().every(3, Fault::Unavailable);
    let Some(fx) = fixture("every", plan) else {
        return;
    };
    let mut statuses = Vec::new();
    for i in 0..6 {
        // A read between writes must not shift the write schedule.
        let read = fx.raw("GET", "/api/v1/namespaces/default", None).unwrap();
        assert_eq!(read.status, StatusCode::OK);
        let name = format!("fp-every-{i}");
        let resp = fx
            .raw("POST", "/api/v1/namespaces", Some(&namespace_body(&name)))
            .unwrap();
        statuses.push(resp.status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 503, 201, 201, 503]);
    let c = fx.proxy.counters();
    assert_eq!(c.total, 12);
    assert_eq!(c.received("GET"), 6);
    assert_eq!(c.forwarded("GET"), 6);
    assert_eq!(c.received("POST"), 6);
    assert_eq!(c.forwarded("POST"), 4);
    assert_eq!(c.faults.unavailable, 2);
    assert_eq!(c.writes_forwarded(), 4);
}

#[test]
fn seeded_random_faults_repeat_and_path_filter_narrows() {
    let plan = || {
        FaultPlan::pass_through()
            .all_requests()
            .for_paths_containing("/version")
            .random(
                42,
                &[
                    (
                        0.3,
                        Fault::TooManyRequests {
                            retry_after_secs: 2,
                        },
                    ),
                    (0.3, Fault::Unavailable),
                ],
            )
    };
    let Some(fx) = fixture("random", plan()) else {
        return;
    };
    let run = |fx: &Fixture| -> Vec<u16> {
        (0..20)
            .map(|_| fx.raw("GET", "/version", None).unwrap().status.as_u16())
            .collect()
    };
    let first = run(&fx);
    fx.proxy.set_plan(plan());
    let second = run(&fx);
    assert_eq!(first, second, "same seed, same faults");
    assert!(first.contains(&200) && first.contains(&429) && first.contains(&503));

    // Paths outside the filter are never faulted.
    for _ in 0..10 {
        let r = fx.raw("GET", "/api/v1/namespaces/default", None).unwrap();
        assert_eq!(r.status, StatusCode::OK);
    }
    let c = fx.proxy.counters();
    let faulted = first.iter().filter(|s| **s != 200).count() as u64 * 2;
    assert_eq!(c.faults.total(), faulted);
    assert_eq!(c.forwarded("GET") + faulted, c.received("GET"));
}

#[test]
fn refuses_a_non_loopback_upstream() {
    // Checked before anything is read or dialled, so no test cluster is needed.
    let dir = Path::new("/nonexistent");
    for upstream in [
        "https://10.0.0.1:6443",
        "https://192.168.1.1:443",
        "https://example.com:443",
        "http://127.0.0.1:6443",
    ] {
        let err = FaultProxy::start(dir, upstream, FaultPlan::pass_through())
            .err()
            .unwrap_or_else(|| panic!("{upstream} must be refused"));
        let text = format!("{err:#}");
        assert!(
            text.contains("loopback") || text.contains("https"),
            "{upstream}: {text}"
        );
    }
}
