//! The plan file: a versioned, deterministic JSON document saying which objects
//! of A to recreate in B, in which wave, and why others are skipped. Building it
//! from the planner's stages is pure; reading it back checks version and checksum.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::diff::Action;
use crate::gaps::Gap;
use crate::model::ObjectRef;

/// Version 2: Secret digests keyed by a per-plan key (`digestKey`), recorded
/// gaps (`unavailable`), and the fields an update removes (`removes`).
pub const PLAN_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub version: u32,
    /// Short id stamped on every object apply creates (`abshift.io/plan`).
    pub id: String,
    pub created_at: String,
    pub abshift_version: String,
    pub source: ClusterInfo,
    pub target: ClusterInfo,
    pub selection: Selection,
    pub summary: Summary,
    pub objects: Vec<PlannedObject>,
    pub skipped: Vec<SkippedObject>,
    pub warnings: Vec<Warning>,
    /// Preflight findings: what will hurt during the cutover (see `preflight`).
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Reads that failed and were allowed by `--skip-unavailable`: what this
    /// plan knowingly leaves out (or, for B, counts as absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<Gap>,
    /// Random key (hex) the Secret digests of this plan are HMACs under, so a
    /// digest is no use for guessing a value offline. Never shown in reports.
    pub digest_key: String,
    /// SHA-256 over the canonical JSON of the plan with this field empty:
    /// a hand-edited or truncated plan is refused before anything is written.
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub context: String,
    pub server: String,
    /// UID of the cluster's kube-system Namespace.
    pub fingerprint: String,
    pub kubernetes_version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub include_kinds: Vec<String>,
    pub exclude_kinds: Vec<String>,
    /// The stack asked for with `--stack`; its namespaces are resolved into
    /// `namespaces` at plan time, so verify re-reads exactly what was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Objects outside the selected namespaces that a stack names explicitly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_objects: Vec<ExtraObject>,
    /// `--skip-unavailable`: groups or resources whose failed reads may be
    /// left out instead of stopping the plan (verify allows the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_unavailable: Vec<String>,
}

impl Selection {
    /// A partial plan moves part of the estate and pulls in only the
    /// cluster-scoped objects that part needs.
    pub fn is_partial(&self) -> bool {
        !self.namespaces.is_empty()
            || self.selector.is_some()
            || self.stack.is_some()
            || !self.extra_objects.is_empty()
    }
}

/// An object named by a stack definition: kind (optionally `kind.group`),
/// name, and namespace for namespaced kinds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraObject {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub objects: usize,
    pub waves: usize,
    pub by_action: BTreeMap<String, usize>,
    pub by_kind: BTreeMap<String, usize>,
    /// Objects per namespace; cluster-scoped objects count under `(cluster)`.
    #[serde(default)]
    pub by_namespace: BTreeMap<String, usize>,
    pub skipped: usize,
    pub skipped_by_reason: BTreeMap<String, usize>,
    pub warnings: usize,
    #[serde(default)]
    pub findings_by_severity: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// Plural resource name, so apply can address the object without rediscovery.
    pub resource: String,
    pub namespaced: bool,
    pub wave: usize,
    pub action: Action,
    pub depends_on: Vec<ObjectRef>,
    /// Normalised manifest. For Secrets: metadata and type only.
    pub manifest: Value,
    /// For Secrets: `hmac-sha256:<hex>` of type and data under the plan's
    /// `digestKey`; apply reads the value live from A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_digest: Option<String>,
    /// For Secrets B holds: whether B's value is A's (compared by digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_matches: Option<bool>,
    /// Why a partial plan includes this object although it is outside the
    /// selection (cluster-scoped objects the selection needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pulled_in_by: Vec<PulledIn>,
    /// For `update` and `conflict`: unified diff of A's normalised manifest
    /// against B's values for the same fields. Secrets carry no values on either side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// A's apiVersion, when the object is written to B at another one
    /// (`apiVersion`) by a conversion rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<String>,
    /// Ids of the conversion and object rules applied for B's version
    /// (`abshift rules`, docs/rules.md), in the order they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversions: Vec<String>,
    /// For `update`: fields abshift wrote to B earlier that A no longer sets;
    /// the update removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removes: Vec<String>,
}

/// One reason a partial plan pulled an object in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct PulledIn {
    /// The object in the selection (or already pulled in) that needs it.
    pub by: ObjectRef,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A preflight finding: something that will bite during the cutover.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Id of the preflight rule (see `abshift rules`).
    pub rule: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// What was found, naming the object's own fields.
    pub message: String,
    /// Why it matters during an A/B cutover.
    pub why: String,
    /// What to do about it.
    pub action: String,
}

