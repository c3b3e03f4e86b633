//! Shell completions and manual pages come from the command tree: each shell's
//! script names every command, bash parses its script and completes a real
//! command line with it, and every command gets a manual page groff renders.

use std::process::{Command, Stdio};

fn abshift(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_abshift"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("abshift runs")
}

fn script(shell: &str) -> String {
    let out = abshift(&["completions", shell]);
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let s = script(shell);
        for word in [
            "migrate",
            "cutover",
            "elb",
            "sync",
            "suspend-cronjobs",
            "skip-unavailable",
        ] {
            assert!(s.contains(word), "{shell} script lacks {word}");
        }
    }
    let bad = abshift(&["completions", "powershell-7"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn bash_completes_a_real_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abshift.bash");
    std::fs::write(&path, script("bash")).unwrap();
    // Load the script and ask it what follows `abshift cutover `.
    let probe = format!(
        "source {}\nCOMP_WORDS=(abshift cutover '')\nCOMP_CWORD=2\nCOMP_LINE='abshift cutover '\nCOMP_POINT=${{#COMP_LINE}}\n_abshift abshift '' cutover\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display()
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(
        words.lines().any(|w| w == "suspend") && words.lines().any(|w| w == "resume"),
        "{words}"
    );
}

#[test]
fn every_command_gets_a_manual_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = abshift(&["man", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "abshift.1",
        "abshift-migrate-plan.1",
        "abshift-migrate-apply.1",
        "abshift-cutover-suspend.1",
        "abshift-elb-switch.1",
        "abshift-sync-consul.1",
        "abshift-completions.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a manual page");
    }
    let apply = std::fs::read_to_string(dir.path().join("abshift-migrate-apply.1")).unwrap();
    assert!(apply.contains("suspend\\-cronjobs"), "flags are documented");
    // groff renders it without complaint where groff is installed.
    if let Ok(o) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(dir.path().join("abshift-migrate-plan.1"))
        .output()
    {
        assert!(o.status.success());
        // Bold and underline are overstrikes ("x\u{8}x"): keep the last of each.
        let mut shown = String::new();
        for c in String::from_utf8_lossy(&o.stdout).chars() {
            if c == '\u{8}' {
                shown.pop();
            } else {
                shown.push(c);
            }
        }
        assert!(shown.contains("--skip-unavailable"), "{shown}");
    }
}
