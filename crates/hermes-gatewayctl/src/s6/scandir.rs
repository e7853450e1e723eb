//! The s6 scan directory: is this container under s6, which directory to
//! use, and which profile gateways are registered in it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::profile::{self, Name};

/// s6-overlay's scan directory.
pub const CONTAINER_SCANDIR: &str = "/run/service";
/// Exists only under s6-overlay (its `/init` makes it).
const S6_OVERLAY_BASEDIR: &str = "/run/s6/basedir";

/// A scan directory s6-svscan runs on.
#[derive(Debug, Clone)]
pub struct ScanDir {
    pub path: PathBuf,
}

/// True when this is an s6-overlay container: PID 1 is `s6-svscan` and
/// `/run/s6/basedir` exists. `/proc/1/comm` is readable by every user, unlike
/// `/proc/1/exe`.
pub fn under_s6_overlay() -> bool {
    let comm = fs::read_to_string("/proc/1/comm").unwrap_or_default();
    comm.trim_end_matches('\n') == "s6-svscan" && Path::new(S6_OVERLAY_BASEDIR).is_dir()
}

/// The scan directory named by `--scandir`, else by
/// `S6_PROFILE_GATEWAY_SCANDIR`, if any (not yet checked).
pub fn named(option: Option<&Path>) -> Option<PathBuf> {
    option
        .map(Path::to_path_buf)
        .or_else(|| match std::env::var_os("S6_PROFILE_GATEWAY_SCANDIR") {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => None,
        })
}

impl ScanDir {
    /// The scan directory to use: a named one (which must hold
    /// `.s6-svscan/`), else `/run/service` under s6-overlay.
    ///
    /// # Errors
    /// `NotAScanDir` for a named directory without `.s6-svscan/`;
    /// `NotUnderS6` when none is named and this is not an s6 container.
    pub fn resolve(named: Option<PathBuf>) -> Result<ScanDir, Error> {
        match named {
            Some(path) => ScanDir::at(path),
            None if under_s6_overlay() => Ok(ScanDir::container()),
            None => Err(Error::NotUnderS6),
        }
    }

    /// The named scan directory `path`.
    ///
    /// # Errors
    /// `NotAScanDir` when it holds no `.s6-svscan/`.
    pub fn at(path: PathBuf) -> Result<ScanDir, Error> {
        if path.join(".s6-svscan").is_dir() {
            Ok(ScanDir { path })
        } else {
            Err(Error::NotAScanDir(path))
        }
    }

    /// `path`, taken as the scan directory an s6-svscan will run on, before
    /// one does (the boot pass makes the slots it will find).
    pub fn unchecked(path: PathBuf) -> ScanDir {
        ScanDir { path }
    }

    /// True when an s6-svscan listens on this scan directory now (its
    /// control FIFO has a reader; opening it to write then succeeds
    /// without blocking).
    pub fn svscan_answers(&self) -> bool {
        let control = self.path.join(".s6-svscan/control");
        rustix::fs::open(
            &control,
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .is_ok()
    }

    /// s6-overlay's `/run/service`.
    pub fn container() -> ScanDir {
        ScanDir {
            path: PathBuf::from(CONTAINER_SCANDIR),
        }
    }

    /// `<scandir>/gateway-<profile>`.
    pub fn service_dir(&self, profile: &Name) -> PathBuf {
        self.path.join(profile.service())
    }

    /// The profile's service directory, if it is registered (a directory,
    /// or a symlink to one).
    ///
    /// # Errors
    /// `GatewayNotRegistered` otherwise.
    pub fn registered(&self, profile: &Name) -> Result<PathBuf, Error> {
        let dir = self.service_dir(profile);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::GatewayNotRegistered(profile.to_string()))
        }
    }

    /// Registered profiles, sorted: entries named `gateway-<valid profile>`
    /// that are directories (symlinks to directories count: s6-rc links its
    /// service directories); dot-names, plain files, dangling links and
    /// names that are not UTF-8 or not valid profiles are skipped.
    ///
    /// # Errors
    /// The scan directory cannot be read.
    pub fn profiles(&self) -> Result<Vec<Name>, Error> {
        let unreadable = |source: io::Error| Error::ScanDirUnreadable {
            path: self.path.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(unreadable)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(profile) = name
                .to_str()
                .and_then(|n| n.strip_prefix(profile::SERVICE_PREFIX))
            else {
                continue;
            };
            if let Ok(profile) = Name::parse(profile) {
                if entry.path().is_dir() {
                    found.push(profile);
                }
            }
        }
        found.sort();
        Ok(found)
    }
}
