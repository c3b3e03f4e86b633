//! The smoke gate of a switch: checks run once B's members are healthy and before
//! any of A's is deregistered, so a B that passes health checks but serves the wrong
//! thing is rolled back while A still serves ([`SmokeGate`]; [`ShellSmoke`] runs them).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::names::{
    ENV_SMOKE_FROM_CLUSTER, ENV_SMOKE_LB_DNS, ENV_SMOKE_LB_NAME, ENV_SMOKE_LB_ROLE,
    ENV_SMOKE_TO_CLUSTER,
};

/// Bytes of a check's output (stdout and stderr together) kept for the audit
/// record: the last ones, where failures say what went wrong.
pub const OUTPUT_TAIL: usize = 4096;

/// How long one HTTP request of a `--smoke-url` check may take before it
/// counts as a failed attempt (the check itself runs until its timeout).
pub const URL_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// After a command's shell exited, how long the rest of its output may take
/// to arrive (a process that left the command's process group can hold the
/// pipe open; it is not waited for beyond this).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Body bytes of each HTTP answer kept in a URL check's output.
const BODY_PREVIEW: usize = 512;

/// One check, as the operator gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmokeCheck {
    /// Run through `sh -c`; passes on exit status 0.
    Command(String),
    /// GET, again every `retry_every`, until it answers `expect_status`.
    Url { url: String, expect_status: u16 },
}

impl SmokeCheck {
    pub fn kind(&self) -> &'static str {
        match self {
            SmokeCheck::Command(_) => "command",
            SmokeCheck::Url { .. } => "url",
        }
    }

    /// The command or URL as given (the URL before `$NAME` expansion).
    pub fn text(&self) -> &str {
        match self {
            SmokeCheck::Command(c) => c,
            SmokeCheck::Url { url, .. } => url,
        }
    }

    /// How the check is named in messages.
    pub fn describe(&self) -> String {
        match self {
            SmokeCheck::Command(c) => format!("`{}`", one_line(c)),
            SmokeCheck::Url { url, expect_status } => {
                format!("GET {} (expecting HTTP {expect_status})", one_line(url))
            }
        }
    }
}

/// What every check is told about the switch: the environment of a command,
/// the `$NAME`s of a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmokeEnv {
    pub lb_name: String,
    pub lb_dns: String,
    pub lb_role: String,
    pub from_cluster: String,
    pub to_cluster: String,
}

