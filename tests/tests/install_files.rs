//! What `make install` ships besides the programs: the man pages (clean
//! under mandoc's lint, naming every command, option and variable the
//! programs have), gatewayctl's shell completions (the bash one driven as
//! bash drives it), and `make uninstall` taking exactly those files away.
//! cargo and rustup are stand-ins here: nothing is built.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hermes_e2e::run::{Output, run};
use hermes_e2e::stand_ins::StandIns;
use hermes_e2e::{bins, program};

const LIMIT: Duration = Duration::from_secs(60);
const MAN_PAGES: [&str; 2] = ["man/gatewayctl.1", "man/hermes-heartbeat.8"];

/// Each installed file under `$(DESTDIR)$(PREFIX)`, where it comes from in
/// the tree (`None`: the static binary of that name), and its mode.
const INSTALLED: [(&str, Option<&str>, u32); 7] = [
    ("bin/hermes-heartbeat", None, 0o755),
    ("bin/gatewayctl", None, 0o755),
    (
        "share/man/man1/gatewayctl.1",
        Some("man/gatewayctl.1"),
        0o644,
    ),
    (
        "share/man/man8/hermes-heartbeat.8",
        Some("man/hermes-heartbeat.8"),
        0o644,
    ),
    (
        "share/bash-completion/completions/gatewayctl",
        Some("completions/gatewayctl.bash"),
        0o644,
    ),
    (
        "share/zsh/site-functions/_gatewayctl",
        Some("completions/_gatewayctl"),
        0o644,
    ),
    (
        "share/fish/vendor_completions.d/gatewayctl.fish",
        Some("completions/gatewayctl.fish"),
        0o644,
    ),
];

/// The s6 files of docker/s6 installed under `share/hermes-gatewayctl/s6`,
/// with their mode: as in the tree, but with every `/usr/local/bin` turned
/// into `$(PREFIX)/bin`.
const S6_INSTALLED: [(&str, u32); 7] = [
    ("gateway-template/run", 0o755),
    ("gateway-template/finish", 0o755),
    ("gateway-template/type", 0o644),
    ("heartbeat/run", 0o755),
    ("heartbeat/type", 0o644),
    ("heartbeat/notification-fd", 0o644),
    ("02-reconcile-profiles", 0o755),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

fn repo_text(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `name` in the caller's PATH, if it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn skipped(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

// --- man pages ------------------------------------------------------------------

fn mandoc() -> PathBuf {
    on_path("mandoc").unwrap_or_else(|| {
        panic!("mandoc is not installed: run `make deps-man` (`make test` does) to install it")
    })
}

#[test]
fn the_man_pages_pass_mandoc_lint() {
    let mandoc = mandoc();
    for page in MAN_PAGES {
        let out = run(
            Command::new(&mandoc)
                .args(["-Tlint", "-Wwarning"])
                .arg(repo().join(page)),
            LIMIT,
        );
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", ""),
            "mandoc -Tlint -Wwarning {page}: {out:?}"
        );
    }
}

/// The page as a reader sees it: rendered, without the overstriking.
fn rendered(page: &str) -> String {
    let out = run(
        Command::new(mandoc())
            .args(["-Tascii", "-Owidth=200"])
            .arg(repo().join(page)),
        LIMIT,
    );
    assert_eq!(out.code, 0, "mandoc {page}: {out:?}");
    let mut text = String::new();
    for c in out.stdout.chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

/// `program --help`, which must succeed.
fn help(program: &Path) -> String {
    let out = run(Command::new(program).arg("--help"), LIMIT);
    assert_eq!(out.code, 0, "{} --help: {out:?}", program.display());
    out.stdout
}

/// Every option the help names (`-p`, `--scandir`, ...).
fn options(help: &str) -> BTreeSet<String> {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| {
            let bytes = word.as_bytes();
            match bytes {
                [b'-', b'-', c, ..] => c.is_ascii_alphabetic(),
                [b'-', c] => c.is_ascii_alphabetic(),
                _ => false,
            }
        })
        .map(str::to_owned)
        .collect()
}

/// gatewayctl's commands: the first word of each line of the synopsis.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("usage:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .map(|word| word.trim_end_matches(',').to_owned())
        .collect()
}

