//! Connections to the two clusters. The source connection is read-only by
//! construction: its HTTP stack refuses every method but GET before a request
//! leaves the process, so no code path can write to cluster A.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, Request};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Deserialize;
use serde_json::Value;

use crate::adaptive::Gate;
use abshift_core::limit::PageSizer;
use abshift_core::model::{ResourceType, path_segment};

use crate::kube_error::describe_kube_error;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig {path}: {detail}")]
    Kubeconfig { path: String, detail: String },
    #[error(
        "context '{context}' not found in {path} (available: {available}); pass one of those to --from/--to"
    )]
    UnknownContext {
        context: String,
        path: String,
        available: String,
    },
    #[error("no context given and {path} has no current-context; pass --from and --to")]
    NoContext { path: String },
    #[error("context '{context}': {detail}")]
    Config { context: String, detail: String },
    #[error(
        "cannot reach cluster '{context}' at {server}: {detail}; check that the API server is up and reachable from here"
    )]
    Unreachable {
        context: String,
        server: String,
        detail: String,
    },
    #[error(
        "cluster '{context}' at {server} rejected the credentials (401 Unauthorized): the token or certificate is expired or invalid; refresh the kubeconfig entry for '{context}'"
    )]
    Unauthorized { context: String, server: String },
    #[error(
        "cluster '{context}' denied {what} (403 Forbidden): {message}; grant get/list on it or exclude it"
    )]
    Forbidden {
        context: String,
        what: String,
        message: String,
    },
    #[error("cluster '{context}': {what} failed: {detail}")]
    Api {
        context: String,
        what: String,
        detail: String,
    },
    #[error("refusing to write to the source cluster ('{context}'): {method} {path}")]
    WriteToSource {
        context: String,
        method: String,
        path: String,
    },
}

/// Which way a connection may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A connection to one cluster, named by its kubeconfig context.
#[derive(Clone)]
pub struct Cluster {
    pub context: String,
    pub server: String,
    pub kubeconfig: String,
    client: Client,
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pressure: std::sync::Arc<Pressure>,
}

/// What a server has said about its load since the connection was made: 429s
/// (with API Priority and Fairness's priority level), and
/// 5xx, timeouts and dropped connections. Read by the adaptive limits
/// (`crate::adaptive`); counted per attempt, retries included.
#[derive(Debug, Default)]
pub struct Pressure {
    throttled: AtomicU64,
    overloaded: AtomicU64,
    /// `X-Kubernetes-PF-PriorityLevel-UID` of the last 429 that carried it:
    /// API Priority and Fairness turned it away, not the plain in-flight limit.
    priority_level: std::sync::Mutex<Option<String>>,
}

