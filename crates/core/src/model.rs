//! Plain data shared by the planner stages: how a kind is served, and how an
//! object is named across clusters. No I/O here.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One listable resource at the version the plan reads it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceType {
    /// API group; "" for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// URL path of the collection, cluster-wide or in one namespace.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", path_segment(&self.version))
        } else {
            format!(
                "/apis/{}/{}",
                path_segment(&self.group),
                path_segment(&self.version)
            )
        };
        match namespace {
            Some(ns) if self.namespaced => format!(
                "{base}/namespaces/{}/{}",
                path_segment(ns),
                path_segment(&self.plural)
            ),
            _ => format!("{base}/{}", path_segment(&self.plural)),
        }
    }

    /// URL path of one object. Every name goes through [`path_segment`]: some
    /// kinds (RBAC, for one) allow `?`, `#`, spaces and any Unicode in names.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), path_segment(name))
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    pub(crate) fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Characters left as they are in a path segment: RFC 3986's unreserved set.
/// Everything else (`/`, `?`, `#`, `%`, space, non-ASCII) is percent-encoded,
/// so a name can never change which object a URL addresses.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One URL path segment (or query value), percent-encoded.
pub fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// Splits "apps/v1" into ("apps", "v1") and "v1" into ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// A kind independent of version: what identity and dependencies are keyed by,
/// because the same object can be read at different versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn new(group: &str, kind: &str) -> Self {
        GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }
    pub fn core(kind: &str) -> Self {
        Self::new("", kind)
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// Version-independent identity of an object: the key of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub gk: GroupKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(gk: GroupKind, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            gk,
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names come from the cluster: shown escaped, never obeyed.
        let name = crate::text::escape(&self.name);
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{name}", self.gk, crate::text::escape(ns)),
            None => write!(f, "{} {name}", self.gk),
        }
    }
}

/// How the plan file names an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn key(&self) -> ObjectKey {
        let (group, _) = split_api_version(&self.api_version);
        ObjectKey::new(
            GroupKind::new(group, &self.kind),
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = crate::text::escape(&self.name);
        match &self.namespace {
            Some(ns) => write!(
                f,
                "{}/{} {}/{name}",
                self.api_version,
                self.kind,
                crate::text::escape(ns)
            ),
            None => write!(f, "{}/{} {name}", self.api_version, self.kind),
        }
    }
}

/// An object as read from the source, before skipping and normalisation.
/// Secrets arrive here already reduced to a digest: values are never kept.
#[derive(Debug, Clone)]
pub struct SourceObject {
    pub resource: std::sync::Arc<ResourceType>,
    pub object: Value,
    /// Keyed digest of a Secret's type and data, when the object is a Secret.
    pub secret_digest: Option<String>,
    /// Names of the object's field managers, read before managedFields is dropped:
    /// they tell who created an object and whether anyone else changed it.
    pub managers: Vec<String>,
    /// abshift's hold on the object, for B's copies it wrote (`fields::owned`).
    pub owned: Option<crate::fields::Owned>,
}

impl SourceObject {
    pub fn name(&self) -> &str {
        str_at(&self.object, &["metadata", "name"]).unwrap_or("")
    }
    pub fn namespace(&self) -> Option<&str> {
        str_at(&self.object, &["metadata", "namespace"])
    }
    pub fn uid(&self) -> Option<&str> {
        str_at(&self.object, &["metadata", "uid"])
    }
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.resource.group_kind(), self.namespace(), self.name())
    }
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.resource.api_version(),
            kind: self.resource.kind.clone(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
        }
    }
}

/// One object as a list page delivers it, its `managedFields` set apart while
/// it is parsed: they are about half of a listed object's JSON and nearly all
/// of its small maps, and the planner needs only the managers' names and
/// abshift's own field sets, which stay JSON text until a decision reads them.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The object without `metadata.managedFields`.
    pub object: Value,
    /// Its entries; `None` when the object has none recorded (absent or null:
    /// a server that does not track field managers), unlike an empty list.
    pub managed: Option<Vec<ManagedEntry>>,
}

/// One `managedFields` entry: who wrote, how, and the field set as JSON text.
#[derive(Debug, Clone, Deserialize)]
pub struct ManagedEntry {
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default, rename = "fieldsV1")]
    pub fields_v1: Option<Box<serde_json::value::RawValue>>,
}

impl From<Value> for Listed {
    /// Sets apart the `managedFields` of an already parsed document.
    fn from(mut object: Value) -> Listed {
        let managed = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|m| m.remove("managedFields"))
            .and_then(|f| serde_json::from_value::<Option<Vec<ManagedEntry>>>(f).ok())
            .flatten();
        Listed { object, managed }
    }
}

impl<'de> Deserialize<'de> for Listed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Listed, D::Error> {
        use serde::de::{DeserializeSeed, MapAccess, Visitor};
        use serde_json::Map;

