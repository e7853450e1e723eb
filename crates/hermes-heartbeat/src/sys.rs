//! Every libc call the heartbeat makes, and the only `unsafe` in it. One small
//! function per call; each names the C function it wraps.

use core::ffi::{CStr, c_char, c_int, c_long, c_ulong, c_void};

/// An `errno` value from a failed call.
#[derive(Clone, Copy)]
pub struct Errno(pub i32);

const EINTR: i32 = 4;
/// Also `EWOULDBLOCK` on Linux.
const EAGAIN: i32 = 11;
const SIG_SETMASK: c_int = 2;
const WNOHANG: c_int = 1;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
/// `O_NONBLOCK` as asm-generic numbers it (alpha, mips, parisc and sparc,
/// not targets here, differ).
pub const O_NONBLOCK: c_int = 0o4000;
const RLIMIT_NOFILE: c_int = 7;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const SYS_CLOSE_RANGE: c_long = 436;
// The architectures built and run by the test suites (aarch64 under qemu):
// their system call numbers, and the 64-bit `struct rlimit` and `struct
// timespec` fields declared below, are right there. Any other refuses to
// compile rather than guess.
#[cfg(target_arch = "x86_64")]
const SYS_RT_SIGACTION: c_long = 13;
#[cfg(target_arch = "aarch64")]
const SYS_RT_SIGACTION: c_long = 134;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "hermes-heartbeat supports x86_64 and aarch64 only: check every declaration in sys.rs \
     (system call numbers, struct rlimit, struct timespec) for a new architecture, and run \
     the suites on it, before adding it"
);
/// The kernel's signal set is 64 bits on every supported target.
const KERNEL_SIGSET_BYTES: usize = 8;

/// `sigset_t`: 1024 bits in both musl and glibc.
#[repr(C)]
pub struct SigSet([c_ulong; 1024 / c_ulong::BITS as usize]);

/// The kernel's `struct sigaction`, all zero: `SIG_DFL`, no flags, no
/// restorer, empty mask. Large enough for every layout the kernel uses (the
/// restorer field exists on some architectures only), and all-zero in each.
#[repr(C)]
struct KernelSigAction([u64; 4]);

/// `struct timespec` as musl lays it out: a 64-bit `time_t`, then a `long`;
/// on x86_64 and aarch64 that is two 64-bit fields, in glibc too.
#[repr(C)]
struct TimeSpec {
    sec: i64,
    nsec: c_long,
}

/// `siginfo_t`: 128 bytes on every Linux target; only the signal number,
/// which `sigwaitinfo` returns, is used.
#[repr(C)]
struct SigInfo([u64; 16]);

// SAFETY: each declaration matches the C prototype in musl's and glibc's
// headers (the variadic `prctl`, `fcntl` and `syscall` are called with
// `c_ulong`/`c_long` arguments only, as the kernel reads them); nothing is
// called outside the wrappers below.
#[link(name = "c")]
unsafe extern "C" {
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwaitinfo(set: *const SigSet, info: *mut SigInfo) -> c_int;
    fn sigtimedwait(set: *const SigSet, info: *mut SigInfo, timeout: *const TimeSpec) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn chdir(path: *const c_char) -> c_int;
    fn prctl(option: c_int, ...) -> c_int;
    fn syscall(number: c_long, ...) -> c_long;
    fn getrlimit(resource: c_int, limits: *mut [u64; 2]) -> c_int;
    fn __errno_location() -> *mut c_int;
    fn _exit(code: c_int) -> !;
}

fn errno() -> Errno {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    Errno(unsafe { *__errno_location() })
}

impl Errno {
    /// EAGAIN: a non-blocking call that would have had to wait.
    pub fn would_block(self) -> bool {
        self.0 == EAGAIN
    }
}

fn check(ret: c_int) -> Result<(), Errno> {
    if ret == -1 { Err(errno()) } else { Ok(()) }
}

