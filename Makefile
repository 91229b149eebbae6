# SPDX-License-Identifier: GPL-2.0
# userptr-dmabuf top level.
#
# The README's two commands (each installs what it needs first, see
# scripts/deps.sh and docs/testing.md):
#   make demo     build, boot the test VM, run the Wayland demo: screenshots
#                 + report in build/demo-run/demo/ (DEMO_KERNEL=6.12|7.3)
#   make check    every test, on the host and in VMs (TAP)
#
# Other targets:
#   make          build the module against the running kernel's headers
#                 (KDIR=... for another tree) and the demo programs; changes
#                 nothing outside the tree
#   make deps     install the test/demo dependencies (idempotent)
#   make kernels  build (or reuse) the cached 6.12 and 7.3 test kernels
#   make lint     checkpatch --strict over kmod/ and protocol/
#   make demo-bench  frame time / CPU per frame, userptr vs wl_shm
#   make demo-bench-kms  the same on vkms, userptr windows on overlay planes
#   make mutants  break the exporter one promise at a time; the VM suite
#                 must fail on each (MUTANT_KERNEL=6.12|7.3)
#   make coverage  line coverage of kmod/ (gcov) from the module plans on
#                 a gcov-enabled 7.3 kernel (scripts/coverage.sh); summary
#                 and lcov/HTML report in build/coverage/; not in make check
#   make install  the module for the running kernel (KVER=..., DESTDIR=...),
#                 its udev rule and the systemd unit that loads it at boot,
#                 as root; make uninstall
#   make dkms-install  the module source for DKMS (rebuilt for new kernels)
#   make fuzz     a syzkaller campaign of FUZZ_MINUTES (default 30) against a
#                 KCOV + KASAN 7.3 kernel (scripts/fuzz.sh); not in make check
#   make deb      a Debian package of the DKMS source (build/deb/)
#   make kselftest-install KSRC=/path/to/linux  the exporter's tests as a
#                 kselftest target of that tree (drivers/dma-buf/userptr),
#                 with the reference importer if built (KSFT_KMOD=DIR)

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

all: programs module

module:
	@bash scripts/need.sh module "$(KDIR)" "$(KVER)"
	$(MAKE) -C kmod KDIR=$(KDIR)

programs:
	@bash scripts/need.sh programs
	$(MAKE) -s -C demo

deps:
	@bash scripts/deps.sh

kernels: deps
	@bash scripts/kernel.sh 6.12 >/dev/null
	@bash scripts/kernel.sh 7.3 >/dev/null

check: deps
	@bash tests/check

lint: deps
	@bash scripts/lint.sh

# Benchmarks: separate from tests, ratios against peers from the same run.
# BENCH_KERNEL=6.12|7.3|stock, BENCH_FLAVOUR=perf (no debug options; built
# on first use) or debug; figures in build/vm/bench-<kernel>-<flavour>/bench.log
BENCH_KERNEL ?= 7.3
BENCH_FLAVOUR ?= perf
BENCH_OUT = build/vm/bench-$(BENCH_KERNEL)-$(BENCH_FLAVOUR)
bench: deps
	@bash tests/vm/run -k $(BENCH_KERNEL) -f $(BENCH_FLAVOUR) -o $(BENCH_OUT) tests/vm/plans/bench.plan >/dev/null || true
	@cat $(BENCH_OUT)/bench.log

