# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# passthru: one non-recursive Makefile. `make help` lists the targets.

# SANITIZE=1 builds an ASan+UBSan tree of its own, so both can coexist.
ifeq ($(SANITIZE),1)
OUTPUT		?= build/san
else
OUTPUT		?= build
endif
OBJ		:= $(OUTPUT)/obj
CC		?= gcc
CLANG		?= clang
PKG_CONFIG	?= pkg-config

PKGS		:= libcjson libbpf libxdp liburing
ARCH		:= $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/')
VMLINUX_H	?= vmlinux/$(ARCH)/vmlinux.h
BPFTOOL		?= bpftool
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
		   -Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE \
		   -Iinclude -Iuser -I$(OUTPUT) $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS		+= $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lcjson -lxdp -lbpf -luring) -lelf -lz -lcap -lm

# clang's BPF target misses the host's system include dirs; pass them on
# (libbpf-bootstrap does the same).
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS	:= -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		   -Iinclude -I$(dir $(VMLINUX_H)) $(CLANG_BPF_SYS_INCLUDES)
BPF_SRCS	:= $(wildcard bpf/*.bpf.c)
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS		:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

ifeq ($(SANITIZE),1)
CFLAGS		+= -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS		+= -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Everything in user/ but main.c and common.c is a library shared by the
# daemon and tests; common.c (include/passthru-common.h) is its own small
# archive, linked by the daemon, the tests and passthru-ctl.
COMMON_SRCS	:= user/common.c
COMMON_OBJS	:= $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRCS))
COMMON_LIB	:= $(OUTPUT)/libptcommon.a
LIB_SRCS	:= $(filter-out user/main.c $(COMMON_SRCS),$(wildcard user/*.c user/detectors/*.c))
LIB_OBJS	:= $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRCS))
LIB		:= $(OUTPUT)/libpassthru.a
CTL_SRCS	:= $(wildcard tools/passthru-ctl/*.c)
CTL_OBJS	:= $(patsubst %.c,$(OBJ)/%.o,$(CTL_SRCS))
UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
TEST_TOOL_SRCS	:= $(filter-out tests/tools/ptresolv.c,$(wildcard tests/tools/*.c))
TEST_TOOLS	:= $(patsubst tests/tools/%.c,$(OUTPUT)/tests/%,$(TEST_TOOL_SRCS))
# LD_PRELOAD getaddrinfo() for the reload tests: a plain shared object, no sanitizer.
RESOLV_SHIM	:= $(OUTPUT)/tests/ptresolv.so

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean help deps test test-run test-unit test-e2e run format

all: $(OUTPUT)/passthru $(OUTPUT)/passthru-ctl

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c include/passthru.h include/passthru-shield.h include/passthru-local.h $(VMLINUX_H)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# local.bpf.c orders two flags with fetching atomics (BPF v3, kernel 5.12+).
$(OUTPUT)/local.bpf.o: BPF_CFLAGS += -mcpu=v3

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

# Userspace objects may include a skeleton: generate them first.
$(LIB_OBJS) $(OBJ)/user/main.o: | $(SKELS)

$(OBJ)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(COMMON_LIB): $(COMMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/passthru: $(OBJ)/user/main.o $(LIB) $(COMMON_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# passthru-ctl (tools/passthru-ctl/, one file per object) reads include/passthru.h,
# talks to the control socket and links only the common archive of user/.
$(OBJ)/tools/passthru-ctl/%.o: CFLAGS += -Itools/passthru-ctl

$(OUTPUT)/passthru-ctl: $(CTL_OBJS) $(COMMON_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: $(OBJ)/tests/unit/%.o $(LIB) $(COMMON_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: $(OBJ)/tests/tools/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcrypto -o $@

$(OBJ)/tests/%.o: CFLAGS += -Itests/lib

# The test build of the daemon: build/passthru plus the test knobs
# (PASSTHRU_FAULT_*, PASSTHRU_SELFTEST_FAIL), which exist only under
# -DPT_TEST_HOOKS. Only the files that read them are compiled again, into
# obj-hooks/; they come before the library, so its copies are not linked.
HOOK_SRCS	:= user/sockmap.c user/selftest.c user/master.c user/bpf_loader.c \
		   user/tunnel.c
HOOK_OBJS	:= $(patsubst %.c,$(OUTPUT)/obj-hooks/%.o,$(HOOK_SRCS))
HOOKS_BIN	:= $(OUTPUT)/tests/passthru-hooks

$(HOOK_OBJS): | $(SKELS)

$(OUTPUT)/obj-hooks/%.o: %.c
	$(call msg,CC-HOOKS,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -DPT_TEST_HOOKS -MMD -MP -c $< -o $@

$(HOOKS_BIN): $(OBJ)/user/main.o $(HOOK_OBJS) $(LIB) $(COMMON_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(RESOLV_SHIM): tests/tools/ptresolv.c
	$(call msg,CC-SO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared $< -o $@ -ldl

tests: $(UNIT_BINS) $(TEST_TOOLS) $(HOOKS_BIN) $(RESOLV_SHIM)

# deps: install every Debian package the build, the tests and the examples
# need. Idempotent; runs apt-get update only when a package is missing.
deps:
	$(Q)tools/deps.sh

# TEST_SUITES: the suites of tests/run (empty: its default, every one)
TEST_SUITES	?=
test: deps all tests fuzz-build
	$(Q)BUILD=$(OUTPUT) tests/run $(TEST_SUITES)

# Run the already-built tests (used inside VMs, where nothing is built).
test-run:
	$(Q)BUILD=$(OUTPUT) tests/run

test-unit: all tests
	$(Q)tests/run unit

test-e2e: all tests
	$(Q)tests/run e2e

# stress: issue 7's load and abuse tests (tests/stress/, about 10 minutes, root).
.PHONY: stress
stress: deps all tests
	$(Q)tests/run stress

# vmtest: build on the host, run the built suites in a Debian $(KERNEL)
# kernel booted by virtme-ng (tools/vmtest; KERNEL=6.1|6.12|sid; exit 77 =
# kernel not fetchable).
KERNEL		?= 6.1
VMTEST_SUITES	?= vm
VMTEST_MEM	?= 4G
.PHONY: vmtest test-vmtest
vmtest: deps all tests fuzz-build
	$(Q)tools/vmtest --kernel $(KERNEL) --mem $(VMTEST_MEM) -- env BUILD=$(OUTPUT) tests/run $(VMTEST_SUITES)

test-vmtest:
	$(Q)tests/vm/test_vmtest.sh

run: deps all
	$(Q)examples/run-quickstart.sh

# bench: passthru against HAProxy and sslh on loopback (tools/bench/bench.py).
# QUICK=1 short run, REPS=N repetitions, BENCH_OUT=DIR where the results go,
# ONLY=CFG,... these configurations only.
.PHONY: bench
bench: deps all
	$(Q)python3 tools/bench/bench.py $(if $(filter-out 0,$(QUICK)),--quick) \
		$(if $(REPS),--reps $(REPS)) $(if $(BENCH_OUT),--out $(BENCH_OUT)) \
		$(if $(ONLY),--only $(ONLY))

format:
	$(Q)clang-format -i $(wildcard user/*.[ch] user/detectors/*.c include/*.h tests/unit/*.c \
		tests/lib/*.h tests/tools/*.c tools/passthru-ctl/*.[ch])

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

help:
	@echo 'Targets:'
	@echo '  all (default)  build build/passthru and build/passthru-ctl'
	@echo '  deps           install the Debian packages needed to build, test and run examples'
	@echo '  test           deps + build + every test (unit, fuzz regressions, bpf, e2e on every'
	@echo '                 data plane); last line: N passed, N failed, N skipped'
	@echo '  test-unit      unit tests only; test-e2e: end-to-end tests only'
	@echo '  tests          build the unit tests, test tools and build/tests/passthru-hooks'
	@echo '                 (the daemon with the PASSTHRU_FAULT_*/SELFTEST_FAIL test knobs)'
	@echo '  stress         deps + build + tests/stress (slow clients, garbage, upstream faults, load)'
	@echo '  fuzz           run every libFuzzer harness FUZZ_SECONDS (60) each'
	@echo '  fuzz-regress   replay saved crashes and seeds through every harness'
	@echo '  valgrind-unit  the unit tests under valgrind memcheck'
	@echo '  bench          passthru vs direct, HAProxy and sslh (QUICK=1, REPS=N)'
	@echo '  vmtest         tests/run vm in a Debian kernel under virtme-ng (KERNEL=6.1|6.12|sid)'
	@echo '  test-vmtest    test tools/vmtest and the guest it gives'
	@echo '  run            deps + build + passthru on examples/quickstart.json with demo backends'
	@echo '  install        install into DESTDIR/PREFIX (/usr/local); uninstall removes it'
	@echo '  deb            build/deb/passthru_*.deb with dpkg-buildpackage -us -uc -b'
	@echo '  test-package   build, apt install, run, purge the package (root)'
	@echo '  clean          remove build/'
	@echo 'Variables: V=1 (verbose), SANITIZE=1 (ASan+UBSan)'

