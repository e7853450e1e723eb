//! Telling a Hermes gateway that the SIGTERM a `stop` is about to send is an
//! operator's stop, as the Python CLI's s6 stop does.
//!
//! A Hermes gateway cannot tell `s6-svc -d` from any other SIGTERM (a
//! container restart, a stray `kill`), so on SIGTERM it looks in its home for
//! `.gateway-planned-stop.json` naming its own pid and start time, written
//! less than a minute ago. Found: a planned stop, so it exits 0 and records
//! `gateway_state: stopped`. Not found: it exits 1 and records `running`, so
//! that s6 and the next boot bring it back. `restart` writes no marker: the
//! gateway exits 1 and s6 starts it again.
//!
//! The marker is written only where a Hermes gateway has recorded itself in
//! the profile home's `gateway.pid` (it does at start), and names the pid and
//! start time found there: the gateway's own, even when a wrapper stands
//! between it and s6. One small file read, no process: `stop --all` stays as
//! fast as s6-svc allows. A stale `gateway.pid` (a gateway that was killed)
//! gives a marker no live process matches; the gateway checks pid, start
//! time and age itself, and removes whatever marker it finds on its next
//! SIGTERM, so such a marker is never taken for a stop.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::home_file::{self, Contents};

/// The marker, in the profile home (the gateway's HERMES_HOME).
pub const MARKER: &str = ".gateway-planned-stop.json";
/// What the gateway writes at start: `{"pid": N, "start_time": T, ...}`.
pub const PID_FILE: &str = "gateway.pid";
/// Longest `gateway.pid` worth reading (the gateway's is about 200 bytes).
const PID_FILE_LIMIT: u64 = 64 * 1024;

/// A marker written for a stop that has not been sent yet.
#[derive(Debug)]
pub struct Announced(PathBuf);

impl Announced {
    /// Removes the marker again when the stop was never sent, so that a
    /// later, unplanned SIGTERM is not taken for this stop.
    pub fn withdraw(self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Writes the marker for the Hermes gateway recorded in `home`, if there is
/// one. Best effort, like the Python CLI: anything missing or failing means
/// no marker, and the stop goes on (the gateway then takes it for an
/// unplanned SIGTERM).
pub fn announce(home: &Path) -> Option<Announced> {
    let (pid, start_time) = gateway_pid_file(&home.join(PID_FILE))?;
    let marker = json!({
        "target_pid": pid,
        // The gateway's own reading of its start time (field 22 of its
        // /proc/PID/stat, or null): it compares this with itself, so it is
        // taken from its file rather than read here, where /proc may belong
        // to another PID namespace.
        "target_start_time": start_time,
        "stopper_pid": std::process::id(),
        "written_at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    });
    let path = home.join(MARKER);
    home_file::replace_json(&path, &marker).ok()?;
    Some(Announced(path))
}

/// The pid and start time a gateway recorded in `gateway.pid`: a JSON
/// object (the start time a number or null), or a bare pid as older
/// gateways wrote it. Anything else is no Hermes gateway.
fn gateway_pid_file(path: &Path) -> Option<(u32, Value)> {
    let Contents::Regular(read) = home_file::read_regular(path, PID_FILE_LIMIT).ok()? else {
        return None;
    };
    let record: Value = serde_json::from_slice(&read.bytes).ok()?;
    let (pid, start_time) = match &record {
        Value::Number(pid) => (pid.as_u64()?, None),
        _ => (record.get("pid")?.as_u64()?, record.get("start_time")),
    };
    let start_time = match start_time {
        Some(t @ Value::Number(_)) => t.clone(),
        _ => Value::Null,
    };
    Some((u32::try_from(pid).ok()?, start_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_file(content: &str) -> Option<(u32, Value)> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(PID_FILE);
        fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
        gateway_pid_file(&path)
    }

    #[test]
    fn reads_the_gateway_s_pid_and_start_time() {
        let written =
            r#"{"pid": 812, "kind": "hermes-gateway", "argv": ["hermes"], "start_time": 123456}"#;
        assert_eq!(pid_file(written), Some((812, json!(123456))));
        assert_eq!(pid_file(r#"{"pid": 812}"#), Some((812, Value::Null)));
        assert_eq!(
            pid_file(r#"{"pid": 812, "start_time": "x"}"#),
            Some((812, Value::Null))
        );
        assert_eq!(pid_file("812\n"), Some((812, Value::Null)), "a bare pid");
    }

    #[test]
    fn anything_else_is_no_gateway() {
        for content in [
            "",
            "not json",
            "-812",
            r#"{"pid": -1}"#,
            r#"{"pid": "812"}"#,
            r#"{"pid": 99999999999}"#,
            r#"[812]"#,
        ] {
            assert_eq!(pid_file(content), None, "{content:?}");
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(gateway_pid_file(&dir.path().join("missing")), None);
        assert_eq!(gateway_pid_file(dir.path()), None, "a directory");
        let padded = format!("{{\"pid\": 812, \"pad\": \"{}\"}}", "x".repeat(70_000));
        assert_eq!(pid_file(&padded), None, "longer than any gateway writes");
    }

    #[test]
    fn a_fifo_in_its_place_is_no_gateway_and_no_hang() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(PID_FILE);
        home_file::make_fifo(&path);
        assert_eq!(gateway_pid_file(&path), None);
        assert!(announce(dir.path()).is_none());
        assert!(!dir.path().join(MARKER).exists());
    }

    #[test]
    fn the_marker_names_the_recorded_gateway_and_withdraw_removes_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        fs::write(
            dir.path().join(PID_FILE),
            r#"{"pid": 812, "start_time": 5326471}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let announced = announce(dir.path());
        let marker: Value = fs::read(dir.path().join(MARKER))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        assert_eq!(marker["target_pid"], 812, "{marker}");
        assert_eq!(marker["target_start_time"], 5326471, "{marker}");
        assert_eq!(marker["stopper_pid"], std::process::id(), "{marker}");
        let written = marker["written_at"].as_str().unwrap_or_default();
        assert!(humantime::parse_rfc3339(written).is_ok(), "{marker}");
        let Some(announced) = announced else {
            panic!("no marker announced")
        };
        announced.withdraw();
        assert!(!dir.path().join(MARKER).exists());
    }
}
