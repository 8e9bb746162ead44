# ssl-tools: one plain Makefile.
#
#   make            build every tool into bin/ (with MPI when mpicc is found:
#                   ssl-train(1) DATA PARALLEL; MPI=0 without, MPI=1 insists)
#   make check      build and run the whole test suite (ends with "N passed, N failed")
#   make asan       build into build-asan/ and bin-asan/ with ASan + UBSan, run the suite there
#   make bench      print throughput figures (and PyTorch's, when python3-torch is installed)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (clang needed)
#   make install    PREFIX=/usr/local DESTDIR= (tools, man pages, and the Python
#                   modules of examples/ in PYTHONDIR=PREFIX/share/ssl-tools/python)
#   make demo       the default pipeline on Fashion-MNIST (pipelines/fashion-mnist)
#
# BUILD and BIN may be overridden so that several builds share one tree
# (make BUILD=build-x BIN=bin-x check).

PREFIX  ?= /usr/local
DESTDIR ?=
PYTHONDIR ?= $(PREFIX)/share/ssl-tools/python
BUILD   ?= build
BIN     ?= bin
CC      ?= cc
PKG_CONFIG ?= pkg-config

# msgpack-c: Debian 12 ships 4.x as "msgpack"; 6.x renamed it "msgpack-c".
MSGPACK_PC := $(shell $(PKG_CONFIG) --exists msgpack-c 2>/dev/null && echo msgpack-c || echo msgpack)
# OpenBLAS: prefer the pkg-config file, fall back to -lopenblas.
OPENBLAS_CFLAGS := $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
OPENBLAS_LIBS   := $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas)
PC_PKGS := libarchive $(MSGPACK_PC) libzstd libpng libjpeg
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PC_PKGS) 2>/dev/null)
PC_LIBS   := $(shell $(PKG_CONFIG) --libs $(PC_PKGS) 2>/dev/null)

# MPI (ssl-train(1), DATA PARALLEL): on when mpicc is found; MPI=0 builds
# without it, MPI=1 insists. Only lib/run/dist.c is compiled against it
# (SSL_MPI); without it dist.c is the one-process stub and the tools are
# those of a machine without MPI. $(BUILD)/mpi records the choice, so a
# change rebuilds dist.o and relinks.
MPICC   ?= mpicc
MPI     ?= $(if $(shell command -v $(MPICC) 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null)
ifeq ($(strip $(MPI_LIBS)),)
$(error MPI=1: '$(MPICC) --showme:link' gave nothing: install libopenmpi-dev, or build with MPI=0)
endif
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# The git commit of a build from a checkout (empty otherwise, e.g. a tarball
# unpacked inside some other repository): --version prints it. Only
# tools/common.o carries it; $(BUILD)/commit is rewritten when it changes,
# so a new commit recompiles that one file and relinks the tools.
COMMIT  := $(shell test -e .git && git describe --always --dirty 2>/dev/null)
OPT     ?= -O2
ARCHFLAGS ?= -march=native
CFLAGS  ?= $(OPT) -g -Wall -Wextra -Wno-unused-parameter -Werror=incompatible-pointer-types $(ARCHFLAGS)
ALL_CFLAGS = -std=gnu11 -pthread -iquote lib -iquote tools -DSSL_VERSION=\"$(VERSION)\" \
             $(OPENBLAS_CFLAGS) $(PC_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  = $(PC_LIBS) $(OPENBLAS_LIBS) $(MPI_LIBS) -lm -pthread $(EXTRA_LDLIBS)

LIB_SRC   := $(sort $(shell find lib -name "*.c"))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A     := $(BUILD)/libssltools.a
COMMON_OBJ := $(BUILD)/tools/common.o
TOOL_SRC  := $(sort $(wildcard tools/ssl-*.c))
TOOLS     := $(TOOL_SRC:tools/%.c=$(BIN)/%)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TESTS     := $(TEST_SRC:tests/%.c=$(BIN)/tests/%)
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
BENCHES   := $(BENCH_SRC:tests/bench/%.c=$(BIN)/bench/%)
MAN_PAGES := $(sort $(wildcard man/*.[157]))
PY_MODULES := examples/sslt.py examples/ssl_resnet.py

.PHONY: all check check-all asan bench fuzz install uninstall demo clean tests manlint FORCE
.DELETE_ON_ERROR:
.SECONDARY:

all: $(TOOLS)

tests: $(TOOLS) $(TESTS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/commit: FORCE
	@mkdir -p $(dir $@)
	@echo '$(COMMIT)' | cmp -s - $@ || echo '$(COMMIT)' >$@

$(COMMON_OBJ): $(BUILD)/commit
$(COMMON_OBJ): ALL_CFLAGS += -DSSL_COMMIT=\"$(COMMIT)\"

$(BUILD)/mpi: FORCE
	@mkdir -p $(dir $@)
	@echo '$(MPI)' | cmp -s - $@ || echo '$(MPI)' >$@

$(BUILD)/lib/run/dist.o: $(BUILD)/mpi
ifeq ($(MPI),1)
$(BUILD)/lib/run/dist.o: ALL_CFLAGS += -DSSL_MPI $(MPI_CFLAGS)
endif

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/ssl-%: $(BUILD)/tools/ssl-%.o $(COMMON_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/tests/%: $(BUILD)/tests/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/bench/%: $(BUILD)/tests/bench/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

check: tests
	@BIN=$(BIN) sh tests/run.sh

# What CI runs: the suite, then the suite again under ASan + UBSan.
check-all:
	$(MAKE) check
	$(MAKE) asan

# groff exits 0 on warnings: any output is a failure.
manlint:
	@for m in $(MAN_PAGES); do out=$$(groff -man -ww -z $$m 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; echo "manlint: $$m is not clean"; exit 1; fi; done

# Without MPI: Open MPI's own allocations at exit are not ours to report
# (tests/cli/mpi.sh then says SKIP; the plain suite runs it).
asan:
	SSL_TEST_SANITIZER=1 $(MAKE) BUILD=build-asan BIN=bin-asan OPT=-O1 MPI=0 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDLIBS="-fsanitize=address,undefined" check

bench: all $(BENCHES)
	@BIN=$(BIN) sh tests/bench.sh

fuzz:
	@sh tests/fuzz/run.sh

demo: all
	$(MAKE) -C pipelines fashion-mnist

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PYTHONDIR)
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	for m in $(MAN_PAGES); do s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	install -m 755 $(PY_MODULES) $(DESTDIR)$(PYTHONDIR)/

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(PREFIX)/bin/$${t##*/}; done
	for m in $(MAN_PAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m##*/}; done
	for p in $(PY_MODULES); do rm -f $(DESTDIR)$(PYTHONDIR)/$${p##*/}; done

clean:
	rm -rf build bin build-* bin-*

-include $(LIB_OBJ:.o=.d) $(COMMON_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/%.d) $(TEST_SRC:%.c=$(BUILD)/%.d) $(BENCH_SRC:%.c=$(BUILD)/%.d)
