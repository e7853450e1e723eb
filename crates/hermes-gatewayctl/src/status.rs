//! `status` and `list`: what s6 says about the gateways, as lines for people
//! and as JSON for scripts.

use serde_json::{Value, json};

use crate::error::Error;
use crate::parallel;
use crate::profile::Name;
use crate::report::{Line, NONE_REGISTERED, Report};
use crate::s6::scandir::ScanDir;
use crate::s6::svstat::ServiceState;
use crate::s6::{S6, Supervision};

/// One line per profile: `coder  up (pid 812) 45s`,
/// `writer  down (signal SIGTERM) 3s, want up`, `old  unsupervised`.
pub fn line(profile: &Name, state: &Supervision) -> String {
    let Supervision::Supervised(s) = state else {
        return format!("{profile}  unsupervised");
    };
    let mut out = format!("{profile}  {}", describe(s));
    if s.want_up != s.up {
        out.push_str(if s.want_up {
            ", want up"
        } else {
            ", want down"
        });
    }
    out
}

/// `up (pid 812) 45s`, `down (signal SIGTERM) 3s`, `down (exit 1) 0s`.
fn describe(s: &ServiceState) -> String {
    if s.up {
        let pid = s.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
        format!("up{pid} {}s", s.seconds)
    } else {
        let why = match (&s.signal, s.exit_code) {
            (Some(signal), _) => format!(" (signal {signal})"),
            (None, Some(code)) => format!(" (exit {code})"),
            (None, None) => String::new(),
        };
        format!("down{why} {}s", s.seconds)
    }
}

/// One JSON object per profile (every state field is null when unsupervised).
pub fn json(profile: &Name, state: &Supervision) -> Value {
    let service = profile.service();
    let profile = profile.as_str();
    match state {
        Supervision::Supervised(ServiceState {
            up,
            want_up,
            normally_up,
            ready,
            pid,
            exit_code,
            signal,
            seconds,
        }) => json!({
            "profile": profile, "service": service, "supervised": true,
            "up": up, "want_up": want_up, "normally_up": normally_up, "ready": ready,
            "pid": pid, "exit_code": exit_code, "signal": signal, "seconds": seconds,
        }),
        Supervision::Unsupervised => json!({
            "profile": profile, "service": service, "supervised": false,
            "up": null, "want_up": null, "normally_up": null, "ready": null,
            "pid": null, "exit_code": null, "signal": null, "seconds": null,
        }),
    }
}

/// `status [PROFILE | --all] [--json]`: `profile` is the chosen profile,
/// `None` for `--all`. Exit 1 unless every requested gateway could be read.
///
/// # Errors
/// An unknown profile, or an unreadable scan directory.
pub fn show(s6: &S6, profile: Option<Name>, as_json: bool) -> Result<Report, Error> {
    let profiles = match profile {
        Some(p) => {
            s6.scandir.registered(&p)?;
            vec![p]
        }
        None => s6.scandir.profiles()?,
    };
    let mut report = Report::default();
    if profiles.is_empty() && !as_json {
        report.result(NONE_REGISTERED);
        return Ok(report);
    }
    let states = parallel::map(
        &profiles,
        parallel::Workers::Busy,
        |state: &Result<_, Error>| state.as_ref().is_err_and(Error::is_busy),
        |p| s6.read_state(p),
    );
    let mut objects = Vec::new();
    for (p, state) in profiles.iter().zip(states) {
        match state {
            Ok(state) if as_json => objects.push(json(p, &state)),
            Ok(state) => report.result(line(p, &state)),
            Err(e) => report.partial_failure(Line::Failure(e)),
        }
    }
    if as_json {
        report.result(Value::Array(objects).to_string());
    }
    Ok(report)
}

/// Why a gateway is not healthy, or `None` when it is: s6 wants it down,
/// or it is up (and ready, where its slot has a `notification-fd`).
fn sickness(state: &Supervision, notifies: bool) -> Option<String> {
    match state {
        Supervision::Unsupervised => Some("not supervised".to_owned()),
        Supervision::Supervised(s) if !s.want_up || (s.up && (s.ready || !notifies)) => None,
        Supervision::Supervised(s) if s.up => {
            Some(format!("wanted up, {}, not ready", describe(s)))
        }
        Supervision::Supervised(s) => Some(format!("wanted up, {}", describe(s))),
    }
}