impl Pressure {
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
    pub fn overloaded(&self) -> u64 {
        self.overloaded.load(Ordering::Relaxed)
    }
    pub fn priority_level(&self) -> Option<String> {
        self.priority_level.lock().ok().and_then(|p| p.clone())
    }
    fn note(&self, status: http::StatusCode, headers: &http::HeaderMap) {
        if status.as_u16() == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            if let Some(uid) = headers
                .get("x-kubernetes-pf-prioritylevel-uid")
                .and_then(|v| v.to_str().ok())
                && let Ok(mut p) = self.priority_level.lock()
            {
                *p = Some(uid.to_string());
            }
        } else if status.is_server_error() {
            self.overloaded.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn note_failure(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }
    #[cfg(test)]
    pub(crate) fn note_for_test(&self, status: u16) {
        let status = http::StatusCode::from_u16(status).expect("a status");
        self.note(status, &http::HeaderMap::new());
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

/// Loads a kubeconfig: the given file, else `$KUBECONFIG` (merged), else `~/.kube/config`.
pub fn load_kubeconfig(path: Option<&Path>) -> Result<(Kubeconfig, String), ClusterError> {
    match path {
        Some(p) => Kubeconfig::read_from(p)
            .map(|k| (k, p.display().to_string()))
            .map_err(|e| ClusterError::Kubeconfig {
                path: p.display().to_string(),
                detail: e.to_string(),
            }),
        None => {
            let shown =
                std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".to_string());
            Kubeconfig::read()
                .map(|k| (k, shown.clone()))
                .map_err(|e| ClusterError::Kubeconfig {
                    path: shown,
                    detail: e.to_string(),
                })
        }
    }
}

/// Resolves a context name (or the current context) in a kubeconfig.
pub fn resolve_context(
    kc: &Kubeconfig,
    shown_path: &str,
    context: Option<&str>,
) -> Result<String, ClusterError> {
    let name = match context {
        Some(c) => c.to_string(),
        None => kc
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ClusterError::NoContext {
                path: shown_path.to_string(),
            })?,
    };
    if kc.contexts.iter().any(|c| c.name == name) {
        Ok(name)
    } else {
        let mut available: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        available.sort();
        Err(ClusterError::UnknownContext {
            context: name,
            path: shown_path.to_string(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        })
    }
}

/// Adds `name=value` to the environment of the exec credential plugin of
/// `context`'s user; an error when that user runs no plugin (the variable
/// would silently do nothing).
fn set_exec_env(kc: &mut Kubeconfig, context: &str, name: &str, value: &str) -> Result<(), String> {
    let user = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .ok_or_else(|| "the context names no user".to_string())?;
    let exec = kc
        .auth_infos
        .iter_mut()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_mut())
        .and_then(|a| a.exec.as_mut())
        .ok_or_else(|| {
            format!(
                "user '{user}' runs no exec credential plugin, so an AWS profile would not be used; drop the --*-aws-profile flag or use a kubeconfig whose user runs `aws eks get-token`"
            )
        })?;
    let env = exec.env.get_or_insert_with(Vec::new);
    env.retain(|e| e.get("name").map(String::as_str) != Some(name));
    env.push(
        [
            ("name".to_string(), name.to_string()),
            ("value".to_string(), value.to_string()),
        ]
        .into_iter()
        .collect(),
    );
    Ok(())
}

/// Both rustls back ends are linked (ring through kube, aws-lc through the AWS
/// SDK), so rustls cannot pick one by itself; choose ring once per process.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Cluster {
    /// Connects to `context` (or the current one) from `kubeconfig` (or the default).
    pub async fn connect(
        kubeconfig: Option<&PathBuf>,
        context: Option<&str>,
        access: Access,
    ) -> Result<Cluster, ClusterError> {
        Self::connect_with(kubeconfig, context, access, None).await
    }

    /// Like [`Cluster::connect`]; `aws_profile` is handed to the context's exec
    /// credential plugin (as `AWS_PROFILE`), so A and B can sit in different
    /// AWS accounts (`aws eks get-token` reads it).
    pub async fn connect_with(
        kubeconfig: Option<&PathBuf>,
        context: Option<&str>,
        access: Access,
        aws_profile: Option<&str>,
    ) -> Result<Cluster, ClusterError> {
        install_crypto_provider();
        let (mut kc, shown) = load_kubeconfig(kubeconfig.map(PathBuf::as_path))?;
        let context = resolve_context(&kc, &shown, context)?;
        if let Some(profile) = aws_profile {
            set_exec_env(&mut kc, &context, "AWS_PROFILE", profile).map_err(|detail| {
                ClusterError::Config {
                    context: context.clone(),
                    detail,
                }
            })?;
        }
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| ClusterError::Config {
                context: context.clone(),
                detail: e.to_string(),
            })?;
        config.connect_timeout = Some(Duration::from_secs(10));
        // abshift retries itself (bounded, honouring Retry-After, counted);
        // kube's built-in retry would hide both the header and the count.
        config.default_retry = false;
        config.read_timeout = Some(Duration::from_secs(120));
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let builder =
            kube::client::ClientBuilder::try_from(config).map_err(|e| ClusterError::Config {
                context: context.clone(),
                detail: e.to_string(),
            })?;
        let client = match access {
            Access::ReadWrite => builder.build(),
            Access::ReadOnly => {
                let ctx = context.clone();
                builder
                    .with_layer(&tower::filter::FilterLayer::new(
                        move |req: Request<kube::client::Body>| {
                            read_only_guard(&ctx, req.method(), req.uri().path()).map(|()| req)
                        },
                    ))
                    .build()
            }
        };
        Ok(Cluster {
            context,
            server,
            kubeconfig: shown,
            client,
            retries: Default::default(),
            pressure: Default::default(),
        })
    }

    /// What this server has said about its load.
    pub fn pressure(&self) -> &Pressure {
        &self.pressure
    }