impl PlannedObject {
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedObject {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// Id of the skip rule (see `abshift rules`).
    pub rule: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read plan {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path} is not a valid abshift plan: {detail}")]
    Malformed { path: String, detail: String },
    #[error(
        "plan {path} has version {found}; this abshift reads version {PLAN_VERSION}: re-run `abshift migrate plan` with this version"
    )]
    Version { path: String, found: Value },
    #[error(
        "plan {path} fails its checksum: it was edited or truncated after `abshift migrate plan` wrote it; re-run the plan"
    )]
    Checksum { path: String },
}

impl Plan {
    /// Sorts everything and fills in summary, id and checksum, so that the same
    /// inputs always serialise to the same bytes (but for `createdAt` and `id`).
    pub fn seal(&mut self) {
        use rayon::prelude::*;
        self.objects.par_sort_by(|a, b| {
            (a.wave, &a.api_version, &a.kind, &a.namespace, &a.name).cmp(&(
                b.wave,
                &b.api_version,
                &b.kind,
                &b.namespace,
                &b.name,
            ))
        });
        self.skipped.sort_by(|a, b| {
            (&a.api_version, &a.kind, &a.namespace, &a.name).cmp(&(
                &b.api_version,
                &b.kind,
                &b.namespace,
                &b.name,
            ))
        });
        self.warnings.sort();
        self.warnings.dedup();
        for o in &mut self.objects {
            o.pulled_in_by.sort();
            o.pulled_in_by.dedup();
        }
        self.findings.sort_by(|a, b| {
            (
                std::cmp::Reverse(a.severity),
                &a.rule,
                &a.object,
                &a.message,
            )
                .cmp(&(
                    std::cmp::Reverse(b.severity),
                    &b.rule,
                    &b.object,
                    &b.message,
                ))
        });
        self.findings.dedup();
        let mut s = Summary {
            objects: self.objects.len(),
            skipped: self.skipped.len(),
            warnings: self.warnings.len(),
            ..Default::default()
        };
        s.waves = self.objects.iter().map(|o| o.wave + 1).max().unwrap_or(0);
        // Counted under borrowed names, each name copied once.
        let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_namespace: BTreeMap<&str, usize> = BTreeMap::new();
        for o in &self.objects {
            *by_action.entry(o.action.as_str()).or_default() += 1;
            *by_kind.entry(&o.kind).or_default() += 1;
            *by_namespace
                .entry(o.namespace.as_deref().unwrap_or("(cluster)"))
                .or_default() += 1;
        }
        let owned =
            |m: BTreeMap<&str, usize>| m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        s.by_action = owned(by_action);
        s.by_kind = owned(by_kind);
        s.by_namespace = owned(by_namespace);
        for f in &self.findings {
            *s.findings_by_severity
                .entry(f.severity.as_str().to_string())
                .or_default() += 1;
        }
        for k in &self.skipped {
            *s.skipped_by_reason.entry(k.rule.clone()).or_default() += 1;
        }
        self.summary = s;
        if self.id.is_empty() {
            let seed = format!(
                "{}{}{}",
                self.created_at, self.source.fingerprint, self.target.fingerprint
            );
            self.id = hex::encode(&Sha256::digest(seed.as_bytes())[..6]);
        }
        self.checksum = self.compute_checksum();
    }

