# Build, test, benchmark and demo hermes-heartbeat and hermes-gatewayctl.
# Every target installs what it needs where missing (Debian packages, the musl
# target), so a fresh Debian machine with Rust needs nothing else (as root).

CARGO  ?= cargo
MUSL   := x86_64-unknown-linux-musl
ARM64  := aarch64-unknown-linux-musl
# `make static TARGET=aarch64-unknown-linux-musl` builds for another target.
TARGET ?= $(MUSL)
PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DIST   := $(CURDIR)/target/dist
# Where `gatewayctl run` looks for the heartbeat last (after $HERMES_HEARTBEAT
# and the directory of its own executable).
HEARTBEAT_PATH ?= $(PREFIX)/bin/hermes-heartbeat

STATIC_DIR := $(CURDIR)/target/$(MUSL)/release
# The e2e suites, the demo and the bench drive these static binaries; the
# arm64 suite drives the aarch64 ones (through qemu, in a user namespace).
ARM64_DIR ?= $(CURDIR)/target/$(ARM64)/release
export HERMES_BIN_DIR := $(STATIC_DIR)
export HERMES_BIN_DIR_AARCH64 := $(ARM64_DIR)
# Where `make static` puts the programs it built.
BUILT_DIR = $(if $(filter $(MUSL),$(TARGET)),$(STATIC_DIR),$(if $(filter $(ARM64),$(TARGET)),$(ARM64_DIR),$(CURDIR)/target/$(TARGET)/release))
# Read at build time by gatewayctl (its last heartbeat candidate) and by the
# suites that check it, so both always agree on the path.
export HERMES_HEARTBEAT_PATH := $(HEARTBEAT_PATH)

.PHONY: all build static static-aarch64 dist test demo bench image rootfs install uninstall lint \
        clean deps-target deps-s6 deps-containers deps-trace deps-arm64 deps-bench deps-man

all: static

build:
	$(CARGO) build --workspace --locked

# Static (musl) builds of both programs for $(TARGET). Rust's own rust-lld
# links aarch64 (.cargo/config.toml): no cross C toolchain is needed.
static: deps-target
	$(CARGO) build --release --locked --target $(TARGET) -p hermes-heartbeat -p hermes-gatewayctl
	@ls -l $(BUILT_DIR)/hermes-heartbeat $(BUILT_DIR)/gatewayctl

static-aarch64:
	@$(MAKE) --no-print-directory static TARGET=$(ARM64)

# What a release carries: both programs for both architectures, and their sums.
dist: static static-aarch64
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for arch in x86_64 aarch64; do \
	  for prog in hermes-heartbeat gatewayctl; do \
	    cp $(CURDIR)/target/$$arch-unknown-linux-musl/release/$$prog $(DIST)/$$prog-$(VERSION)-$$arch; \
	  done; \
	done
	@cd $(DIST) && sha256sum hermes-heartbeat-* gatewayctl-* > SHA256SUMS && ls -l && cat SHA256SUMS

# The suites that run a second time against the s6 s6-overlay ships (2.15,
# static, under /package and /command), when HERMES_TEST_S6_OVERLAY names a
# directory holding it (package/admin/s6-<version>/command/).
S6_SUITES := --test 'gatewayctl_*' --test 'run_*' --test s6_template

test: deps-s6 deps-containers deps-trace deps-arm64 deps-man static static-aarch64
	$(CARGO) test --workspace --locked --no-fail-fast
ifneq ($(strip $(HERMES_TEST_S6_OVERLAY)),)
	scripts/with-s6-overlay "$(HERMES_TEST_S6_OVERLAY)" $(CARGO) test -p hermes-e2e --locked --no-fail-fast $(S6_SUITES)
else
	@echo "make test: HERMES_TEST_S6_OVERLAY is not set: skipped the second pass of the control, run and template suites against s6-overlay's s6 2.15"
endif

demo: deps-s6 static
	@scripts/demo

bench: deps-s6 deps-containers deps-bench static static-aarch64
	$(CARGO) run --release --locked -q -p hermes-bench

image: deps-containers static static-aarch64
	@docker/build-image