    /// The raw client, for modules that write to B (never handed out for A:
    /// the read-only layer would refuse anyway).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The UID of `kube-system`: stable for a cluster's life, different for
    /// every cluster, so a plan names the clusters it was made for.
    pub async fn fingerprint(&self) -> Result<String, ClusterError> {
        // First contact: a cluster that does not answer twice is reported at once.
        let what = "reading namespace kube-system";
        let resp = self
            .send_attempts(
                2,
                Method::GET,
                "/api/v1/namespaces/kube-system",
                None,
                None,
                what,
            )
            .await?;
        if resp.status != http::StatusCode::OK {
            return Err(self.status_error(&resp, what));
        }
        let ns = resp.json().unwrap_or(Value::Null);
        abshift_core::model::str_at(&ns, &["metadata", "uid"])
            .map(str::to_string)
            .ok_or_else(|| ClusterError::Api {
                context: self.context.clone(),
                what: "reading namespace kube-system".into(),
                detail: "no uid in the answer".into(),
            })
    }

    /// Kubernetes version string (gitVersion).
    pub async fn version(&self) -> Result<String, ClusterError> {
        self.client
            .apiserver_version()
            .await
            .map(|i| i.git_version)
            .map_err(|e| self.classify(e, "reading /version"))
    }

    pub async fn discover(&self) -> Result<abshift_core::versions::Catalog, ClusterError> {
        crate::discovery::discover(&self.client)
            .await
            .map_err(|e| self.classify(e, "API discovery"))
    }

    /// GETs a JSON document (with retries), failing on any status but 200.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, ClusterError> {
        let resp = self.send(Method::GET, path, None, None, what).await?;
        if resp.status != http::StatusCode::OK {
            return Err(self.status_error(&resp, what));
        }
        serde_json::from_slice(&resp.body).map_err(|e| ClusterError::Api {
            context: self.context.clone(),
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    /// Lists every object of one resource type in pages of `page_size`; see [`Cluster::list_with`].
    pub async fn list<T>(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        selector: Option<&str>,
        page_size: u32,
        keep: impl FnMut(Value) -> Option<T>,
    ) -> Result<Vec<T>, ClusterError> {
        let paging = Paging {
            sizer: PageSizer::fixed(page_size),
            gate: None,
        };
        self.list_with(rt, namespace, selector, paging, keep).await
    }

    /// Lists every object of one resource type, page by page, handing each
    /// object to `keep` as its page arrives, so only what `keep` returns stays
    /// in memory (the planner drops managedFields and Secret values there).
    /// Items are parsed as `I`: a document (`Value`), or the planner's
    /// `Listed`, which keeps managedFields as little more than text.
    /// The next page is asked for before this one is parsed (its continue
    /// token is read from the page's head), so the server works while abshift
    /// parses. Each page is reported to the paging's gate. A 410 (the continue
    /// token expired while paging) restarts the list.
    pub async fn list_with<I: serde::de::DeserializeOwned, T>(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        selector: Option<&str>,
        paging: Paging<'_>,
        mut keep: impl FnMut(I) -> Option<T>,
    ) -> Result<Vec<T>, ClusterError> {
        const RESTARTS: usize = 3;
        let what = format!("listing {} ({})", rt.plural, rt.api_version());
        let path = |size: u32, token: Option<&str>| {
            let mut query = format!("limit={size}");
            if let Some(t) = token {
                query.push_str("&continue=");
                query.push_str(&path_segment(t));
            }
            if let Some(s) = selector {
                query.push_str("&labelSelector=");
                query.push_str(&path_segment(s));
            }
            format!("{}?{query}", rt.collection_path(namespace))
        };
        let mut sizer = paging.sizer;
        let mut restarts = 0;
        'restart: loop {
            let mut items = Vec::new();
            let mut asked = sizer.size();
            let mut next = self.page(path(asked, None), &what);
            loop {
                let (resp, latency) = next.finish(self, &what).await?;
                let report = |items: usize| {
                    if let Some(gate) = paging.gate {
                        gate.record(latency, items as u64, &self.pressure);
                    }
                };
                if resp.status != 200 {
                    report(0);
                }
                match resp.status.as_u16() {
                    200 => {
                        // A token means the page came back full.
                        let scanned = scan_continue(&resp.body);
                        let mut ahead = None;
                        if let Some(t) = &scanned {
                            sizer.page(asked as usize, resp.body.len(), latency);
                            ahead =
                                Some((sizer.size(), self.page(path(sizer.size(), Some(t)), &what)));
                        } else {
                            sizer.page(0, resp.body.len(), latency);
                        }
                        let (token, count) = parse_page(&resp.body, &mut keep, &mut items)
                            .map_err(|e| ClusterError::Api {
                                context: self.context.clone(),
                                what: what.clone(),
                                detail: format!("unreadable list page: {e}"),
                            })?;
                        drop(resp);
                        report(count);
                        let token = token.filter(|t| !t.is_empty());
                        match (token, ahead) {
                            (None, _) => return Ok(items),
                            (Some(t), Some((size, task))) if Some(&t) == scanned.as_ref() => {
                                asked = size;
                                next = task;
                            }
                            // The head scan missed or misread the token: ask again with the parsed one.
                            (Some(t), _) => {
                                asked = sizer.size();
                                next = self.page(path(asked, Some(&t)), &what);
                            }
                        }
                    }
                    410 if restarts < RESTARTS => {
                        restarts += 1;
                        tracing::info!(resource = %rt.plural, "continue token expired; restarting the list");
                        continue 'restart;
                    }
                    _ => return Err(self.status_error(&resp, &what)),
                }
            }
        }
    }

    /// Starts fetching one list page on its own task (so it proceeds while
    /// the caller parses the page before it).
    fn page(&self, path: String, what: &str) -> PageTask {
        let this = self.clone();
        let what = what.to_string();
        PageTask(tokio::spawn(async move {
            let t = std::time::Instant::now();
            let r = this.send(Method::GET, &path, None, None, &what).await;
            (r, t.elapsed())
        }))
    }

    /// Sends one request, retrying what is worth retrying: 429 and 5xx (after
    /// `Retry-After` when the server sends one, else exponential backoff with
    /// jitter), timeouts and dropped connections. Other statuses are returned
    /// for the caller to judge. Retries are counted in `self.retries`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        what: &str,
    ) -> Result<RawResponse, ClusterError> {
        self.send_attempts(SEND_ATTEMPTS, method, path, body, content_type, what)
            .await
    }