-include $(shell find $(OBJ) $(OUTPUT)/obj-hooks -name '*.d' 2>/dev/null)

# install / uninstall (PREFIX, DESTDIR): the two programs, their man pages
# and bash completions, the systemd units (dist/systemd/) and an example
# config in $(SYSCONFDIR)/passthru/ (never overwritten). make deb builds
# the Debian package (debian/) from a copy of the tree in $(DEB_OUT).
PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc
SYSTEMDUNITDIR	?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR	?= $(PREFIX)/share/bash-completion/completions
INSTALL		?= install
DEB_OUT		?= $(OUTPUT)/deb
EXAMPLE_CONF	:= $(DESTDIR)$(SYSCONFDIR)/passthru/example.json

.PHONY: install uninstall deb test-package
install: all
	$(Q)$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/passthru
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/passthru $(OUTPUT)/passthru-ctl $(DESTDIR)$(SBINDIR)
	$(Q)$(INSTALL) -m 0644 man/passthru.8 man/passthru-ctl.8 $(DESTDIR)$(MANDIR)/man8
	$(Q)$(INSTALL) -m 0644 man/passthru.json.5 $(DESTDIR)$(MANDIR)/man5
	$(Q)$(INSTALL) -m 0644 dist/systemd/passthru.service $(DESTDIR)$(SYSTEMDUNITDIR)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		dist/systemd/passthru@.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/passthru@.service
	$(Q)chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/passthru@.service
	$(Q)$(INSTALL) -m 0644 dist/bash-completion/passthru \
		tools/passthru-ctl/bash-completion/passthru-ctl $(DESTDIR)$(BASHCOMPDIR)
	$(Q)[ -e $(EXAMPLE_CONF) ] || $(INSTALL) -m 0644 dist/example.json $(EXAMPLE_CONF)