impl SigSet {
    /// Every signal 1..=64 except `excluded`. Built bit by bit rather than
    /// with `sigfillset`: musl's leaves out 32..=34 (glibc's 32 and 33), which
    /// the libc reserves for its threads and timers; left unblocked, those
    /// kill the process (their default action) when anyone sends them.
    pub fn all_except(excluded: &[i32]) -> SigSet {
        let mut set = SigSet([0; 1024 / c_ulong::BITS as usize]);
        for signo in 1..=crate::signals::MAX_SIGNAL {
            if !excluded.contains(&signo) {
                let (word, bit) = Self::position(signo);
                set.0[word] |= 1 << bit;
            }
        }
        set
    }

    /// True when `signo` (1..=64) is in the set.
    pub fn contains(&self, signo: i32) -> bool {
        if !(1..=crate::signals::MAX_SIGNAL).contains(&signo) {
            return false;
        }
        let (word, bit) = Self::position(signo);
        self.0[word] & (1 << bit) != 0
    }

    /// Word and bit of `signo` in the set, as the kernel lays it out.
    fn position(signo: i32) -> (usize, u32) {
        let index = (signo - 1) as u32;
        ((index / c_ulong::BITS) as usize, index % c_ulong::BITS)
    }
}

/// `sigprocmask(SIG_SETMASK, set)`: blocks exactly `set`.
pub fn block_signals(set: &SigSet) -> Result<(), Errno> {
    // SAFETY: `set` is a valid sigset_t; the old mask is not requested.
    check(unsafe { sigprocmask(SIG_SETMASK, set, core::ptr::null_mut()) })
}

/// `rt_sigaction(signo, SIG_DFL)`: undoes an inherited `SIG_IGN` (for
/// SIGCHLD it would make the kernel auto-reap children). The raw system call,
/// because libc's `signal`/`sigaction` refuse the signals it reserves
/// (32..=34), which we wait for too.
pub fn set_default_action(signo: i32) -> Result<(), Errno> {
    let default = KernelSigAction([0; 4]);
    // SAFETY: `default` is a valid kernel sigaction (SIG_DFL installs no
    // handler code) alive for the call; the old action is not requested.
    let ret = unsafe {
        syscall(
            SYS_RT_SIGACTION,
            signo as c_long,
            &default as *const KernelSigAction,
            core::ptr::null_mut::<KernelSigAction>(),
            KERNEL_SIGSET_BYTES,
        )
    };
    if ret == -1 { Err(errno()) } else { Ok(()) }
}

/// `sigwaitinfo`: sleeps until one signal of the blocked `set` is pending and
/// takes it. `None` when interrupted (e.g. by SIGSTOP/SIGCONT).
pub fn wait_signal(set: &SigSet) -> Option<i32> {
    let mut info = SigInfo([0; 16]);
    // SAFETY: `set` and `info` are valid for the duration of the call.
    let signo = unsafe { sigwaitinfo(set, &mut info) };
    (signo > 0).then_some(signo)
}

/// `sigtimedwait`: as [`wait_signal`], but for at most `ms` milliseconds.
/// `None` when the time is up (EAGAIN) or the wait was interrupted.
pub fn wait_signal_for(set: &SigSet, ms: u32) -> Option<i32> {
    let mut info = SigInfo([0; 16]);
    let timeout = TimeSpec {
        sec: i64::from(ms / 1000),
        nsec: (ms % 1000) as c_long * 1_000_000,
    };
    // SAFETY: `set`, `info` and `timeout` are valid for the duration of the
    // call.
    let signo = unsafe { sigtimedwait(set, &mut info, &timeout) };
    (signo > 0).then_some(signo)
}

/// `waitpid(-1, NULL, WNOHANG)`: reaps one exited child. `true` when one was
/// reaped, `false` when none is left (0) or there are no children (ECHILD).
pub fn reap_one() -> bool {
    loop {
        // SAFETY: a null status pointer is allowed; no memory is written.
        let pid = unsafe { waitpid(-1, core::ptr::null_mut(), WNOHANG) };
        if pid > 0 {
            return true;
        }
        if pid == 0 || errno().0 != EINTR {
            return false;
        }
    }
}

