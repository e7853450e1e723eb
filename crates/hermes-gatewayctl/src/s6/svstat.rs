//! Reading a service's state from `s6-svstat -o ...`, whose field output is
//! stable across s6 2.11..2.15 (the binary `supervise/status` file is not).

/// The fields asked for, in this order.
pub const FIELDS: &str = "up,wantedup,normallyup,ready,pid,exitcode,signal,updownfor";

/// `s6-svstat` exit code for "s6-supervise not running on servicedir".
pub const RC_NOT_SUPERVISED: i32 = 1;

/// One supervised service's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub up: bool,
    pub want_up: bool,
    pub normally_up: bool,
    pub ready: bool,
    /// The pid while up.
    pub pid: Option<u32>,
    /// The last exit code, when it exited (not killed).
    pub exit_code: Option<i32>,
    /// The signal that killed it, like `SIGTERM`.
    pub signal: Option<String>,
    /// Seconds since the last up/down transition.
    pub seconds: u64,
}

/// Parses one output line of `s6-svstat -o FIELDS`, e.g.
/// `true true true false 812 -1 NA 45`.
pub fn parse(line: &str) -> Option<ServiceState> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [
        up,
        want_up,
        normally_up,
        ready,
        pid,
        exit_code,
        signal,
        seconds,
    ] = f.as_slice()
    else {
        return None;
    };
    Some(ServiceState {
        up: boolean(up)?,
        want_up: boolean(want_up)?,
        normally_up: boolean(normally_up)?,
        ready: boolean(ready)?,
        pid: if *pid == "-1" {
            None
        } else {
            Some(pid.parse().ok()?)
        },
        exit_code: match exit_code.parse::<i32>().ok()? {
            -1 => None,
            code => Some(code),
        },
        signal: (*signal != "NA").then(|| (*signal).to_owned()),
        seconds: seconds.parse().ok()?,
    })
}

fn boolean(word: &str) -> Option<bool> {
    match word {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_service() {
        let s = parse("true true true false 812 -1 NA 45\n");
        assert_eq!(
            s,
            Some(ServiceState {
                up: true,
                want_up: true,
                normally_up: true,
                ready: false,
                pid: Some(812),
                exit_code: None,
                signal: None,
                seconds: 45
            })
        );
    }

    #[test]
    fn down_by_signal_and_by_exit() {
        let s = parse("false true true false -1 -1 SIGTERM 3");
        assert_eq!(
            s.as_ref()
                .map(|s| (s.pid, s.exit_code, s.signal.as_deref())),
            Some((None, None, Some("SIGTERM")))
        );
        let s = parse("false false true false -1 1 NA 7");
        assert_eq!(
            s.map(|s| (s.exit_code, s.signal, s.want_up)),
            Some((Some(1), None, false))
        );
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "true",
            "yes true true false 1 -1 NA 0",
            "true true true false x -1 NA 0",
            "true true true false 1 -1 NA x",
            "true true true false 1 x NA 0",
            "true true true false 1 -1 NA 0 extra",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
