//! `abshift elb switch` with smoke checks and burn-down against a real moto server:
//! the checks see B serve beside A, failures roll back, the audit in S3 keeps their
//! output. moto has no traffic metrics and drains at once (docs/elb.md: what it shows).

#[path = "support/moto.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, TargetDescription, TargetGroupAttribute, TargetTypeEnum,
};
use aws_sdk_s3::config::{Credentials, Region};
use support::{Moto, REGION};

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
    dir: tempfile::TempDir,
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

async fn run_instances(c: &Clients, ami: &str, subnet: &str, cluster: &str) -> Vec<String> {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (k, v) in [
        ("abshift:cluster", cluster),
        ("abshift:role", "ingress"),
        ("Name", &format!("paas{}-ingress", cluster.to_uppercase())),
    ] {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    let mut ids: Vec<String> = c
        .ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .min_count(2)
        .max_count(2)
        .subnet_id(subnet)
        .tag_specifications(spec.build())
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

/// A's and B's ingress instances (A in one zone, B in the other), A serving a
/// classic ELB (live) and an ALB target group (pre-live), and the state bucket.
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
    let a = run_instances(&c, &ami, &subnets[0], "a").await;
    let b = run_instances(&c, &ami, &subnets[1], "b").await;

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
        .set_subnets(Some(subnets.clone()))
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
        "live_lb_name": {"value": CLASSIC},
        "prelive_lb_name": {"value": TG},
        "prelive_target_group_arn": {"value": tg_arn},
        "state_bucket": {"value": BUCKET},
    });
    std::fs::write(&tf, serde_json::to_vec_pretty(&outputs).unwrap()).unwrap();
    Some(World {
        moto,
        aws: c,
        dir,
        tf,
        a,
        b,
        tg_arn,
    })
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_abshift")
}

impl World {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("ABSHIFT_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
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

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
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
        ids
    }