    async fn send_attempts(
        &self,
        attempts: u32,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        what: &str,
    ) -> Result<RawResponse, ClusterError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(http::header::ACCEPT, "application/json");
            if let Some(ct) = content_type {
                builder = builder.header(http::header::CONTENT_TYPE, ct);
            }
            let req = builder
                .body(kube::client::Body::from(body.clone().unwrap_or_default()))
                .map_err(|e| ClusterError::Api {
                    context: self.context.clone(),
                    what: what.to_string(),
                    detail: e.to_string(),
                })?;
            let outcome =
                match tokio::time::timeout(Duration::from_secs(60), self.client.send(req)).await {
                    Err(_) => Err("timed out after 60s".to_string()),
                    Ok(Err(e)) if is_write_refusal(&e) => return Err(self.classify(e, what)),
                    Ok(Err(e)) => Err(describe_kube_error(&e)),
                    Ok(Ok(resp)) => {
                        let status = resp.status();
                        let retry_after = resp
                            .headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok());
                        self.pressure.note(status, resp.headers());
                        match http_body_util::BodyExt::collect(resp.into_body()).await {
                            Ok(collected) => Ok((status, retry_after, collected.to_bytes())),
                            Err(e) => Err(format!("connection lost while reading the answer: {e}")),
                        }
                    }
                };
            let wait = match &outcome {
                // Retry-After is a floor, not a schedule: every write the
                // server throttled at once would otherwise come back in the
                // same instant and be throttled together again.
                Ok((status, retry_after, _)) if retryable_status(*status) => retry_after
                    .map(|s| Duration::from_secs(s.min(60)) + jitter(Duration::from_millis(250)))
                    .unwrap_or_else(|| backoff(attempt)),
                Ok((status, _, body)) => {
                    return Ok(RawResponse {
                        status: *status,
                        body: body.clone(),
                    });
                }
                Err(_) => {
                    self.pressure.note_failure();
                    backoff(attempt)
                }
            };
            if attempt >= attempts {
                return match outcome {
                    Ok((status, _, body)) => Ok(RawResponse { status, body }),
                    Err(detail) => Err(ClusterError::Unreachable {
                        context: self.context.clone(),
                        server: self.server.clone(),
                        detail: format!("{what}: {detail} (after {attempts} attempts)"),
                    }),
                };
            }
            self.retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(what, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Retries made so far on this connection.
    pub fn retry_count(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An error for an unexpected status, with the server's own message.
    pub fn status_error(&self, resp: &RawResponse, what: &str) -> ClusterError {
        // The server's words may quote the object (a webhook denial does):
        // shown escaped, never obeyed by a terminal.
        let message = serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(300)
                    .collect()
            });
        let message = abshift_core::text::escape(&message).into_owned();
        let context = self.context.clone();
        match resp.status.as_u16() {
            401 => ClusterError::Unauthorized {
                context,
                server: self.server.clone(),
            },
            403 => ClusterError::Forbidden {
                context,
                what: what.to_string(),
                message,
            },
            code => ClusterError::Api {
                context,
                what: what.to_string(),
                detail: format!("{message} ({code})"),
            },
        }
    }

    /// Turns a kube error into one that names the cluster and what to do.
    pub fn classify(&self, err: kube::Error, what: &str) -> ClusterError {
        let context = self.context.clone();
        match &err {
            kube::Error::Api(s) if s.code == 401 => ClusterError::Unauthorized {
                context,
                server: self.server.clone(),
            },
            kube::Error::Api(s) if s.code == 403 => ClusterError::Forbidden {
                context,
                what: what.to_string(),
                message: abshift_core::text::escape(&s.message).into_owned(),
            },
            kube::Error::Api(_) => ClusterError::Api {
                context,
                what: what.to_string(),
                detail: describe_kube_error(&err),
            },
            _ if is_write_refusal(&err) => ClusterError::WriteToSource {
                context,
                method: "write".into(),
                path: what.to_string(),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => ClusterError::Unreachable {
                context,
                server: self.server.clone(),
                detail: describe_kube_error(&err),
            },
            _ => ClusterError::Api {
                context,
                what: what.to_string(),
                detail: describe_kube_error(&err),
            },
        }
    }
}