/// The variables in the README's table of gatewayctl's environment.
fn readme_variables() -> Vec<String> {
    repo_text("README.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| {
            name.len() > 2
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_man_pages_name_every_command_option_and_variable_the_programs_have() {
    let gatewayctl_help = help(&bins::gatewayctl());
    let page = rendered("man/gatewayctl.1");
    let names = commands(&gatewayctl_help);
    assert!(names.len() >= 10, "{names:?} from {gatewayctl_help}");
    for command in &names {
        assert!(
            page.contains(&format!("\n     {command} ")),
            "man/gatewayctl.1 describes no command {command:?}:\n{page}"
        );
    }
    for option in options(&gatewayctl_help) {
        assert!(page.contains(&option), "man/gatewayctl.1 has no {option}");
    }
    let variables = readme_variables();
    assert!(
        variables.contains(&"HERMES_HOME".to_owned()),
        "{variables:?}"
    );
    let environment = page
        .split("\nENVIRONMENT\n")
        .nth(1)
        .and_then(|rest| rest.split("\nFILES\n").next())
        .unwrap_or_else(|| panic!("man/gatewayctl.1 has no ENVIRONMENT:\n{page}"));
    for variable in variables {
        assert!(
            environment.lines().any(|line| line.trim() == variable),
            "man/gatewayctl.1's ENVIRONMENT has no {variable}:\n{environment}"
        );
    }
    for code in ["126, 127", "128 + signum"] {
        assert!(
            page.contains(code),
            "man/gatewayctl.1 has no exit code {code}"
        );
    }

    let heartbeat_help = help(&bins::heartbeat());
    let page = rendered("man/hermes-heartbeat.8");
    for option in options(&heartbeat_help) {
        assert!(
            page.contains(&option),
            "man/hermes-heartbeat.8 has no {option}"
        );
    }
    for code in ["143", "130", "129", "131", "128 + signum"] {
        assert!(page.contains(code), "man/hermes-heartbeat.8 has no {code}");
    }
}

// --- make install, make uninstall -----------------------------------------------

/// `make target vars...` in the repository with `fakes` first on PATH and
/// none of an outer make's variables.
fn make(fakes: &StandIns, target: &str, vars: &[String]) -> Output {
    let mut cmd = Command::new("make");
    cmd.arg(target)
        .args(vars)
        .current_dir(repo())
        .env("PATH", fakes.path())
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("TARGET")
        .env_remove("DESTDIR")
        .env_remove("PREFIX");
    run(&mut cmd, LIMIT)
}

/// Every entry under `dir` that is not a directory, relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display())) {
            let path = entry.expect("a directory entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under dir");
                found.insert(relative.display().to_string());
            }
        }
    }
    found
}

