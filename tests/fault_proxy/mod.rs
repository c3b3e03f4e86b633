//! A fault-injecting HTTPS proxy that sits between a test and the paas-b test
//! API server, so tests can prove that a client survives an unreliable target.
//!
//! The proxy listens on a free loopback port and terminates TLS with the test
//! cluster's own serving certificate (its SAN is `IP:127.0.0.1`), so a
//! kubeconfig whose `server:` is pointed at the proxy keeps its CA data and
//! token unchanged ([`kubeconfig_via_proxy`]). Every request is forwarded over
//! TLS to the real API server, unless the current [`FaultPlan`] picks a fault
//! for it:
//!
//! - `429 Too Many Requests` with `Retry-After` and a Kubernetes `Status` body,
//! - `503 Service Unavailable` with a `Status` body,
//! - the connection is closed before the request is forwarded (nothing
//!   happened upstream), or
//! - the connection is closed after the upstream answered (the write happened
//!   but the client never learns it: the case that tests idempotency).
//!
//! The plan can be swapped at run time ([`FaultProxy::set_plan`]) and
//! [`Counters`] tell a test what the proxy saw, faulted and forwarded, e.g. that
//! a second run forwarded zero writes.
//!
//! Only HTTP/1.1 is offered (clients fall back from h2 through ALPN). Request
//! bodies are buffered; response bodies stream through, so watches work too.
//! Protocol upgrades (exec, port-forward) are not supported. Both ends are
//! loopback-only: an upstream that is not a loopback address is refused.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long the proxy waits on one upstream exchange or a TLS handshake before
/// giving up; generous, but it keeps a wedged peer from pinning a task forever.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The priority level an injected 429 names, as API Priority and Fairness does.
pub const PRIORITY_LEVEL_UID: &str = "fault-proxy-priority-level";

/// One thing the proxy can do to a request instead of passing it through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reply `429` with `Retry-After: <retry_after_secs>` and a `Status` body,
    /// as the API server's priority-and-fairness does under load.
    TooManyRequests { retry_after_secs: u32 },
    /// Reply `503` with a `Status` body and no `Retry-After`.
    Unavailable,
    /// Close the connection without forwarding: nothing happens upstream.
    DropBeforeForward,
    /// Forward, wait for the upstream answer, then close the connection
    /// without replying: the change is made but the client cannot know.
    DropAfterForward,
}

/// Which requests a plan's faults can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// POST, PUT, PATCH and DELETE only: discovery and reads pass untouched,
    /// so a schedule counts only the calls whose repetition matters.
    Writes,
    /// Every request, reads and discovery included.
    All,
}

/// Decides, request by request, whether to inject a fault.
///
/// Only requests in scope (and, if set, whose path contains the filter) are
/// *eligible*; they are numbered 1, 2, 3… from the moment the plan is set.
/// For each eligible request the first rule that applies wins:
/// 1. the next step of the script ([`FaultPlan::then`], [`FaultPlan::then_pass`]),
///    until it is used up;
/// 2. the first `every(n, fault)` rule with `n` dividing the request's number;
/// 3. the seeded random rates ([`FaultPlan::random`]).
///
/// Everything else passes through. Given the same order of requests, the same
/// plan makes the same decisions, so failures reproduce.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    scope: Scope,
    path_contains: Option<String>,
    script: VecDeque<Option<Fault>>,
    every: Vec<(u64, Fault)>,
    random: Option<RandomFaults>,
    eligible_seen: u64,
}

#[derive(Clone, Debug)]
struct RandomFaults {
    state: u64,
    rates: Vec<(f64, Fault)>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self::pass_through()
    }
}

impl FaultPlan {
    /// No faults; writes are the default scope once rules are added.
    pub fn pass_through() -> Self {
        FaultPlan {
            scope: Scope::Writes,
            path_contains: None,
            script: VecDeque::new(),
            every: Vec::new(),
            random: None,
            eligible_seen: 0,
        }
    }

    /// Faults may hit only writes (the default).
    pub fn writes_only(mut self) -> Self {
        self.scope = Scope::Writes;
        self
    }

    /// Faults may hit every request, reads and discovery included.
    pub fn all_requests(mut self) -> Self {
        self.scope = Scope::All;
        self
    }