    /// Hashes the plan as serialised with an empty checksum, streaming into the
    /// hasher ([`Plan::render`]): no copy of the plan, and its text held a
    /// batch of objects at a time.
    fn compute_checksum(&self) -> String {
        let mut hasher = HashWriter(Sha256::new());
        self.render(&mut hasher, Style::Compact, String::new())
            .expect("hashing does not fail");
        format!("sha256:{}", hex::encode(hasher.0.finalize()))
    }

    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out)
            .expect("writing to memory does not fail");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// The plan file's text (pretty JSON and a newline), streamed to `out`.
    pub fn write_json(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        self.render(&mut out, Style::Pretty, self.checksum.clone())?;
        out.write_all(b"\n")
    }

    /// Writes exactly what serde_json writes for this plan (with `checksum` in
    /// place of its own), with the objects rendered on all cores a batch at a
    /// time: rendering a 50,000-object plan was 0.2 s on one core after the
    /// lists, twice (the checksum, the file). The rest of the plan is rendered
    /// once without its objects, and they are put where its empty list was.
    fn render(
        &self,
        out: &mut dyn std::io::Write,
        style: Style,
        checksum: String,
    ) -> std::io::Result<()> {
        let frame = self.frame(checksum);
        let text = match style {
            Style::Compact => serde_json::to_vec(&frame),
            Style::Pretty => serde_json::to_vec_pretty(&frame),
        }
        .map_err(std::io::Error::other)?;
        // The first "objects" key holding a list is the plan's own: the fields
        // before it hold no such key, and no string holds an unescaped quote.
        // The key after it, always present, confirms the place.
        let (marker, close, next): (&[u8], &[u8], &[u8]) = match style {
            Style::Compact => (b"\"objects\":[]", b"]", b",\"skipped\":"),
            Style::Pretty => (b"\n  \"objects\": []", b"\n  ]", b",\n  \"skipped\":"),
        };
        let at = text
            .windows(marker.len())
            .position(|w| w == marker)
            .map(|i| i + marker.len() - 2)
            .filter(|&at| text[at + 2..].starts_with(next))
            .ok_or_else(|| {
                std::io::Error::other("the plan's objects were not found in its text")
            })?;
        out.write_all(&text[..at])?;
        if self.objects.is_empty() {
            out.write_all(b"[]")?;
        } else {
            out.write_all(b"[")?;
            // Batches rendered into one set of buffers while the previous
            // batch, in the other set, is written out (or hashed). Each buffer
            // is kept from batch to batch: new ones were as many fresh pages
            // to fault in.
            let batches: Vec<&[PlannedObject]> = self.objects.chunks(BATCH).collect();
            let mut ready: Vec<Rendered> = vec![Rendered::default(); BATCH / CHUNK];
            let mut spare = ready.clone();
            render_batch(batches[0], 0, style, &mut ready).map_err(std::io::Error::other)?;
            for (b, batch) in batches.iter().enumerate() {
                let mut rendered = Ok(());
                rayon::in_place_scope(|s| {
                    if let Some(next) = batches.get(b + 1) {
                        let (spare, rendered) = (&mut spare, &mut rendered);
                        s.spawn(move |_| {
                            *rendered = render_batch(next, (b + 1) * BATCH, style, spare)
                        });
                    }
                    ready[..batch.len().div_ceil(CHUNK)]
                        .iter()
                        .try_for_each(|r| out.write_all(&r.text))
                })?;
                rendered.map_err(std::io::Error::other)?;
                std::mem::swap(&mut ready, &mut spare);
            }
            out.write_all(close)?;
        }
        out.write_all(&text[at + 2..])
    }

    /// The plan without its objects, with `checksum` as its checksum: every
    /// field named, so a new field cannot be left out of the rendering.
    fn frame(&self, checksum: String) -> Plan {
        let Plan {
            version,
            id,
            created_at,
            abshift_version,
            source,
            target,
            selection,
            summary,
            objects: _,
            skipped,
            warnings,
            findings,
            unavailable,
            digest_key,
            checksum: _,
        } = self;
        Plan {
            version: *version,
            id: id.clone(),
            created_at: created_at.clone(),
            abshift_version: abshift_version.clone(),
            source: source.clone(),
            target: target.clone(),
            selection: selection.clone(),
            summary: summary.clone(),
            objects: Vec::new(),
            skipped: skipped.clone(),
            warnings: warnings.clone(),
            findings: findings.clone(),
            unavailable: unavailable.clone(),
            digest_key: digest_key.clone(),
            checksum,
        }
    }

    /// Reads and checks a plan file: known version, intact checksum.
    pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        Self::parse(&text, &shown)
    }

    pub fn parse(text: &str, shown: &str) -> Result<Plan, PlanFileError> {
        // Straight into the typed plan: going through a parsed document first
        // doubled the memory and time of reading a 50,000-object plan.
        let plan = match serde_json::from_str::<Plan>(text) {
            Ok(plan) if plan.version == PLAN_VERSION => plan,
            Ok(plan) => {
                return Err(PlanFileError::Version {
                    path: shown.to_string(),
                    found: Value::from(plan.version),
                });
            }
            Err(e) => return Err(Self::why_unreadable(text, shown, e)),
        };
        let expected = plan.compute_checksum();
        if plan.checksum != expected {
            return Err(PlanFileError::Checksum {
                path: shown.to_string(),
            });
        }
        Ok(plan)
    }

    /// A file that does not parse as a plan: another version's plan is named
    /// as such (its fields may differ), anything else is malformed.
    fn why_unreadable(text: &str, shown: &str, e: serde_json::Error) -> PlanFileError {
        #[derive(Deserialize)]
        struct Versioned {
            version: Option<Value>,
        }
        let malformed = |detail: String| PlanFileError::Malformed {
            path: shown.to_string(),
            detail,
        };
        match serde_json::from_str::<Versioned>(text) {
            Ok(Versioned { version: None }) => malformed("no \"version\" field".into()),
            Ok(Versioned { version: Some(v) }) if v.as_u64() != Some(PLAN_VERSION as u64) => {
                PlanFileError::Version {
                    path: shown.to_string(),
                    found: v,
                }
            }
            _ => malformed(e.to_string()),
        }
    }
}

