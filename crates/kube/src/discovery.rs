//! Discovery: reads what each cluster serves from its API server (groups,
//! versions, resources, verbs). Nothing here knows a list of kinds, so CRDs and
//! future built-in kinds are handled the same way; choosing happens in core.

use std::collections::HashSet;

use futures::StreamExt;
use kube::Client;

use abshift_core::model::{ResourceType, api_version};
use abshift_core::versions::{Catalog, DiscoveryFailure};

/// Reads the discovery documents of one cluster. A group version that fails is
/// recorded, not fatal: an aggregated API without a backend must not stop a plan.
pub async fn discover(client: &Client) -> Result<Catalog, kube::Error> {
    let mut catalog = Catalog::default();
    let core = client.list_core_api_versions().await?;
    let mut group_versions: Vec<(String, String)> = core
        .versions
        .iter()
        .map(|v| (String::new(), v.clone()))
        .collect();
    catalog
        .group_versions
        .insert(String::new(), core.versions.clone());
    let groups = client.list_api_groups().await?;
    for g in groups.groups {
        let preferred = g.preferred_version.as_ref().map(|p| p.version.clone());
        let mut versions: Vec<String> = g.versions.iter().map(|v| v.version.clone()).collect();
        if let Some(p) = &preferred {
            versions.retain(|v| v != p);
            versions.insert(0, p.clone());
        }
        for v in &versions {
            group_versions.push((g.name.clone(), v.clone()));
        }
        catalog.group_versions.insert(g.name.clone(), versions);
    }
    let results: Vec<_> = futures::stream::iter(group_versions)
        .map(|(group, version)| async move {
            let gv = api_version(&group, &version);
            let list = if group.is_empty() {
                client.list_core_api_resources(&version).await
            } else {
                client.list_api_group_resources(&gv).await
            };
            (group, version, gv, list)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut seen = HashSet::new();
    for (group, version, gv, list) in results {
        match list {
            Ok(list) => {
                for r in list.resources {
                    if r.name.contains('/')
                        || !seen.insert((group.clone(), version.clone(), r.name.clone()))
                    {
                        continue;
                    }
                    catalog.resources.push(ResourceType {
                        group: group.clone(),
                        version: version.clone(),
                        kind: r.kind,
                        plural: r.name,
                        namespaced: r.namespaced,
                        verbs: r.verbs,
                    });
                }
            }
            Err(e) => catalog.failures.push(DiscoveryFailure {
                group_version: gv,
                error: crate::kube_error::describe_kube_error(&e),
            }),
        }
    }
    catalog
        .resources
        .sort_by(|a, b| (&a.group, &a.kind, &a.version).cmp(&(&b.group, &b.kind, &b.version)));
    catalog
        .failures
        .sort_by(|a, b| a.group_version.cmp(&b.group_version));
    Ok(catalog)
}
