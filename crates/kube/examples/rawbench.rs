//! A benchmark-only minimal raw client: it copies and lists objects with as
//! little work per request as possible, so benchmark scripts can measure the
//! API server's own limit, the floor abshift is compared with. Not part of the product.
//! Its POSTs carry the label, annotations and field manager abshift writes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use abshift_core::diff::{MIGRATED_FROM_LABEL, PLAN_ANNOTATION};
use abshift_core::fields::{FIELD_MANAGER, FIELDS_ANNOTATION};
use abshift_core::model::{ResourceType, path_segment};
use abshift_kube::cluster::{Access, Cluster};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "\
usage:
  rawbench copy --kubeconfig K --from CTX_A --to CTX_B --prefix P --concurrency 8,16,32,64 [--source-prefix bench-]
  rawbench list --kubeconfig K --from CTX_A --to CTX_B --concurrency 8 --page-size 500[,5000]
  rawbench clean --kubeconfig K --context CTX_B --prefix P";

/// Retries per request after the first attempt (429, 5xx, connection errors).
const MAX_RETRIES: u32 = 5;

#[tokio::main]
async fn main() {
    abshift_kube::cluster::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else { fail(USAGE) };
    let rest: Vec<String> = args.collect();
    let opts = match parse_opts(&rest) {
        Ok(o) => o,
        Err(e) => fail(&format!("{e}\n{USAGE}")),
    };
    let result = match cmd.as_str() {
        "copy" => copy(&opts).await,
        "list" => list(&opts).await,
        "clean" => clean(&opts).await,
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return;
        }
        other => fail(&format!("unknown subcommand '{other}'\n{USAGE}")),
    };
    if let Err(e) = result {
        fail(&format!("rawbench: {e}"));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// `--key value` pairs after the subcommand.
fn parse_opts(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let key = k
            .strip_prefix("--")
            .ok_or_else(|| format!("expected --key, got '{k}'"))?;
        let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        out.insert(key.to_string(), value.clone());
    }
    Ok(out)
}

fn req<'a>(opts: &'a HashMap<String, String>, key: &str) -> Result<&'a str, Error> {
    opts.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("missing --{key}").into())
}

fn numbers<T: std::str::FromStr>(s: &str, key: &str) -> Result<Vec<T>, Error> {
    let v: Result<Vec<T>, _> = s.split(',').map(|p| p.trim().parse::<T>()).collect();
    match v {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("--{key}: expected a comma-separated list of numbers, got '{s}'").into()),
    }
}

