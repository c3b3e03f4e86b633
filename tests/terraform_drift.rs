//! Keeps `terraform/` and the names abshift uses (`crates/elb/src/names.rs`) in step.
//!
//! The Terraform is parsed as HCL (no provider, no AWS): the test reads the tag
//! keys and values the paas-cluster module puts on its ingress instances, the
//! outputs the shell root declares and the resources behind them, and the
//! cluster name each cluster root passes down. A rename on either side, in the
//! Terraform or in abshift, fails here with the names that no longer agree.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use abshift_elb::names::{
    ROLE_INGRESS, TAG_CLUSTER, TAG_ROLE, TF_LIVE_LB_NAME, TF_LIVE_TARGET_GROUP_ARN,
    TF_PRELIVE_LB_NAME, TF_PRELIVE_TARGET_GROUP_ARN, TF_STATE_BUCKET,
};
use abshift_elb::tf::{LbRole, TfOutputs};
use hcl::{Block, Body, Expression, ObjectKey, TraversalOperator};

const ROLES: [LbRole; 2] = [LbRole::Live, LbRole::PreLive];

fn terraform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform")
}

/// One Terraform directory (a root or a module): the top-level blocks of all
/// its `.tf` files, each with the file it came from.
struct Config {
    dir: PathBuf,
    blocks: Vec<(String, Block)>,
}

impl Config {
    fn load(rel: &str) -> Config {
        let dir = terraform_dir().join(rel);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .tf files in {}", dir.display());
        let mut blocks = Vec::new();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            for b in parse_file(&f).blocks() {
                blocks.push((name.clone(), b.clone()));
            }
        }
        Config { dir, blocks }
    }

    fn name(&self) -> String {
        self.dir
            .strip_prefix(terraform_dir())
            .unwrap_or(&self.dir)
            .display()
            .to_string()
    }

    fn blocks_of<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Block> + use<'a> {
        let kind = kind.to_string();
        self.blocks
            .iter()
            .map(|(_, b)| b)
            .filter(move |b| b.identifier.as_str() == kind.as_str())
    }

    /// `output`, `variable`, `module` ... blocks by their one label.
    fn labelled(&self, kind: &str) -> BTreeMap<String, &Block> {
        self.blocks_of(kind)
            .map(|b| (label(b, 0).to_string(), b))
            .collect()
    }

    fn resource(&self, ty: &str, name: &str) -> &Block {
        self.blocks_of("resource")
            .find(|b| label(b, 0) == ty && label(b, 1) == name)
            .unwrap_or_else(|| panic!("{}: no resource {ty}.{name}", self.name()))
    }

    fn locals(&self) -> BTreeMap<String, Expression> {
        self.blocks_of("locals")
            .flat_map(|b| b.body.attributes())
            .map(|a| (a.key.as_str().to_string(), a.expr.clone()))
            .collect()
    }
}

fn parse_file(path: &Path) -> Body {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    hcl::parse(&text).unwrap_or_else(|e| panic!("{} is not valid HCL: {e}", path.display()))
}

fn label(b: &Block, i: usize) -> &str {
    b.labels.get(i).map(|l| l.as_str()).unwrap_or("")
}

fn attr<'a>(b: &'a Block, key: &str) -> Option<&'a Expression> {
    b.body
        .attributes()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.expr)
}

/// References and literals as Terraform writes them: `var.x`,
/// `aws_lb_target_group.this["live"].arn`, `"ingress"`. Anything else as
/// `<kind>`, which no assertion expects.
fn render(e: &Expression) -> String {
    match e {
        Expression::String(s) => format!("{s:?}"),
        Expression::Number(n) => n.to_string(),
        Expression::Bool(b) => b.to_string(),
        Expression::Variable(v) => v.as_str().to_string(),
        Expression::Parenthesis(inner) => format!("({})", render(inner)),
        Expression::Traversal(t) => {
            let mut out = render(&t.expr);
            for op in &t.operators {
                match op {
                    TraversalOperator::GetAttr(id) => {
                        out.push('.');
                        out.push_str(id.as_str());
                    }
                    TraversalOperator::Index(i) => out.push_str(&format!("[{}]", render(i))),
                    TraversalOperator::LegacyIndex(i) => out.push_str(&format!("[{i}]")),
                    TraversalOperator::AttrSplat | TraversalOperator::FullSplat => {
                        out.push_str("[*]")
                    }
                }
            }
            out
        }
        Expression::FuncCall(f) => format!("{}(...)", f.name.name.as_str()),
        Expression::Object(_) => "<object>".into(),
        Expression::TemplateExpr(_) => "<template>".into(),
        _ => "<expression>".into(),
    }
}