# Leaves $(SYSCONFDIR)/passthru alone when it holds more than the unchanged example.
uninstall:
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/passthru $(DESTDIR)$(SBINDIR)/passthru-ctl \
		$(DESTDIR)$(MANDIR)/man8/passthru.8 $(DESTDIR)$(MANDIR)/man8/passthru-ctl.8 \
		$(DESTDIR)$(MANDIR)/man5/passthru.json.5 \
		$(DESTDIR)$(SYSTEMDUNITDIR)/passthru@.service $(DESTDIR)$(SYSTEMDUNITDIR)/passthru.service \
		$(DESTDIR)$(BASHCOMPDIR)/passthru $(DESTDIR)$(BASHCOMPDIR)/passthru-ctl
	$(Q)! cmp -s dist/example.json $(EXAMPLE_CONF) || rm -f $(EXAMPLE_CONF)
	$(Q)rmdir $(DESTDIR)$(SYSCONFDIR)/passthru 2>/dev/null || true

# The copy keeps dpkg-buildpackage's output (it writes to ..) and its clean
# step out of this tree: $(DEB_OUT)/passthru_VERSION_ARCH.deb.
deb:
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	$(Q){ git ls-files -z -co --exclude-standard 2>/dev/null || \
	      find . -path ./build -prune -o -path ./.git -prune -o -type f -print0; } | \
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(DEB_OUT)/src
	$(Q)cd $(DEB_OUT)/src && dpkg-buildpackage -us -uc -b
	$(Q)ls $(DEB_OUT)/*.deb

# test-package: make deb, install it with apt, run an instance as its unit
# says, route a TLS client through it, purge it (tests/pkg/, root).
test-package: deps
	$(Q)tests/pkg/test_package.sh

# Fuzzing (tests/fuzz/README.md): libFuzzer harnesses built with clang and
# ASan+UBSan in build/fuzz/, seeds built from tests/data and examples/.
# `make fuzz` runs each for FUZZ_SECONDS; `make fuzz-regress` replays every
# seed and saved regression input once.
FUZZ_OUT	:= $(OUTPUT)/fuzz
FUZZ_SECONDS	?= 60
FUZZ_CFLAGS	= -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
		   -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -Iinclude -Iuser \
		   $(shell $(PKG_CONFIG) --cflags libcjson 2>/dev/null)
FUZZ_LIB_SRCS	:= user/detect.c $(wildcard user/detectors/*.c) user/sha256.c user/addr.c user/common.c \
		   user/config.c $(wildcard user/config-*.c) user/log.c user/proxyproto.c \
		   user/socks5.c user/httpconnect.c
FUZZ_LIB_OBJS	:= $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_LIB_SRCS) tests/fuzz/fuzz-split.c \
		   tests/fuzz/fuzz-tunnel.c)
FUZZ_BINS	:= $(patsubst tests/fuzz/%.c,$(FUZZ_OUT)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SEED_SRCS	= $(shell find tests/data/tls tests/data/flights tests/data/config -type f) \
		   $(wildcard user/config*.c) \
		   $(wildcard examples/*.json)

.PHONY: fuzz fuzz-build fuzz-regress valgrind-unit

$(FUZZ_OUT)/obj/tests/fuzz/%.o: FUZZ_CFLAGS += -Werror

$(FUZZ_OUT)/obj/%.o: %.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ \
		$(shell $(PKG_CONFIG) --libs libcjson 2>/dev/null || echo -lcjson) -o $@

$(FUZZ_OUT)/seeds/.stamp: tests/fuzz/mkseeds.py $(FUZZ_SEED_SRCS)
	$(call msg,SEEDS,$(@D))
	$(Q)python3 tests/fuzz/mkseeds.py $(@D) >/dev/null && touch $@

fuzz-build: $(FUZZ_BINS) $(FUZZ_OUT)/seeds/.stamp

fuzz: fuzz-build
	$(Q)BUILD=$(OUTPUT) tests/fuzz/run fuzz $(FUZZ_SECONDS)

fuzz-regress: fuzz-build
	$(Q)BUILD=$(OUTPUT) tests/fuzz/run regress

valgrind-unit: tests
	$(Q)tests/fuzz/run valgrind $(UNIT_BINS)

-include $(shell find $(FUZZ_OUT)/obj -name '*.d' 2>/dev/null)
