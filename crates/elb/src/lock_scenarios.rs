//! Scenario tests of the load balancer lock over the fakes: renewal, two
//! operators breaking one stale lock, answers lost after the write, and
//! fencing (a holder whose lock was broken while it slept changes nothing
//! more). Every scenario asserts the never-dark invariant over every step.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::error::{ElbError, NOBODY};
use super::fake::{FakeLb, FakeStore, Op, Operator, Paused, ids};
use super::machine::{Cancel, Event};
use super::model::Health::*;
use super::ops::{self, Context};
use super::state::{self, LockOptions, Phase};

use super::scenarios::{Run, audit_results, cx, lb_with, phase, plan, timing};

#[tokio::test]
async fn a_long_switch_keeps_its_lock_fresh() {
    let lb = lb_with(vec![Initial]);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let mut c = cx(&lb, &store, &report, Cancel::never());
    // Renewed every 100 ms; B stays `initial` until the check below is done.
    c.lock.stale_after = Duration::from_millis(300);
    c.timing.health_timeout = Duration::from_secs(120);
    let key = state::lock_key(&lb.lb);
    let renewed = || {
        store
            .objects
            .lock()
            .unwrap()
            .get(&key)
            .and_then(|(b, _)| serde_json::from_slice::<state::LockRecord>(b).ok())
            .is_some_and(|l| l.renewed_at.is_some())
    };
    let check = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !renewed() {
            assert!(tokio::time::Instant::now() < deadline, "never renewed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Once older than `stale_after` by creation time, the renewed lock
        // still cannot be broken: its age counts from the last renewal.
        let opts = LockOptions {
            break_lock: true,
            stale_after: Duration::from_millis(300),
        };
        let err = state::acquire(
            &store,
            &lb.lb,
            "bob@h2",
            "switch",
            &opts,
            chrono::Utc::now(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ElbError::LockHeld { stale: false, .. }),
            "{err}"
        );
        lb.rescript("i-b1", vec![Healthy]);
        lb.rescript("i-b2", vec![Healthy]);
    };
    let (r, ()) = tokio::join!(ops::execute_switch(&c, &p), check);
    r.unwrap();
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    assert!(!store.keys().contains(&key), "lock released");
    lb.assert_never_dark();
}

#[tokio::test]
async fn renewal_notices_a_lock_taken_over() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let opts = LockOptions {
        break_lock: true,
        stale_after: Duration::from_secs(600),
    };
    let now = chrono::Utc::now();
    let alice = state::acquire(&store, &lb.lb, "alice@h1", "switch", &opts, now)
        .await
        .unwrap();
    state::renew(&store, &alice, now).await.unwrap();
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
    let bob = state::acquire(&store, &lb.lb, "bob@h2", "switch", &opts, now)
        .await
        .unwrap();
    let err = state::renew(&store, &alice, now).await.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, .. } if owner == "bob@h2"),
        "{err}"
    );
    state::verify(&store, &bob).await.unwrap();
}

#[tokio::test]
async fn two_operators_breaking_one_stale_lock_only_one_wins() {
    use super::model::StateStore;
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let opts = LockOptions {
        break_lock: true,
        stale_after: Duration::from_secs(600),
    };
    let now = chrono::Utc::now();
    let key = state::lock_key(&lb.lb);
    let _dead = state::acquire(&store, &lb.lb, "alice@h1", "switch", &opts, now)
        .await
        .unwrap();
    store.age(&key, chrono::Duration::hours(1));
    // Carol reads the stale lock; Bob takes it over before Carol writes.
    let seen = store.get(&key).await.unwrap().unwrap();
    let bob = state::acquire(&store, &lb.lb, "bob@h2", "switch", &opts, now)
        .await
        .unwrap();
    let carol_won = store
        .put_if_match(&key, b"{}".to_vec(), seen.etag.as_deref().unwrap())
        .await
        .unwrap();
    assert!(
        !carol_won,
        "the take-over is conditional on the stale version"
    );
    state::verify(&store, &bob).await.unwrap();
    // And through `acquire`: Bob's lock is fresh, so Carol is refused.
    let err = state::acquire(&store, &lb.lb, "carol@h3", "switch", &opts, now)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ElbError::LockHeld { owner, stale: false, .. } if owner == "bob@h2"),
        "{err}"
    );
}