/// The keys and values of a tag map as the module builds it: object literals,
/// `merge(...)` (later arguments win) and `local.*` references are followed;
/// a map only known at apply time (`var.tags`) contributes nothing.
fn tag_map(locals: &BTreeMap<String, Expression>, e: &Expression) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match e {
        Expression::Object(obj) => {
            for (k, v) in obj.iter() {
                let key = match k {
                    ObjectKey::Identifier(id) => id.as_str().to_string(),
                    ObjectKey::Expression(Expression::String(s)) => s.clone(),
                    ObjectKey::Expression(other) => render(other),
                    _ => "<key>".into(),
                };
                out.insert(key, render(v));
            }
        }
        Expression::FuncCall(f) if f.name.name.as_str() == "merge" => {
            for arg in &f.args {
                out.extend(tag_map(locals, arg));
            }
        }
        Expression::Parenthesis(inner) => out.extend(tag_map(locals, inner)),
        Expression::Traversal(t) => {
            if let (Expression::Variable(v), Some(TraversalOperator::GetAttr(name))) =
                (&t.expr, t.operators.first())
                && v.as_str() == "local"
                && t.operators.len() == 1
            {
                let def = locals
                    .get(name.as_str())
                    .unwrap_or_else(|| panic!("no local `{}`", name.as_str()));
                out.extend(tag_map(locals, def));
            }
        }
        _ => {}
    }
    out
}

/// Every tag map in a resource: `tags` attributes at any depth (instances,
/// launch template tag specifications) and the `for_each` of `dynamic "tag"`
/// blocks (Auto Scaling groups).
fn tag_maps_in(
    locals: &BTreeMap<String, Expression>,
    body: &Body,
    out: &mut Vec<BTreeMap<String, String>>,
) {
    for a in body.attributes() {
        if a.key.as_str() == "tags" {
            out.push(tag_map(locals, &a.expr));
        }
    }
    for b in body.blocks() {
        if b.identifier.as_str() == "dynamic"
            && label(b, 0) == "tag"
            && let Some(e) = attr(b, "for_each")
        {
            out.push(tag_map(locals, e));
        }
        tag_maps_in(locals, &b.body, out);
    }
}

/// Tag keys that belong to abshift, whatever their spelling: a renamed key
/// ("abshift:clusters", "abshift/role") still counts, so it shows up as an
/// unexpected key rather than vanishing from view.
fn abshift_keys(tags: &BTreeMap<String, String>) -> BTreeSet<String> {
    let prefix = TAG_CLUSTER.split(':').next().unwrap().to_ascii_lowercase();
    tags.keys()
        .filter(|k| {
            let k = k.to_ascii_lowercase();
            k.contains(&prefix) || k == TAG_CLUSTER || k == TAG_ROLE
        })
        .cloned()
        .collect()
}

#[test]
fn ingress_instances_carry_exactly_the_tags_abshift_discovers() {
    let module = Config::load("modules/paas-cluster");
    let locals = module.locals();
    let ingress = module.resource("aws_instance", "ingress");
    let tags = tag_map(
        &locals,
        attr(ingress, "tags").expect("aws_instance.ingress has no tags"),
    );

    let expected: BTreeSet<String> = [TAG_CLUSTER, TAG_ROLE].map(String::from).into();
    assert_eq!(
        abshift_keys(&tags),
        expected,
        "modules/paas-cluster aws_instance.ingress: abshift tag keys differ from what `abshift elb` \
         discovers by default (crates/elb/src/names.rs TAG_CLUSTER, TAG_ROLE); tags found: {tags:?}"
    );
    assert_eq!(
        tags.get(TAG_ROLE).map(String::as_str),
        Some(format!("{ROLE_INGRESS:?}").as_str()),
        "aws_instance.ingress: `{TAG_ROLE}` must be the literal {ROLE_INGRESS:?} (ROLE_INGRESS)"
    );
    assert_eq!(
        tags.get(TAG_CLUSTER).map(String::as_str),
        Some("var.cluster_name"),
        "aws_instance.ingress: `{TAG_CLUSTER}` must be var.cluster_name, the name `elb switch --to` selects"
    );
}

