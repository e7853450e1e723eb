//! `status` and `list`: what s6 says about the gateways, as lines for people
//! and as JSON for scripts.

use serde_json::{Value, json};

use crate::act::NONE_REGISTERED;
use crate::error::Error;
use crate::out;
use crate::parallel;
use crate::profile;
use crate::s6::scandir::ScanDir;
use crate::s6::svstat::Status;
use crate::s6::{S6, Supervision};

/// One line per profile: `coder  up (pid 812) 45s`,
/// `writer  down (signal SIGTERM) 3s, want up`, `old  unsupervised`.
pub fn line(profile: &str, state: &Supervision) -> String {
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
pub fn json(profile: &str, state: &Supervision) -> Value {
    let service = profile::service(profile);
    match state {
        Supervision::Supervised(Status {
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

/// `status [PROFILE | --all] [--json]`: `profile` is the resolved profile,
/// `None` for `--all`. Returns whether every requested gateway could be read.
///
/// # Errors
/// An unknown profile, or an unreadable scan directory.
pub fn status(s6: &S6, profile: Option<&str>, as_json: bool) -> Result<bool, Error> {
    let profiles = match profile {
        Some(p) => {
            s6.scandir.registered(p)?;
            vec![p.to_owned()]
        }
        None => s6.scandir.profiles()?,
    };
    if profiles.is_empty() && !as_json {
        out::stdout(NONE_REGISTERED);
        return Ok(true);
    }
    let states = parallel::map(
        &profiles,
        parallel::Workers::Busy,
        |state: &Result<_, Error>| state.as_ref().is_err_and(Error::is_busy),
        |p| s6.status(p),
    );
    let mut all_read = true;
    let mut objects = Vec::new();
    for (p, state) in profiles.iter().zip(states) {
        match state {
            Ok(state) if as_json => objects.push(json(p, &state)),
            Ok(state) => out::stdout(line(p, &state)),
            Err(e) => {
                all_read = false;
                crate::error::report(&e);
            }
        }
    }
    if as_json {
        out::stdout(Value::Array(objects));
    }
    Ok(all_read)
}

/// `list [--json]`: registered profile names, sorted, one per line.
///
/// # Errors
/// The scan directory cannot be read.
pub fn list(scandir: &ScanDir, as_json: bool) -> Result<(), Error> {
    let profiles = scandir.profiles()?;
    if as_json {
        out::stdout(Value::from(profiles));
    } else {
        for p in profiles {
            out::stdout(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(
        up: bool,
        want_up: bool,
        pid: Option<u32>,
        exit_code: Option<i32>,
        signal: Option<&str>,
    ) -> Supervision {
        Supervision::Supervised(Status {
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
            line("coder", &st(true, true, Some(812), None, None)),
            "coder  up (pid 812) 45s"
        );
        assert_eq!(
            line("coder", &st(true, false, Some(812), None, None)),
            "coder  up (pid 812) 45s, want down"
        );
        assert_eq!(
            line("w", &st(false, true, None, None, Some("SIGTERM"))),
            "w  down (signal SIGTERM) 45s, want up"
        );
        assert_eq!(
            line("w", &st(false, false, None, Some(1), None)),
            "w  down (exit 1) 45s"
        );
        assert_eq!(line("old", &Supervision::Unsupervised), "old  unsupervised");
    }

    #[test]
    fn json_objects() {
        let v = json("coder", &st(true, true, Some(812), None, None));
        assert_eq!(v["service"], "gateway-coder");
        assert_eq!(v["pid"], 812);
        assert_eq!(v["signal"], Value::Null);
        let u = json("old", &Supervision::Unsupervised);
        assert_eq!(u["supervised"], false);
        assert_eq!(u["up"], Value::Null);
    }
}