/// One chunk of a batch of objects as [`Plan::render`] writes them, and the
/// scratch space its pretty text is first rendered into.
#[derive(Clone, Default)]
struct Rendered {
    text: Vec<u8>,
    scratch: Vec<u8>,
}

/// Renders `batch` (whose first object is the plan's `first`-th) into `into`,
/// a chunk per buffer, on all cores.
fn render_batch(
    batch: &[PlannedObject],
    first: usize,
    style: Style,
    into: &mut [Rendered],
) -> serde_json::Result<()> {
    use rayon::prelude::*;
    batch
        .par_chunks(CHUNK)
        .zip(into.par_iter_mut())
        .enumerate()
        .try_for_each(|(c, (chunk, r))| {
            r.text.clear();
            for (i, o) in chunk.iter().enumerate() {
                if first + c * CHUNK + i > 0 {
                    r.text.push(b',');
                }
                match style {
                    Style::Compact => serde_json::to_writer(&mut r.text, o)?,
                    Style::Pretty => {
                        // Pretty at depth two: every line of the object
                        // indented by four more spaces.
                        r.scratch.clear();
                        serde_json::to_writer_pretty(&mut r.scratch, o)?;
                        for line in r.scratch.split(|&c| c == b'\n') {
                            r.text.extend_from_slice(b"\n    ");
                            r.text.extend_from_slice(line);
                        }
                    }
                }
            }
            Ok(())
        })
}

/// Objects per batch and per chunk of a batch in [`Plan::render`].
const BATCH: usize = 8192;
const CHUNK: usize = 256;

/// How [`Plan::render`] lays the text out.
#[derive(Clone, Copy)]
enum Style {
    /// serde_json's compact text: what the checksum is over.
    Compact,
    /// serde_json's pretty text: the plan file.
    Pretty,
}

/// Feeds what is written to a digest (the checksum's SHA-256, a Secret's HMAC).
struct HashWriter<D>(D);

impl<D: sha2::digest::Update> std::io::Write for HashWriter<D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `hmac-sha256:<hex>` of a Secret's type and data under `key` (the plan's
/// `digestKey`). Keys are sorted by serde_json's map, so the digest does not
/// depend on the order the server returned them in; the key makes it useless
/// for testing guesses of a value without the plan.
pub fn secret_digest(object: &Value, key: &[u8]) -> String {
    use hmac::{Mac, SimpleHmac};
    /// `{"data":…,"type":…}`: the keys in the order serde_json's map sorts
    /// them, serialised straight into the MAC without copying the values.
    #[derive(Serialize)]
    struct Canonical<'a> {
        data: &'a Value,
        #[serde(rename = "type")]
        kind: &'a Value,
    }
    let canonical = Canonical {
        data: object.get("data").unwrap_or(&Value::Null),
        kind: object.get("type").unwrap_or(&Value::Null),
    };
    let mac = <SimpleHmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    let mut writer = HashWriter(mac);
    serde_json::to_writer(&mut writer, &canonical).expect("json serialises");
    format!(
        "hmac-sha256:{}",
        hex::encode(writer.0.finalize().into_bytes())
    )
}