rootfs: static
	@docker/build-rootfs

# The s6 service directories and the cont-init step of docker/s6, installed
# with their fallback paths pointing at $(PREFIX)/bin.
S6_SHARE := $(PREFIX)/share/hermes-gatewayctl/s6
S6_DIRS  := gateway-template heartbeat
S6_FILES := gateway-template/run gateway-template/finish gateway-template/type \
            heartbeat/run heartbeat/type heartbeat/notification-fd 02-reconcile-profiles

# Both programs, their man pages, gatewayctl's shell completions and the s6
# files above; `uninstall` removes exactly these.
install: static
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1" \
	  "$(DESTDIR)$(PREFIX)/share/man/man8" "$(DESTDIR)$(PREFIX)/share/bash-completion/completions" \
	  "$(DESTDIR)$(PREFIX)/share/zsh/site-functions" "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d"
	install -m 0755 "$(STATIC_DIR)/hermes-heartbeat" "$(STATIC_DIR)/gatewayctl" "$(DESTDIR)$(PREFIX)/bin/"
	install -m 0644 "$(CURDIR)/man/gatewayctl.1" "$(DESTDIR)$(PREFIX)/share/man/man1/gatewayctl.1"
	install -m 0644 "$(CURDIR)/man/hermes-heartbeat.8" "$(DESTDIR)$(PREFIX)/share/man/man8/hermes-heartbeat.8"
	install -m 0644 "$(CURDIR)/completions/gatewayctl.bash" "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/gatewayctl"
	install -m 0644 "$(CURDIR)/completions/_gatewayctl" "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_gatewayctl"
	install -m 0644 "$(CURDIR)/completions/gatewayctl.fish" "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/gatewayctl.fish"
	install -d $(foreach d,$(S6_DIRS),"$(DESTDIR)$(S6_SHARE)/$(d)")
	for f in $(S6_FILES); do \
	  mode=0644; [ -x "$(CURDIR)/docker/s6/$$f" ] && mode=0755; \
	  sed 's|/usr/local/bin|$(PREFIX)/bin|g' "$(CURDIR)/docker/s6/$$f" > "$(DESTDIR)$(S6_SHARE)/$$f" && \
	  chmod $$mode "$(DESTDIR)$(S6_SHARE)/$$f" || exit 1; \
	done

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/hermes-heartbeat" "$(DESTDIR)$(PREFIX)/bin/gatewayctl" \
	  "$(DESTDIR)$(PREFIX)/share/man/man1/gatewayctl.1" "$(DESTDIR)$(PREFIX)/share/man/man8/hermes-heartbeat.8" \
	  "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/gatewayctl" \
	  "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_gatewayctl" \
	  "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/gatewayctl.fish" \
	  $(foreach f,$(S6_FILES),"$(DESTDIR)$(S6_SHARE)/$(f)")
	@rmdir $(foreach d,$(S6_DIRS),"$(DESTDIR)$(S6_SHARE)/$(d)") "$(DESTDIR)$(S6_SHARE)" \
	  "$(DESTDIR)$(PREFIX)/share/hermes-gatewayctl" 2>/dev/null || true

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean

# The deps-* targets may run at once under `make -j`: scripts/ensure-packages
# runs one apt-get at a time (a lock on itself, and apt-get waits for dpkg's).
deps-target:
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)

deps-s6:
	@scripts/ensure-packages s6

deps-containers:
	@scripts/ensure-packages podman runc busybox-static

# strace counts the system calls a suite checks (each s6 program looked up
# once); python3-venv holds the Python reference the boot pass is compared to.
deps-trace:
	@scripts/ensure-packages strace python3-venv

# qemu-user-static runs the aarch64 builds in the arm64 suite (registered in
# a user namespace of its own, never on the host).
deps-arm64:
	@scripts/ensure-packages qemu-user-static

deps-bench:
	@scripts/ensure-packages tini catatonit dumb-init busybox-static python3-venv

# mandoc lints the man pages, zsh and fish parse the completions (the
# install_files suite).
deps-man:
	@scripts/ensure-packages mandoc zsh fish