# DKMS: dkms-src stages the source tree DKMS builds from into
# $(DKMS_SRCTREE)/userptr-dmabuf-<version> (tests/harness/dkms-test uses a
# private tree); dkms-install registers it with the host's DKMS.
DKMS_VER := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' kmod/dkms.conf)
DKMS_SRCTREE ?= /usr/src
DKMS_SRC = $(DKMS_SRCTREE)/userptr-dmabuf-$(DKMS_VER)
dkms-src:
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)/kmod $(DKMS_SRC)/protocol
	cp kmod/dkms.conf $(DKMS_SRC)/
	cp protocol/*.h $(DKMS_SRC)/protocol/
	cp kmod/Kbuild kmod/Makefile $(filter-out %.mod.c,$(wildcard kmod/*.[ch])) $(DKMS_SRC)/kmod/

dkms-install: dkms-src
	@bash scripts/need.sh module "$(KDIR)" "$(KVER)"
	dkms install userptr-dmabuf/$(DKMS_VER) -k $(KVER)

# undo dkms-install: the module from every kernel DKMS built it for, and
# the source
dkms-uninstall:
	-dkms remove userptr-dmabuf/$(DKMS_VER) --all
	rm -rf $(DKMS_SRC)

# make deb: the Debian package userptr-dmabuf-dkms (the DKMS source, the
# udev rule, the systemd unit that loads the module at boot), built with
# dpkg-deb into
# $(DEB_OUT); see scripts/mkdeb.sh. Changes nothing outside the tree.
DEB_OUT ?= build/deb
deb:
	@bash scripts/mkdeb.sh $(DEB_OUT)

# make install: the exporter (and with WITH_IMPORTER=1 the test-only
# reference importer) for KVER, the udev rule that opens the device to the
# render group, and the systemd unit that loads the exporter at boot (as
# the package does: linked from sysinit.target.wants/, skipped on kernels
# older than 6.12 and on kernels without the module). As root. Install
# and uninstall remove the modules-load.d entry earlier versions installed.
INSTALL_MOD = $(DESTDIR)/lib/modules/$(KVER)/updates/userptr-dmabuf
UNIT_DIR = $(DESTDIR)/etc/systemd/system
UNIT = userptr-dmabuf.service
SYSTEMD_RUNNING = $(if $(DESTDIR),,$(wildcard /run/systemd/system))
install: module
	install -D -m 0644 kmod/userptr_dmabuf.ko $(INSTALL_MOD)/userptr_dmabuf.ko
	$(if $(filter 1,$(WITH_IMPORTER)),install -D -m 0644 kmod/udb_importer.ko $(INSTALL_MOD)/udb_importer.ko)
	install -D -m 0644 packaging/70-userptr-dmabuf.rules $(DESTDIR)/etc/udev/rules.d/70-userptr-dmabuf.rules
	rm -f $(DESTDIR)/etc/udev/rules.d/99-userptr-dmabuf.rules
	install -D -m 0644 packaging/$(UNIT) $(UNIT_DIR)/$(UNIT)
	mkdir -p $(UNIT_DIR)/sysinit.target.wants
	ln -sfn ../$(UNIT) $(UNIT_DIR)/sysinit.target.wants/$(UNIT)
	rm -f $(DESTDIR)/etc/modules-load.d/userptr-dmabuf.conf
	$(if $(DESTDIR),,depmod -a $(KVER))
	$(if $(DESTDIR),,-udevadm control --reload)
	$(if $(SYSTEMD_RUNNING),-systemctl daemon-reload)

uninstall:
	rm -rf $(INSTALL_MOD)
	rm -f $(DESTDIR)/etc/udev/rules.d/70-userptr-dmabuf.rules $(DESTDIR)/etc/udev/rules.d/99-userptr-dmabuf.rules $(DESTDIR)/etc/modules-load.d/userptr-dmabuf.conf
	rm -f $(UNIT_DIR)/sysinit.target.wants/$(UNIT) $(UNIT_DIR)/$(UNIT)
	$(if $(DESTDIR),,depmod -a $(KVER))
	$(if $(SYSTEMD_RUNNING),-systemctl daemon-reload)

# make kselftest-install KSRC=/path/to/linux: the exporter's tests as a
# kselftest target of that kernel tree, in
# tools/testing/selftests/drivers/dma-buf/userptr/ (files keep their
# dates, so an unchanged test is not rebuilt); then, in that tree:
#   make headers
#   make -C tools/testing/selftests TARGETS=drivers/dma-buf/userptr run_tests
# The reference importer udb_importer.ko goes with them when KSFT_KMOD
# (default kmod/, what `make module` builds) holds one: built for the
# kernel the tests will run on (make module KDIR=...), the wrapper loads
# it with insmod when modprobe finds none.
KSFT_DIR = $(KSRC)/tools/testing/selftests/drivers/dma-buf/userptr
KSFT_KMOD ?= kmod
kselftest-install:
	@test -n "$(KSRC)" && test -e "$(KSRC)/tools/testing/selftests/lib.mk" || \
		{ echo "make kselftest-install: KSRC=/path/to/linux, a kernel source tree (no lib.mk in '$(KSRC)')" >&2; exit 1; }
	mkdir -p $(KSFT_DIR)
	cp -p tests/kselftest/Makefile tests/kselftest/userptr_dmabuf.sh tests/kselftest/settings \
		tests/exporter/config tests/exporter/common.h tests/exporter/*.c \
		protocol/userptr_dmabuf.h protocol/udb_importer.h $(KSFT_DIR)/
	rm -f $(KSFT_DIR)/udb_importer.ko
	$(if $(wildcard $(KSFT_KMOD)/udb_importer.ko),cp -p $(KSFT_KMOD)/udb_importer.ko $(KSFT_DIR)/)
	@echo "installed in $(KSFT_DIR)$(if $(wildcard $(KSFT_KMOD)/udb_importer.ko),, (no $(KSFT_KMOD)/udb_importer.ko: the wrapper needs the reference importer installed for most programs))"

demo: deps
	@bash demo/run-demo

DEMO_BENCH_OUT = build/vm/demo-bench-$(BENCH_KERNEL)-$(BENCH_FLAVOUR)
demo-bench: deps
	@$(MAKE) -s -C demo
	@bash tests/vm/run -k $(BENCH_KERNEL) -f $(BENCH_FLAVOUR) -o $(DEMO_BENCH_OUT) tests/vm/plans/demo-bench.plan >/dev/null || true
	@cat $(DEMO_BENCH_OUT)/demo-bench.log

# the same on vkms with overlay planes (run-bench --kms)
demo-bench-kms: deps
	@$(MAKE) -s -C demo
	@bash tests/vm/run -k $(BENCH_KERNEL) -f $(BENCH_FLAVOUR) -o $(DEMO_BENCH_OUT)-kms tests/vm/plans/demo-bench-kms.plan >/dev/null || true
	@cat $(DEMO_BENCH_OUT)-kms/demo-bench-kms.log

# Fuzzing: syzkaller with tests/syzkaller/, QEMU TCG; results in build/fuzz/.
FUZZ_MINUTES ?= 30
fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_MINUTES)

# Coverage: the module plans of make check on the 7.3 cover kernel, gcov's
# line counts of both modules; see docs/testing.md#coverage-make-coverage.
coverage: deps
	@bash scripts/coverage.sh

MUTANT_KERNEL ?= 6.12
mutants: deps
	@bash tests/mutants/run -k $(MUTANT_KERNEL)

clean:
	rm -rf build
	-$(MAKE) -C kmod KDIR=$(KDIR) clean

.PHONY: install uninstall all module programs deps kernels check lint bench dkms-src dkms-install dkms-uninstall deb kselftest-install demo demo-bench demo-bench-kms mutants fuzz coverage clean
