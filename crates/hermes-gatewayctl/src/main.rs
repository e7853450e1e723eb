//! gatewayctl: control the per-profile `gateway-<profile>` services under s6,
//! and hand a container's CMD to s6 (`run`). Errors are printed once, here,
//! and mapped to exit codes in one place (`Error::exit_code`).
#![forbid(unsafe_code)]

mod act;
mod cli;
mod error;
mod hold;
mod home_file;
mod interrupt;
mod out;
mod parallel;
mod planned_stop;
mod profile;
mod run;
mod s6;
mod state;
mod status;

use std::process::ExitCode;

use cli::{Args, Command, Parsed, Target};
use error::{EXIT_FAILED, EXIT_OK, Error};
use profile::Homes;
use s6::S6;
use s6::scandir::ScanDir;

fn main() -> ExitCode {
    reset_sigchld();
    let code = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Help) => {
            out::stdout(cli::HELP.trim_end());
            EXIT_OK
        }
        Ok(Parsed::Version) => {
            out::stdout(concat!("gatewayctl ", env!("CARGO_PKG_VERSION")));
            EXIT_OK
        }
        Ok(Parsed::Args(args)) => dispatch(args).unwrap_or_else(|e| {
            error::report(&e);
            e.exit_code()
        }),
        Err(e) => {
            error::report(&e);
            e.exit_code()
        }
    };
    ExitCode::from(checked_stdout(code))
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

/// `code`, unless results were lost on stdout (a full disk, an I/O error;
/// a closed pipe is a reader that has seen enough, and stays quiet): then
/// one line on stderr, and a failure.
fn checked_stdout(code: u8) -> u8 {
    match out::stdout_error() {
        Some(e) => {
            let e = Error::Stdout(e);
            error::report(&e);
            if code == EXIT_OK { e.exit_code() } else { code }
        }
        None => code,
    }
}

/// Runs one command. Input is checked first (exit 2 before anything is
/// touched), then s6 is found (exit 1 when it is not there).
fn dispatch(args: Args) -> Result<u8, Error> {
    let homes = Homes::from_env();
    let option = args.profile.as_deref().map(profile::validate).transpose()?;
    let scandir = args.scandir.as_deref();
    let success = |ok: bool| if ok { EXIT_OK } else { EXIT_FAILED };
    match args.command {
        Command::Run {
            no_supervise,
            command,
        } => Err(run::run(run::Request {
            homes: &homes,
            profile_option: option,
            scandir_option: scandir,
            no_supervise,
            command,
        })),
        Command::List { json } => {
            status::list(&ScanDir::resolve(scandir)?, json)?;
            Ok(EXIT_OK)
        }
        Command::Act {
            action,
            target: Target::One(argument),
            wait,
        } => {
            let profile = homes.resolve(argument.as_deref(), option)?;
            watch_interrupts();
            act::one(
                &connect(scandir, act::programs(action, wait))?,
                &homes,
                &profile,
                action,
                wait,
            )?;
            Ok(EXIT_OK)
        }
        Command::Act {
            action,
            target: Target::All,
            wait,
        } => {
            let s6 = connect(scandir, act::programs(action, wait))?;
            watch_interrupts();
            Ok(success(act::all(&s6, &homes, action, wait)?))
        }
        Command::Status { target, json } => {
            let profile = match target {
                Target::One(argument) => Some(homes.resolve(argument.as_deref(), option)?),
                Target::All => None,
            };
            let s6 = connect(scandir, &["s6-svstat"])?;
            Ok(success(status::status(&s6, profile.as_deref(), json)?))
        }
    }
}

/// From here on SIGINT, SIGTERM and SIGHUP interrupt the command in order
/// (see [`interrupt`]); should that not be possible, they keep their
/// default action.
fn watch_interrupts() {
    let _ = interrupt::watch();
}

/// The scan directory, with the s6 programs the command runs checked.
fn connect(scandir: Option<&std::path::Path>, programs: &[&'static str]) -> Result<S6, Error> {
    let s6 = S6::new(ScanDir::resolve(scandir)?);
    s6.require(programs)?;
    Ok(s6)
}
