//! Command-line words for the suites that throw arguments at gatewayctl
//! (the bad-input and fuzz suites): commands and near misses, every option
//! in its spellings, numbers s6 or Rust might misread, names valid and not,
//! control characters, and bytes that are not UTF-8.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// The printable words.
pub const WORDS: &[&str] = &[
    "start",
    "stop",
    "restart",
    "status",
    "list",
    "help",
    "--help",
    "-h",
    "--version",
    "-V",
    "-p",
    "--profile",
    "--profile=",
    "--profile=coder",
    "-pcoder",
    "--scandir",
    "--scandir=",
    "-w",
    "--wait",
    "--wait=1",
    "-T",
    "--timeout",
    "--timeout=0",
    "-T0",
    "-T1",
    "-wT",
    "-Tw",
    "1",
    "0",
    "-1",
    "99999999999999999999",
    "1.5",
    "nan",
    "--all",
    "--all=yes",
    "--json",
    "--no-supervise",
    "--",
    "-",
    "---",
    "=",
    "coder",
    "default",
    "typo",
    "UPPER",
    "../etc",
    "a/b",
    "",
    " ",
    "\n",
    "é",
    "ß🙂",
    "-x",
    "--x",
    "-pw",
    "\u{7f}",
    "\u{1b}[31m",
    "%s%n",
    "gateway-coder",
    "Stop",
    "STATUS",
    "lis",
    "stat",
    "runn",
    "--timeout=",
    "-T5",
    "-wp",
    "-hp",
    "-Vx",
    "--all=",
    "--json=no",
    "--=",
    "-=",
    "-p=",
    "0.001",
    "1e-320",
    "1e400",
    "NaN",
    "inf",
    "-inf",
    "86400",
    "86401",
    " 5 ",
    "5s",
    "0x10",
    "\u{663}",
    "1_000",
];

/// [`WORDS`], and the words no `&str` holds: long ones and invalid UTF-8.
pub fn pool() -> Vec<OsString> {
    let mut pool: Vec<OsString> = WORDS.iter().map(OsString::from).collect();
    pool.push(OsString::from("x".repeat(70)));
    pool.push(OsString::from("a".repeat(5000)));
    pool.push(OsString::from_vec(vec![0xff, 0xfe]));
    pool.push(OsString::from_vec(b"coder\xff".to_vec()));
    pool.push(OsString::from_vec(b"--profile=\xc3".to_vec()));
    pool.push(OsString::from_vec(b"-p\x80".to_vec()));
    pool
}