/// `check [PROFILE] [--json]`: exit 0 when every gateway s6 wants up is up
/// (and ready, where it notifies readiness), else exit 1 with one line per
/// gateway that is not. Nothing is changed.
///
/// # Errors
/// An unknown profile, or an unreadable scan directory.
pub fn check(s6: &S6, profile: Option<Name>, as_json: bool) -> Result<Report, Error> {
    let profiles = match profile {
        Some(p) => {
            s6.scandir.registered(&p)?;
            vec![p]
        }
        None => s6.scandir.profiles()?,
    };
    let states = parallel::map(
        &profiles,
        parallel::Workers::Busy,
        |state: &Result<_, Error>| state.as_ref().is_err_and(Error::is_busy),
        |p| s6.read_state(p),
    );
    let mut report = Report::default();
    let mut objects = Vec::new();
    let mut sick = Vec::new();
    let mut healthy = 0;
    for (p, state) in profiles.iter().zip(states) {
        let notifies = s6.scandir.service_dir(p).join("notification-fd").is_file();
        match state {
            Ok(state) => {
                let why = sickness(&state, notifies);
                if as_json {
                    objects.push(json!({
                        "profile": p.as_str(), "service": p.service(),
                        "healthy": why.is_none(), "problem": why,
                    }));
                }
                match why {
                    None => healthy += 1,
                    Some(why) => sick.push(format!("{}: {why}", p.service())),
                }
            }
            Err(e) => report.partial_failure(Line::Failure(e)),
        }
    }
    if as_json {
        report.result(Value::Array(objects).to_string());
    } else if sick.is_empty() {
        report.result(format!("✓ {healthy} profile gateway(s) healthy under s6"));
    }
    for line in sick {
        if !as_json {
            report.result(line);
        }
        report.code = report.code.max(crate::error::EXIT_FAILED);
    }
    Ok(report)
}

/// `list [--json]`: registered profile names, sorted, one per line.
///
/// # Errors
/// The scan directory cannot be read.
pub fn list(scandir: &ScanDir, as_json: bool) -> Result<Report, Error> {
    let profiles = scandir.profiles()?;
    let mut report = Report::default();
    if as_json {
        let names: Vec<&str> = profiles.iter().map(Name::as_str).collect();
        report.result(Value::from(names).to_string());
    } else {
        for p in profiles {
            report.result(p.to_string());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn st(
        up: bool,
        want_up: bool,
        pid: Option<u32>,
        exit_code: Option<i32>,
        signal: Option<&str>,
    ) -> Supervision {
        Supervision::Supervised(ServiceState {
            up,
            want_up,
            normally_up: true,
            ready: false,
            pid,
            exit_code,
            signal: signal.map(str::to_owned),
            seconds: 45,
        })
    }

    #[test]
    fn lines() {
        assert_eq!(
            line(&name("coder"), &st(true, true, Some(812), None, None)),
            "coder  up (pid 812) 45s"
        );
        assert_eq!(
            line(&name("coder"), &st(true, false, Some(812), None, None)),
            "coder  up (pid 812) 45s, want down"
        );
        assert_eq!(
            line(&name("w"), &st(false, true, None, None, Some("SIGTERM"))),
            "w  down (signal SIGTERM) 45s, want up"
        );
        assert_eq!(
            line(&name("w"), &st(false, false, None, Some(1), None)),
            "w  down (exit 1) 45s"
        );
        assert_eq!(
            line(&name("old"), &Supervision::Unsupervised),
            "old  unsupervised"
        );
    }

    #[test]
    fn json_objects() {
        let v = json(&name("coder"), &st(true, true, Some(812), None, None));
        assert_eq!(v["service"], "gateway-coder");
        assert_eq!(v["pid"], 812);
        assert_eq!(v["signal"], Value::Null);
        let u = json(&name("old"), &Supervision::Unsupervised);
        assert_eq!(u["supervised"], false);
        assert_eq!(u["up"], Value::Null);
    }
}
