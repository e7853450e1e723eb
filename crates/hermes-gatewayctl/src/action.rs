//! What gatewayctl can ask s6 to do to a gateway.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    /// The word used in messages: `s6-svc stop on ...`, `Could not stop ...`.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }

    /// Past tense for the `✓ Stopped ...` lines.
    pub fn done(self) -> &'static str {
        match self {
            Action::Start => "Started",
            Action::Stop => "Stopped",
            Action::Restart => "Restarted",
        }
    }
}