/// `write` until all of `bytes` is written, retrying on EINTR; any other
/// error is returned (callers writing to stderr ignore it: there is nowhere
/// else to report it).
pub fn write_all(fd: i32, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = errno();
            if e.0 == EINTR {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// `close`.
pub fn close_fd(fd: i32) -> Result<(), Errno> {
    // SAFETY: closing a descriptor number has no memory-safety effect here:
    // the heartbeat holds no Rust object owning a descriptor.
    check(unsafe { close(fd) })
}

/// `fcntl(fd, F_GETFL)`: the status flags of the open file description,
/// which every copy of the descriptor, in any process, shares.
pub fn status_flags(fd: i32) -> Result<c_int, Errno> {
    // SAFETY: integer-only fcntl; the unused argument is a c_ulong as musl
    // reads it.
    let flags = unsafe { fcntl(fd, F_GETFL, 0 as c_ulong) };
    if flags == -1 { Err(errno()) } else { Ok(flags) }
}

/// `fcntl(fd, F_SETFL, flags)`.
pub fn set_status_flags(fd: i32, flags: c_int) -> Result<(), Errno> {
    // SAFETY: integer-only fcntl; the flags are passed as a c_ulong as musl
    // reads them.
    check(unsafe { fcntl(fd, F_SETFL, flags as c_ulong) })
}

/// `close_range(first, last, 0)`; nothing when `first > last`. Where it
/// fails for any reason (ENOSYS before Linux 5.9; EPERM from a seccomp
/// profile that predates it, as older container engines ship), every
/// descriptor of the range below the open-files limit is closed one by one
/// instead: slower, once, but nothing inherited stays open.
pub fn close_range(first: u32, last: u32) {
    if first > last {
        return;
    }
    // SAFETY: plain syscall with integer arguments; no object owns these fds.
    let ret = unsafe {
        syscall(
            SYS_CLOSE_RANGE,
            c_ulong::from(first),
            c_ulong::from(last),
            0 as c_ulong,
        )
    };
    if ret == 0 {
        return;
    }
    for fd in first..open_files_limit().min(last.saturating_add(1)) {
        let _ = close_fd(fd as i32);
    }
}

/// The soft `RLIMIT_NOFILE`: no descriptor at or above it can be opened.
/// At least 4096 (the limit may have been lowered after fds were opened) and
/// at most 2^20 (an "unlimited" value would make the loop above endless).
fn open_files_limit() -> u32 {
    let mut limits = [0u64; 2];
    // SAFETY: `limits` is a valid `struct rlimit` (two 64-bit words) alive
    // for the call.
    let ret = unsafe { getrlimit(RLIMIT_NOFILE, &mut limits) };
    let soft = if ret == 0 { limits[0] } else { 0 };
    soft.clamp(4096, 1 << 20) as u32
}

/// `chdir`.
pub fn change_dir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is a valid NUL-terminated string.
    check(unsafe { chdir(path.as_ptr()) })
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`.
pub fn become_subreaper() -> Result<(), Errno> {
    // SAFETY: integer-only prctl; the variadic arguments are c_ulong as the
    // kernel reads them.
    check(unsafe {
        prctl(
            PR_SET_CHILD_SUBREAPER,
            1 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
        )
    })
}

/// `_exit`: leaves at once, running nothing (there is nothing to flush).
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { _exit(code) }
}

/// argv as byte strings, argv[0] excluded.
pub struct Args {
    argv: *const *const c_char,
    next: usize,
    end: usize,
}

impl Iterator for Args {
    type Item = &'static [u8];

    fn next(&mut self) -> Option<&'static [u8]> {
        if self.next >= self.end {
            return None;
        }
        // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in
        // `argv`, alive for the whole process; `next < argc`.
        let arg = unsafe { CStr::from_ptr(*self.argv.add(self.next)) };
        self.next += 1;
        Some(arg.to_bytes())
    }
}

/// The C entry point: the C runtime calls it with argv.
// SAFETY: `main` is the one symbol the C runtime expects by this name, with
// this signature; nothing else in the program defines it.
#[unsafe(no_mangle)]
pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let end = if argv.is_null() {
        0
    } else {
        usize::try_from(argc).unwrap_or(0)
    };
    crate::run(Args { argv, next: 1, end })
}

/// Unoptimised builds of the precompiled `core` reference the unwinder's
/// personality routine even with `panic = "abort"`; nothing ever calls it.
// SAFETY: no other object in an unoptimised build defines this symbol, and
// it is never called (the binary never unwinds).
#[cfg(debug_assertions)]
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