#[test]
fn make_install_puts_every_file_in_place_and_make_uninstall_removes_them() {
    // The stand-in cargo builds nothing and rustup has the musl target, so
    // `install`'s `static` prerequisite only lists the binaries.
    let fakes = StandIns::new("hermes-install-files-");
    fakes.add("cargo", "exit 0");
    fakes.add("rustup", "echo x86_64-unknown-linux-musl");
    let static_dir = fakes.dir().join("static");
    fs::create_dir(&static_dir).expect("mkdir");
    for built in [bins::heartbeat(), bins::gatewayctl()] {
        let name = built.file_name().expect("a file name");
        program::copy(&built, &static_dir.join(name));
    }
    let dest = tempfile::Builder::new()
        .prefix("hermes-install-dest-")
        .tempdir()
        .expect("tempdir");
    let vars = [
        format!("DESTDIR={}", dest.path().display()),
        "PREFIX=/usr".to_owned(),
        format!("CARGO={}", fakes.program("cargo").display()),
        format!("STATIC_DIR={}", static_dir.display()),
    ];

    let out = make(&fakes, "install", &vars);
    assert_eq!(out.code, 0, "make install: {out:?}");
    let prefix = dest.path().join("usr");
    for (path, source, mode) in INSTALLED {
        let installed = prefix.join(path);
        let meta = fs::symlink_metadata(&installed)
            .unwrap_or_else(|e| panic!("{}: {e}\n{out:?}", installed.display()));
        assert!(meta.is_file(), "{} is no plain file", installed.display());
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            mode,
            "mode of {}",
            installed.display()
        );
        let original = match source {
            Some(source) => repo().join(source),
            None => static_dir.join(Path::new(path).file_name().expect("a file name")),
        };
        assert!(
            fs::read(&installed).expect("read installed") == fs::read(&original).expect("read"),
            "{} is not {}",
            installed.display(),
            original.display()
        );
    }
    // The run scripts' fallback PATH and the programs they exec follow PREFIX.
    for (path, mode) in S6_INSTALLED {
        let installed = prefix.join("share/hermes-gatewayctl/s6").join(path);
        let meta = fs::metadata(&installed)
            .unwrap_or_else(|e| panic!("{}: {e}\n{out:?}", installed.display()));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "mode of {path}");
        let wanted = repo_text(&format!("docker/s6/{path}")).replace("/usr/local/bin", "/usr/bin");
        assert_eq!(
            fs::read_to_string(&installed).expect("read"),
            wanted,
            "{path}"
        );
    }
    assert!(
        fs::read_to_string(prefix.join("share/hermes-gatewayctl/s6/gateway-template/run"))
            .expect("read")
            .contains("PATH=${PATH:+$PATH:}/usr/bin:"),
        "the template's fallback PATH does not start with PREFIX's bin"
    );
    let expected: BTreeSet<String> = INSTALLED
        .iter()
        .map(|(path, _, _)| format!("usr/{path}"))
        .chain(
            S6_INSTALLED
                .iter()
                .map(|(path, _)| format!("usr/share/hermes-gatewayctl/s6/{path}")),
        )
        .collect();
    assert_eq!(files_under(dest.path()), expected, "{out:?}");
    // The installed programs run.
    let version = run(
        Command::new(prefix.join("bin/gatewayctl")).arg("--version"),
        LIMIT,
    );
    assert_eq!(version.code, 0, "{version:?}");
    assert!(version.stdout.starts_with("gatewayctl "), "{version:?}");
    // Nothing was built: the stand-in cargo was asked for the static build only.
    assert!(
        fakes
            .logged()
            .iter()
            .filter(|line| line.starts_with("cargo"))
            .all(|line| line.starts_with("cargo build --release --locked --target ")),
        "{:?}",
        fakes.logged()
    );

    let out = make(&fakes, "uninstall", &vars);
    assert_eq!(out.code, 0, "make uninstall: {out:?}");
    assert_eq!(
        files_under(dest.path()),
        BTreeSet::new(),
        "make uninstall left files behind: {out:?}"
    );
    // Nothing to remove is no failure either.
    let out = make(&fakes, "uninstall", &vars);
    assert_eq!(out.code, 0, "make uninstall, twice: {out:?}");
}

// --- shell completions ----------------------------------------------------------

/// What the real `gatewayctl list` prints for the registered profiles
/// `coder` and `writer`.
fn real_list_output() -> String {
    let root = tempfile::Builder::new()
        .prefix("hermes-install-list-")
        .tempdir()
        .expect("tempdir");
    for dir in [".s6-svscan", "gateway-coder", "gateway-writer"] {
        fs::create_dir(root.path().join(dir)).expect("mkdir");
    }
    let out = run(
        Command::new(bins::gatewayctl())
            .arg("--scandir")
            .arg(root.path())
            .arg("list"),
        LIMIT,
    );
    assert_eq!(out.code, 0, "gatewayctl list: {out:?}");
    assert!(
        out.stdout.contains("coder") && out.stdout.contains("writer"),
        "{out:?}"
    );
    out.stdout
}

/// The words bash's completion offers, sorted, for `words` (the last one
/// is being typed), through the function the script registers for
/// gatewayctl, with `fakes` alone before the system's directories on PATH.
fn bash_complete(fakes: &StandIns, words: &[&str]) -> (Vec<String>, Output) {
    let script = r#"
source "$1" || exit 90
shift
spec=$(complete -p gatewayctl) || exit 91
fn=${spec##*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" gatewayctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = run(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-c", script, "bash"])
            .arg(repo().join("completions/gatewayctl.bash"))
            .args(words)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", fakes.dir().join("bin").display()),
            )
            .env_remove("S6_PROFILE_GATEWAY_SCANDIR")
            .env_remove("BASH_ENV"),
        LIMIT,
    );
    assert_eq!(out.code, 0, "completing {words:?}: {out:?}");
    // Sorted, as bash shows them.
    let mut offered: Vec<String> = out.stdout_lines().iter().map(|w| (*w).to_owned()).collect();
    offered.sort();
    (offered, out)
}