#[test]
fn no_other_node_carries_the_ingress_role() {
    let module = Config::load("modules/paas-cluster");
    let locals = module.locals();
    let ingress_role = format!("{ROLE_INGRESS:?}");
    let mut carriers = Vec::new();
    for b in module.blocks_of("resource") {
        let mut maps = Vec::new();
        tag_maps_in(&locals, &b.body, &mut maps);
        for m in maps {
            if m.get(TAG_ROLE) == Some(&ingress_role) {
                carriers.push(format!("{}.{}", label(b, 0), label(b, 1)));
            }
            // Every node tagged for abshift names its cluster the same way.
            if m.contains_key(TAG_ROLE) {
                assert_eq!(
                    m.get(TAG_CLUSTER).map(String::as_str),
                    Some("var.cluster_name"),
                    "{}.{}: a node with `{TAG_ROLE}` must carry `{TAG_CLUSTER}` = var.cluster_name; tags: {m:?}",
                    label(b, 0),
                    label(b, 1)
                );
            }
        }
    }
    assert_eq!(
        carriers,
        ["aws_instance.ingress"],
        "only the ingress instances may carry {TAG_ROLE}={ROLE_INGRESS}: abshift would register the others in the load balancers"
    );
}

#[test]
fn shell_root_declares_the_outputs_abshift_elb_reads() {
    let root = Config::load("shell");
    let outputs = root.labelled("output");
    let read: Vec<&str> = ROLES
        .iter()
        .flat_map(|r| r.outputs())
        .chain([TF_STATE_BUCKET])
        .collect();
    assert_eq!(
        read,
        [
            TF_LIVE_TARGET_GROUP_ARN,
            TF_LIVE_LB_NAME,
            TF_PRELIVE_TARGET_GROUP_ARN,
            TF_PRELIVE_LB_NAME,
            TF_STATE_BUCKET
        ]
    );
    let declared: BTreeSet<&str> = outputs.keys().map(String::as_str).collect();
    let missing: Vec<&&str> = read.iter().filter(|n| !declared.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "terraform/shell declares no output {missing:?}, which `abshift elb --tf-output` reads \
         (crates/elb/src/names.rs); it declares {declared:?}"
    );
    for name in &read {
        let value = attr(outputs[*name], "value").map(render);
        assert_eq!(
            value.as_deref(),
            Some(format!("module.shell.{name}").as_str()),
            "terraform/shell output `{name}` must pass the module's output of the same name"
        );
    }

    // What `terraform output -json` would give, read by abshift's own parser:
    // every load balancer role and the bucket must resolve, preferring ARNs.
    let json = serde_json::Value::Object(
        declared
            .iter()
            .map(|n| (n.to_string(), serde_json::json!({ "value": n })))
            .collect(),
    );
    let tf = TfOutputs::parse("terraform/shell", &json.to_string()).unwrap();
    assert_eq!(tf.lb(LbRole::Live).unwrap(), TF_LIVE_TARGET_GROUP_ARN);
    assert_eq!(tf.lb(LbRole::PreLive).unwrap(), TF_PRELIVE_TARGET_GROUP_ARN);
    assert_eq!(tf.state_bucket().as_deref(), Some(TF_STATE_BUCKET));
}

#[test]
fn shell_outputs_point_at_the_load_balancer_of_their_role() {
    let module = Config::load("modules/vpc-shell");
    let outputs = module.labelled("output");
    let value = |name: &str| {
        let out = outputs
            .get(name)
            .unwrap_or_else(|| panic!("modules/vpc-shell declares no output `{name}`"));
        attr(out, "value").map(render).unwrap_or_default()
    };

    // The load balancers are keyed by the role names of `--lb live|pre-live`.
    let lbs = module
        .locals()
        .remove("load_balancers")
        .expect("modules/vpc-shell has no local `load_balancers`");
    let keys: BTreeSet<String> = tag_map(&BTreeMap::new(), &lbs).into_keys().collect();
    let roles: BTreeSet<String> = ROLES.iter().map(|r| r.as_str().to_string()).collect();
    assert_eq!(
        keys, roles,
        "local.load_balancers must be keyed by abshift's --lb roles"
    );

    let tg = module.resource("aws_lb_target_group", "this");
    assert_eq!(
        attr(tg, "for_each").map(render).as_deref(),
        Some("local.load_balancers")
    );
    assert_eq!(
        attr(tg, "target_type").map(render).as_deref(),
        Some("\"instance\""),
        "abshift registers instances: the target groups must have target_type = \"instance\""
    );

    for role in ROLES {
        let [arn, name] = role.outputs();
        let key = role.as_str();
        assert_eq!(
            value(arn),
            format!("aws_lb_target_group.this[{key:?}].arn"),
            "output `{arn}` must be the ARN of the {key} target group"
        );
        assert_eq!(
            value(name),
            format!("aws_lb_target_group.this[{key:?}].name"),
            "output `{name}` must be the name of the {key} target group"
        );
    }
    assert_eq!(value(TF_STATE_BUCKET), "aws_s3_bucket.state.bucket");

    // Terraform never attaches targets to the live or pre-live groups: that
    // is abshift's job, and an attachment would undo every switch on apply.
    for dir in ["modules/vpc-shell", "modules/paas-cluster"] {
        let cfg = Config::load(dir);
        for b in cfg.blocks_of("resource") {
            if label(b, 0) == "aws_lb_target_group_attachment" {
                let group = attr(b, "target_group_arn").map(render).unwrap_or_default();
                assert!(
                    !group.starts_with("aws_lb_target_group.this"),
                    "{dir}: {}.{} attaches targets to a shell target group ({group})",
                    label(b, 0),
                    label(b, 1)
                );
            }
            if label(b, 0) == "aws_autoscaling_group" {
                assert!(
                    attr(b, "target_group_arns").is_none(),
                    "{dir}: aws_autoscaling_group.{} must not register with target groups",
                    label(b, 1)
                );
            }
        }
    }
}

