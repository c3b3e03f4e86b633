//! `abshift elb` end to end against a real moto server: a VPC with A's and B's
//! tagged ingress instances (plus untagged, stopped, non-ingress and
//! other-VPC ones that must be ignored or refused), a classic ELB as live and an
//! ALB target group as pre-live. Runs the real binary.

#[path = "support/moto.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, TargetDescription, TargetTypeEnum,
};
use aws_sdk_s3::config::{Credentials, Region};
use support::{Gate, Moto, REGION};

const CLASSIC: &str = "abshift-live";
const ALB: &str = "abshift-prelive-alb";
const TG: &str = "abshift-prelive";
const BUCKET: &str = "abshift-state";

struct Clients {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancing::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    s3: aws_sdk_s3::Client,
}

struct World {
    moto: Moto,
    aws: Clients,
    _dir: tempfile::TempDir,
    tf: PathBuf,
    a: Vec<String>,
    b: Vec<String>,
    tg_arn: String,
}

async fn clients(endpoint: &str) -> Clients {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    Clients {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        elb: aws_sdk_elasticloadbalancing::Client::new(&sdk),
        elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(s3),
    }
}

fn tags(pairs: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (k, v) in pairs {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

async fn run_instances(
    c: &Clients,
    ami: &str,
    subnet: &str,
    n: i32,
    t: &[(&str, &str)],
) -> Vec<String> {
    let mut req = c
        .ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .min_count(n)
        .max_count(n)
        .subnet_id(subnet);
    if !t.is_empty() {
        req = req.tag_specifications(tags(t));
    }
    let mut ids: Vec<String> = req
        .send()
        .await
        .unwrap()
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Creates the estate; A serves both load balancers.
async fn world() -> Option<World> {
    let moto = support::moto()?;
    let c = clients(&moto.endpoint()).await;
    let ami = c
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
        subnets.push(
            c.ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(cidr)
                .availability_zone(az)
                .send()
                .await
                .unwrap()
                .subnet()
                .unwrap()
                .subnet_id()
                .unwrap()
                .to_string(),
        );
    }
    let other_vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let other_subnet = c
        .ec2
        .create_subnet()
        .vpc_id(&other_vpc)
        .cidr_block("10.9.1.0/24")
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();

    let ingress =
        |cluster: &'static str| [("abshift:cluster", cluster), ("abshift:role", "ingress")];
    let a = run_instances(&c, &ami, &subnets[0], 2, &ingress("a")).await;
    let b = run_instances(&c, &ami, &subnets[1], 2, &ingress("b")).await;
    // Must all be ignored: untagged, stopped B ingress, B worker.
    run_instances(&c, &ami, &subnets[0], 1, &[]).await;
    let stopped = run_instances(&c, &ami, &subnets[1], 1, &ingress("b")).await;
    c.ec2
        .stop_instances()
        .set_instance_ids(Some(stopped))
        .send()
        .await
        .unwrap();
    run_instances(
        &c,
        &ami,
        &subnets[1],
        1,
        &[("abshift:cluster", "b"), ("abshift:role", "worker")],
    )
    .await;
    // Cluster c lives in another VPC: switching to it must be refused.
    run_instances(&c, &ami, &other_subnet, 1, &ingress("c")).await;

    c.elb
        .create_load_balancer()
        .load_balancer_name(CLASSIC)
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_port(80)
                .build()
                .unwrap(),
        )
        .subnets(&subnets[0])
        .send()
        .await
        .unwrap();
    let mut reg = c
        .elb
        .register_instances_with_load_balancer()
        .load_balancer_name(CLASSIC);
    for id in &a {
        reg = reg.instances(
            aws_sdk_elasticloadbalancing::types::Instance::builder()
                .instance_id(id)
                .build(),
        );
    }
    reg.send().await.unwrap();

    let alb_arn = c
        .elbv2
        .create_load_balancer()
        .name(ALB)
        .set_subnets(Some(subnets.clone()))
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let tg_arn = c
        .elbv2
        .create_target_group()
        .name(TG)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .target_type(TargetTypeEnum::Instance)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    c.elbv2
        .create_listener()
        .load_balancer_arn(&alb_arn)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&tg_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut reg = c.elbv2.register_targets().target_group_arn(&tg_arn);
    for id in &a {
        reg = reg.targets(TargetDescription::builder().id(id).build());
    }
    reg.send().await.unwrap();

    c.s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("shell.json");
    let outputs = serde_json::json!({
        "live_lb_name": {"sensitive": false, "type": "string", "value": CLASSIC},
        "prelive_lb_name": {"sensitive": false, "type": "string", "value": TG},
        "prelive_target_group_arn": {"sensitive": false, "type": "string", "value": tg_arn},
        "state_bucket": {"sensitive": false, "type": "string", "value": BUCKET},
    });
    std::fs::write(&tf, serde_json::to_vec_pretty(&outputs).unwrap()).unwrap();
    Some(World {
        moto,
        aws: c,
        _dir: dir,
        tf,
        a,
        b,
        tg_arn,
    })
}

impl World {
    fn cmd(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_abshift"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "ABSHIFT_STATE_BUCKET" {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Empty files: no profile of the machine's own can leak in.
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(&self.moto.endpoint(), args).output().unwrap();
        eprintln!(
            "$ abshift {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn tf(&self) -> &str {
        self.tf.to_str().unwrap()
    }

    async fn classic_members(&self) -> Vec<String> {
        let out = self
            .aws
            .elb
            .describe_load_balancers()
            .load_balancer_names(CLASSIC)
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = out.load_balancer_descriptions()[0]
            .instances()
            .iter()
            .map(|i| i.instance_id().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    async fn tg_members(&self) -> Vec<String> {
        let out = self
            .aws
            .elbv2
            .describe_target_health()
            .target_group_arn(&self.tg_arn)
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = out
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .is_some_and(|s| s.as_str() == "healthy")
            })
            .map(|d| d.target().unwrap().id().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// Every object in the state bucket with its ETag.
    async fn bucket(&self) -> BTreeMap<String, String> {
        let out = self
            .aws
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap().to_string(),
                    o.e_tag().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    async fn audit(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for key in self.bucket().await.keys().filter(|k| k.contains("/audit/")) {
            let obj = self
                .aws
                .s3
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
            let body = obj.body.collect().await.unwrap().into_bytes();
            out.push(serde_json::from_slice(&body).unwrap());
        }
        out
    }

    async fn snapshot(&self) -> (Vec<String>, Vec<String>, BTreeMap<String, String>) {
        (
            self.classic_members().await,
            self.tg_members().await,
            self.bucket().await,
        )
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bad input: non-zero exit and nothing on stderr but one `error:` line.
fn assert_one_line_error(o: &Output, needle: &str) {
    assert!(!o.status.success(), "should fail");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(needle), "`{needle}` not in: {err}");
}

/// A refusal after progress lines: the error is still one line, and the last.
fn assert_error_last(o: &Output, needle: &str) {
    assert!(!o.status.success(), "should fail");
    let err = stderr(o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    assert_eq!(err.lines().last(), Some(errors[0]), "{err}");
    assert!(errors[0].contains(needle), "`{needle}` not in: {err}");
}

const FAST: &[&str] = &[
    "--poll-interval",
    "50ms",
    "--health-timeout",
    "20s",
    "--drain-timeout",
    "20s",
];

fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(FAST);
    v
}

#[tokio::test]
async fn status_groups_members_by_cluster_and_names_the_serving_one() {
    let Some(w) = world().await else { return };
    let out = w.run(&["elb", "status", "--tf-output", w.tf(), "-o", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let lbs = v["load_balancers"].as_array().unwrap();
    assert_eq!(lbs.len(), 2);
    assert_eq!(lbs[0]["role"], "live");
    assert_eq!(lbs[0]["name"], CLASSIC);
    assert_eq!(lbs[0]["kind"], "classic");
    assert_eq!(lbs[1]["role"], "pre-live");
    assert_eq!(lbs[1]["name"], TG);
    assert_eq!(lbs[1]["kind"], "target-group");
    for lb in lbs {
        assert_eq!(lb["serving"], serde_json::json!(["a"]));
        assert_eq!(lb["healthy"], 2);
        let a: Vec<String> = serde_json::from_value(lb["clusters"]["a"].clone()).unwrap();
        assert_eq!(a, w.a);
        for m in lb["members"].as_array().unwrap() {
            assert_eq!(m["health"], "healthy");
            assert_eq!(m["cluster"], "a");
        }
    }

    let out = w.run(&["elb", "status", "--lb-name", CLASSIC]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains(&format!("{CLASSIC} (classic")), "{text}");
    assert!(text.contains("serves a"), "{text}");
    assert!(text.contains(&w.a[0]) && text.contains("CLUSTER"), "{text}");
}

#[tokio::test]
async fn switch_live_classic_to_b_then_roll_back() {
    let Some(w) = world().await else { return };
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--from",
        "a",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    // Only B's running ingress instances: not the stopped, untagged or worker ones.
    assert_eq!(w.classic_members().await, w.b);
    // Pre-live was not touched.
    assert_eq!(w.tg_members().await, w.a);

    let status = w.run(&[
        "elb",
        "status",
        "--tf-output",
        w.tf(),
        "--lb",
        "live",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(v["load_balancers"][0]["serving"], serde_json::json!(["b"]));
    // The state bucket (from the Terraform outputs) says who switched what, and that no one holds the lock.
    let last = &v["load_balancers"][0]["last_switch"];
    assert_eq!(last["phase"], "completed", "{v}");
    assert_eq!(last["to_cluster"], "b");
    assert!(v["load_balancers"][0]["lock"].is_null(), "{v}");
    let text = stdout(&w.run(&["elb", "status", "--tf-output", w.tf(), "--lb", "live"]));
    assert!(text.contains("last switch: a -> b (completed)"), "{text}");
    assert!(text.contains("lock: free"), "{text}");

    let audit = w.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["operation"], "switch");
    assert_eq!(audit[0]["from"], "a");
    assert_eq!(audit[0]["to"], "b");
    assert_eq!(audit[0]["result"], "completed");
    assert!(audit[0]["who"].as_str().unwrap().contains('@'));
    assert!(audit[0]["when"].is_string());
    assert!(
        !w.bucket().await.keys().any(|k| k.ends_with("/lock.json")),
        "lock released"
    );

    let out = w.run(&with(&[
        "elb",
        "rollback",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.classic_members().await, w.a);
    let audit = w.audit().await;
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .any(|a| a["operation"] == "rollback" && a["result"] == "completed")
    );
}

#[tokio::test]
async fn switch_prelive_target_group_by_name_then_roll_back() {
    let Some(w) = world().await else { return };
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb-name",
        TG,
        "--state-bucket",
        BUCKET,
        "--to",
        "b",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.tg_members().await, w.b);
    assert_eq!(w.classic_members().await, w.a);
    assert!(
        w.bucket()
            .await
            .keys()
            .any(|k| k.starts_with("abshift/elb/target-group/abshift-prelive/state.json"))
    );

    // Switching again is a no-op and says so.
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb-name",
        TG,
        "--state-bucket",
        BUCKET,
        "--to",
        "b",
    ]));
    assert!(out.status.success());
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));

    // The ALB itself resolves to its only target group; roll back through it.
    let out = w.run(&with(&[
        "elb",
        "rollback",
        "--lb-name",
        ALB,
        "--state-bucket",
        BUCKET,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.tg_members().await, w.a);
}

#[tokio::test]
async fn dry_run_prints_the_steps_and_changes_nothing() {
    let Some(w) = world().await else { return };
    let before = w.snapshot().await;
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "pre-live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--dry-run",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for step in [
        "take the lock",
        "record the current membership",
        "register",
        "report healthy",
        "deregister",
        "drain",
        "audit",
    ] {
        assert!(text.contains(step), "`{step}` missing: {text}");
    }
    assert!(text.contains(&w.b[0]) && text.contains(&w.a[0]), "{text}");
    assert!(text.contains("lock: free"), "{text}");
    assert_eq!(w.snapshot().await, before);

    // Rollback --dry-run after a real switch: prints, changes nothing.
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "pre-live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
    ]));
    assert!(out.status.success());
    let before = w.snapshot().await;
    let out = w.run(&with(&[
        "elb",
        "rollback",
        "--lb",
        "pre-live",
        "--tf-output",
        w.tf(),
        "--dry-run",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("register"), "{}", stdout(&out));
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test]
async fn two_switches_at_once_one_is_refused() {
    let Some(w) = world().await else { return };
    // The first switch is frozen at its deregistration, holding the lock.
    let gate = Gate::new(w.moto.port, "Action=DeregisterInstancesFromLoadBalancer");
    let args = with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
    ]);
    let first = w
        .cmd(&gate.endpoint(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        gate.wait_held(Duration::from_secs(60)),
        "first switch never reached deregistration"
    );

    let second = w.run(&args);
    assert_error_last(&second, "is locked by");
    // Refused before touching anything: A and B registered by the first only.
    gate.open();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(w.classic_members().await, w.b);
    let audit = w.audit().await;
    assert_eq!(audit.len(), 1, "only the first switch ran: {audit:?}");
}

#[tokio::test]
async fn ctrl_c_mid_switch_rolls_back_to_recorded_membership() {
    signal_mid_switch_rolls_back("-INT").await;
}

/// What `kill`, systemd and CI runners send: handled exactly like Ctrl-C.
#[tokio::test]
async fn sigterm_mid_switch_rolls_back_to_recorded_membership() {
    signal_mid_switch_rolls_back("-TERM").await;
}

async fn signal_mid_switch_rolls_back(signal: &str) {
    let Some(w) = world().await else { return };
    let gate = Gate::new(w.moto.port, "Action=DeregisterInstancesFromLoadBalancer");
    let args = with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
    ]);
    let child = w
        .cmd(&gate.endpoint(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(gate.wait_held(Duration::from_secs(60)));
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    gate.open();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    eprintln!("{err}");
    assert!(!out.status.success());
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        err.contains("rolled back to the recorded membership"),
        "{err}"
    );
    assert_eq!(w.classic_members().await, w.a);
    let audit = w.audit().await;
    assert_eq!(audit[0]["result"], "rolled-back");
}

#[tokio::test]
async fn held_lock_refuses_and_only_a_stale_one_can_be_broken() {
    let Some(w) = world().await else { return };
    let lock = serde_json::json!({
        "owner": "alice@laptop", "token": "t-1", "operation": "switch",
        "created_at": "2026-01-01T00:00:00Z"
    });
    w.aws
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(format!("abshift/elb/classic/{CLASSIC}/lock.json"))
        .body(serde_json::to_vec(&lock).unwrap().into())
        .send()
        .await
        .unwrap();
    let before = w.snapshot().await;
    let args = with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
    ]);
    let held = stdout(&w.run(&["elb", "status", "--tf-output", w.tf(), "--lb", "live"]));
    assert!(
        held.contains("lock: HELD by alice@laptop (switch)"),
        "{held}"
    );
    let out = w.run(&args);
    assert_error_last(&out, "locked by alice@laptop");
    assert!(
        stderr(&out).contains("only once it is older than 1800s"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.snapshot().await, before);

    // --break-lock does not break a fresh lock.
    let mut breaking = args.clone();
    breaking.push("--break-lock");
    let out = w.run(&breaking);
    assert_error_last(&out, "locked by alice@laptop");
    assert_eq!(w.snapshot().await, before);

    // Stale (any age counts with --lock-stale-after 0s): still needs --break-lock...
    let mut stale = args.clone();
    stale.extend(["--lock-stale-after", "0s"]);
    let out = w.run(&stale);
    assert_error_last(&out, "pass --break-lock");
    // ...and with it the switch goes through.
    stale.push("--break-lock");
    let out = w.run(&stale);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.classic_members().await, w.b);
}

#[tokio::test]
async fn bad_input_gives_one_line_errors_and_changes_nothing() {
    let Some(w) = world().await else { return };
    let before = w.snapshot().await;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            with(&[
                "elb",
                "switch",
                "--lb-name",
                "no-such-lb",
                "--state-bucket",
                BUCKET,
                "--to",
                "b",
            ]),
            "load balancer `no-such-lb` not found",
        ),
        (
            with(&[
                "elb",
                "switch",
                "--lb",
                "live",
                "--tf-output",
                w.tf(),
                "--to",
                "zzz",
            ]),
            "no running EC2 instances match tag abshift:cluster=zzz, tag abshift:role=ingress",
        ),
        (
            with(&[
                "elb",
                "switch",
                "--lb",
                "live",
                "--tf-output",
                w.tf(),
                "--to",
                "b",
                "--instance-tag",
                "team=none",
            ]),
            "tag team=none",
        ),
        (
            with(&[
                "elb",
                "switch",
                "--lb",
                "live",
                "--tf-output",
                w.tf(),
                "--to",
                "c",
            ]),
            "refusing to register it",
        ),
        (
            vec![
                "elb",
                "switch",
                "--lb",
                "live",
                "--tf-output",
                w.tf(),
                "--to",
                "b",
                "--drain-timeout",
                "0s",
            ],
            "--drain-timeout 0s is outside 1s..3600s",
        ),
        (
            vec![
                "elb",
                "switch",
                "--lb",
                "live",
                "--tf-output",
                w.tf(),
                "--to",
                "b",
                "--drain-timeout",
                "3601",
            ],
            "--drain-timeout 3601 is outside 1s..3600s",
        ),
        (
            with(&[
                "elb",
                "switch",
                "--lb",
                "live",
                "--tf-output",
                w.tf(),
                "--to",
                "b",
                "--min-healthy",
                "5",
            ]),
            "--min-healthy 5",
        ),
        (
            with(&["elb", "switch", "--lb", "live", "--to", "b"]),
            "--lb live needs --tf-output",
        ),
        (
            with(&["elb", "switch", "--lb-name", CLASSIC, "--to", "b"]),
            "no state bucket",
        ),
        (
            with(&["elb", "rollback", "--lb", "live", "--tf-output", w.tf()]),
            "nothing to roll back",
        ),
    ];
    for (args, needle) in cases {
        let out = w.run(&args);
        assert_one_line_error(&out, needle);
        assert_eq!(w.snapshot().await, before, "changed by {args:?}");
    }
    // Usage problems exit 2, everything else 1.
    let out = w.run(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--drain-timeout",
        "0s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb-name",
        "no-such-lb",
        "--state-bucket",
        BUCKET,
        "--to",
        "b",
    ]));
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn missing_credentials_is_one_clear_line() {
    let Some(w) = world().await else { return };
    let out = w
        .cmd(&w.moto.endpoint(), &["elb", "status", "--lb-name", CLASSIC])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_one_line_error(&out, "no AWS credentials found");
}