    /// Narrows eligibility to requests whose path contains `fragment`
    /// (e.g. `"/namespaces/demo/"`), so unrelated calls do not shift a schedule.
    pub fn for_paths_containing(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_string());
        self
    }

    /// Appends a scripted step: the next eligible request gets `fault`.
    pub fn then(mut self, fault: Fault) -> Self {
        self.script.push_back(Some(fault));
        self
    }

    /// Appends a scripted step: the next eligible request passes.
    pub fn then_pass(mut self) -> Self {
        self.script.push_back(None);
        self
    }

    /// Every `n`-th eligible request (n, 2n, …) gets `fault`; `n == 0` is ignored.
    pub fn every(mut self, n: u64, fault: Fault) -> Self {
        if n > 0 {
            self.every.push((n, fault));
        }
        self
    }

    /// Each eligible request not decided by the script or an `every` rule gets
    /// a fault with the given probabilities (checked in order, summing to at
    /// most 1), drawn from a generator seeded with `seed`.
    pub fn random(mut self, seed: u64, rates: &[(f64, Fault)]) -> Self {
        self.random = Some(RandomFaults {
            // A zero state would be fine for splitmix64, but mixing in a constant
            // keeps seeds 0 and 1 from starting on neighbouring outputs.
            state: seed ^ 0x5DEE_CE66_D1CE_4E5B,
            rates: rates.to_vec(),
        });
        self
    }

    fn eligible(&self, method: &Method, path: &str) -> bool {
        let in_scope = match self.scope {
            Scope::All => true,
            Scope::Writes => is_write(method),
        };
        in_scope
            && self
                .path_contains
                .as_deref()
                .is_none_or(|fragment| path.contains(fragment))
    }

    fn decide(&mut self, method: &Method, path: &str) -> Option<Fault> {
        if !self.eligible(method, path) {
            return None;
        }
        self.eligible_seen += 1;
        let n = self.eligible_seen;
        if let Some(step) = self.script.pop_front() {
            return step;
        }
        if let Some((_, fault)) = self.every.iter().find(|(k, _)| n.is_multiple_of(*k)) {
            return Some(*fault);
        }
        if let Some(random) = &mut self.random {
            let draw = random.next_unit();
            let mut acc = 0.0;
            for (rate, fault) in &random.rates {
                acc += rate;
                if draw < acc {
                    return Some(*fault);
                }
            }
        }
        None
    }
}

impl RandomFaults {
    /// splitmix64: tiny, deterministic and good enough to spread faults.
    fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Faults injected, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub too_many_requests: u64,
    pub unavailable: u64,
    pub dropped_before_forward: u64,
    pub dropped_after_forward: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.too_many_requests
            + self.unavailable
            + self.dropped_before_forward
            + self.dropped_after_forward
    }
}

/// What the proxy has seen since start (or the last [`FaultProxy::reset_counters`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests received.
    pub total: u64,
    /// Requests received, by method (`"GET"`, `"POST"`, …).
    pub by_method: BTreeMap<String, u64>,
    /// Requests the upstream answered, by method; includes those dropped after
    /// forwarding, since the upstream did act on them.
    pub forwarded_by_method: BTreeMap<String, u64>,
    pub faults: FaultCounts,
    /// Requests that could not be forwarded (connect, TLS or protocol error);
    /// the client got a `502` for each.
    pub upstream_errors: u64,
}

impl Counters {
    /// Requests received with `method`.
    pub fn received(&self, method: &str) -> u64 {
        self.by_method.get(method).copied().unwrap_or(0)
    }

    /// Requests with `method` that reached the upstream.
    pub fn forwarded(&self, method: &str) -> u64 {
        self.forwarded_by_method.get(method).copied().unwrap_or(0)
    }