/// A response whose status the caller decides about.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: http::StatusCode,
    pub body: bytes::Bytes,
}

impl RawResponse {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn retryable_status(status: http::StatusCode) -> bool {
    status.as_u16() == 429 || matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// 200 ms doubling to at most 10 s, with ±50 % jitter so that many writers
/// backing off together do not return together.
/// Attempts per request before its failure is reported. A B that throttles or
/// fails four writes in ten (what tests/apply_faults.rs injects) still takes
/// every object; the backoff caps at 10 s, so a request gives up within about
/// two minutes.
const SEND_ATTEMPTS: u32 = 12;

fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6)).min(10_000));
    base / 2 + jitter(base)
}

/// A pseudo-random duration in [0, max), from the clock's nanoseconds: enough
/// to spread retries that would otherwise arrive together.
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

/// How a list pages: the page sizes to ask for, and the gate each page reports to.
pub struct Paging<'a> {
    pub sizer: PageSizer,
    pub gate: Option<&'a Gate>,
}

/// A list page being fetched on its own task; dropped, it stops the fetch.
struct PageTask(tokio::task::JoinHandle<(Result<RawResponse, ClusterError>, Duration)>);

impl PageTask {
    async fn finish(
        &mut self,
        cluster: &Cluster,
        what: &str,
    ) -> Result<(RawResponse, Duration), ClusterError> {
        match (&mut self.0).await {
            Ok((r, latency)) => r.map(|r| (r, latency)),
            Err(e) => Err(ClusterError::Api {
                context: cluster.context.clone(),
                what: what.to_string(),
                detail: format!("the page's task ended: {e}"),
            }),
        }
    }
}