impl SmokeEnv {
    pub fn vars(&self) -> [(&'static str, &str); 5] {
        [
            (ENV_SMOKE_LB_NAME, &self.lb_name),
            (ENV_SMOKE_LB_DNS, &self.lb_dns),
            (ENV_SMOKE_LB_ROLE, &self.lb_role),
            (ENV_SMOKE_FROM_CLUSTER, &self.from_cluster),
            (ENV_SMOKE_TO_CLUSTER, &self.to_cluster),
        ]
    }

    /// Replaces `$NAME` and `${NAME}` for the five names of [`SmokeEnv::vars`]
    /// (no shell runs for a URL); anything else is left as written.
    pub fn expand(&self, s: &str) -> String {
        let vars = self.vars();
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, used) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            match lookup(name).filter(|_| used > 0) {
                Some(value) => {
                    out.push_str(value);
                    rest = &after[used..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// The checks of one switch and their pacing.
#[derive(Debug, Clone, Default)]
pub struct SmokeSettings {
    /// Run in this order; the first that fails stops the gate.
    pub checks: Vec<SmokeCheck>,
    /// How long each check may run before it is stopped (a command's whole
    /// process group killed) and counted as failed.
    pub timeout: Duration,
    /// Pause between two attempts of a URL check.
    pub retry_every: Duration,
    pub env: SmokeEnv,
}

/// How a check ended by itself (a timeout or Ctrl-C ends it from outside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckEnd {
    pub passed: bool,
    /// `exit status 3`, `killed by signal 9`, `HTTP 200`, `could not start: …`.
    pub status: String,
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
}

/// What a check printed, bounded: the last [`OUTPUT_TAIL`] bytes, a count of
/// all of them, and the last status it saw (for a check stopped from outside).
#[derive(Debug, Default)]
pub struct SmokeOutput {
    tail: Mutex<Tail>,
    last: Mutex<Option<(String, Option<u16>)>>,
}

#[derive(Debug, Default)]
struct Tail {
    buf: VecDeque<u8>,
    total: u64,
}

impl SmokeOutput {
    pub fn push(&self, bytes: &[u8]) {
        let mut t = self.tail.lock().unwrap();
        t.total += bytes.len() as u64;
        let keep = &bytes[bytes.len().saturating_sub(OUTPUT_TAIL)..];
        t.buf.extend(keep);
        let over = t.buf.len().saturating_sub(OUTPUT_TAIL);
        t.buf.drain(..over);
    }

    pub fn line(&self, s: &str) {
        self.push(s.as_bytes());
        self.push(b"\n");
    }

    /// Remembers what the check saw last, e.g. `HTTP 503`.
    pub fn saw(&self, status: String, http: Option<u16>) {
        *self.last.lock().unwrap() = Some((status, http));
    }

    pub(crate) fn last_seen(&self) -> Option<(String, Option<u16>)> {
        self.last.lock().unwrap().clone()
    }

    /// The kept tail, with control characters escaped, the total byte count,
    /// and whether the start was cut off.
    pub(crate) fn snapshot(&self) -> (String, u64, bool) {
        let t = self.tail.lock().unwrap();
        let bytes: Vec<u8> = t.buf.iter().copied().collect();
        let text = escape_output(&String::from_utf8_lossy(&bytes));
        (text, t.total, t.total > bytes.len() as u64)
    }
}

/// Runs smoke checks. Implemented by [`ShellSmoke`] and by scripted fakes.
#[allow(async_fn_in_trait)]
pub trait SmokeGate {
    /// Runs `check` to its end and says whether it passed; what it prints goes
    /// to `out`. The caller enforces the timeout and Ctrl-C by dropping the
    /// future, and dropping it must stop everything the check started.
    async fn run(
        &self,
        check: &SmokeCheck,
        env: &SmokeEnv,
        retry_every: Duration,
        out: &SmokeOutput,
    ) -> CheckEnd;
}

/// The gate of a switch without checks: never asked to run one.
pub struct NoSmoke;

impl SmokeGate for NoSmoke {
    async fn run(&self, _: &SmokeCheck, _: &SmokeEnv, _: Duration, _: &SmokeOutput) -> CheckEnd {
        CheckEnd {
            passed: true,
            status: "no check".into(),
            exit_code: None,
            http_status: None,
        }
    }
}

/// One check's entry in the audit record of its switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeRecord {
    /// The command, or the URL as given.
    pub check: String,
    /// `command` or `url`.
    pub kind: String,
    /// The URL after `$NAME` expansion (URL checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// `passed`, `failed`, `timed-out` or `interrupted`.
    pub result: String,
    /// In words: `exit status 0`, `killed by signal 9`, `HTTP 503`,
    /// `timed out after 60s; its process group was killed`.
    pub status: String,
    /// The command's exit code; null when it did not exit by itself.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The last HTTP status a URL check got.
    #[serde(default)]
    pub http_status: Option<u16>,
    pub duration_ms: u64,
    /// The last [`OUTPUT_TAIL`] bytes of stdout and stderr together, control
    /// characters escaped (`\u{1b}`); newlines and tabs kept.
    pub output: String,
    /// Bytes the check printed in all.
    pub output_bytes: u64,
    /// Whether `output` lost its start to the bound.
    pub output_truncated: bool,
}

impl SmokeRecord {
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }

    /// The last lines of the output on one line, for an error message.
    pub fn tail_line(&self) -> String {
        let lines: Vec<&str> = self
            .output
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return "(no output)".into();
        }
        let last = lines[lines.len().saturating_sub(3)..].join(" | ");
        let last = escape_output(&last).replace('\t', " ");
        const MAX: usize = 300;
        if last.chars().count() > MAX {
            let skip = last.chars().count() - MAX;
            format!("…{}", last.chars().skip(skip).collect::<String>())
        } else {
            last
        }
    }

    pub(crate) fn new(
        check: &SmokeCheck,
        env: &SmokeEnv,
        result: &str,
        end: CheckEnd,
        duration: Duration,
        out: &SmokeOutput,
    ) -> SmokeRecord {
        let (output, output_bytes, output_truncated) = out.snapshot();
        let (url, expect_status) = match check {
            SmokeCheck::Command(_) => (None, None),
            SmokeCheck::Url { url, expect_status } => (Some(env.expand(url)), Some(*expect_status)),
        };
        SmokeRecord {
            check: check.text().to_string(),
            kind: check.kind().into(),
            url,
            expect_status,
            result: result.into(),
            status: end.status,
            exit_code: end.exit_code,
            http_status: end.http_status,
            duration_ms: duration.as_millis().min(u64::MAX as u128) as u64,
            output,
            output_bytes,
            output_truncated,
        }
    }
}

/// Characters that act on a terminal instead of showing (C0 and C1 controls,
/// DEL, and the formatting characters that reorder or hide text), as visible
/// `\u{..}` escapes; newlines and tabs stay. The same rule as the rest of
/// abshift applies to foreign text.
pub fn escape_output(s: &str) -> String {
    let acts = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if acts(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn one_line(s: &str) -> String {
    escape_output(s).replace('\n', "\\n").replace('\t', " ")
}

/// The real gate: commands through `sh -c` in a process group of their own
/// (killed whole when the check ends or is stopped), URLs with `reqwest`.
pub struct ShellSmoke {
    http: reqwest::Client,
}

impl ShellSmoke {
    pub fn new() -> Result<ShellSmoke, crate::error::ElbError> {
        let http = reqwest::Client::builder()
            // The status the URL answers is what is checked: a redirect is an answer.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(URL_REQUEST_TIMEOUT)
            .build()
            .map_err(|e| crate::error::ElbError::Input(format!("cannot set up HTTP: {e}")))?;
        Ok(ShellSmoke { http })
    }
}

impl SmokeGate for ShellSmoke {
    async fn run(
        &self,
        check: &SmokeCheck,
        env: &SmokeEnv,
        retry_every: Duration,
        out: &SmokeOutput,
    ) -> CheckEnd {
        match check {
            SmokeCheck::Command(script) => run_command(script, env, out).await,
            SmokeCheck::Url { url, expect_status } => {
                self.probe(&env.expand(url), *expect_status, retry_every, out)
                    .await
            }
        }
    }
}

/// A process group to kill with SIGKILL when dropped (a check stopped by its
/// timeout or by Ctrl-C), unless disarmed after its shell was reaped.
struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: kill(2) takes plain integers and touches no memory; a
            // negative pid addresses the process group the check runs in.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

fn not_started(why: impl std::fmt::Display) -> CheckEnd {
    CheckEnd {
        passed: false,
        status: format!("could not start: {why}"),
        exit_code: None,
        http_status: None,
    }
}

async fn run_command(script: &str, env: &SmokeEnv, out: &SmokeOutput) -> CheckEnd {
    use std::os::unix::process::ExitStatusExt;
    // One pipe for stdout and stderr, so the output keeps its order.
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return not_started(format!("no pipe: {e}")),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return not_started(format!("no pipe: {e}")),
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .envs(env.vars())
        .stdin(Stdio::null())
        .stdout(writer2)
        .stderr(writer)
        // Its own process group: Ctrl-C on the terminal reaches abshift only
        // (which then stops the check), and the whole group can be killed.
        .process_group(0)
        .kill_on_drop(true);
    let spawned = cmd.spawn();
    // The parent's copies of the pipe's write end: without dropping them the
    // output would never end.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return not_started(e),
    };
    // Declared after `child`, so dropped before it: the group goes while its
    // leader is still unreaped, and its id cannot have been reused.
    let mut group = ProcessGroup(child.id().and_then(|p| i32::try_from(p).ok()));
    let mut rx = match tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()) {
        Ok(rx) => rx,
        Err(e) => return not_started(format!("cannot read its output: {e}")),
    };
    let mut buf = vec![0u8; 8192];
    let mut exited = None;
    let drain = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    tokio::pin!(drain);
    loop {
        tokio::select! {
            r = rx.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => out.push(&buf[..n]),
            },
            s = child.wait(), if exited.is_none() => {
                // The shell is done: what it left running in its group goes
                // too, and the output still in the pipe is read to its end.
                group.kill();
                exited = Some(s);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = &mut drain, if exited.is_some() => break,
        }
    }
    let status = match exited {
        Some(s) => s,
        None => child.wait().await,
    };
    group.kill();
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => CheckEnd {
                passed: code == 0,
                status: format!("exit status {code}"),
                exit_code: Some(code),
                http_status: None,
            },
            (None, Some(sig)) => CheckEnd {
                passed: false,
                status: format!("killed by signal {sig}"),
                exit_code: None,
                http_status: None,
            },
            (None, None) => CheckEnd {
                passed: false,
                status: format!("ended with {s}"),
                exit_code: None,
                http_status: None,
            },
        },
        Err(e) => CheckEnd {
            passed: false,
            status: format!("could not be waited for: {e}"),
            exit_code: None,
            http_status: None,
        },
    }
}

