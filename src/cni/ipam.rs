//! IPAM delegated to another plugin (host-local): executed as a runtime executes a plugin
//! (SPEC.md "Delegated plugins"): found by its `type` in `CNI_PATH`, with this invocation's
//! `CNI_*` environment (its `CNI_COMMAND` set to the delegated command) and the very network
//! configuration bytes this plugin received on stdin.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use super::config::{Command, Invocation, NetConf};
use super::spec::{CniError, CniResult, ErrorCode};

/// The executable of `name` in the first directory of `path` that has it.
///
/// Errors: [`ErrorCode::IpamFailure`] naming the directories searched.
pub fn find_plugin(name: &str, path: &[PathBuf]) -> Result<PathBuf, CniError> {
    path.iter()
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CniError::new(
                ErrorCode::IpamFailure,
                format!(
                    "ipam.type {name}: no such plugin in CNI_PATH {}",
                    std::env::join_paths(path)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            )
        })
}

fn command_name(c: Command) -> &'static str {
    match c {
        Command::Add => "ADD",
        Command::Del => "DEL",
        Command::Check => "CHECK",
        Command::Version => "VERSION",
    }
}

/// Runs the IPAM plugin of `conf` with `command`; the IPAM result for ADD, `None` otherwise.
///
/// Errors: [`ErrorCode::IpamFailure`] with the plugin's own code and message (host-local says
/// `no IP addresses available in range set` when the range is exhausted).
pub fn delegate(
    command: Command,
    inv: &Invocation,
    conf: &NetConf,
) -> Result<Option<CniResult>, CniError> {
    let exe = find_plugin(&conf.ipam_type, &inv.path)?;
    let fail = |what: String| {
        CniError::new(
            ErrorCode::IpamFailure,
            format!("IPAM {} {}: {what}", conf.ipam_type, command_name(command)),
        )
    };
    let out = run_plugin(&exe, command, inv, &conf.raw).map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        return Err(match CniError::from_json(&text) {
            Some(e) => {
                fail(format!("{} (code {})", e.msg, e.code.number())).with_details(e.details)
            }
            None => fail(format!(
                "exited {} ({})",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        });
    }
    if command != Command::Add {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .map_err(|e| fail(format!("its result does not decode: {e}")))
}

fn run_plugin(
    exe: &Path,
    command: Command,
    inv: &Invocation,
    stdin: &[u8],
) -> std::io::Result<std::process::Output> {
    let path = std::env::join_paths(&inv.path).unwrap_or_default();
    let mut child = Process::new(exe)
        .env("CNI_COMMAND", command_name(command))
        .env("CNI_CONTAINERID", &inv.container_id)
        .env(
            "CNI_NETNS",
            inv.netns
                .as_deref()
                .map(Path::as_os_str)
                .unwrap_or_default(),
        )
        .env("CNI_IFNAME", &inv.ifname)
        .env("CNI_ARGS", &inv.args)
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut s) = child.stdin.take() {
        s.write_all(stdin)?;
    }
    child.wait_with_output()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_found_in_the_first_directory_that_has_it() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join("host-local"), "").unwrap();
        let path = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(
            find_plugin("host-local", &path).unwrap(),
            b.path().join("host-local")
        );
        let e = find_plugin("nope", &path).unwrap_err();
        assert_eq!(e.code, ErrorCode::IpamFailure);
        assert!(e.msg.contains("ipam.type nope"), "{e}");
    }
}
