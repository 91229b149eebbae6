# userptr-dmabuf top level.
#   make          build the module (KDIR=...) and the userspace tests
#   make deps     install everything from Debian's archive (idempotent)
#   make check    deps + test kernels + the whole test matrix in VMs (TAP)
#   make kernels  build (or reuse) the cached 6.12 and 7.3 test kernels
#   make lint     checkpatch --strict over kmod/ and protocol/
#   make demo     the Wayland demo in the VM: screenshots + report in
#                 build/demo-run/demo/ (DEMO_KERNEL=6.12|7.3)
#   make demo-bench  frame time / CPU per frame, userptr vs wl_shm
#   make mutants  break the exporter one promise at a time; the VM suite
#                 must fail on each (MUTANT_KERNEL=6.12|7.3)

# Default target kernel: the running one if its headers are installed,
# else Debian's stock kernel that 'make deps' installs headers for.
STOCK_VER := $(shell cat /var/cache/userptr-dmabuf/stock-kernel-version 2>/dev/null)
ifneq ($(wildcard /lib/modules/$(shell uname -r)/build),)
KVER ?= $(shell uname -r)
else
KVER ?= $(STOCK_VER)
endif
KDIR ?= /lib/modules/$(KVER)/build

all: module

deps:
	@bash scripts/deps.sh

module: deps
	$(MAKE) -C kmod KDIR=$(KDIR)

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

DKMS_VER := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' kmod/dkms.conf)
DKMS_SRC := /usr/src/userptr-dmabuf-$(DKMS_VER)
dkms-install:
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)/kmod
	cp kmod/dkms.conf $(DKMS_SRC)/
	cp -r protocol $(DKMS_SRC)/
	cp kmod/Kbuild kmod/Makefile kmod/*.[ch] $(DKMS_SRC)/kmod/
	dkms install userptr-dmabuf/$(DKMS_VER) -k $(KVER)

demo: deps
	@bash demo/run-demo

DEMO_BENCH_OUT = build/vm/demo-bench-$(BENCH_KERNEL)-$(BENCH_FLAVOUR)
demo-bench: deps
	@$(MAKE) -s -C demo
	@bash tests/vm/run -k $(BENCH_KERNEL) -f $(BENCH_FLAVOUR) -o $(DEMO_BENCH_OUT) tests/vm/plans/demo-bench.plan >/dev/null || true
	@cat $(DEMO_BENCH_OUT)/demo-bench.log

MUTANT_KERNEL ?= 6.12
mutants: deps
	@bash tests/mutants/run -k $(MUTANT_KERNEL)

clean:
	rm -rf build
	-$(MAKE) -C kmod KDIR=$(KDIR) clean

.PHONY: all deps module kernels check lint bench dkms-install demo demo-bench mutants clean