impl Drop for PageTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The continue token from a list page's head, without parsing the page:
/// the API server writes `metadata` before `items`. `None` when absent or
/// escaped (the parsed page is then the only word).
fn scan_continue(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"continue\":\"";
    let head = &body[..body.len().min(4096)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &head[at..];
    let end = rest.iter().position(|b| *b == b'"' || *b == b'\\')?;
    (rest[end] == b'"' && end > 0)
        .then(|| String::from_utf8(rest[..end].to_vec()).ok())
        .flatten()
}

/// Parses one list page, handing each item to `keep` as soon as it is parsed,
/// so only one item is a parsed document at a time (a page of 5,000 parsed
/// at once would be several times its JSON size). Returns the continue token
/// and the number of items.
fn parse_page<I: serde::de::DeserializeOwned, T>(
    body: &[u8],
    keep: &mut impl FnMut(I) -> Option<T>,
    out: &mut Vec<T>,
) -> Result<(Option<String>, usize), serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Page<'a, I, T, F>(&'a mut F, &'a mut Vec<T>, std::marker::PhantomData<I>);
    struct Items<'a, I, T, F>(&'a mut F, &'a mut Vec<T>, std::marker::PhantomData<I>);

    impl<'de, I: serde::de::DeserializeOwned, T, F: FnMut(I) -> Option<T>> Visitor<'de>
        for Page<'_, I, T, F>
    {
        type Value = (Option<String>, usize);
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a Kubernetes list")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut token, mut count) = (None, 0);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "metadata" => token = map.next_value::<ListMeta>()?.continue_token,
                    "items" => {
                        count = map.next_value_seed(Items(
                            &mut *self.0,
                            &mut *self.1,
                            std::marker::PhantomData,
                        ))?
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok((token, count))
        }
    }

    impl<'de, I: serde::de::DeserializeOwned, T, F: FnMut(I) -> Option<T>> DeserializeSeed<'de>
        for Items<'_, I, T, F>
    {
        type Value = usize;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de, I: serde::de::DeserializeOwned, T, F: FnMut(I) -> Option<T>> Visitor<'de>
        for Items<'_, I, T, F>
    {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list's items")
        }
        // An empty list may come as `"items": null`.
        fn visit_unit<E>(self) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut count = 0;
            while let Some(item) = seq.next_element::<I>()? {
                count += 1;
                if let Some(kept) = (self.0)(item) {
                    self.1.push(kept);
                }
            }
            Ok(count)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = (&mut de).deserialize_map(Page(keep, out, std::marker::PhantomData))?;
    de.end()?;
    Ok(parsed)
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue")]
    continue_token: Option<String>,
}

/// The error the read-only layer raises.
#[derive(Debug, thiserror::Error)]
#[error("refusing to write to the source cluster ('{context}'): {method} {path}")]
pub struct WriteRefused {
    pub context: String,
    pub method: String,
    pub path: String,
}

/// Lets only reads through. Watches are GETs too.
pub fn read_only_guard(context: &str, method: &Method, path: &str) -> Result<(), WriteRefused> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(WriteRefused {
            context: context.to_string(),
            method: method.to_string(),
            path: path.to_string(),
        })
    }
}

fn is_write_refusal(err: &kube::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<WriteRefused>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_parsed_item_by_item_into_what_keep_returns() {
        let body = br#"{"kind":"ConfigMapList","items":[{"metadata":{"name":"a"}},{"metadata":{"name":"skip"}},{"metadata":{"name":"b"}}],"apiVersion":"v1","metadata":{"continue":"tok"}}"#;
        let mut out = Vec::new();
        let mut keep = |v: Value| {
            let name = v["metadata"]["name"].as_str()?.to_string();
            (name != "skip").then_some(name)
        };
        let (token, count) = parse_page(body, &mut keep, &mut out).unwrap();
        assert_eq!((token.as_deref(), count), (Some("tok"), 3));
        assert_eq!(out, ["a", "b"]);
        let (token, count) =
            parse_page(br#"{"metadata":{},"items":null}"#, &mut keep, &mut out).unwrap();
        assert_eq!((token, count), (None, 0));
        assert!(parse_page(br#"{"items":[{"#, &mut keep, &mut out).is_err());
        assert!(parse_page(br#"{"items":[]} trailing"#, &mut keep, &mut out).is_err());
    }

    #[test]
    fn the_continue_token_is_read_from_the_page_head() {
        let page = br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OX0=","remainingItemCount":3},"items":[{"metadata":{"name":"continue"}}]}"#;
        assert_eq!(
            scan_continue(page).as_deref(),
            Some("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OX0=")
        );
        // The last page: no token, even if an item's data says "continue".
        let last = br#"{"metadata":{"resourceVersion":"9"},"items":[{"data":{"k":"\"continue\":\"x\""}}]}"#;
        assert_eq!(scan_continue(last), None);
        // An escaped token is left to the parser.
        assert_eq!(
            scan_continue(br#"{"metadata":{"continue":"a\u002bb"}}"#),
            None
        );
        assert_eq!(scan_continue(br#"{"metadata":{"continue":""}}"#), None);
    }

    #[test]
    fn read_only_guard_refuses_every_write_method() {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let err = read_only_guard("paas-a", &m, "/api/v1/namespaces").unwrap_err();
            assert!(err.to_string().contains("paas-a"));
        }
        assert!(read_only_guard("paas-a", &Method::GET, "/api/v1/pods").is_ok());
    }

    #[test]
    fn url_encoding_of_selectors_and_tokens() {
        assert_eq!(
            path_segment("app in (a,b),tier!=x"),
            "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx"
        );
        assert_eq!(
            path_segment("eyJ2IjoibWV0YS5rOHMuaW8vdjEi=="),
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEi%3D%3D"
        );
    }
}