/// Empties B of one copy: every ConfigMap and Secret of the namespaces
/// starting with `--prefix`, one delete-collection each, then the namespaces,
/// waiting (with a deadline) until no such ConfigMap or Secret is left.
async fn clean(opts: &HashMap<String, String>) -> Result<(), Error> {
    let b = connect(opts, "context", Access::ReadWrite).await?;
    let prefix = req(opts, "prefix")?.to_string();
    let retries = AtomicU64::new(0);
    let (_, body) = send(&b, Method::GET, "/api/v1/namespaces", None, &retries).await?;
    let list: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    let started = Instant::now();
    futures::stream::iter(names.iter())
        .map(|ns| {
            let (b, retries) = (&b, &retries);
            async move {
                for plural in ["configmaps", "secrets"] {
                    let path = format!("/api/v1/namespaces/{ns}/{plural}");
                    send(b, Method::DELETE, &path, None, retries).await?;
                }
                send(
                    b,
                    Method::DELETE,
                    &format!("/api/v1/namespaces/{ns}"),
                    None,
                    retries,
                )
                .await?;
                Ok::<(), String>(())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, String>>()?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut left = 0;
        for plural in ["configmaps", "secrets"] {
            let (_, body) = send(
                &b,
                Method::GET,
                &format!("/api/v1/{plural}?limit=5000"),
                None,
                &retries,
            )
            .await?;
            let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            left += v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| {
                    o["metadata"]["namespace"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .count();
        }
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{left} objects of {prefix}* still in B after 600 s").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "cleaned {} namespaces {prefix}* in {:.1}s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn connect(
    opts: &HashMap<String, String>,
    key: &str,
    access: Access,
) -> Result<Cluster, Error> {
    let kubeconfig = PathBuf::from(req(opts, "kubeconfig")?);
    let context = req(opts, key)?;
    Ok(Cluster::connect(Some(&kubeconfig), Some(context), access).await?)
}

// ---------------------------------------------------------------------------
// The raw request, with bounded retries.

/// Sends one request; retries 429, 5xx and connection errors up to
/// [`MAX_RETRIES`] times, sleeping 100–500 ms in between, counting each retry.
/// Returns the last status and body, or the last connection error.
async fn send(
    cluster: &Cluster,
    method: Method,
    path: &str,
    body: Option<&Bytes>,
    retries: &AtomicU64,
) -> Result<(StatusCode, Bytes), String> {
    let mut attempt = 0;
    loop {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(kube::client::Body::from(body.cloned().unwrap_or_default()))
            .map_err(|e| e.to_string())?;
        let outcome =
            match tokio::time::timeout(Duration::from_secs(60), cluster.client().send(req)).await {
                Err(_) => Err("timed out after 60s".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    match http_body_util::BodyExt::collect(resp.into_body()).await {
                        Ok(c) => Ok((status, c.to_bytes())),
                        Err(e) => Err(format!("connection lost while reading the answer: {e}")),
                    }
                }
            };
        let retry = match &outcome {
            Ok((status, _)) => status.as_u16() == 429 || status.is_server_error(),
            Err(_) => true,
        };
        if !retry || attempt >= MAX_RETRIES {
            return outcome;
        }
        attempt += 1;
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pause()).await;
    }
}

/// 100–500 ms, spread by the clock's nanoseconds.
fn pause() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(100 + u64::from(nanos % 400))
}

fn short(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect());
    msg.escape_debug().to_string()
}

// ---------------------------------------------------------------------------
// copy

struct Object {
    plural: &'static str,
    kind: &'static str,
    name: String,
    namespace: String,
    labels: Value,
    data: Value,
    type_: Option<Value>,
}

async fn copy(opts: &HashMap<String, String>) -> Result<(), Error> {
    let prefix = req(opts, "prefix")?.to_string();
    let levels: Vec<usize> = numbers(req(opts, "concurrency")?, "concurrency")?;
    if levels.contains(&0) {
        return Err("--concurrency: levels must be at least 1".into());
    }
    let source_prefix = opts
        .get("source-prefix")
        .cloned()
        .unwrap_or_else(|| "bench-".to_string());
    let a = connect(opts, "from", Access::ReadOnly).await?;
    let b = connect(opts, "to", Access::ReadWrite).await?;

    // Untimed: read the source objects.
    let mut objects = Vec::new();
    for (plural, kind) in [("configmaps", "ConfigMap"), ("secrets", "Secret")] {
        let items = list_all(&a, plural).await?;
        let before = objects.len();
        for item in items {
            let meta = &item["metadata"];
            let name = meta["name"].as_str().unwrap_or_default().to_string();
            let namespace = meta["namespace"].as_str().unwrap_or_default().to_string();
            if !namespace.starts_with(&source_prefix) {
                continue;
            }
            if kind == "ConfigMap" && name == "kube-root-ca.crt" {
                continue;
            }
            let type_ = item.get("type").cloned();
            if kind == "Secret"
                && type_.as_ref().and_then(Value::as_str)
                    == Some("kubernetes.io/service-account-token")
            {
                continue;
            }
            objects.push(Object {
                plural,
                kind,
                name,
                namespace,
                labels: meta.get("labels").cloned().unwrap_or(Value::Null),
                data: item.get("data").cloned().unwrap_or(Value::Null),
                type_,
            });
        }
        eprintln!(
            "rawbench: {} {plural} in namespaces {source_prefix}* of '{}'",
            objects.len() - before,
            a.context
        );
    }
    if objects.is_empty() {
        return Err(format!(
            "no objects in namespaces {source_prefix}* of '{}'",
            a.context
        )
        .into());
    }
    let source_namespaces: std::collections::BTreeSet<&str> =
        objects.iter().map(|o| o.namespace.as_str()).collect();

    for &c in &levels {
        let target_prefix = format!("{prefix}{c}-");
        let map_ns = |ns: &str| format!("{target_prefix}{}", &ns[source_prefix.len()..]);

        // Untimed: the namespaces, and every body serialized.
        let ns_retries = AtomicU64::new(0);
        let ns_results: Vec<Result<(), String>> =
            futures::stream::iter(source_namespaces.iter().map(|ns| {
                let target = map_ns(ns);
                let b = &b;
                let ns_retries = &ns_retries;
                async move {
                    let body = Bytes::from(
                        serde_json::to_vec(&json!({
                            "apiVersion": "v1",
                            "kind": "Namespace",
                            "metadata": {"name": target},
                        }))
                        .map_err(|e| e.to_string())?,
                    );
                    match send(
                        b,
                        Method::POST,
                        "/api/v1/namespaces",
                        Some(&body),
                        ns_retries,
                    )
                    .await
                    {
                        Ok((s, _)) if s == StatusCode::CREATED || s == StatusCode::CONFLICT => {
                            Ok(())
                        }
                        Ok((s, body)) => Err(format!(
                            "creating namespace {target}: {} ({s})",
                            short(&body)
                        )),
                        Err(e) => Err(format!("creating namespace {target}: {e}")),
                    }
                }
            }))
            .buffer_unordered(c)
            .collect()
            .await;
        for r in ns_results {
            r?;
        }
        let mut requests: Vec<(String, Bytes)> = Vec::with_capacity(objects.len());
        for o in &objects {
            let ns = map_ns(&o.namespace);
            let mut metadata = json!({"name": o.name, "namespace": ns});
            if !o.labels.is_null() {
                metadata["labels"] = o.labels.clone();
            }
            add_abshift_marks(&mut metadata);
            let mut body = json!({
                "apiVersion": "v1",
                "kind": o.kind,
                "metadata": metadata,
            });
            if !o.data.is_null() {
                body["data"] = o.data.clone();
            }
            if let Some(t) = &o.type_ {
                body["type"] = t.clone();
            }
            let path = format!(
                "/api/v1/namespaces/{}/{}?fieldManager={FIELD_MANAGER}",
                path_segment(&ns),
                o.plural
            );
            requests.push((path, Bytes::from(serde_json::to_vec(&body)?)));
        }
        eprintln!(
            "rawbench: concurrency {c}: {} namespaces ready in '{}'; writing {} objects",
            source_namespaces.len(),
            b.context,
            requests.len()
        );

        // Timed: every POST.
        let retries = AtomicU64::new(0);
        let start = Instant::now();
        let mut results = futures::stream::iter(requests.iter().map(|(path, body)| {
            let b = &b;
            let retries = &retries;
            async move {
                let r = send(b, Method::POST, path, Some(body), retries).await;
                (path, r)
            }
        }))
        .buffer_unordered(c);
        let (mut created, mut conflicts, mut failed) = (0u64, 0u64, 0u64);
        let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
        while let Some((path, r)) = results.next().await {
            match r {
                Ok((s, body)) => {
                    *statuses.entry(s.as_u16()).or_default() += 1;
                    match s {
                        StatusCode::CREATED => created += 1,
                        StatusCode::CONFLICT => conflicts += 1,
                        _ => {
                            failed += 1;
                            if failed == 1 {
                                eprintln!(
                                    "rawbench: first failure: POST {path}: {} ({s})",
                                    short(&body)
                                );
                            }
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    if failed == 1 {
                        eprintln!("rawbench: first failure: POST {path}: {e}");
                    }
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let n = requests.len();
        let statuses: serde_json::Map<String, Value> = statuses
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        println!(
            "{}",
            json!({
                "mode": "copy",
                "concurrency": c,
                "objects": n,
                "seconds": seconds,
                "per_sec": n as f64 / seconds,
                "retries": retries.load(Ordering::Relaxed),
                "failed": failed,
                "created": created,
                "conflicts": conflicts,
                "statuses": statuses,
            })
        );
    }
    Ok(())
}

/// The label and annotations abshift adds to every object it writes (values
/// of the same length as real ones), so the raw client's POSTs carry the same
/// bytes as abshift's and the comparison is of the clients, not the payloads.
fn add_abshift_marks(metadata: &mut Value) {
    if metadata.get("labels").is_none() {
        metadata["labels"] = json!({});
    }
    metadata["labels"][MIGRATED_FROM_LABEL] = json!("0123456789ab");
    metadata["annotations"] = json!({
        PLAN_ANNOTATION: "0123456789ab",
        FIELDS_ANNOTATION: format!("sha256:{}", "0".repeat(32)),
    });
}

/// Every object of a core/v1 collection, page by page (untimed, parsed).
async fn list_all(cluster: &Cluster, plural: &str) -> Result<Vec<Value>, Error> {
    let retries = AtomicU64::new(0);
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/{plural}?limit=500");
        if let Some(t) = &token {
            path.push_str("&continue=");
            path.push_str(&path_segment(t));
        }
        let (status, body) = send(cluster, Method::GET, &path, None, &retries)
            .await
            .map_err(|e| format!("listing {plural} in '{}': {e}", cluster.context))?;
        if status != StatusCode::OK {
            return Err(format!(
                "listing {plural} in '{}': {} ({status})",
                cluster.context,
                short(&body)
            )
            .into());
        }
        let mut page: Value = serde_json::from_slice(&body)?;
        if let Some(Value::Array(list)) = page.get_mut("items").map(Value::take) {
            items.extend(list);
        }
        token = page["metadata"]["continue"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(items);
        }
    }
}

// ---------------------------------------------------------------------------
// list

#[derive(Default)]
struct SideStats {
    resources: u64,
    pages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
}

async fn list(opts: &HashMap<String, String>) -> Result<(), Error> {
    let concurrency: usize = req(opts, "concurrency")?
        .trim()
        .parse()
        .map_err(|_| "--concurrency: expected one number")?;
    if concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let page_sizes: Vec<u32> = numbers(req(opts, "page-size")?, "page-size")?;
    let a = connect(opts, "from", Access::ReadOnly).await?;
    let b = connect(opts, "to", Access::ReadOnly).await?;

    // Untimed: the same resource types `migrate plan` lists.
    let (s_cat, t_cat) = (a.discover().await?, b.discover().await?);
    let choice = abshift_core::versions::choose_versions(&s_cat, &t_cat);
    let selection = abshift_core::plan::Selection::default();
    let a_types: Vec<ResourceType> = choice
        .read
        .iter()
        .filter(|r| abshift_core::assemble::kind_selected(r, &selection))
        .cloned()
        .collect();
    let b_types: Vec<ResourceType> = a_types
        .iter()
        .filter_map(|r| choice.target_resource(r, &t_cat))
        .cloned()
        .collect();
    eprintln!(
        "rawbench: listing {} resource types in '{}' and {} in '{}'",
        a_types.len(),
        a.context,
        b_types.len(),
        b.context
    );

    for &page_size in &page_sizes {
        let a_stats = Arc::new(SideStats {
            resources: a_types.len() as u64,
            ..Default::default()
        });
        let b_stats = Arc::new(SideStats {
            resources: b_types.len() as u64,
            ..Default::default()
        });
        let start = Instant::now();
        let (a_secs, b_secs) = tokio::join!(
            list_side(&a, &a_types, page_size, concurrency, &a_stats),
            list_side(&b, &b_types, page_size, concurrency, &b_stats),
        );
        let wall = start.elapsed().as_secs_f64();
        let side = |s: &SideStats, secs: f64| {
            json!({
                "resources": s.resources,
                "pages": s.pages.load(Ordering::Relaxed),
                "bytes": s.bytes.load(Ordering::Relaxed),
                "seconds": secs,
                "errors": s.errors.load(Ordering::Relaxed),
                "retries": s.retries.load(Ordering::Relaxed),
            })
        };
        println!(
            "{}",
            json!({
                "mode": "list",
                "page_size": page_size,
                "concurrency": concurrency,
                "seconds": wall,
                "errors": a_stats.errors.load(Ordering::Relaxed) + b_stats.errors.load(Ordering::Relaxed),
                "a": side(&a_stats, a_secs),
                "b": side(&b_stats, b_secs),
            })
        );
    }
    Ok(())
}

/// Lists every type on one cluster, `concurrency` types at a time; returns the
/// side's own seconds.
async fn list_side(
    cluster: &Cluster,
    types: &[ResourceType],
    page_size: u32,
    concurrency: usize,
    stats: &SideStats,
) -> f64 {
    let start = Instant::now();
    futures::stream::iter(
        types
            .iter()
            .map(|rt| list_raw(cluster, rt, page_size, stats)),
    )
    .buffer_unordered(concurrency)
    .for_each(|()| async {})
    .await;
    start.elapsed().as_secs_f64()
}

/// Lists one type page by page; bodies are counted and dropped unparsed.
async fn list_raw(cluster: &Cluster, rt: &ResourceType, page_size: u32, stats: &SideStats) {
    let base = rt.collection_path(None);
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("{base}?limit={page_size}");
        if let Some(t) = &token {
            path.push_str("&continue=");
            path.push_str(&path_segment(t));
        }
        match send(cluster, Method::GET, &path, None, &stats.retries).await {
            Ok((StatusCode::OK, body)) => {
                stats.pages.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                token = continue_token(&body);
                if token.is_none() {
                    return;
                }
            }
            Ok((status, body)) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "rawbench: '{}': GET {path}: {} ({status})",
                    cluster.context,
                    short(&body)
                );
                return;
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("rawbench: '{}': GET {path}: {e}", cluster.context);
                return;
            }
        }
    }
}

/// The list's `metadata.continue`, found without parsing the items: the
/// metadata object precedes `items` in a Kubernetes list, so only the bytes
/// before `"items":` are searched (the first 4096, else the whole body).
fn continue_token(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(4096)];
    let region = match find(head, b"\"items\":") {
        Some(i) => &head[..i],
        None => match find(body, b"\"items\":") {
            Some(i) => &body[..i],
            None => body,
        },
    };
    const KEY: &[u8] = b"\"continue\":\"";
    let open = find(region, KEY)? + KEY.len() - 1; // the opening quote
    let mut escaped = false;
    let mut close = None;
    for (i, &c) in body[open + 1..].iter().enumerate() {
        match c {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => {
                close = Some(open + 1 + i);
                break;
            }
            _ => {}
        }
    }
    let token: String = serde_json::from_slice(&body[open..=close?]).ok()?;
    (!token.is_empty()).then_some(token)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::continue_token;

    #[test]
    fn continue_token_is_read_from_the_metadata_only() {
        let page = br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"eyJ2Ijo\u003d+/x"},"items":[{"data":{"continue":"no"}}]}"#;
        assert_eq!(continue_token(page).as_deref(), Some("eyJ2Ijo=+/x"));
        let last = br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[{"metadata":{"name":"a"},"data":{"x":"{\"continue\":\"no\"}"}}]}"#;
        assert_eq!(continue_token(last), None);
        let empty = br#"{"metadata":{"continue":""},"items":[]}"#;
        assert_eq!(continue_token(empty), None);
    }
}