    /// POST, PUT, PATCH and DELETE that reached the upstream: zero means the
    /// client changed nothing on the server.
    pub fn writes_forwarded(&self) -> u64 {
        ["POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .map(|m| self.forwarded(m))
            .sum()
    }
}

/// State shared by the handle and the proxy's tasks.
struct Shared {
    plan: Mutex<FaultPlan>,
    counters: Mutex<Counters>,
    upstream_addr: SocketAddr,
    upstream_authority: String,
    connector: TlsConnector,
}

/// A poisoned lock only means another request task panicked while counting;
/// the counts are still usable, and the request path must not panic in turn.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running proxy; dropping it stops it (open connections are cut).
pub struct FaultProxy {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy for `upstream` (`https://127.0.0.1:PORT`, the paas-b API
    /// server of the test environment in `testenv_dir`), serving with
    /// `paas-b/certs/apiserver.{crt,key}` and trusting `paas-b/certs/ca.crt`.
    ///
    /// It runs on its own thread and runtime, so it works from plain and
    /// async tests alike.
    pub fn start(testenv_dir: &Path, upstream: &str, plan: FaultPlan) -> anyhow::Result<Self> {
        // Checked first: a non-loopback upstream must never be dialled.
        let upstream_addr = parse_loopback_upstream(upstream)?;
        let certs_dir = testenv_dir.join("paas-b").join("certs");
        let server_config = server_tls(
            &certs_dir.join("apiserver.crt"),
            &certs_dir.join("apiserver.key"),
        )?;
        let client_config = client_tls(&certs_dir.join("ca.crt"))?;

        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("binding the fault proxy to 127.0.0.1")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;

        let shared = Arc::new(Shared {
            plan: Mutex::new(plan),
            counters: Mutex::new(Counters::default()),
            upstream_addr,
            upstream_authority: upstream_addr.to_string(),
            connector: TlsConnector::from(Arc::new(client_config)),
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .context("building the fault proxy runtime")?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let acceptor = TlsAcceptor::from(Arc::new(server_config));
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, acceptor, task_shared, shutdown_rx));
                // Connection tasks still running are cancelled here; bounded so
                // a stuck one cannot hold up the test's Drop.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .context("spawning the fault proxy thread")?;

        Ok(FaultProxy {
            url: format!("https://{addr}"),
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        lock(&self.shared.counters).clone()
    }

    pub fn reset_counters(&self) {
        *lock(&self.shared.counters) = Counters::default();
    }

    /// Replaces the plan; request numbering and the script start afresh.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.shared.plan) = plan;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The URL of the real paas-b API server of a test environment, read from
/// `<testenv_dir>/paas-b/api.port` as written by `scripts/testenv.sh`.
pub fn paas_b_upstream(testenv_dir: &Path) -> anyhow::Result<String> {
    let path = testenv_dir.join("paas-b").join("api.port");
    let port: u16 = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(format!("https://127.0.0.1:{port}"))
}

/// Writes a copy of `original` to `out` in which context `paas-b` reaches its
/// cluster through `proxy_url`; CA data, user and the other contexts (the
/// read-only one included) are left as they are.
pub fn kubeconfig_via_proxy(original: &Path, out: &Path, proxy_url: &str) -> anyhow::Result<()> {
    kubeconfig_context_via_proxy(original, out, "paas-b", proxy_url)
}

/// Like [`kubeconfig_via_proxy`] for any context: the context's cluster entry
/// is copied as `<cluster>-via-fault-proxy` with `server: proxy_url`, and only
/// this context is pointed at the copy.
pub fn kubeconfig_context_via_proxy(
    original: &Path,
    out: &Path,
    context: &str,
    proxy_url: &str,
) -> anyhow::Result<()> {
    use serde_yaml_ng::Value;
    let text = std::fs::read_to_string(original)
        .with_context(|| format!("reading {}", original.display()))?;
    let mut doc: Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("parsing {}", original.display()))?;

    let named = |list: &Value, name: &str| -> Option<usize> {
        list.as_sequence()?
            .iter()
            .position(|e| e.get("name").and_then(Value::as_str) == Some(name))
    };

    let contexts = doc.get("contexts").cloned().unwrap_or(Value::Null);
    let ctx_index = named(&contexts, context).with_context(|| format!("no context {context:?}"))?;
    let cluster = contexts[ctx_index]["context"]["cluster"]
        .as_str()
        .with_context(|| format!("context {context:?} names no cluster"))?
        .to_string();
    let clusters = doc.get("clusters").cloned().unwrap_or(Value::Null);
    let cluster_index =
        named(&clusters, &cluster).with_context(|| format!("no cluster {cluster:?}"))?;

    let proxied_name = format!("{cluster}-via-fault-proxy");
    let mut proxied = clusters[cluster_index].clone();
    proxied["name"] = Value::from(proxied_name.clone());
    proxied["cluster"]["server"] = Value::from(proxy_url);

    match doc.get_mut("clusters").and_then(Value::as_sequence_mut) {
        Some(list) => {
            list.retain(|e| e.get("name").and_then(Value::as_str) != Some(&proxied_name));
            list.push(proxied);
        }
        None => bail!("kubeconfig has no cluster list"),
    }
    doc["contexts"][ctx_index]["context"]["cluster"] = Value::from(proxied_name);

    let yaml = serde_yaml_ng::to_string(&doc)?;
    std::fs::write(out, yaml).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// A rustls client configuration that trusts only the PEM CA at `ca_path`
/// and speaks HTTP/1.1; also handy for tests that talk HTTPS to the proxy.
pub fn client_tls(ca_path: &Path) -> anyhow::Result<ClientConfig> {
    let pem = std::fs::read(ca_path).with_context(|| format!("reading {}", ca_path.display()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.with_context(|| format!("parsing {}", ca_path.display()))?)
            .with_context(|| format!("adding {} as a root", ca_path.display()))?;
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn server_tls(cert_path: &Path, key_path: &Path) -> anyhow::Result<ServerConfig> {
    let cert_pem =
        std::fs::read(cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert_path.display()))?;
    let key_pem =
        std::fs::read(key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("parsing {}", key_path.display()))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    // HTTP/1.1 only: one request per exchange keeps "drop the connection"
    // meaning exactly one request lost, which HTTP/2 multiplexing would blur.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts `https://<loopback ip>:<port>` (or `localhost`) and nothing else.
fn parse_loopback_upstream(upstream: &str) -> anyhow::Result<SocketAddr> {
    let uri: hyper::Uri = upstream
        .parse()
        .with_context(|| format!("upstream {upstream:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") {
        bail!("upstream {upstream:?} must be https");
    }
    let host = uri
        .host()
        .with_context(|| format!("upstream {upstream:?} has no host"))?;
    let ip: IpAddr = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .with_context(|| format!("upstream host {host:?} must be a loopback IP"))?
    };
    if !ip.is_loopback() {
        bail!(
            "upstream {upstream:?} is not a loopback address; the fault proxy stays on this machine"
        );
    }
    let port = uri
        .port_u16()
        .with_context(|| format!("upstream {upstream:?} has no port"))?;
    Ok(SocketAddr::new(ip, port))
}

fn log(msg: std::fmt::Arguments<'_>) {
    eprintln!("[fault-proxy] {msg}");
}

async fn accept_loop(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log(format_args!("cannot listen: {e}"));
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_connection(tcp, peer, acceptor.clone(), shared.clone()));
                }
                Err(e) => log(format_args!("accept failed: {e}")),
            },
        }
    }
}

/// Returned by the request handler to make hyper close the connection
/// without writing a response.
#[derive(Debug)]
struct DropConnection(Fault);

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection dropped by fault plan ({:?})", self.0)
    }
}

