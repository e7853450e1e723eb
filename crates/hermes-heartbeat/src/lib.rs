//! The allocation-free logic of hermes-heartbeat: argument parsing, what each
//! signal means, the one-line messages, and when to retry a readiness newline
//! that did not fit. The binary (`main.rs`) glues this to the libc calls in
//! its `sys` module.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod error;
pub mod line;
pub mod ready;
pub mod signals;