/// The attributes of a cluster root's terraform.tfvars, rendered.
fn tfvars(root: &str) -> BTreeMap<String, String> {
    parse_file(&terraform_dir().join(root).join("terraform.tfvars"))
        .attributes()
        .map(|a| (a.key.as_str().to_string(), render(&a.expr)))
        .collect()
}

fn backend_key(root: &str) -> String {
    parse_file(&terraform_dir().join(root).join("backend.hcl"))
        .attributes()
        .find(|a| a.key.as_str() == "key")
        .map(|a| render(&a.expr))
        .unwrap_or_else(|| panic!("terraform/{root}/backend.hcl sets no key"))
}

#[test]
fn cluster_roots_differ_only_in_variables_and_pass_the_cluster_name() {
    let tf_files = |root: &str| -> BTreeMap<String, String> {
        fs::read_dir(terraform_dir().join(root))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (tf_files("paas-a"), tf_files("paas-b"));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "paas-a and paas-b must have the same .tf files"
    );
    for (file, text) in &a {
        assert!(
            *text == b[file],
            "terraform/paas-a/{file} and terraform/paas-b/{file} differ: the cluster roots may differ only in terraform.tfvars and backend.hcl"
        );
    }

    let module = Config::load("modules/paas-cluster");
    assert!(module.labelled("variable").contains_key("cluster_name"));
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for root in ["paas-a", "paas-b"] {
        let cfg = Config::load(root);
        let modules = cfg.labelled("module");
        let cluster = modules
            .values()
            .find(|m| {
                attr(m, "source").map(render).as_deref() == Some("\"../modules/paas-cluster\"")
            })
            .unwrap_or_else(|| panic!("terraform/{root} does not use ../modules/paas-cluster"));
        assert_eq!(
            attr(cluster, "cluster_name").map(render).as_deref(),
            Some("var.cluster_name"),
            "terraform/{root} must pass var.cluster_name to the module (it becomes the {TAG_CLUSTER} tag)"
        );
        assert!(cfg.labelled("variable").contains_key("cluster_name"));

        let name = tfvars(root)
            .remove("cluster_name")
            .unwrap_or_else(|| panic!("terraform/{root}/terraform.tfvars sets no cluster_name"));
        assert_eq!(
            name,
            format!("{root:?}"),
            "terraform/{root}: the cluster is named after its root, so `elb switch --to {root}` finds its ingress instances"
        );
        names.insert(name);
        keys.insert(backend_key(root));
    }
    assert_eq!(names.len(), 2, "paas-a and paas-b share a cluster name");
    assert_eq!(
        keys.len(),
        2,
        "paas-a and paas-b share a state key: building B would touch A"
    );
    assert!(
        !keys.contains(&backend_key("shell")),
        "a cluster shares the shell's state key"
    );
}

#[test]
fn every_variable_and_output_is_described() {
    for dir in [
        "modules/vpc-shell",
        "modules/paas-cluster",
        "shell",
        "paas-a",
        "paas-b",
    ] {
        let cfg = Config::load(dir);
        for kind in ["variable", "output"] {
            for (name, b) in cfg.labelled(kind) {
                let d = attr(b, "description").map(render).unwrap_or_default();
                assert!(
                    d.len() > 2,
                    "terraform/{dir}: {kind} `{name}` has no description"
                );
            }
        }
        // Providers are pinned where they are required.
        for t in cfg.blocks_of("terraform") {
            for rp in t
                .body
                .blocks()
                .filter(|b| b.identifier.as_str() == "required_providers")
            {
                let aws = attr(rp, "aws").expect("required_providers without aws");
                let obj = tag_map(&BTreeMap::new(), aws);
                assert_eq!(
                    obj.get("source").map(String::as_str),
                    Some("\"hashicorp/aws\"")
                );
                assert_eq!(
                    obj.get("version").map(String::as_str),
                    Some("\"~> 5.0\""),
                    "terraform/{dir}"
                );
            }
        }
    }
}
