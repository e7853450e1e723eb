//! What a command has to say, returned to `main`, which alone writes it:
//! result lines for stdout, warnings and failures for stderr, in the order
//! they came, and the exit code they add up to.

use crate::action::Action;
use crate::error::{EXIT_FAILED, Error, Warning};
use crate::profile::Name;

/// What `--all` and `status` say when there is nothing to act on (exit 0).
pub const NONE_REGISTERED: &str = "No profile gateways registered under s6";

#[derive(Debug)]
pub enum Line {
    /// A result, for stdout.
    Result(String),
    /// `⚠ ...`: something that did not fail the command.
    Warning(Warning),
    /// `✗ ...`: the command, or one gateway's part of it, failed.
    Failure(Error),
    /// `✗ Could not stop gateway-<p>: ...`: one gateway of `--all` failed.
    CouldNot {
        action: Action,
        profile: Name,
        error: Error,
    },
}

#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<Line>,
    pub code: u8,
}

impl Report {
    pub fn result(&mut self, line: impl Into<String>) {
        self.lines.push(Line::Result(line.into()));
    }

    pub fn warning(&mut self, warning: Option<Warning>) {
        self.lines.extend(warning.map(Line::Warning));
    }

    /// A failure that decides the exit code (the last one given wins).
    pub fn failure(&mut self, error: Error) {
        self.code = error.exit_code();
        self.lines.push(Line::Failure(error));
    }

    /// A failure of one among several: exit 1, unless something worse was
    /// reported.
    pub fn partial_failure(&mut self, line: Line) {
        if self.code == 0 {
            self.code = EXIT_FAILED;
        }
        self.lines.push(line);
    }
}
