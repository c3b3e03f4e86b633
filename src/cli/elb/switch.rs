//! `abshift elb switch` at the CLI edge: validated flags in, the gated switch
//! run with Ctrl-C handling, its report printed, and after a burn-down the
//! instances of A that are safe to scale down.

use super::*;

pub(super) async fn switch(args: SwitchArgs) -> anyhow::Result<ExitCode> {
    let pacing = pacing(&args.timing)?;
    let gating = gating(&args.smoke, args.keep_old)?;
    let lock = lock_options(&args.state)?;
    let selector = selector(&args.cluster_tag, &args.instance_tags)?;
    if args.to.trim().is_empty() {
        return Err(UsageError("--to must name a cluster".into()).into());
    }
    let tf = load_tf(args.lb.tf_output.as_ref())?;
    let (name, role) = lb_name(&args.lb, tf.as_ref())?;
    let bucket = bucket(&args.state, tf.as_ref());
    if bucket.is_none() && !args.dry_run {
        return Err(UsageError(format!(
            "no state bucket: pass --state-bucket, set {}, or give --tf-output with a `{}` output",
            names::ENV_STATE_BUCKET,
            names::TF_STATE_BUCKET
        ))
        .into());
    }

    let aws = Aws::load().await?;
    let lb = aws.resolve(&name).await?;
    let timing = pacing.timing(&lb, &print_event);
    let req = SwitchRequest {
        to_cluster: args.to.clone(),
        from_cluster: args.from.clone(),
        selector,
        min_healthy: args.min_healthy,
        keep_old: args.keep_old,
    };
    let plan = ops::plan_switch(&aws, &aws, &lb, &req).await?;
    if plan.healthy_now == 0 && !plan.transition.before.is_empty() {
        print_event(&Event::Warning(format!(
            "{} has no healthy member right now",
            lb.name
        )));
    }
    let from = plan
        .from_cluster
        .clone()
        .unwrap_or_else(|| "(nothing)".into());
    if plan.is_noop() {
        say!(
            "{} ({}) already has every instance of {} and nothing to remove; nothing to do",
            lb.name,
            lb.kind,
            args.to
        );
        return Ok(ExitCode::SUCCESS);
    }
    let smoke = SmokeSettings {
        env: if gating.checks.is_empty() {
            SmokeEnv::default()
        } else {
            smoke_env(&aws, &lb, role, &plan).await?
        },
        checks: gating.checks,
        timeout: gating.timeout,
        retry_every: gating.retry_every,
    };
    let burn_down = if plan.transition.deregister.is_empty() {
        if gating.burn_down.is_some() {
            print_event(&Event::Warning(format!(
                "--wait-burn-down: nothing is deregistered from {}, so there is nothing to wait for",
                lb.name
            )));
        }
        None
    } else {
        gating.burn_down
    };
    if args.dry_run {
        say!(
            "dry run: switch {} ({}) from {from} to {}; nothing will be changed",
            lb.name,
            lb.kind,
            args.to
        );
        for (i, step) in plan
            .steps_with(&timing, &smoke, burn_down.as_ref())
            .iter()
            .enumerate()
        {
            say!("  {}. {step}", i + 1);
        }
        if let Some(b) = &bucket {
            dry_run_lock_note(&aws, b, &lb).await;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let bucket = bucket.expect("checked above");
    let store = aws.bucket(&bucket);
    let gate = ShellSmoke::new()?;
    let metrics = CloudWatchTraffic::new(&aws);
    let gates = Gates {
        smoke,
        gate: &gate,
        burn_down,
        metrics: &metrics,
    };
    let (cancel, sig) = interrupts(
        "stopping any smoke check and finishing the current call, then rolling back (once the switch is complete: stopping the burn-down wait)",
    )?;
    let cx = Context {
        api: &aws,
        store: &store,
        who: state::who(),
        lock,
        timing,
        cancel,
        report: &print_event,
    };
    eprintln!(
        "==> switching {} ({}) from {from} to {}",
        lb.name, lb.kind, args.to
    );
    let result = ops::execute_switch_gated(&cx, &plan, &gates).await;
    sig.abort();
    let report = result?;
    say!("switched {} from {from} to {}", lb.name, args.to);
    if report.burn_down.as_ref().is_some_and(|b| b.reached) {
        print_released(&aws, &lb, role, tf.as_ref(), &from, &report).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the smoke checks are told about this switch.
async fn smoke_env(
    aws: &Aws,
    lb: &LbRef,
    role: Option<LbRole>,
    plan: &ops::Plan,
) -> anyhow::Result<SmokeEnv> {
    let dns = aws.dns_name(lb).await?;
    if dns.is_none() {
        print_event(&Event::Warning(format!(
            "{} belongs to no load balancer: smoke checks get an empty {}",
            lb.name,
            names::ENV_SMOKE_LB_DNS
        )));
    }
    Ok(SmokeEnv {
        lb_name: lb.name.clone(),
        lb_dns: dns.unwrap_or_default(),
        lb_role: role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        from_cluster: plan.from_cluster.clone().unwrap_or_default(),
        to_cluster: plan.to_cluster.clone(),
    })
}

/// After a burn-down that found the old members idle: which of them are out
/// of this load balancer and (when the Terraform outputs name the other one)
/// of the other as well, by id and `Name` tag.
async fn print_released(
    aws: &Aws,
    lb: &LbRef,
    role: Option<LbRole>,
    tf: Option<&TfOutputs>,
    from: &str,
    report: &SwitchReport,
) -> anyhow::Result<()> {
    let released = ops::released_instances(aws, &report.released).await?;
    // The other load balancer of the shell may still send to them.
    let mut elsewhere: Vec<(String, String)> = Vec::new();
    let mut checked = vec![lb.name.clone()];
    if let (Some(tf), Some(role)) = (tf, role) {
        for other in LbRole::ALL.into_iter().filter(|r| *r != role) {
            let Ok(name) = tf.lb(other) else { continue };
            let read = async {
                let other_lb = aws.resolve(&name).await?;
                let health = aws.health(&other_lb).await?;
                Ok::<_, ElbError>((other_lb, health))
            };
            let (other_lb, health) = match read.await {
                Ok(r) => r,
                Err(e) => {
                    print_event(&Event::Warning(format!(
                        "cannot read the {} load balancer `{name}`: {e}",
                        other.as_str()
                    )));
                    continue;
                }
            };
            let members: Vec<String> = health.into_iter().map(|m| m.id).collect();
            for (id, _) in &released {
                if members.contains(id) {
                    elsewhere.push((
                        id.clone(),
                        format!("{} ({})", other.as_str(), other_lb.name),
                    ));
                }
            }
            checked.push(other_lb.name.clone());
        }
    }
    let safe: Vec<&(String, Option<String>)> = released
        .iter()
        .filter(|(id, _)| !elsewhere.iter().any(|(e, _)| e == id))
        .collect();
    if safe.is_empty() {
        say!("nothing of {from} is safe to scale down yet");
    } else {
        say!(
            "safe to scale down in {from} (out of {}; nothing reaches them through {} any more):",
            checked.join(" and "),
            lb.name
        );
        for (id, name) in safe {
            say!(
                "  {id}  {}",
                name.as_deref()
                    .map(|n| escape_output(n).replace('\n', " "))
                    .unwrap_or_else(|| "(no Name tag)".into())
            );
        }
    }
    for (id, other) in &elsewhere {
        say!("NOT safe to scale down: {id} is still a member of {other}");
    }
    if checked.len() == 1 {
        say!(
            "  (only {} was checked: make sure no other load balancer still sends to them)",
            lb.name
        );
    }
    Ok(())
}
