//! gatewayctl: control the per-profile `gateway-<profile>` services under s6,
//! and hand a container's CMD to s6 (`run`). Data flows one way: the command
//! line is parsed (`cli`), a command runs (`control`, `status`, `run`) over
//! the s6 adapter (`s6`) and the profile files (`profile`, `state`,
//! `planned_stop`), and returns a [`Report`] that this file alone writes.
//! Only `run` and its hold write lines themselves, before an exec or a hold
//! that never returns.
#![forbid(unsafe_code)]

mod action;
mod cli;
mod container_cmd;
mod control;
mod error;
mod hold;
mod home_file;
mod interrupt;
mod out;
mod parallel;
mod planned_stop;
mod profile;
mod reconcile;
mod register;
mod report;
mod run;
mod s6;
mod slot;
mod state;
mod status;
mod usage;

use std::process::ExitCode;

use cli::{Args, Command, Parsed, Target};
use error::{EXIT_OK, Error};
use profile::{HermesHome, Name};
use report::{Line, Report};
use s6::scandir::{self, ScanDir};
use s6::{Program, S6};

fn main() -> ExitCode {
    reset_sigchld();
    let code = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Help) => {
            out::stdout(usage::HELP.trim_end());
            EXIT_OK
        }
        Ok(Parsed::Version) => {
            out::stdout(concat!("gatewayctl ", env!("CARGO_PKG_VERSION")));
            EXIT_OK
        }
        Ok(Parsed::Args(args)) => match dispatch(args) {
            Ok(report) => write(report),
            Err(e) => fail(&e),
        },
        Err(e) => fail(&e),
    };
    ExitCode::from(checked_stdout(code))
}

/// Runs one command. Input is checked first (exit 2 before anything is
/// touched), then s6 is found (exit 1 when it is not there).
fn dispatch(args: Args) -> Result<Report, Error> {
    let home = HermesHome::from_env();
    let option = args.profile.as_deref().map(Name::parse).transpose()?;
    let named = |argument: Option<String>| -> Result<Option<Name>, Error> {
        let argument = argument.as_deref().map(Name::parse).transpose()?;
        Ok(argument.or(option.clone()))
    };
    let scandir = scandir::named(args.scandir.as_deref());
    match args.command {
        Command::Run {
            no_supervise,
            command,
        } => Err(run::hand_over(run::Request {
            home: &home,
            profile: option.clone(),
            scandir,
            no_supervise,
            command,
        })),
        Command::List { json } => status::list(&ScanDir::resolve(scandir)?, json),
        Command::Act {
            action,
            target: Target::One(argument),
            wait,
        } => {
            let profile = home.choose(named(argument)?)?;
            let s6 = S6::connect(ScanDir::resolve(scandir)?, control::programs(action, wait))?;
            watch_interrupts();
            Ok(control::one(&s6, &home, &profile, action, wait))
        }
        Command::Act {
            action,
            target: Target::All,
            wait,
        } => {
            let s6 = S6::connect(ScanDir::resolve(scandir)?, control::programs(action, wait))?;
            watch_interrupts();
            control::all(&s6, &home, action, wait)
        }
        Command::Reconcile {
            dry_run,
            json,
            template,
            owner,
        } => {
            let options = reconcile::Options {
                dry_run,
                json,
                template: template.map(slot::Template::check).transpose()?,
                owner: owner_of(owner.as_deref())?,
            };
            // The boot pass needs no s6-svscan yet: the scan directory is
            // the one named, else s6-overlay's.
            let scandir = scandir.unwrap_or_else(|| ScanDir::container().path);
            reconcile::reconcile(&home, scandir, &options)
        }
        Command::Register {
            profile,
            start,
            template,
            owner,
        } => {
            let spec = slot::Spec {
                profile: Name::parse(&profile)?,
                template: template.map(slot::Template::check).transpose()?,
                start,
                owner: owner_of(owner.as_deref())?,
            };
            let s6 = S6::connect(ScanDir::resolve(scandir)?, &[Program::Svscanctl])?;
            register::register(&s6, &spec)
        }
        Command::Unregister { profile, wait } => {
            let profile = Name::parse(&profile)?;
            let needed = [
                Program::Svc,
                Program::Svwait,
                Program::Svok,
                Program::Svscanctl,
            ];
            let s6 = S6::connect(ScanDir::resolve(scandir)?, &needed)?;
            register::unregister(&s6, &profile, wait)
        }
        Command::Check { profile, json } => {
            let profile = profile.as_deref().map(Name::parse).transpose()?;
            let s6 = S6::connect(ScanDir::resolve(scandir)?, &[Program::Svstat])?;
            status::check(&s6, profile.or(option.clone()), json)
        }
        Command::Status { target, json } => {
            let profile = match target {
                Target::One(argument) => Some(home.choose(named(argument)?)?),
                Target::All => None,
            };
            let s6 = S6::connect(ScanDir::resolve(scandir)?, &[Program::Svstat])?;
            status::show(&s6, profile, json)
        }
    }
}

/// `--owner UID:GID`, else the Hermes image's `hermes`.
fn owner_of(text: Option<&str>) -> Result<slot::Owner, Error> {
    Ok(text
        .map(slot::Owner::parse)
        .transpose()?
        .unwrap_or(slot::HERMES_OWNER))
}

/// Writes what a command reported, in order, and gives its exit code.
fn write(report: Report) -> u8 {
    for line in &report.lines {
        match line {
            Line::Result(text) => out::stdout(text),
            Line::Warning(w) => out::warning(w),
            Line::Failure(e) => out::error(e),
            Line::CouldNot {
                action,
                profile,
                error,
            } => out::stderr(format_args!(
                "✗ Could not {} {}: {error}",
                action.verb(),
                profile.service()
            )),
        }
    }
    report.code
}

fn fail(e: &Error) -> u8 {
    out::error(e);
    e.exit_code()
}

/// A parent's `SIG_IGN` for SIGCHLD survives exec, and with it the kernel
/// reaps our children itself: every s6 program would then look like it
/// could not be waited for ("No child process") while s6 did act. Any
/// handler puts the default reaping back (and exec resets it to SIG_DFL for
/// the programs run); if none can be installed, nothing better is possible.
fn reset_sigchld() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGCHLD, seen);
}

/// From here on SIGINT, SIGTERM and SIGHUP interrupt the command in order
/// (see [`interrupt`]); should that not be possible, they keep their
/// default action.
fn watch_interrupts() {
    let _ = interrupt::watch();
}

/// `code`, unless results were lost on stdout (a full disk, an I/O error;
/// a closed pipe is a reader that has seen enough, and stays quiet): then
/// one line on stderr, and a failure.
fn checked_stdout(code: u8) -> u8 {
    match out::stdout_error() {
        Some(e) => {
            let e = Error::Stdout(e);
            out::error(&e);
            if code == EXIT_OK { e.exit_code() } else { code }
        }
        None => code,
    }
}