#[test]
fn bash_completes_commands_and_options() {
    let fakes = StandIns::new("hermes-install-bash-");
    fakes.add("gatewayctl", "exit 0");
    let (offered, out) = bash_complete(&fakes, &["gatewayctl", "st"]);
    assert_eq!(offered, ["start", "status", "stop"], "{out:?}");
    let (offered, out) = bash_complete(&fakes, &["gatewayctl", "stop", "--"]);
    for option in ["--all", "--wait", "--timeout", "--profile", "--scandir"] {
        assert!(offered.iter().any(|o| o == option), "{option}: {out:?}");
    }
    assert!(!offered.iter().any(|o| o == "--json"), "{out:?}");
    let (offered, out) = bash_complete(&fakes, &["gatewayctl", "reconcile", "--d"]);
    assert_eq!(offered, ["--dry-run"], "{out:?}");
}

#[test]
fn bash_completes_profiles_from_gatewayctl_list() {
    let fakes = StandIns::new("hermes-install-bash-");
    let listed = fakes.dir().join("listed");
    fs::write(&listed, real_list_output()).expect("write");
    fakes.add("gatewayctl", &format!("cat '{}'", listed.display()));
    let both = ["coder", "writer"];

    let (offered, out) = bash_complete(&fakes, &["gatewayctl", "stop", ""]);
    assert_eq!(offered, both, "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert_eq!(fakes.logged(), ["gatewayctl list"], "{out:?}");

    let (offered, out) = bash_complete(&fakes, &["gatewayctl", "-p", "w"]);
    assert_eq!(offered, ["writer"], "{out:?}");
    // A scan directory named on the command line is the one listed.
    let (offered, out) = bash_complete(
        &fakes,
        &["gatewayctl", "--scandir", "/srv/service", "status", ""],
    );
    assert_eq!(offered, both, "{out:?}");
    assert_eq!(
        fakes.logged().last().map(String::as_str),
        Some("gatewayctl --scandir /srv/service list"),
        "{out:?}"
    );
}

#[test]
fn bash_completion_stays_silent_when_gatewayctl_fails() {
    let fakes = StandIns::new("hermes-install-bash-");
    fakes.add(
        "gatewayctl",
        "echo '✗ not under s6 supervision' >&2\necho 'garbage line!'\nexit 1",
    );
    let (offered, out) = bash_complete(&fakes, &["gatewayctl", "stop", ""]);
    assert_eq!(
        (offered.as_slice(), out.stderr.as_str()),
        (&[][..], ""),
        "{out:?}"
    );
    // No gatewayctl at all.
    let empty = StandIns::new("hermes-install-bash-");
    let (offered, out) = bash_complete(&empty, &["gatewayctl", "stop", ""]);
    assert_eq!(
        (offered.as_slice(), out.stderr.as_str()),
        (&[][..], ""),
        "{out:?}"
    );
}

#[test]
fn the_completions_name_every_command_and_option_of_the_help() {
    let help = help(&bins::gatewayctl());
    let bash = repo_text("completions/gatewayctl.bash");
    let zsh = repo_text("completions/_gatewayctl");
    let fish = repo_text("completions/gatewayctl.fish");
    for command in commands(&help) {
        for (file, text) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
            assert!(text.contains(&command), "{file}: no command {command}");
        }
    }
    for option in options(&help) {
        assert!(bash.contains(&option), "bash: no {option}");
        assert!(zsh.contains(&option), "zsh: no {option}");
        let fish_option = match option.strip_prefix("--") {
            Some(long) => format!("-l {long}"),
            None => format!("-s {}", &option[1..]),
        };
        assert!(fish.contains(&fish_option), "fish: no {fish_option}");
    }
}

#[test]
fn the_completions_parse_in_their_shells() {
    for (shell, file) in [
        ("bash", "completions/gatewayctl.bash"),
        ("zsh", "completions/_gatewayctl"),
        ("fish", "completions/gatewayctl.fish"),
    ] {
        let Some(program) = on_path(shell) else {
            skipped(
                "the_completions_parse_in_their_shells",
                &format!("{shell} is not installed: {file} not checked"),
            );
            continue;
        };
        let out = run(
            Command::new(program).arg("-n").arg(repo().join(file)),
            LIMIT,
        );
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (0, ""),
            "{shell} -n {file}: {out:?}"
        );
    }
}