#[tokio::test]
async fn final_record_write_is_retried_and_a_lasting_failure_is_named() {
    use std::sync::atomic::Ordering::SeqCst;
    // Two failures fit in the retries (4 tries in these tests); 100 do not.
    for (failures, written) in [(2, true), (100, false)] {
        let lb = lb_with(vec![Healthy]);
        let store = FakeStore::default();
        let report = |e: &Event| {
            if matches!(e, Event::Step(s) if s.starts_with("deregistering")) {
                store.fail_puts.store(failures, SeqCst);
            }
        };
        let p = plan(&lb).await;
        let r = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p).await;
        // Either way the load balancer is switched, and the lock is released.
        assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
        assert!(!store.keys().contains(&state::lock_key(&lb.lb)));
        if written {
            r.unwrap();
            assert_eq!(phase(&store, &lb), Phase::Completed);
        } else {
            let err = r.unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("switch completed; state record not written: "),
                "{err}"
            );
            assert_eq!(phase(&store, &lb), Phase::Started);
        }
        lb.assert_never_dark();
    }
}

// Fencing: a holder whose lock was broken while it slept stops before its next
// change, and leaves the load balancer and the state record to the new holder.

const ALICE: &str = "alice@h1";
const BOB: &str = "bob@h2";

/// An operator's context; `break_lock` as with `--break-lock`.
fn cx_of<'a>(
    who: &str,
    api: &'a Operator<'a>,
    store: &'a FakeStore,
    report: &'a (dyn Fn(&Event) + Sync),
    break_lock: bool,
) -> Context<'a, Operator<'a>, FakeStore> {
    Context {
        api,
        store,
        who: who.into(),
        lock: LockOptions {
            break_lock,
            stale_after: Duration::from_secs(1800),
        },
        timing: timing(),
        cancel: Cancel::never(),
        report,
    }
}

fn lock_opts(break_lock: bool) -> LockOptions {
    LockOptions {
        break_lock,
        stale_after: Duration::from_secs(600),
    }
}

/// Bob finds Alice's lock an hour old and takes it over with `--break-lock`.
async fn bob_breaks_the_lock(store: &FakeStore, lb: &FakeLb) -> state::Lock {
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
    state::acquire(
        store,
        &lb.lb,
        BOB,
        "rollback",
        &lock_opts(true),
        chrono::Utc::now(),
    )
    .await
    .unwrap()
}

fn no_membership_change_since(lb: &FakeLb, since: usize) {
    let log = lb.log();
    assert!(
        log[since..]
            .iter()
            .all(|l| !l.starts_with("register") && !l.starts_with("deregister")),
        "changed after resuming: {:?}",
        &log[since..]
    );
}

/// Alice's switch, held (as if her laptop slept) right after the health read
/// that decides her deregistration of A: the report arms the pause when B is
/// seen healthy, so the held read is the fresh one just before deregistering.
/// The pause reaches the test through `armed`.
fn pause_before_deregistering<'a>(
    lb: &'a FakeLb,
    armed: &'a Mutex<Option<oneshot::Sender<Paused>>>,
) -> impl Fn(&Event) + Sync + 'a {
    move |e: &Event| {
        if matches!(
            e,
            Event::Health {
                healthy: 2,
                need: 2,
                ..
            }
        ) && let Some(tx) = armed.lock().unwrap().take()
        {
            let _ = tx.send(lb.pause_after_next(Op::Health));
        }
    }
}

