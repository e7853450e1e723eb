//! The scripts of a gateway slot as the Hermes image writes them, so that a
//! slot made by gatewayctl is the one the image's own registration makes:
//! `with-contenv` (the container's environment), `HOME` and the working
//! directory at `/opt/data`, the image's virtualenv, the supervised-child
//! marker, the drop to the `hermes` user unless already unprivileged, and
//! `gateway run --replace` (a stray gateway started outside s6 must not
//! hold the profile's lock and send this one into a restart loop).

use crate::profile::{DEFAULT_PROFILE, Name};

/// `run`: the gateway of `profile` in the foreground. The default profile is
/// the Hermes root, which `hermes` names by giving no `-p` at all.
pub fn run(profile: &Name) -> String {
    let gateway = if profile.as_str() == DEFAULT_PROFILE {
        "hermes gateway run --replace".to_owned()
    } else {
        // A valid profile name needs no shell quoting: [a-z0-9_-] only.
        format!("hermes -p {profile} gateway run --replace")
    };
    format!(
        "#!/command/with-contenv sh\n\
         # shellcheck shell=sh\n\
         set -e\n\
         export HOME=/opt/data\n\
         cd /opt/data\n\
         . /opt/hermes/.venv/bin/activate\n\
         export HERMES_S6_SUPERVISED_CHILD=1\n\
         [ \"$(id -u)\" = 0 ] || exec {gateway}\n\
         exec s6-setuidgid hermes {gateway}\n"
    )
}

/// `finish`: only a configuration error (78, EX_CONFIG) is permanent (125
/// tells s6-supervise not to restart); any other end is restarted when s6
/// wants the gateway up, and left down when it does not.
pub const FINISH: &str = "#!/command/with-contenv sh\n\
# shellcheck shell=sh\n\
# $1 = exit code from the run script.\n\
# Exit 78 (EX_CONFIG) = fatal config error — don't restart.\n\
if [ \"$1\" = \"78\" ]; then\n  exit 125\nfi\nexit 0\n";

/// `log/run`: s6-log, as `hermes`, into `$HERMES_HOME/logs/gateways/<p>`
/// (read at run time, so a container started with another HERMES_HOME logs
/// there), ten files of 1 MB, each line also forwarded to the container's
/// stdout; the `gateways/` parent is handed to `hermes` too, so profiles
/// registered later can make their own directory.
pub fn log_run(profile: &Name) -> String {
    format!(
        "#!/command/with-contenv sh\n\
         # shellcheck shell=sh\n\
         : \"${{HERMES_HOME:=/opt/data}}\"\n\
         log_dir=\"$HERMES_HOME/logs/gateways/{profile}\"\n\
         mkdir -p \"$log_dir\"\n\
         chown hermes:hermes \"$HERMES_HOME/logs/gateways\" 2>/dev/null || true\n\
         chown -R hermes:hermes \"$log_dir\" 2>/dev/null || true\n\
         rm -f \"$log_dir/lock\"\n\
         [ \"$(id -u)\" = 0 ] || exec s6-log 1 n10 s1000000 T \"$log_dir\"\n\
         exec s6-setuidgid hermes s6-log 1 n10 s1000000 T \"$log_dir\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_default_profile_runs_without_p_and_the_others_with_it() {
        let default = run(&name("default"));
        assert!(default.ends_with(
            "[ \"$(id -u)\" = 0 ] || exec hermes gateway run --replace\n\
             exec s6-setuidgid hermes hermes gateway run --replace\n"
        ));
        let coder = run(&name("coder"));
        assert!(
            coder.ends_with("exec s6-setuidgid hermes hermes -p coder gateway run --replace\n")
        );
        assert!(coder.starts_with("#!/command/with-contenv sh\n# shellcheck shell=sh\nset -e\n"));
    }

    #[test]
    fn finish_makes_only_a_configuration_error_permanent() {
        assert!(FINISH.contains("if [ \"$1\" = \"78\" ]; then\n  exit 125\nfi\nexit 0\n"));
        assert_eq!(FINISH.matches("exit 125").count(), 1);
    }

    #[test]
    fn the_log_goes_under_hermes_home_by_profile() {
        let log = log_run(&name("coder"));
        assert!(log.contains("log_dir=\"$HERMES_HOME/logs/gateways/coder\"\n"));
        assert!(log.ends_with("exec s6-setuidgid hermes s6-log 1 n10 s1000000 T \"$log_dir\"\n"));
    }
}