    async fn classic_dns(&self) -> String {
        self.aws
            .elb
            .describe_load_balancers()
            .load_balancer_names(CLASSIC)
            .send()
            .await
            .unwrap()
            .load_balancer_descriptions()[0]
            .dns_name()
            .unwrap()
            .to_string()
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
            .map(|d| d.target().unwrap().id().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    async fn audit(&self) -> Vec<serde_json::Value> {
        let list = self
            .aws
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for o in list.contents() {
            let key = o.key().unwrap();
            if !key.contains("/audit/") {
                continue;
            }
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
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure after progress lines: exactly one `error:` line, and it is the last.
fn error_line(o: &Output) -> String {
    assert!(!o.status.success(), "should fail");
    let err = stderr(o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    assert_eq!(err.lines().last(), Some(errors[0]), "{err}");
    errors[0].to_string()
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

/// A loopback HTTP server answering 503 to the first `failures` requests and
/// 200 after (never 200 when `failures` is `usize::MAX`); it records each
/// request line. Serves until the test process ends.
struct Http {
    port: u16,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn http_server(failures: usize) -> Http {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (h, r) = (hits.clone(), requests.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            r.lock().unwrap().push(line);
            let n = h.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if n < failures {
                ("503 Service Unavailable", "warming up\n")
            } else {
                ("200 OK", "ready\n")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Http {
        port,
        hits,
        requests,
    }
}

#[tokio::test]
async fn failing_smoke_cmd_rolls_back_while_a_serves_throughout() {
    let Some(w) = world().await else { return };
    let seen = w.path("seen.json");
    let env_file = w.path("env.txt");
    // The check records what the load balancer looked like while it ran and
    // the environment it got, then fails the way a real one would.
    let check = format!(
        "'{bin}' elb status --lb live --tf-output '{tf}' -o json > '{seen}' && \
         env | grep '^ABSHIFT_' | sort > '{env_file}' && \
         echo 'GET /cart' && echo 'cart check failed: 500' >&2 && exit 7",
        bin = bin(),
        tf = w.tf(),
    );
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
        "--smoke-cmd",
        &check,
    ]));
    let error = error_line(&out);
    for needle in [
        "smoke check `",
        "failed on `abshift-live` (exit status 7)",
        "cart check failed: 500",
        "rolled back to the recorded membership",
    ] {
        assert!(error.contains(needle), "`{needle}` not in: {error}");
    }
    assert!(
        stderr(&out).contains("      | cart check failed: 500"),
        "{}",
        stderr(&out)
    );

    // During the check B was registered and healthy beside A.
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    let live = &status["load_balancers"][0];
    assert_eq!(live["serving"], serde_json::json!(["a", "b"]), "{live}");
    let mut members: Vec<String> = live["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["health"], "healthy", "{m}");
            m["id"].as_str().unwrap().to_string()
        })
        .collect();
    members.sort();
    let mut a_and_b = [w.a.clone(), w.b.clone()].concat();
    a_and_b.sort();
    assert_eq!(members, a_and_b);
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(
        env,
        format!(
            "ABSHIFT_FROM_CLUSTER=a\nABSHIFT_LB_DNS={}\nABSHIFT_LB_NAME={CLASSIC}\nABSHIFT_LB_ROLE=live\nABSHIFT_TO_CLUSTER=b\n",
            w.classic_dns().await
        )
    );

    // Rolled back: A alone, as before.
    assert_eq!(w.classic_members().await, w.a);
    let audit = w.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["result"], "rolled-back");
    let s = &audit[0]["smoke"][0];
    assert_eq!(s["kind"], "command");
    assert_eq!(s["check"], check.as_str());
    assert_eq!(s["result"], "failed");
    assert_eq!(s["exit_code"], 7);
    assert_eq!(s["output"], "GET /cart\ncart check failed: 500\n");
    let after: Vec<String> = serde_json::from_value(audit[0]["after"].clone()).unwrap();
    assert_eq!(after, w.a);
}

#[tokio::test]
async fn passing_smoke_cmd_completes_the_switch_and_the_burn_down_lists_what_is_safe() {
    let Some(w) = world().await else { return };
    // moto drains at once; the burn-down waits out the target group's delay.
    w.aws
        .elbv2
        .modify_target_group_attributes()
        .target_group_arn(&w.tg_arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let check = "test \"$ABSHIFT_LB_ROLE\" = pre-live && test \"$ABSHIFT_TO_CLUSTER\" = b && echo pre-live looks fine";
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "pre-live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--smoke-cmd",
        check,
        "--wait-burn-down",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.tg_members().await, w.b);
    let err = stderr(&out);
    assert!(err.contains("smoke check passed"), "{err}");
    assert!(
        err.contains("cross-zone load balancing is on for abshift-prelive"),
        "{err}"
    );
    assert!(err.contains("draining delay of 1s"), "{err}");
    // A still serves live: the burn-down says its instances are not safe yet.
    let text = stdout(&out);
    assert!(
        text.contains("nothing of a is safe to scale down yet"),
        "{text}"
    );
    for id in &w.a {
        assert!(
            text.contains(&format!(
                "NOT safe to scale down: {id} is still a member of live ({CLASSIC})"
            )),
            "{text}"
        );
    }
    let audit = w.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["result"], "completed");
    assert_eq!(audit[0]["smoke"][0]["result"], "passed");
    assert_eq!(audit[0]["smoke"][0]["exit_code"], 0);
    assert_eq!(audit[0]["smoke"][0]["output"], "pre-live looks fine\n");
    assert_eq!(audit[0]["burn_down"]["method"], "draining-delay");
    assert_eq!(audit[0]["burn_down"]["reached"], true);

    // Live next, with cross-zone on (moto's classic default is off): A is
    // then out of both load balancers and listed as safe, with its Name tag.
    w.aws
        .elb
        .modify_load_balancer_attributes()
        .load_balancer_name(CLASSIC)
        .load_balancer_attributes(
            aws_sdk_elasticloadbalancing::types::LoadBalancerAttributes::builder()
                .cross_zone_load_balancing(
                    aws_sdk_elasticloadbalancing::types::CrossZoneLoadBalancing::builder()
                        .enabled(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--smoke-cmd",
        "true",
        "--wait-burn-down",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.classic_members().await, w.b);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "safe to scale down in a (out of {CLASSIC} and {TG}"
        )),
        "{text}"
    );
    for id in &w.a {
        assert!(text.contains(&format!("  {id}  paasA-ingress")), "{text}");
    }
}

#[tokio::test]
async fn classic_burn_down_reads_cloudwatch_which_moto_leaves_empty() {
    let Some(w) = world().await else { return };
    // Cross-zone off (moto's default), A in us-east-1a, B in us-east-1b: the
    // zone's RequestCount is A's alone, and moto publishes no datapoint for it.
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--wait-burn-down",
        "--burn-down-timeout",
        "1s",
    ]));
    let error = error_line(&out);
    assert!(
        error.contains("switch of `abshift-live` completed, but"),
        "{error}"
    );
    assert!(error.contains("do not scale a down yet"), "{error}");
    assert!(
        error.contains(
            "CloudWatch AWS/ELB RequestCount (Sum per minute; LoadBalancerName=abshift-live; AvailabilityZone=us-east-1a)"
        ),
        "{error}"
    );
    // The switch stands.
    assert_eq!(w.classic_members().await, w.b);
    let audit = w.audit().await;
    assert_eq!(audit[0]["result"], "completed");
    assert_eq!(audit[0]["burn_down"]["reached"], false);
    assert_eq!(audit[0]["burn_down"]["method"], "metric");
}

