//! A gateway's slot: its service directory `gateway-<profile>` in the scan
//! directory. A slot is built whole under a dot-name (`.gateway-<p>.tmp`,
//! which s6-svscan ignores), then renamed into place, so s6 never sees half
//! of one. Its supervise skeleton is made beforehand and handed to the
//! gateway's user: s6-supervise, running as root, keeps what already exists
//! (EEXIST is success to it) instead of making it root-only, so that user
//! can control and read the slot with s6-svc, s6-svstat and s6-svwait.

mod scripts;

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RenameFlags, mknodat, renameat_with};
use rustix::io::Errno;

use crate::error::Error;
use crate::profile::Name;

/// The Hermes image's `hermes` user and group.
pub const HERMES_OWNER: Owner = Owner {
    uid: 10000,
    gid: 10000,
};

/// Who gets a slot's supervise skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    /// `UID:GID`, both numbers.
    ///
    /// # Errors
    /// `Error::Usage` for anything else.
    pub fn parse(text: &str) -> Result<Owner, Error> {
        let number = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        match text.split_once(':').map(|(u, g)| (number(u), number(g))) {
            Some((Some(uid), Some(gid))) => Ok(Owner { uid, gid }),
            _ => Err(Error::usage(format!(
                "bad --owner {} (want UID:GID, two numbers)",
                crate::error::shown(text)
            ))),
        }
    }
}

/// A service-directory template: a directory with an executable `run`.
#[derive(Debug, Clone)]
pub struct Template(PathBuf);

impl Template {
    /// # Errors
    /// `Error::NotATemplate` when `dir` holds no executable `run` file.
    pub fn check(dir: PathBuf) -> Result<Template, Error> {
        let executable = fs::metadata(dir.join("run"))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            Ok(Template(dir))
        } else {
            Err(Error::NotATemplate(dir))
        }
    }
}

/// What a new slot holds.
#[derive(Debug, Clone)]
pub struct Spec {
    pub profile: Name,
    /// A service-directory template to copy, or `None` for the Hermes
    /// image's own scripts.
    pub template: Option<Template>,
    /// Without it the slot has a `down` file: supervised, not started.
    pub start: bool,
    pub owner: Owner,
}

/// A slot built under its dot-name, not yet in place; removed if dropped
/// unpublished.
#[derive(Debug)]
pub struct Staged {
    staging: PathBuf,
    live: PathBuf,
    published: bool,
}

/// The dot-name a slot is built under.
fn staging_dir(scandir: &Path, profile: &Name) -> PathBuf {
    scandir.join(format!(".{}.tmp", profile.service()))
}

/// Builds the slot `spec` describes under its dot-name in `scandir`
/// (whatever an interrupted build left there first removed).
///
/// # Errors
/// `Error::Slot` when something cannot be written.
pub fn stage(scandir: &Path, spec: &Spec) -> Result<Staged, Error> {
    let staging = staging_dir(scandir, &spec.profile);
    let live = scandir.join(spec.profile.service());
    let failed = |e: io::Error| Error::Slot {
        service: spec.profile.service(),
        source: e,
    };
    remove_tree(&staging).map_err(failed)?;
    fs::DirBuilder::new()
        .mode(0o777)
        .create(&staging)
        .map_err(failed)?;
    let staged = Staged {
        staging,
        live,
        published: false,
    };
    fill(&staged.staging, spec).map_err(failed)?;
    Ok(staged)
}

fn fill(dir: &Path, spec: &Spec) -> io::Result<()> {
    let slot = Dir::open(dir)?;
    match &spec.template {
        Some(Template(template)) => copy_template(template, dir)?,
        None => {
            slot.file("type", b"longrun\n", 0o644)?;
            slot.file("run", scripts::run(&spec.profile).as_bytes(), 0o755)?;
            slot.file("finish", scripts::FINISH.as_bytes(), 0o755)?;
            slot.dir("log", 0o777 & !slot.umask)?;
            slot.sub("log")?
                .file("run", scripts::log_run(&spec.profile).as_bytes(), 0o755)?;
        }
    }
    seed_supervise(&slot, spec.owner)?;
    if let Ok(log) = slot.sub("log") {
        seed_supervise(&log, spec.owner)?;
    }
    if !spec.start {
        slot.file("down", b"", 0o644)?;
    }
    Ok(())
}