#[tokio::test]
async fn instances_filter_is_applied_with_all_pages() {
    let Some(w) = world().await else { return };
    // Ids of every instance EC2 knows, to prove the switch picked only B's.
    let all = w
        .aws
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:abshift:cluster")
                .values("b")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tagged_b: usize = all.reservations().iter().map(|r| r.instances().len()).sum();
    assert_eq!(tagged_b, 4, "two ingress, one stopped, one worker");
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "pre-live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--keep-old",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut both = w.a.clone();
    both.extend(w.b.clone());
    both.sort();
    assert_eq!(w.tg_members().await, both, "--keep-old leaves A in");
}

/// The README demo: the fixture script builds the estate, then pre-live and
/// live are switched to B and rolled back, all through the Terraform outputs.
#[tokio::test]
async fn readme_demo_fixture_switches_and_rolls_back() {
    let Some(moto) = support::moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("shell.json");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/moto-elb-fixture.py");
    let made = Command::new("python3")
        .arg(&fixture)
        .args([
            "--endpoint",
            &moto.endpoint(),
            "--tf-output",
            tf.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let w = World {
        aws: clients(&moto.endpoint()).await,
        moto,
        _dir: dir,
        tf,
        a: Vec::new(),
        b: Vec::new(),
        tg_arn: String::new(),
    };
    let serving = |out: &Output| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
        v["load_balancers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|lb| lb["serving"].clone())
            .collect()
    };
    let status = || w.run(&["elb", "status", "--tf-output", w.tf(), "-o", "json"]);
    let a = serde_json::json!(["a"]);
    let b = serde_json::json!(["b"]);
    assert_eq!(serving(&status()), vec![a.clone(), a.clone()]);
    for lb in ["pre-live", "live"] {
        let out = w.run(&with(&[
            "elb",
            "switch",
            "--lb",
            lb,
            "--tf-output",
            w.tf(),
            "--to",
            "b",
        ]));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(serving(&status()), vec![b.clone(), b.clone()]);
    for lb in ["live", "pre-live"] {
        let out = w.run(&with(&[
            "elb",
            "rollback",
            "--lb",
            lb,
            "--tf-output",
            w.tf(),
        ]));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(serving(&status()), vec![a.clone(), a]);
}

/// More matching instances than one EC2 page (100) holds: every page is read.
#[tokio::test]
async fn discovery_reads_every_page() {
    let Some(w) = world().await else { return };
    let subnet = w
        .aws
        .ec2
        .describe_instances()
        .instance_ids(&w.b[0])
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .subnet_id()
        .unwrap()
        .to_string();
    let ami = w
        .aws
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_string();
    // One reservation each: moto pages by reservation.
    let mut more = Vec::new();
    for _ in 0..103 {
        more.extend(
            run_instances(
                &w.aws,
                &ami,
                &subnet,
                1,
                &[("abshift:cluster", "b"), ("abshift:role", "ingress")],
            )
            .await,
        );
    }
    more.sort();
    // A first page of 100 is not the whole answer.
    let first = w
        .aws
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:abshift:role")
                .values("ingress")
                .build(),
        )
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert!(first.next_token().is_some(), "moto returned a single page");
    let out = w.run(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let register = text.lines().find(|l| l.contains(". register ")).unwrap();
    assert_eq!(register.matches("i-").count(), 105, "{register}");
    assert!(more.iter().all(|id| register.contains(id.as_str())));
    assert!(register.contains(&w.b[0]));
    assert!(text.contains("105 of 105 instance(s) of b"), "{text}");
}

#[tokio::test]
async fn sigterm_during_rollback_waits_until_restored_and_unlocked() {
    let Some(w) = world().await else { return };
    let lb = ["--lb", "live", "--tf-output", w.tf()];
    let out = w.run(&with(&[&["elb", "switch", "--to", "b"][..], &lb].concat()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.classic_members().await, w.b);

    // The rollback re-registers A first: hold it there and send SIGTERM.
    let gate = Gate::new(w.moto.port, "Action=RegisterInstancesWithLoadBalancer");
    let args = with(&[&["elb", "rollback"][..], &lb].concat());
    let child = w
        .cmd(&gate.endpoint(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(gate.wait_held(Duration::from_secs(60)));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    gate.open();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("interrupted (SIGTERM)"), "{err}");
    assert_eq!(w.classic_members().await, w.a);
    // The lock was released: a new switch may run.
    let out = w.run(&with(
        &[&["elb", "switch", "--to", "b", "--dry-run"][..], &lb].concat(),
    ));
    assert!(stdout(&out).contains("lock: free"), "{}", stdout(&out));
}
