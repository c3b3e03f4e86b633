//! `abshift completions SHELL` and `abshift man DIR`: shell completions and
//! manual pages generated from the command tree itself (clap_complete,
//! clap_mangen), so they can never disagree with the flags the binary takes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Shell};

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "abshift", &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "abshift", &mut out)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "abshift", &mut out)
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one manual page per command (`abshift.1`, `abshift-migrate-plan.1`,
/// …) into `dir`, creating it; prints what it wrote.
pub fn man(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    let mut stack = vec![(Cli::command(), "abshift".to_string())];
    while let Some((cmd, name)) = stack.pop() {
        let cmd = cmd.name(name.clone());
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((sub.clone(), format!("{name}-{}", sub.get_name())));
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .with_context(|| format!("rendering the manual page of {name}"))?;
        let path = dir.join(format!("{name}.1"));
        abshift_kube::files::write_atomically(&path, &String::from_utf8_lossy(&page))?;
        written += 1;
    }
    eprintln!("{written} manual pages written to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