impl ShellSmoke {
    /// GET until the answer is `expect`; runs until stopped from outside
    /// otherwise. Every attempt and the start of every answer's body are
    /// written to `out`.
    async fn probe(
        &self,
        url: &str,
        expect: u16,
        retry_every: Duration,
        out: &SmokeOutput,
    ) -> CheckEnd {
        let mut attempt = 1u32;
        loop {
            match self.http.get(url).send().await {
                Ok(mut resp) => {
                    let status = resp.status();
                    let code = status.as_u16();
                    let words = format!(
                        "HTTP {code}{}",
                        status
                            .canonical_reason()
                            .map(|r| format!(" {r}"))
                            .unwrap_or_default()
                    );
                    out.line(&format!("attempt {attempt}: GET {url} -> {words}"));
                    let mut body = Vec::new();
                    while body.len() < BODY_PREVIEW {
                        match resp.chunk().await {
                            Ok(Some(c)) => body.extend_from_slice(&c),
                            _ => break,
                        }
                    }
                    if !body.is_empty() {
                        body.truncate(BODY_PREVIEW);
                        out.push(&body);
                        if !body.ends_with(b"\n") {
                            out.push(b"\n");
                        }
                    }
                    out.saw(words.clone(), Some(code));
                    if code == expect {
                        return CheckEnd {
                            passed: true,
                            status: words,
                            exit_code: None,
                            http_status: Some(code),
                        };
                    }
                }
                Err(e) => {
                    let why = error_chain(&e);
                    out.line(&format!("attempt {attempt}: GET {url} -> {why}"));
                    out.saw(why, None);
                }
            }
            tokio::time::sleep(retry_every).await;
            attempt += 1;
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> SmokeEnv {
        SmokeEnv {
            lb_name: "live".into(),
            lb_dns: "live-1.elb.example".into(),
            lb_role: "live".into(),
            from_cluster: "a".into(),
            to_cluster: "b".into(),
        }
    }

    #[test]
    fn urls_expand_only_the_five_names() {
        let e = env();
        assert_eq!(
            e.expand("http://$ABSHIFT_LB_DNS/health?to=${ABSHIFT_TO_CLUSTER}&x=$HOME&y=${NOPE}$"),
            "http://live-1.elb.example/health?to=b&x=$HOME&y=${NOPE}$"
        );
        assert_eq!(e.expand("${ABSHIFT_LB_NAME"), "${ABSHIFT_LB_NAME");
        assert_eq!(e.expand("$ABSHIFT_LB_NAMEX"), "$ABSHIFT_LB_NAMEX");
        assert_eq!(e.expand("plain"), "plain");
    }

    #[test]
    fn output_is_bounded_to_its_tail_and_escaped() {
        let out = SmokeOutput::default();
        out.push(&vec![b'x'; 10_000]);
        out.line("last \u{1b}[31mred\u{1b}[0m\tline");
        let (text, total, cut) = out.snapshot();
        assert!(cut);
        assert_eq!(total, 10_000 + 23);
        assert!(text.len() <= OUTPUT_TAIL + 40, "{}", text.len());
        assert!(
            text.ends_with("last \\u{1b}[31mred\\u{1b}[0m\tline\n"),
            "{text}"
        );
        let small = SmokeOutput::default();
        small.line("ok");
        assert_eq!(small.snapshot(), ("ok\n".into(), 3, false));
    }

    async fn run(script: &str) -> (CheckEnd, String) {
        let gate = ShellSmoke::new().unwrap();
        let out = SmokeOutput::default();
        let end = gate
            .run(
                &SmokeCheck::Command(script.into()),
                &env(),
                Duration::from_millis(10),
                &out,
            )
            .await;
        (end, out.snapshot().0)
    }

    #[tokio::test]
    async fn commands_get_the_environment_and_their_exit_status_counts() {
        let (end, text) =
            run("echo \"$ABSHIFT_LB_NAME $ABSHIFT_LB_DNS $ABSHIFT_LB_ROLE $ABSHIFT_FROM_CLUSTER $ABSHIFT_TO_CLUSTER\"; echo oops >&2; exit 3").await;
        assert!(!end.passed);
        assert_eq!(end.exit_code, Some(3));
        assert_eq!(end.status, "exit status 3");
        assert_eq!(text, "live live-1.elb.example live a b\noops\n");
        let (end, _) = run("true").await;
        assert!(end.passed, "{end:?}");
    }

    #[tokio::test]
    async fn background_leftovers_do_not_hold_a_finished_command() {
        // The shell exits at once; its background sleep holds the pipe until
        // the group is killed.
        let started = std::time::Instant::now();
        let (end, text) = run("sleep 30 & echo done").await;
        assert!(end.passed, "{end:?}");
        assert_eq!(text, "done\n");
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[tokio::test]
    async fn a_dropped_command_has_its_whole_process_group_killed() {
        let dir = std::env::temp_dir().join(format!("abshift-smoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        let script = format!(
            "sleep 300 & echo $! > {p}; echo $$ >> {p}; echo started; wait",
            p = pids.display()
        );
        let gate = ShellSmoke::new().unwrap();
        let out = SmokeOutput::default();
        let check = SmokeCheck::Command(script);
        let e = env();
        let running = gate.run(&check, &e, Duration::from_millis(10), &out);
        let seen = async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while !out.snapshot().0.contains("started") {
                assert!(tokio::time::Instant::now() < deadline, "never started");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            end = running => panic!("should still run: {end:?}"),
            () = seen => {}
        }
        // `running` is dropped here, as the machine drops it at a timeout.
        let pids: Vec<i32> = std::fs::read_to_string(&pids)
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        for pid in pids {
            // Gone, or a zombie waiting for its reaper: not running any more.
            loop {
                let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| s.rsplit(')').next().map(|r| r.trim().to_string()));
                if state.as_deref().is_none_or(|s| s.starts_with('Z')) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{pid} still runs");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_error_tail_is_one_short_line() {
        let out = SmokeOutput::default();
        out.line("first");
        out.line("");
        out.line("second\u{7}");
        out.line("third");
        out.line("fourth");
        let r = SmokeRecord::new(
            &SmokeCheck::Command("x".into()),
            &env(),
            "failed",
            CheckEnd {
                passed: false,
                status: "exit status 1".into(),
                exit_code: Some(1),
                http_status: None,
            },
            Duration::from_millis(5),
            &out,
        );
        assert_eq!(r.tail_line(), "second\\u{7} | third | fourth");
        assert!(!r.tail_line().contains('\n'));
    }
}