#[tokio::test]
async fn a_switch_whose_lock_was_broken_stops_before_its_next_change() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let alice = lb.operator(ALICE, &store);
    let bob = lb.operator(BOB, &store);
    let p = plan(&lb).await;
    let (tx, handed) = oneshot::channel();
    let armed = Mutex::new(Some(tx));
    let alice_report = pause_before_deregistering(&lb, &armed);
    let alice_cx = cx_of(ALICE, &alice, &store, &alice_report, false);
    let bob_report = |_: &Event| {};
    let bob_cx = cx_of(BOB, &bob, &store, &bob_report, true);

    let bob_side = async {
        let mut paused = handed.await.unwrap();
        paused.reached().await;
        // Alice registered B, saw A and B healthy, and sleeps before
        // deregistering A; her lock is not renewed meanwhile.
        assert_eq!(alice.changes(), vec!["register i-b1,i-b2"]);
        assert_eq!(lb.members(), ids(&["i-a1", "i-a2", "i-b1", "i-b2"]));
        store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
        // Bob breaks the stale lock and rolls back to completion: B goes.
        ops::execute_rollback(&bob_cx, &lb.lb).await.unwrap();
        assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
        let done = lb.log().len();
        paused.resume();
        done
    };
    let (alice_result, bob_done) = tokio::join!(ops::execute_switch(&alice_cx, &p), bob_side);

    // Alice woke up with a health read saying A and B were healthy: without
    // the fence she would now deregister A and leave `live` with no member.
    let err = alice_result.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, generation: None, .. } if owner == NOBODY),
        "{err}"
    );
    let text = err.to_string();
    for needed in ["`live`", "nobody holds it now", "abshift elb status"] {
        assert!(text.contains(needed), "`{needed}` not in: {text}");
    }
    no_membership_change_since(&lb, bob_done);
    assert_eq!(alice.changes(), vec!["register i-b1,i-b2"]);
    assert_eq!(bob.changes(), vec!["deregister i-b1,i-b2"]);
    // Bob's rollback stands: membership, record, and the lock he released.
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    assert_eq!(phase(&store, &lb), Phase::RolledBack);
    let mut results = audit_results(&store);
    results.sort();
    assert_eq!(results, vec!["completed", "lock-lost"]);
    assert!(!store.keys().contains(&state::lock_key(&lb.lb)));
    lb.assert_never_dark();
}

#[tokio::test]
async fn a_resumed_holder_names_who_took_its_lock_and_leaves_the_record_alone() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let alice = lb.operator(ALICE, &store);
    let p = plan(&lb).await;
    let (tx, handed) = oneshot::channel();
    let armed = Mutex::new(Some(tx));
    let alice_report = pause_before_deregistering(&lb, &armed);
    let alice_cx = cx_of(ALICE, &alice, &store, &alice_report, false);

    let bob_side = async {
        let mut paused = handed.await.unwrap();
        paused.reached().await;
        let bob = bob_breaks_the_lock(&store, &lb).await;
        let done = lb.log().len();
        paused.resume();
        (bob, done)
    };
    let (alice_result, (bob, bob_done)) =
        tokio::join!(ops::execute_switch(&alice_cx, &p), bob_side);

    let err = alice_result.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, generation: Some(2), .. } if owner == BOB),
        "{err}"
    );
    let text = err.to_string();
    for needed in [
        "`live`",
        "bob@h2 holds it now (lock generation 2)",
        "did not roll back",
        "agree with bob@h2",
    ] {
        assert!(text.contains(needed), "`{needed}` not in: {text}");
    }
    no_membership_change_since(&lb, bob_done);
    assert_eq!(alice.changes(), vec!["register i-b1,i-b2"]);
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2", "i-b1", "i-b2"]));
    // The record still says `started` for Bob to roll back; Alice only
    // appended what she did to the audit trail.
    assert_eq!(phase(&store, &lb), Phase::Started);
    assert_eq!(audit_results(&store), vec!["lock-lost"]);
    assert_eq!(bob.generation(), 2);
    state::verify(&store, &bob).await.unwrap();
    state::release(&store, bob).await.unwrap();
    lb.assert_never_dark();
}

#[tokio::test]
async fn a_lock_lost_after_the_last_change_leaves_the_record_to_the_new_holder() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let alice = lb.operator(ALICE, &store);
    let p = plan(&lb).await;
    // Alice sleeps as soon as A's deregistration is through.
    let mut paused = lb.pause_after_next(Op::Deregister);
    let run = Run::new();
    let report = |e: &Event| run.events.lock().unwrap().push(e.clone());
    let alice_cx = cx_of(ALICE, &alice, &store, &report, false);
    let bob_side = async {
        paused.reached().await;
        let bob = bob_breaks_the_lock(&store, &lb).await;
        paused.resume();
        bob
    };
    let (alice_result, bob) = tokio::join!(ops::execute_switch(&alice_cx, &p), bob_side);
    let err = alice_result.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, .. } if owner == BOB),
        "{err}"
    );
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    // Not overwritten with `completed` under Bob's lock; said, not hidden.
    assert_eq!(phase(&store, &lb), Phase::Started);
    assert_eq!(audit_results(&store), vec!["completed"]);
    assert!(
        run.events().iter().any(|e| matches!(
            e,
            Event::Warning(w) if w.starts_with("switch completed, but the lock was lost")
        )),
        "{:?}",
        run.events()
    );
    state::release(&store, bob).await.unwrap();
    lb.assert_never_dark();
}