#[tokio::test]
async fn smoke_url_retries_until_it_answers_200() {
    let Some(w) = world().await else { return };
    // Never 200: the switch of live rolls back after --smoke-timeout.
    let down = http_server(usize::MAX);
    let url = format!("http://127.0.0.1:{}/health", down.port);
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--smoke-url",
        &url,
        "--smoke-timeout",
        "1s",
        "--smoke-retry-interval",
        "100ms",
    ]));
    let error = error_line(&out);
    assert!(
        error.contains(&format!(
            "smoke check GET {url} (expecting HTTP 200) failed"
        )),
        "{error}"
    );
    assert!(
        error.contains("timed out after 1s, last answer: HTTP 503 Service Unavailable"),
        "{error}"
    );
    assert!(error.contains("rolled back"), "{error}");
    assert!(down.hits.load(Ordering::SeqCst) >= 2);
    assert_eq!(w.classic_members().await, w.a);

    // 503 twice, then 200: pre-live switches, the URL's names expanded.
    let warming = http_server(2);
    let url = format!(
        "http://127.0.0.1:{}/health?lb=$ABSHIFT_LB_NAME&to=${{ABSHIFT_TO_CLUSTER}}",
        warming.port
    );
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "pre-live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--smoke-url",
        &url,
        "--smoke-retry-interval",
        "100ms",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.tg_members().await, w.b);
    assert_eq!(warming.hits.load(Ordering::SeqCst), 3);
    assert_eq!(
        warming.requests.lock().unwrap()[0],
        format!("GET /health?lb={TG}&to=b HTTP/1.1")
    );
    let audit = w.audit().await;
    let switch = audit
        .iter()
        .find(|a| a["lb"] == TG)
        .expect("audit of the pre-live switch");
    let s = &switch["smoke"][0];
    assert_eq!(s["kind"], "url");
    assert_eq!(s["result"], "passed");
    assert_eq!(s["http_status"], 200);
    assert_eq!(s["expect_status"], 200);
    let output = s["output"].as_str().unwrap();
    assert_eq!(
        output.matches("-> HTTP 503 Service Unavailable").count(),
        2,
        "{output}"
    );
    assert!(output.contains("warming up"), "{output}");
    assert!(output.contains("attempt 3: GET"), "{output}");
    assert!(output.contains("-> HTTP 200 OK\nready\n"), "{output}");
    let failed = audit
        .iter()
        .find(|a| a["lb"] == CLASSIC)
        .expect("audit of the live switch");
    assert_eq!(failed["result"], "rolled-back");
    assert_eq!(failed["smoke"][0]["result"], "timed-out");
    assert_eq!(failed["smoke"][0]["http_status"], 503);
}

#[tokio::test]
async fn dry_run_prints_the_checks_and_changes_nothing() {
    let Some(w) = world().await else { return };
    let marker = w.path("ran");
    let check = format!("touch '{marker}'");
    let out = w.run(&with(&[
        "elb",
        "switch",
        "--lb",
        "live",
        "--tf-output",
        w.tf(),
        "--to",
        "b",
        "--smoke-cmd",
        &check,
        "--smoke-url",
        "http://$ABSHIFT_LB_DNS/health",
        "--expect-status",
        "204",
        "--wait-burn-down",
        "--dry-run",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let dns = w.classic_dns().await;
    for needle in [
        format!(
            "ABSHIFT_LB_NAME={CLASSIC} ABSHIFT_LB_DNS={dns} ABSHIFT_LB_ROLE=live ABSHIFT_FROM_CLUSTER=a ABSHIFT_TO_CLUSTER=b"
        ),
        format!("smoke check 1: sh -c 'touch '\\''{marker}'\\''' (passes on exit status 0)"),
        format!("smoke check 2: GET 'http://{dns}/health' every 2s until it answers HTTP 204"),
        "until nothing reaches".to_string(),
    ] {
        assert!(text.contains(&needle), "`{needle}` not in: {text}");
    }
    assert!(
        !std::path::Path::new(&marker).exists(),
        "a dry run ran a check"
    );
    assert_eq!(w.classic_members().await, w.a);
    assert!(w.audit().await.is_empty());
}
