# Build, test, benchmark and demo hermes-heartbeat and hermes-gatewayctl.
# Every target installs what it needs where missing (Debian packages, the musl
# target), so a fresh Debian machine with Rust needs nothing else (as root).

CARGO  ?= cargo
MUSL   := x86_64-unknown-linux-musl
PREFIX ?= /usr/local
# Where `gatewayctl run` looks for the heartbeat last (after $HERMES_HEARTBEAT
# and the directory of its own executable).
HEARTBEAT_PATH ?= $(PREFIX)/bin/hermes-heartbeat

STATIC_DIR := $(CURDIR)/target/$(MUSL)/release
# The e2e suites, the demo and the bench drive these static binaries.
export HERMES_BIN_DIR := $(STATIC_DIR)
# Read at build time by gatewayctl (its last heartbeat candidate) and by the
# suites that check it, so both always agree on the path.
export HERMES_HEARTBEAT_PATH := $(HEARTBEAT_PATH)

.PHONY: all build static test demo bench image rootfs install lint clean \
        deps-musl deps-s6 deps-containers deps-trace deps-bench

all: static

build:
	$(CARGO) build --workspace --locked

static: deps-musl
	$(CARGO) build --release --locked --target $(MUSL) -p hermes-heartbeat -p hermes-gatewayctl
	@ls -l $(STATIC_DIR)/hermes-heartbeat $(STATIC_DIR)/gatewayctl

test: deps-s6 deps-containers deps-trace static
	$(CARGO) test --workspace --locked --no-fail-fast

demo: deps-s6 static
	@scripts/demo

bench: deps-s6 deps-containers deps-bench static
	$(CARGO) run --release --locked -q -p hermes-bench

image: deps-containers static
	@docker/build-image

rootfs: static
	@docker/build-rootfs

install: static
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(STATIC_DIR)/hermes-heartbeat $(STATIC_DIR)/gatewayctl $(DESTDIR)$(PREFIX)/bin/

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean

# The deps-* targets may run at once under `make -j`: scripts/ensure-packages
# runs one apt-get at a time (a lock on itself, and apt-get waits for dpkg's).
deps-musl:
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)

deps-s6:
	@scripts/ensure-packages s6

deps-containers:
	@scripts/ensure-packages podman runc busybox-static

# strace counts the system calls a suite checks (each s6 program looked up
# once); python3-venv holds the Python reference the boot pass is compared to.
deps-trace:
	@scripts/ensure-packages strace python3-venv

deps-bench:
	@scripts/ensure-packages tini catatonit dumb-init busybox-static python3-venv
