//! The allocation-free logic of hermes-heartbeat: argument parsing, what each
//! signal means, and the one-line messages. The binary (`main.rs`) glues this
//! to the libc calls in its `sys` module.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod error;
pub mod line;
pub mod signals;
