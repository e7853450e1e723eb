//! Fixtures shared by the end-to-end suites and the benchmark: where the built
//! binaries are, child processes that clean up after themselves, and /proc
//! readings. Every fixture is bounded in time and kills what it started.

pub mod arm64;
pub mod bins;
pub mod container;
pub mod elf;
pub mod heartbeat;
pub mod ns;
pub mod podman;
pub mod proc;
pub mod program;
pub mod rng;
pub mod run;
pub mod s6;
pub mod signals;
pub mod stand_ins;
pub mod tokens;
pub mod tree;
pub mod verb;
