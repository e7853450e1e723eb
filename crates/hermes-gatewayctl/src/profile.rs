//! Profiles: their names (checked once, then carried as a [`Name`]), which
//! one a command acts on, and where a profile's home (holding
//! `gateway_state.json`) is.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The profile used when nothing names one.
pub const DEFAULT_PROFILE: &str = "default";
/// The Hermes root when `HERMES_HOME` is not set.
pub const DEFAULT_ROOT: &str = "/opt/data";
/// The s6 service of a profile is `gateway-<profile>`.
pub const SERVICE_PREFIX: &str = "gateway-";
const MAX_LEN: usize = 64;

/// True for names matching `^[a-z0-9][a-z0-9_-]{0,63}$`.
pub fn is_valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A valid profile name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// # Errors
    /// `Error::InvalidProfile` unless [`is_valid`].
    pub fn parse(name: &str) -> Result<Name, Error> {
        if is_valid(name) {
            Ok(Name(name.to_owned()))
        } else {
            Err(Error::InvalidProfile(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its s6 service: `gateway-<profile>`.
    pub fn service(&self) -> String {
        format!("{SERVICE_PREFIX}{}", self.0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where Hermes keeps its data: `HERMES_HOME`, which is either the Hermes
/// root or one profile's home under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HermesHome {
    /// The Hermes root: `$HERMES_HOME`, or `<root>` when `HERMES_HOME` is
    /// itself `<root>/profiles/<name>`.
    pub root: PathBuf,
    /// `<name>` when `HERMES_HOME` is `<root>/profiles/<name>` (not yet
    /// checked: only a command that uses it refuses a bad one).
    pub profile: Option<String>,
}

impl HermesHome {
    /// Reads `HERMES_HOME` (unset or empty: `/opt/data`).
    pub fn from_env() -> HermesHome {
        HermesHome::from_var(std::env::var_os("HERMES_HOME"))
    }

    /// [`HermesHome::from_env`] for a given value of `HERMES_HOME`. An
    /// existing path is resolved first (symlinks, `..`): the profile is
    /// decided from the directory itself, so the gateway acted on and the
    /// state file written always belong to the same profile.
    fn from_var(hermes_home: Option<std::ffi::OsString>) -> HermesHome {
        match hermes_home {
            Some(home) if !home.is_empty() => {
                let given = Path::new(&home);
                let real = std::fs::canonicalize(given).unwrap_or_else(|_| given.to_path_buf());
                HermesHome::from_path(&real)
            }
            _ => HermesHome {
                root: PathBuf::from(DEFAULT_ROOT),
                profile: None,
            },
        }
    }

    pub fn from_path(home: &Path) -> HermesHome {
        let trimmed: PathBuf = home.components().collect();
        // A name that is not UTF-8 becomes U+FFFD here, which `Name::parse`
        // then rejects: a profile home is never silently taken for a root.
        let name = trimmed.file_name().map(|n| n.to_string_lossy());
        let parent = trimmed.parent();
        match (name, parent) {
            (Some(name), Some(parent)) if parent.file_name().is_some_and(|p| p == "profiles") => {
                HermesHome {
                    root: parent
                        .parent()
                        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
                    profile: Some(name.into_owned()),
                }
            }
            _ => HermesHome {
                root: trimmed,
                profile: None,
            },
        }
    }

    /// The profile a command acts on: the one named on the command line
    /// (already checked), else the one `HERMES_HOME` names, else `default`.
    ///
    /// # Errors
    /// `Error::InvalidProfile` when `HERMES_HOME` names an invalid one.
    pub fn choose(&self, named: Option<Name>) -> Result<Name, Error> {
        match named {
            Some(name) => Ok(name),
            None => Name::parse(self.profile.as_deref().unwrap_or(DEFAULT_PROFILE)),
        }
    }

    /// A profile's home: the root for `default`, `<root>/profiles/<name>` otherwise.
    pub fn of(&self, profile: &Name) -> PathBuf {
        if profile.as_str() == DEFAULT_PROFILE {
            self.root.clone()
        } else {
            self.root.join("profiles").join(profile.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_a_parent_named_exactly_profiles_makes_hermes_home_a_profile() {
        for home in ["/r/Profiles/coder", "/r/profile/coder", "/r/PROFILES/coder"] {
            let h = HermesHome::from_path(Path::new(home));
            assert_eq!(h.root, PathBuf::from(home));
            assert_eq!(h.profile, None, "{home}");
        }
    }

    #[test]
    fn unset_or_empty_hermes_home_means_opt_data() {
        for value in [None, Some(std::ffi::OsString::new())] {
            let h = HermesHome::from_var(value.clone());
            assert_eq!(h.root, PathBuf::from("/opt/data"), "{value:?}");
            assert_eq!(h.profile, None, "{value:?}");
        }
        let h = HermesHome::from_var(Some("/srv/hermes".into()));
        assert_eq!(h.root, PathBuf::from("/srv/hermes"));
    }

    #[test]
    fn valid_and_invalid_names() {
        for ok in ["default", "a", "0", "coder", "a_b-c", &"a".repeat(64)] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "UPPER",
            "-x",
            "_x",
            "a b",
            "a\nb",
            "é",
            &"a".repeat(65),
            "a.b",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn hermes_home_of_a_profile_names_root_and_profile() {
        let h = HermesHome::from_path(Path::new("/srv/hermes/profiles/coder/"));
        assert_eq!(h.root, PathBuf::from("/srv/hermes"));
        assert_eq!(h.profile.as_deref(), Some("coder"));
        assert_eq!(
            h.of(&name("coder")),
            PathBuf::from("/srv/hermes/profiles/coder")
        );
        assert_eq!(h.of(&name("default")), PathBuf::from("/srv/hermes"));
    }

    #[test]
    fn a_profile_home_with_a_bad_name_is_rejected_not_taken_for_a_root() {
        use std::os::unix::ffi::OsStrExt;
        let home = Path::new(std::ffi::OsStr::from_bytes(b"/r/profiles/caf\xff"));
        let h = HermesHome::from_path(home);
        assert_eq!(h.root, PathBuf::from("/r"));
        assert!(matches!(h.choose(None), Err(Error::InvalidProfile(_))));
        let upper = HermesHome::from_path(Path::new("/r/profiles/UPPER"));
        assert!(matches!(upper.choose(None), Err(Error::InvalidProfile(_))));
    }

    #[test]
    fn hermes_home_through_a_link_or_dot_dot_is_the_profile_it_resolves_to() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = std::fs::canonicalize(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for p in ["p1", "p2"] {
            std::fs::create_dir_all(root.join("profiles").join(p))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let link = root.join("current");
        std::os::unix::fs::symlink(root.join("profiles/p2"), &link)
            .unwrap_or_else(|e| panic!("{e}"));
        for given in [link, root.join("profiles/p1/../p2")] {
            let h = HermesHome::from_var(Some(given.clone().into_os_string()));
            assert_eq!(h.profile.as_deref(), Some("p2"), "{given:?}");
            assert_eq!(h.root, root, "{given:?}");
        }
        // A root reached through a link is that root, with no profile.
        let to_root = dir.path().join("to-root");
        std::os::unix::fs::symlink(&root, &to_root).unwrap_or_else(|e| panic!("{e}"));
        let h = HermesHome::from_var(Some(to_root.into_os_string()));
        assert_eq!((h.root, h.profile), (root, None));
    }

    #[test]
    fn plain_hermes_home_is_the_root() {
        let h = HermesHome::from_path(Path::new("/srv/hermes"));
        assert_eq!(h.root, PathBuf::from("/srv/hermes"));
        assert_eq!(h.profile, None);
    }

    #[test]
    fn a_profile_named_on_the_command_line_wins_over_hermes_home() {
        let h = HermesHome::from_path(Path::new("/r/profiles/envp"));
        assert_eq!(h.choose(Some(name("arg"))).ok(), Some(name("arg")));
        assert_eq!(h.choose(None).ok(), Some(name("envp")));
        let plain = HermesHome::from_path(Path::new("/r"));
        assert_eq!(plain.choose(None).ok(), Some(name("default")));
        assert!(matches!(Name::parse("BAD"), Err(Error::InvalidProfile(_))));
    }
}
