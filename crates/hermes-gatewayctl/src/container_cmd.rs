//! What the container was started to do, read as Hermes reads it: the
//! words after the image's `main-wrapper.sh` in the argv of PID 1 (an
//! s6-overlay v2 or tini image) or of the process that holds that word (v3,
//! where PID 1 is s6-svscan and rc.init runs the command), with a leading
//! `hermes` dropped.

use std::fs;
use std::path::Path;

const WRAPPER: &str = "main-wrapper.sh";

/// The container's command, as argv words.
pub fn argv() -> Vec<String> {
    let holds_wrapper = |argv: &Vec<String>| argv.iter().any(|w| w.contains(WRAPPER));
    if let Some(argv) = cmdline(Path::new("/proc/1/cmdline")).filter(holds_wrapper) {
        return argv;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .find_map(|e| cmdline(&e.path().join("cmdline")).filter(holds_wrapper))
        .unwrap_or_default()
}

/// A process's argv words. Read with one open and one read for the common
/// case (the scan reads every process's), no more than 64 KiB.
fn cmdline(path: &Path) -> Option<Vec<String>> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let mut raw = vec![0u8; 4096];
    let mut len = 0;
    while len < 64 * 1024 {
        if len == raw.len() {
            raw.resize(raw.len() * 2, 0);
        }
        match rustix::io::read(&fd, &mut raw[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    raw.truncate(len);
    Some(
        raw.split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
}

/// The hermes words of `argv`: what follows `main-wrapper.sh` (or a bare
/// `init`), without a leading `hermes`.
pub fn hermes_words(argv: &[String]) -> &[String] {
    let base = |word: &String| {
        Path::new(word)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    let mut words = match argv.iter().position(|w| w.ends_with(WRAPPER)) {
        Some(at) => &argv[at + 1..],
        None if argv.first().and_then(base).as_deref() == Some("init") => &argv[1..],
        None => argv,
    };
    if words.first().and_then(base).as_deref() == Some("hermes") {
        words = &words[1..];
    }
    words
}

/// A dashboard container: it runs no gateways.
pub fn is_dashboard(argv: &[String]) -> bool {
    hermes_words(argv).first().is_some_and(|w| w == "dashboard")
}

/// A container started as the gateway itself (`gateway run`, before s6).
pub fn is_legacy_gateway_run(argv: &[String]) -> bool {
    let words = hermes_words(argv);
    !words.iter().any(|w| w == "--no-supervise")
        && words.len() >= 2
        && words[0] == "gateway"
        && words[1] == "run"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_words_after_the_wrapper_count_in_either_s6_overlay() {
        let v2 = words("/init /opt/hermes/docker/main-wrapper.sh gateway run");
        let v3 = words(
            "/bin/sh -e /run/s6/basedir/scripts/rc.init top /opt/hermes/docker/main-wrapper.sh hermes gateway run -v",
        );
        assert!(is_legacy_gateway_run(&v2));
        assert!(is_legacy_gateway_run(&v3));
        assert!(!is_legacy_gateway_run(&words(
            "/init /x/main-wrapper.sh gateway run --no-supervise"
        )));
        assert!(!is_legacy_gateway_run(&words(
            "/init /x/main-wrapper.sh gateway"
        )));
        assert!(is_legacy_gateway_run(&words(
            "/usr/bin/init hermes gateway run"
        )));
        assert!(is_dashboard(&words(
            "/init /x/main-wrapper.sh dashboard --port 1"
        )));
        assert!(is_dashboard(&words("hermes dashboard")));
        assert!(!is_dashboard(&words(
            "/init /x/main-wrapper.sh gateway run"
        )));
        assert!(!is_dashboard(&[]));
    }
}