/// The plan's digest key as bytes (its hex text, if it is not hex: a
/// hand-made plan still gets a stable key).
pub fn digest_key_bytes(key: &str) -> Vec<u8> {
    hex::decode(key).unwrap_or_else(|_| key.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Plan {
        let mut p = Plan {
            version: PLAN_VERSION,
            id: String::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
            abshift_version: "test".into(),
            source: ClusterInfo {
                context: "a".into(),
                server: "https://a".into(),
                fingerprint: "fa".into(),
                kubernetes_version: "v1.20.2".into(),
            },
            target: ClusterInfo {
                context: "b".into(),
                server: "https://b".into(),
                fingerprint: "fb".into(),
                kubernetes_version: "v1.20.2".into(),
            },
            selection: Selection::default(),
            summary: Summary::default(),
            objects: vec![PlannedObject {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("n".into()),
                name: "c".into(),
                resource: "configmaps".into(),
                namespaced: true,
                wave: 1,
                action: Action::Create,
                depends_on: vec![],
                manifest: json!({"data": {"k": "v"}}),
                secret_digest: None,
                secret_matches: None,
                pulled_in_by: vec![],
                diff: None,
                read_as: None,
                conversions: vec![],
                removes: vec![],
            }],
            skipped: vec![],
            warnings: vec![],
            findings: vec![],
            unavailable: vec![],
            digest_key: "00ff".into(),
            checksum: String::new(),
        };
        p.seal();
        p
    }

    #[test]
    fn round_trip_and_summary() {
        let p = sample();
        assert_eq!(p.summary.objects, 1);
        assert_eq!(p.summary.waves, 2);
        let back = Plan::parse(&p.to_json(), "p.json").unwrap();
        assert_eq!(back, p);
    }

    /// `render` puts objects rendered apart into the rest of the plan's text:
    /// the bytes must be serde_json's own for the whole plan, in both styles,
    /// for no objects, one, and more than a batch, with awkward strings.
    #[test]
    fn the_plan_renders_as_serde_json_renders_it() {
        let base = sample();
        let awkward = json!({
            "data": {"objects": [], "\"objects\":[]": "\n  \"objects\": []", "é": "line\nnext"},
            "spec": {"empty": {}, "list": [], "nested": [[{}], {"a": [1, 2.5, null, true]}]},
        });
        for count in [0, 1, 3, 9000] {
            let mut p = base.clone();
            p.selection.stack = Some("\"objects\":[]".into());
            p.summary.by_namespace.insert("objects".into(), 1);
            p.objects = (0..count)
                .map(|i| PlannedObject {
                    name: format!("c{i}"),
                    manifest: if i % 2 == 0 {
                        awkward.clone()
                    } else {
                        json!({})
                    },
                    depends_on: if i % 3 == 0 {
                        vec![]
                    } else {
                        vec![base.objects[0].object_ref()]
                    },
                    ..base.objects[0].clone()
                })
                .collect();
            p.skipped.push(SkippedObject {
                api_version: "v1".into(),
                kind: "Secret".into(),
                namespace: Some("objects".into()),
                name: "objects".into(),
                rule: "r".into(),
                reason: "why".into(),
            });
            p.checksum = "sha256:x".into();
            let mut pretty = serde_json::to_vec_pretty(&p).unwrap();
            pretty.push(b'\n');
            assert_eq!(p.to_json().into_bytes(), pretty, "{count} objects, pretty");
            let mut blank = p.clone();
            blank.checksum.clear();
            let compact = serde_json::to_vec(&blank).unwrap();
            assert_eq!(
                p.compute_checksum(),
                format!("sha256:{}", hex::encode(Sha256::digest(&compact))),
                "{count} objects, compact"
            );
        }
    }

    #[test]
    fn tampered_truncated_and_foreign_versions_are_refused() {
        let text = sample().to_json();
        let tampered = text.replace("\"k\": \"v\"", "\"k\": \"w\"");
        assert!(matches!(
            Plan::parse(&tampered, "p"),
            Err(PlanFileError::Checksum { .. })
        ));
        assert!(matches!(
            Plan::parse(&text[..text.len() / 2], "p"),
            Err(PlanFileError::Malformed { .. })
        ));
        let v1 = text.replacen("\"version\": 2", "\"version\": 1", 1);
        assert!(matches!(
            Plan::parse(&v1, "p"),
            Err(PlanFileError::Version { .. })
        ));
    }

    #[test]
    fn secret_digest_ignores_key_order_but_not_values() {
        let value = json!({"type": "Opaque", "data": {"a": "MQ==", "b": "Mg=="}});
        let a = secret_digest(&value, b"k1");
        let b = secret_digest(
            &json!({"data": {"b": "Mg==", "a": "MQ=="}, "type": "Opaque"}),
            b"k1",
        );
        let c = secret_digest(
            &json!({"type": "Opaque", "data": {"a": "MQ==", "b": "Mw=="}}),
            b"k1",
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("hmac-sha256:"));
        // Another plan's key gives another digest for the same value.
        assert_ne!(a, secret_digest(&value, b"k2"));
        assert_eq!(digest_key_bytes("00ff"), vec![0, 255]);
        // Pinned: plans and journals already written hold digests of these bytes.
        assert_eq!(
            a,
            "hmac-sha256:a175d035b0a8b647a2d6e4ea1d8029dfcf305141b248f2cbd994d4cfb06f77ff"
        );
    }
}
