//! gatewayctl: control the per-profile `gateway-<profile>` services under s6,
//! and hand a container's CMD to s6 (`run`). Errors are printed once, here,
//! and mapped to exit codes in one place (`Error::exit_code`).
#![forbid(unsafe_code)]

mod act;
mod cli;
mod error;
mod hold;
mod home_file;
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
    ExitCode::from(code)
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
            act::one(
                &connect(scandir, act::programs(action))?,
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
            let s6 = connect(scandir, act::programs(action))?;
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

/// The scan directory, with the s6 programs the command runs checked.
fn connect(scandir: Option<&std::path::Path>, programs: &[&'static str]) -> Result<S6, Error> {
    let s6 = S6::new(ScanDir::resolve(scandir)?);
    s6.require(programs)?;
    Ok(s6)
}
