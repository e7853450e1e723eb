//! The usage text, once: it serves `--help`, every usage error and the
//! README.

/// The synopsis that ends every usage error.
pub const USAGE: &str = "usage: gatewayctl [-p|--profile NAME] [--scandir DIR] start|stop|restart|status|list|run|reconcile|register|unregister|check ...";

pub const HELP: &str = "\
gatewayctl: control the per-profile Hermes gateway services (gateway-<profile>) under s6.

usage: gatewayctl [-p|--profile NAME] [--scandir DIR] COMMAND
  start   [PROFILE]             [-w|--wait] [-T|--timeout SECS]
  stop    [PROFILE | --all]     [-w|--wait] [-T|--timeout SECS]
  restart [PROFILE | --all]     [-w|--wait] [-T|--timeout SECS]
  status  [PROFILE | --all]     [--json]
  list                          [--json]
  run     [--no-supervise] [--] [COMMAND [ARGS...]]
  reconcile [--dry-run] [--json] [--template DIR] [--owner UID:GID]  (the boot pass)
  register PROFILE [--start] [--template DIR] [--owner UID:GID]
  unregister PROFILE [-T|--timeout SECS]
  check   [PROFILE]                     [--json]   (exit 0 healthy, 1 not)
  help, --help, --version

  -p, --profile NAME   profile to act on (default: from HERMES_HOME, else 'default')
  --scandir DIR        use the s6 scan directory DIR (also S6_PROFILE_GATEWAY_SCANDIR)
  -w, --wait           wait until the gateway is up (ready), down (finished) or restarted
  -T, --timeout SECS   how long --wait waits (default 10; implies --wait)
  --all                every registered gateway (stop, restart, status)
  --json               machine-readable output
  --no-supervise       run: run COMMAND in the foreground instead of handing it to s6
  --dry-run            reconcile: say what would be done, change nothing
  --start              register: start the gateway at once (default: registered down)
  --template DIR       register, reconcile: copy this service directory instead of the Hermes scripts
  --owner UID:GID      register, reconcile: who may control the slots (default 10000:10000, hermes)

Environment: HERMES_HOME, S6_PROFILE_GATEWAY_SCANDIR, HERMES_S6_BINDIR,
HERMES_GATEWAY_NO_SUPERVISE, HERMES_S6_SUPERVISED_CHILD, HERMES_HEARTBEAT.
Exit codes: 0 done; 1 the operation failed; 2 usage or invalid input;
run: 126/127 when COMMAND cannot be executed or is not found, 128+signum from the hold.
";