#[tokio::test]
async fn a_lock_taken_although_the_answer_was_lost_is_ours() {
    use std::sync::atomic::Ordering::SeqCst;
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let now = chrono::Utc::now();
    // S3 creates the lock, but the answer never arrives.
    store.lost_create_answers.store(1, SeqCst);
    let lock = state::acquire(&store, &lb.lb, ALICE, "switch", &lock_opts(false), now)
        .await
        .unwrap();
    assert_eq!(store.lost_create_answers.load(SeqCst), 0, "answer lost");
    assert_eq!(lock.generation(), 1);
    state::renew(&store, &lock, now).await.unwrap();
    // Others are refused in her name, not she in her own.
    let err = state::acquire(&store, &lb.lb, BOB, "switch", &lock_opts(false), now)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ElbError::LockHeld { owner, .. } if owner == ALICE),
        "{err}"
    );
    state::release(&store, lock).await.unwrap();
    assert!(store.keys().is_empty());
}

#[tokio::test]
async fn a_take_over_whose_answer_was_lost_is_ours_with_the_next_generation() {
    use std::sync::atomic::Ordering::SeqCst;
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let now = chrono::Utc::now();
    let alice = state::acquire(&store, &lb.lb, ALICE, "switch", &lock_opts(true), now)
        .await
        .unwrap();
    assert_eq!(alice.generation(), 1);
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
    // S3 replaces Alice's stale lock with Bob's, but the answer never arrives.
    store.lost_replace_answers.store(1, SeqCst);
    let bob = state::acquire(&store, &lb.lb, BOB, "rollback", &lock_opts(true), now)
        .await
        .unwrap();
    assert_eq!(store.lost_replace_answers.load(SeqCst), 0, "answer lost");
    assert_eq!(bob.generation(), 2);
    // Renewals keep the generation; Alice's fence now names Bob.
    state::renew(&store, &bob, now).await.unwrap();
    let held = state::read_lock(&store, &lb.lb).await.unwrap().unwrap();
    assert_eq!((held.owner.as_str(), held.generation), (BOB, 2));
    let err = state::verify(&store, &alice).await.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, generation: Some(2), .. } if owner == BOB),
        "{err}"
    );
    state::release(&store, bob).await.unwrap();
}

#[tokio::test]
async fn renewal_notices_a_lock_taken_over_and_released_since() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let now = chrono::Utc::now();
    let alice = state::acquire(&store, &lb.lb, ALICE, "switch", &lock_opts(true), now)
        .await
        .unwrap();
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
    let bob = state::acquire(&store, &lb.lb, BOB, "rollback", &lock_opts(true), now)
        .await
        .unwrap();
    state::release(&store, bob).await.unwrap();
    let err = state::renew(&store, &alice, now).await.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, .. } if owner == NOBODY),
        "{err}"
    );
    assert!(err.to_string().contains("nobody holds it now"), "{err}");
    // The renewal wrote nothing: the lock stays free.
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}

#[tokio::test]
async fn keep_alive_warns_once_the_lock_is_taken_over() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let now = chrono::Utc::now();
    let alice = state::acquire(&store, &lb.lb, ALICE, "switch", &lock_opts(true), now)
        .await
        .unwrap();
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
    let bob = state::acquire(&store, &lb.lb, BOB, "rollback", &lock_opts(true), now)
        .await
        .unwrap();
    let warnings = Mutex::new(Vec::new());
    let noticed = tokio::sync::Notify::new();
    let warn = |w: String| {
        warnings.lock().unwrap().push(w);
        noticed.notify_one();
    };
    // The work ends once the loss was reported.
    let out = state::keep_alive(&store, &alice, Duration::from_millis(1), &warn, async {
        noticed.notified().await;
        "done"
    })
    .await;
    assert_eq!(out, "done");
    let warnings = warnings.into_inner().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for needed in ["could not renew the lock of live", "bob@h2 holds it now"] {
        assert!(
            warnings[0].contains(needed),
            "`{needed}` not in {warnings:?}"
        );
    }
    // Bob's lock was not touched by Alice's renewals.
    state::verify(&store, &bob).await.unwrap();
    state::release(&store, bob).await.unwrap();
}