        struct Object;
        struct Metadata<'a>(&'a mut Option<Vec<ManagedEntry>>);

        impl<'de> Visitor<'de> for Object {
            type Value = Listed;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Listed, A::Error> {
                let mut object = Map::new();
                let mut managed = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value = if key == "metadata" {
                        map.next_value_seed(Metadata(&mut managed))?
                    } else {
                        map.next_value()?
                    };
                    object.insert(key, value);
                }
                Ok(Listed {
                    object: Value::Object(object),
                    managed,
                })
            }
        }

        impl<'de> DeserializeSeed<'de> for Metadata<'_> {
            type Value = Value;
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                d.deserialize_any(self)
            }
        }

        impl<'de> Visitor<'de> for Metadata<'_> {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object's metadata")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut meta = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "managedFields" {
                        *self.0 = map.next_value::<Option<Vec<ManagedEntry>>>()?;
                    } else {
                        meta.insert(key, map.next_value()?);
                    }
                }
                Ok(Value::Object(meta))
            }
        }

        d.deserialize_map(Object)
    }
}

/// The minor version of a Kubernetes version string (`v1.34.4` → 34;
/// `v1.20.5+k3s1` → 20).
pub fn minor_version(version: &str) -> Option<u32> {
    let rest = version.trim_start_matches('v');
    let minor = rest.split('.').nth(1)?;
    minor
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// Reads a string at a path of object keys.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    value.at(path).and_then(Value::as_str)
}

/// Walks a path of object keys. Unlike `Value::pointer`, nothing is parsed
/// or allocated per segment: pointers were 7 % of a re-plan's CPU, read for
/// every object by the skip rules, the graph and the hand-over records.
pub trait ValueAt {
    fn at(&self, path: &[&str]) -> Option<&Value>;
    /// The same walk, to change what it leads to.
    fn at_mut(&mut self, path: &[&str]) -> Option<&mut Value>;
}

impl ValueAt for Value {
    fn at(&self, path: &[&str]) -> Option<&Value> {
        let mut cur = self;
        for seg in path {
            cur = cur.get(seg)?;
        }
        Some(cur)
    }

    fn at_mut(&mut self, path: &[&str]) -> Option<&mut Value> {
        let mut cur = self;
        for seg in path {
            cur = cur.get_mut(*seg)?;
        }
        Some(cur)
    }
}

/// The items of a JSON array; none when the value is absent or not an array.
pub(crate) fn array_items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// Labels or annotations of an object, as a map (empty when absent).
pub fn meta_map<'a>(object: &'a Value, field: &str) -> Option<&'a serde_json::Map<String, Value>> {
    object.at(&["metadata", field]).and_then(Value::as_object)
}

pub(crate) fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    meta_map(object, "labels")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

pub(crate) fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    meta_map(object, "annotations")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_object_sets_its_managed_fields_apart_as_text() {
        let text = r#"{"metadata":{"name":"c","namespace":"a","labels":{"app":"x"},
            "managedFields":[
              {"manager":"abshift","operation":"Update","apiVersion":"v1","time":"t","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:k":{}}}},
              {"manager":"kubectl","operation":"Apply","fieldsV1":{"f:data":{}},"subresource":""}]},
            "data":{"k":"v"}}"#;
        let listed: Listed = serde_json::from_str(text).unwrap();
        let whole: Value = serde_json::from_str(text).unwrap();
        let mut without = whole.clone();
        without["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(listed.object, without);
        let managed = listed.managed.as_ref().unwrap();
        let managers: Vec<_> = managed.iter().map(|m| m.manager.as_deref()).collect();
        assert_eq!(managers, [Some("abshift"), Some("kubectl")]);
        assert_eq!(managed[1].operation.as_deref(), Some("Apply"));
        let fields = managed[0].fields_v1.as_ref().unwrap().get();
        assert_eq!(
            serde_json::from_str::<Value>(fields).unwrap(),
            serde_json::json!({"f:data": {"f:k": {}}})
        );
        // The same split from an already parsed document.
        let from_doc = Listed::from(whole);
        assert_eq!(from_doc.object, listed.object);
        assert_eq!(from_doc.managed.map(|m| m.len()), Some(2));
        // No managedFields, a null one, or no metadata at all.
        for text in [
            r#"{"metadata":{"name":"c"}}"#,
            r#"{"metadata":{"name":"c","managedFields":null}}"#,
            r#"{"kind":"X","metadata":null}"#,
        ] {
            let l: Listed = serde_json::from_str(text).unwrap();
            assert!(l.managed.is_none(), "{text}");
            assert!(l.object.pointer("/metadata/managedFields").is_none());
        }
        let empty: Listed = serde_json::from_str(r#"{"metadata":{"managedFields":[]}}"#).unwrap();
        assert_eq!(empty.managed.map(|m| m.len()), Some(0));
        assert!(serde_json::from_str::<Listed>(r#"["not an object"]"#).is_err());
    }

    #[test]
    fn names_are_percent_encoded_in_paths() {
        let rt = ResourceType {
            group: "rbac.authorization.k8s.io".into(),
            version: "v1".into(),
            kind: "ClusterRole".into(),
            plural: "clusterroles".into(),
            namespaced: false,
            verbs: vec![],
        };
        assert_eq!(
            rt.object_path(None, "odd name?#x"),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/odd%20name%3F%23x"
        );
        assert_eq!(
            rt.object_path(None, "rôle/ü%"),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/r%C3%B4le%2F%C3%BC%25"
        );
        let cm = ResourceType {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
            verbs: vec![],
        };
        assert_eq!(
            cm.object_path(Some("pay"), "a.b-c_d~e"),
            "/api/v1/namespaces/pay/configmaps/a.b-c_d~e"
        );
    }
}