/// A directory that files are made in by name, relative to an open
/// descriptor: a slot takes some fifty calls, each then without a walk of
/// the whole path.
struct Dir {
    fd: OwnedFd,
    umask: u32,
}

impl Dir {
    fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd, umask: umask() })
    }

    fn sub(&self, name: &str) -> io::Result<Dir> {
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())?;
        Ok(Dir {
            fd,
            umask: self.umask,
        })
    }

    /// A new file holding `bytes`, with exactly `mode`.
    fn file(&self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(mode))?;
        let mut file = fs::File::from(fd);
        io::Write::write_all(&mut file, bytes)?;
        if mode & self.umask != 0 {
            rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
        }
        Ok(())
    }

    /// A new directory with exactly `mode` (mkdir drops setgid and the
    /// umask's bits: set again where they matter).
    fn dir(&self, name: &str, mode: u32) -> io::Result<()> {
        rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode))?;
        if mode & (self.umask | 0o2000) != 0 {
            self.chmod(name, mode)?;
        }
        Ok(())
    }

    fn fifo(&self, name: &str, mode: u32) -> io::Result<()> {
        mknodat(&self.fd, name, FileType::Fifo, Mode::from_raw_mode(mode), 0)?;
        if mode & self.umask != 0 {
            self.chmod(name, mode)?;
        }
        Ok(())
    }

    fn chmod(&self, name: &str, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::chmodat(
            &self.fd,
            name,
            Mode::from_raw_mode(mode),
            AtFlags::empty(),
        )?)
    }

    /// Gives `name` to `owner`; an unprivileged caller cannot give its
    /// files away, and need not: they are its own already.
    fn chown(&self, name: &str, owner: Owner) -> io::Result<()> {
        let uid = Some(rustix::fs::Uid::from_raw(owner.uid));
        let gid = Some(rustix::fs::Gid::from_raw(owner.gid));
        match rustix::fs::chownat(&self.fd, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) | Err(Errno::PERM) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// This process's umask (read once: reading it means setting it).
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let old = rustix::process::umask(Mode::from_raw_mode(0o022));
        rustix::process::umask(old);
        old.as_raw_mode()
    })
}

