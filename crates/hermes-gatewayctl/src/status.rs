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
    let mut out = if s.up {
        let pid = s.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
        format!("{profile}  up{pid} {}s", s.seconds)
    } else {
        let why = match (&s.signal, s.exit_code) {
            (Some(signal), _) => format!(" (signal {signal})"),
            (None, Some(code)) => format!(" (exit {code})"),
            (None, None) => String::new(),
        };
        format!("{profile}  down{why} {}s", s.seconds)
    };
    if s.want_up != s.up {
        out.push_str(if s.want_up {
            ", want up"
        } else {
            ", want down"
        });
    }
    out
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