impl std::error::Error for DropConnection {}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let tls = match tokio::time::timeout(IO_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            log(format_args!("TLS handshake with {peer} failed: {e}"));
            return;
        }
        Err(_) => {
            log(format_args!("TLS handshake with {peer} timed out"));
            return;
        }
    };
    let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        let planned = std::error::Error::source(&e).is_some_and(|s| s.is::<DropConnection>());
        if !planned {
            log(format_args!("connection from {peer} ended: {e}"));
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ProxyBody>, DropConnection> {
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    {
        let mut c = lock(&shared.counters);
        c.total += 1;
        *c.by_method.entry(method.to_string()).or_default() += 1;
    }
    let fault = lock(&shared.plan).decide(&method, req.uri().path());

    match fault {
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            lock(&shared.counters).faults.too_many_requests += 1;
            let mut resp = status_response(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "injected by the fault proxy: too many requests, please try again later",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            // What API Priority and Fairness adds to the requests it classifies.
            resp.headers_mut().insert(
                "x-kubernetes-pf-prioritylevel-uid",
                HeaderValue::from_static(PRIORITY_LEVEL_UID),
            );
            resp.headers_mut().insert(
                "x-kubernetes-pf-flowschema-uid",
                HeaderValue::from_static("fault-proxy-flowschema"),
            );
            return Ok(resp);
        }
        Some(Fault::Unavailable) => {
            lock(&shared.counters).faults.unavailable += 1;
            return Ok(status_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "injected by the fault proxy: the server is currently unable to handle the request",
            ));
        }
        Some(Fault::DropBeforeForward) => {
            lock(&shared.counters).faults.dropped_before_forward += 1;
            log(format_args!(
                "dropping {method} {path_and_query} before forwarding"
            ));
            return Err(DropConnection(Fault::DropBeforeForward));
        }
        Some(Fault::DropAfterForward) | None => {}
    }

    let upstream = match forward(req, &method, &path_and_query, &shared).await {
        Ok(resp) => resp,
        Err(e) => {
            lock(&shared.counters).upstream_errors += 1;
            log(format_args!(
                "forwarding {method} {path_and_query} failed: {e:#}"
            ));
            return Ok(status_response(
                StatusCode::BAD_GATEWAY,
                "InternalError",
                "the fault proxy could not reach the upstream API server",
            ));
        }
    };
    *lock(&shared.counters)
        .forwarded_by_method
        .entry(method.to_string())
        .or_default() += 1;

    if fault == Some(Fault::DropAfterForward) {
        // Read the answer to the end first, so the upstream has finished with
        // the request before the client loses it.
        let _ = tokio::time::timeout(IO_TIMEOUT, upstream.into_body().collect()).await;
        lock(&shared.counters).faults.dropped_after_forward += 1;
        log(format_args!(
            "dropping {method} {path_and_query} after forwarding"
        ));
        return Err(DropConnection(Fault::DropAfterForward));
    }

    let (mut parts, body) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Sends one request upstream on a fresh TLS connection and returns the
/// answer with its body still streaming.
async fn forward(
    req: Request<Incoming>,
    method: &Method,
    path_and_query: &str,
    shared: &Shared,
) -> anyhow::Result<Response<Incoming>> {
    let (parts, body) = req.into_parts();
    let body = tokio::time::timeout(IO_TIMEOUT, body.collect())
        .await
        .context("reading the request body timed out")?
        .context("reading the request body")?
        .to_bytes();

    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::HOST,
        HeaderValue::from_str(&shared.upstream_authority)?,
    );
    let mut upstream_req = Request::builder()
        .method(method.clone())
        .uri(path_and_query)
        .body(Full::new(body))?;
    *upstream_req.headers_mut() = headers;

    let tcp = tokio::time::timeout(
        IO_TIMEOUT,
        tokio::net::TcpStream::connect(shared.upstream_addr),
    )
    .await
    .context("connecting upstream timed out")?
    .context("connecting upstream")?;
    let server_name = ServerName::IpAddress(shared.upstream_addr.ip().into());
    let tls = tokio::time::timeout(IO_TIMEOUT, shared.connector.connect(server_name, tcp))
        .await
        .context("upstream TLS handshake timed out")?
        .context("upstream TLS handshake")?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .context("upstream HTTP handshake")?;
    // The connection task lives until the response body is fully read
    // (or the body is dropped), so streaming answers such as watches work.
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            log(format_args!("upstream connection ended: {e}"));
        }
    });
    let resp = tokio::time::timeout(IO_TIMEOUT, sender.send_request(upstream_req))
        .await
        .context("upstream answer timed out")?
        .context("upstream exchange")?;
    Ok(resp)
}

/// Headers that describe one hop, not the message; the proxy's own HTTP
/// stacks set framing for each side.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
    ] {
        headers.remove(name);
    }
}

/// A response shaped like the API server's own errors, so clients parse it as
/// a Kubernetes `Status`.
fn status_response(code: StatusCode, reason: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    })
    .to_string();
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Where the kubeconfig copy for a proxied test goes by default.
pub fn proxied_kubeconfig_path(testenv_dir: &Path, label: &str) -> PathBuf {
    testenv_dir.join(format!("kubeconfig-via-proxy-{label}"))
}