/// Copies a service-directory template: files (with their modes),
/// directories and links, but not what s6-supervise made in it.
fn copy_template(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "supervise" || name == "event" {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            fs::DirBuilder::new().mode(0o777).create(&target)?;
            copy_template(&source, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

/// The skeleton s6-supervise would make root-only, made first and owned by
/// `owner`: `event/` and `supervise/event/` 03730 (setgid, group-writable,
/// sticky: a fifodir anyone of the group can subscribe in),
/// `supervise/` 0755 and its `control` FIFO 0660. Whatever is there already
/// (a template's) is kept as it is.
fn seed_supervise(dir: &Dir, owner: Owner) -> io::Result<()> {
    let fresh = |name: &str, made: io::Result<()>| match made {
        Ok(()) => dir.chown(name, owner),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    };
    fresh("event", dir.dir("event", 0o3730))?;
    fresh("supervise", dir.dir("supervise", 0o755))?;
    fresh("supervise/event", dir.dir("supervise/event", 0o3730))?;
    fresh("supervise/control", dir.fifo("supervise/control", 0o660))
}

impl Staged {
    /// The slot's place in the scan directory.
    #[cfg(test)]
    pub fn live(&self) -> &Path {
        &self.live
    }

    /// Puts the slot in place. With `replace`, an existing slot there is
    /// removed first (the caller has checked that no s6-supervise runs it);
    /// without, an existing one is an error and stays as it was.
    ///
    /// # Errors
    /// `Error::AlreadyRegistered`, or `Error::Slot` when the rename fails.
    pub fn publish(mut self, profile: &Name, replace: bool) -> Result<(), Error> {
        let failed = |e: io::Error| Error::Slot {
            service: profile.service(),
            source: e,
        };
        if replace {
            remove_tree(&self.live).map_err(failed)?;
        }
        match renameat_with(CWD, &self.staging, CWD, &self.live, RenameFlags::NOREPLACE) {
            Ok(()) => {
                self.published = true;
                Ok(())
            }
            Err(Errno::EXIST | Errno::NOTEMPTY) => Err(Error::AlreadyRegistered {
                profile: profile.clone(),
                dir: self.live.clone(),
            }),
            Err(e) => Err(failed(e.into())),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = remove_tree(&self.staging);
        }
    }
}

/// Removes a directory tree (never following a link out of it); a path
/// that does not exist is no error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(profile: &str, start: bool) -> Spec {
        Spec {
            profile: name(profile),
            template: None,
            start,
            owner: HERMES_OWNER,
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).map_or(0, |m| m.mode() & 0o7777)
    }

    #[test]
    fn owners_are_two_numbers() {
        assert_eq!(
            Owner::parse("10000:10001").ok(),
            Some(Owner {
                uid: 10000,
                gid: 10001
            })
        );
        for bad in [
            "",
            "10000",
            "a:b",
            ":1",
            "1:",
            "-1:0",
            "1:2:3",
            " 1:2",
            "99999999999:0",
        ] {
            assert!(Owner::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_slot_is_built_aside_and_published_whole() {
        let scandir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let staged = stage(scandir.path(), &spec("coder", false)).unwrap_or_else(|e| panic!("{e}"));
        let staging = scandir.path().join(".gateway-coder.tmp");
        assert!(staging.join("run").is_file());
        assert!(!staged.live().exists(), "published before it was asked");
        staged
            .publish(&name("coder"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let live = scandir.path().join("gateway-coder");
        assert!(!staging.exists());
        for (path, expected) in [
            ("run", 0o755),
            ("finish", 0o755),
            ("log/run", 0o755),
            ("event", 0o3730),
            ("supervise", 0o755),
            ("supervise/event", 0o3730),
            ("supervise/control", 0o660),
            ("log/event", 0o3730),
            ("log/supervise/control", 0o660),
        ] {
            assert_eq!(mode(&live.join(path)), expected, "{path}");
        }
        assert_eq!(
            fs::read_to_string(live.join("type")).ok().as_deref(),
            Some("longrun\n")
        );
        assert!(live.join("down").is_file(), "registered up without --start");
    }

    #[test]
    fn publishing_over_an_existing_slot_needs_replace() {
        let scandir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let live = scandir.path().join("gateway-coder");
        fs::create_dir(&live).unwrap_or_else(|e| panic!("{e}"));
        fs::write(live.join("run"), "old").unwrap_or_else(|e| panic!("{e}"));
        let staged = stage(scandir.path(), &spec("coder", true)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            staged.publish(&name("coder"), false),
            Err(Error::AlreadyRegistered { .. })
        ));
        assert_eq!(
            fs::read_to_string(live.join("run")).ok().as_deref(),
            Some("old")
        );
        assert!(
            !scandir.path().join(".gateway-coder.tmp").exists(),
            "staging left"
        );
        let staged = stage(scandir.path(), &spec("coder", true)).unwrap_or_else(|e| panic!("{e}"));
        staged
            .publish(&name("coder"), true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!live.join("down").exists());
        assert!(fs::read_to_string(live.join("run")).is_ok_and(|r| r.contains("gateway run")));
    }
}
