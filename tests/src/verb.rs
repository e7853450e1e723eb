//! gatewayctl's commands, as the suites that generate command lines name
//! them, and what each one asks of s6.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart,
    Status,
    /// `run ... -- /bin/true`: the profile only by `-p`/`--profile` or
    /// HERMES_HOME (a value after `run` starts COMMAND).
    Run,
}

impl Verb {
    pub fn word(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
            Verb::Status => "status",
            Verb::Run => "run",
        }
    }

    /// The past tense of the `✓ ...` line of a successful action.
    pub fn done(self) -> &'static str {
        match self {
            Verb::Start => "Started",
            Verb::Stop => "Stopped",
            Verb::Restart => "Restarted",
            Verb::Status | Verb::Run => "",
        }
    }

    /// True when the gateway is wanted up afterwards.
    pub fn wants_up(self) -> bool {
        self != Verb::Stop
    }

    /// The s6-svc command flags, as a recording stand-in sees them (restart
    /// of an up gateway).
    pub fn svc_flags(self) -> &'static str {
        match self {
            Verb::Start | Verb::Run => "-u",
            Verb::Stop => "-d",
            Verb::Restart => "-r -u",
            Verb::Status => "",
        }
    }
}
