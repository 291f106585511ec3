# socklab: every entry point. `make help` lists them.
#
# Everything generated goes under build/ (build/san/ with SAN=1), so a
# sanitizer build never mixes objects with a plain one. `make -j` is safe:
# every file has exactly one rule that writes it.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

# ---------------------------------------------------------------- settings --

SAN ?= 0
SRC ?= labs
CC ?= gcc

ifeq ($(SAN),1)
BUILD := build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1
else
BUILD := build
SAN_FLAGS :=
OPT := -O2
endif

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes
CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SAN_FLAGS) -Ilib
LDFLAGS := $(SAN_FLAGS)
LDLIBS := -pthread

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -pthread)

# Debian and Ubuntu packages that grading alone needs (a compiler, make,
# pkg-config, Check, liburing; bubblewrap to sandbox submissions): what a
# grading platform installs (tools/gradescope/setup.sh, the GitHub Classroom
# workflow). Their names are the same in Debian 12 and Ubuntu 22.04.
GRADING_PACKAGES := build-essential make pkg-config check libsubunit-dev liburing-dev bubblewrap

# Debian packages the project needs; `sudo make setup` installs the missing ones.
DEB_PACKAGES := gcc make pkg-config check patch bubblewrap doxygen graphviz socat netcat-openbsd procps liburing-dev zip unzip libuv1-dev gnuplot-nox python3 tshark tcpdump iproute2 libcap2-bin util-linux pandoc chromium poppler-utils fonts-noto-cjk fonts-noto-core strace gdb

# ------------------------------------------------------------------- labs --

# A lab is a folder NN-slug of labs/ (the handout has no solutions/).
LAB_DIRS := $(sort $(notdir $(wildcard labs/[0-9][0-9]-*)))
LAB_NUMS := $(foreach d,$(LAB_DIRS),$(firstword $(subst -, ,$(d))))
lab_dir = $(filter $(1)-%,$(LAB_DIRS))

# SRC selects the tree: labs (the student's), solutions, or any path laid out
# like labs/. Its binaries go to build/labs/, build/solutions/ or build/ext/...
SRC_DIR := $(patsubst %/,%,$(SRC))
ifeq ($(SRC_DIR),labs)
SRC_TAG := labs
else ifeq ($(SRC_DIR),solutions)
SRC_TAG := solutions
else
SRC_TAG := ext/$(subst /,_,$(subst .,_,$(abspath $(SRC_DIR))))
endif
OUT := $(BUILD)/$(SRC_TAG)

# Extra libraries a lab's programs link with.
LAB_LDLIBS_11 := -luring

# ------------------------------------------------------------------- lib/ --

LIB_SRCS := $(sort $(wildcard lib/*.c))
LIB_OBJS := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS))
LIB_A := $(BUILD)/lib/libsocklab.a
LIB_H := lib/socklab.h

$(BUILD)/lib/%.o: lib/%.c $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# ------------------------------------------------------ lab programs (SRC) --

# build/<tree>/NN-slug/server from <tree>/NN-slug/server.c, and so on.
$(OUT)/%: $(SRC_DIR)/%.c $(LIB_A) $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) $(LAB_LDLIBS_$(firstword $(subst -, ,$(notdir $(@D)))))

lab_bins = $(patsubst $(SRC_DIR)/%.c,$(OUT)/%,$(wildcard $(SRC_DIR)/$(call lab_dir,$(1))/*.c))

# ------------------------------------------------------------ autograder --

HARNESS_SRCS := $(sort $(wildcard tests/harness/*.c) $(wildcard tests/suites/*.c))
HARNESS_HDRS := $(wildcard tests/harness/*.h) $(wildcard tests/suites/*.h)
HARNESS_OBJS := $(patsubst tests/%.c,$(BUILD)/tests/obj/%.o,$(HARNESS_SRCS))
TEST_CFLAGS := $(CFLAGS) $(CHECK_CFLAGS) -Itests/harness -Itests/suites

$(BUILD)/tests/obj/%.o: tests/%.c $(HARNESS_HDRS) $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -c -o $@ $<

# One autograder program per lab: build/tests/labNN.
$(BUILD)/tests/lab%: $(BUILD)/tests/obj/labs/lab%.o $(HARNESS_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# Unit tests of lib/.
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
$(BUILD)/tests/unit: $(patsubst tests/%.c,$(BUILD)/tests/obj/%.o,$(UNIT_SRCS)) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# The fault-injection shim, preloaded into programs under test. It is never
# built with sanitizers: they must see the real calls it forwards to.
$(BUILD)/tests/faultshim.so: tests/shim/faultshim.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -fPIC -shared -o $@ $< -ldl

TEST_PROGS := $(foreach n,$(LAB_NUMS),$(BUILD)/tests/lab$(n))

# Servers that misbehave on purpose (tests/hostile/run grades them): one
# build of tests/hostile/hostile.c per mode, as $(BUILD)/tests/hostile/MODE/server.
HOSTILE_MODES := no-ready-line never-accepts sleeps-in-accept floods-stdout ignores-sigterm \
                 fork-bomb escapes-setsid eats-memory
HOSTILE_BINS := $(foreach m,$(HOSTILE_MODES),$(BUILD)/tests/hostile/$(m)/server)
$(BUILD)/tests/hostile/%/server: tests/hostile/hostile.c $(LIB_A) $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) '-DHOSTILE_MODE="$*"' $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# ------------------------------------------------------------------ tools --

# The load generator (tools/loadgen/) and the libuv echo server that
# `make bench` measures every solution against.
LOADGEN := $(BUILD)/tools/loadgen
UV_ECHO := $(BUILD)/tools/uv-echo
$(LOADGEN): tools/loadgen/loadgen.c $(LIB_A) $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) -lm
$(UV_ECHO): tools/bench/uv-echo.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libuv 2>/dev/null) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)

# The capture exercises: the scripted client parts of their scenes
# (tools/capture/exchange.c) and the userspace link between tools/netlab's
# two network namespaces (tools/netlab/link.c).
CAPTURE_EXCHANGE := $(BUILD)/tools/capture-exchange
NETLAB_LINK := $(BUILD)/tools/netlab-link
CAPTURE_LABS := 01 02 03 04 06
$(CAPTURE_EXCHANGE): tools/capture/exchange.c $(LIB_A) $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
$(NETLAB_LINK): tools/netlab/link.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The examples the API docs show (docs/examples/, Doxygen @snippet): built
# and run by make test, so that what the docs show works.
DOC_EXAMPLES := $(BUILD)/examples/lib_tour $(BUILD)/examples/harness_tour
$(BUILD)/examples/lib_tour: docs/examples/lib_tour.c $(LIB_A) $(LIB_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
$(BUILD)/examples/harness_tour.o: docs/examples/harness_tour.c $(LIB_H) tests/harness/harness.h
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -c -o $@ $<
$(BUILD)/examples/harness_tour: $(BUILD)/examples/harness_tour.o $(HARNESS_OBJS) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# The load generator's own tests: build/tests/loadgen.
$(BUILD)/tests/loadgen: $(BUILD)/tests/obj/tools/loadgen_test.o $(HARNESS_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# ------------------------------------------------------- per-lab targets --

define lab_rules
.PHONY: lab$(1) test-lab$(1)
lab$(1): $$(call lab_bins,$(1))
	@echo "lab$(1): built $(SRC_DIR)/$$(call lab_dir,$(1)) into $(OUT)/$$(call lab_dir,$(1))"
test-lab$(1): lab$(1) $(BUILD)/tests/lab$(1) $(BUILD)/tests/faultshim.so
	@SOCKLAB_BIN=$(OUT)/$$(call lab_dir,$(1)) SOCKLAB_GUIDE_ROOT=$(SRC_DIR) $(BUILD)/tests/lab$(1)
endef
$(foreach n,$(LAB_NUMS),$(eval $(call lab_rules,$(n))))

# capture-labNN records lab NN of SRC; check-capture-labNN scores the answer
# file of SRC's lab folder (labs/ when SRC has none) against that capture.
define capture_rules
.PHONY: capture-lab$(1) check-capture-lab$(1)
capture-lab$(1): lab$(1) $(CAPTURE_EXCHANGE)
	@tools/capture/capture -b $(OUT)/$$(call lab_dir,$(1)) -x $(CAPTURE_EXCHANGE) -o build/captures/lab$(1).pcapng $(1)
check-capture-lab$(1):
	@tools/capture/check -c build/captures/lab$(1).pcapng -a $$(or $$(wildcard $(SRC_DIR)/$$(call lab_dir,$(1))/capture-answers.txt),labs/$$(call lab_dir,$(1))/capture-answers.txt) $(1)
endef
$(foreach n,$(filter $(CAPTURE_LABS),$(LAB_NUMS)),$(eval $(call capture_rules,$(n))))

.PHONY: capture-tools
capture-tools: $(CAPTURE_EXCHANGE) $(NETLAB_LINK) ## build the capture exercises' scripted client and netlab's link

# The exercises across tools/netlab's two hosts (SRC's programs).
NETLAB_EXERCISE = NETLAB_LINK=$(NETLAB_LINK) tools/netlab/exercise -b $(OUT) -x $(CAPTURE_EXCHANGE)
.PHONY: netlab-lab02 netlab-tcp-loss netlab-rtt
netlab-lab02: lab02 $(NETLAB_LINK) $(CAPTURE_EXCHANGE) ## lab 02 across a link losing 10%: build/captures/lab02-loss.pcapng shows the retries
	@$(NETLAB_EXERCISE) lab02-loss
netlab-tcp-loss: lab01 $(NETLAB_LINK) $(CAPTURE_EXCHANGE) ## 2 MB through lab 01 across a link losing 5%: build/captures/lab01-loss.pcapng
	@$(NETLAB_EXERCISE) tcp-loss
netlab-rtt: lab01 lab04 lab05 $(NETLAB_LINK) $(CAPTURE_EXCHANGE) ## 10 clients against labs 01, 04, 05 across a 100 ms round trip
	@$(NETLAB_EXERCISE) rtt

# ------------------------------------------------------------ entry points --

.PHONY: all help lib tests test unit grade handout gradescope stress bench loadgen skeletons check-skeletons docs slides setup clean compile_commands.json print-out print-deps print-grading-deps print-cc print-cflags print-lab-ldlibs

all: lib tests $(foreach n,$(LAB_NUMS),lab$(n)) ## build lib/, the autograder and every lab of SRC

lib: $(LIB_A) ## build libsocklab

tests: $(TEST_PROGS) $(BUILD)/tests/unit $(BUILD)/tests/faultshim.so $(HOSTILE_BINS) $(LOADGEN) $(BUILD)/tests/loadgen $(CAPTURE_EXCHANGE) $(NETLAB_LINK) $(DOC_EXAMPLES) ## build the autograder, the unit tests, the load generator, the capture tools and the docs' examples

unit: $(BUILD)/tests/unit ## run the unit tests of lib/
	$(BUILD)/tests/unit

test: ## the project's own suite: unit tests, every solution, skeletons, mutants, the fault shim
	@SAN=$(SAN) BUILD=$(BUILD) MAKE="$(MAKE)" LABS="$(LAB_NUMS)" tests/run-all

grade: ## score every lab of SRC (LAB=NN: one) in the grading sandbox: a table, build/grade/results.json (Gradescope), TAP
	@MAKE="$(MAKE) SAN=$(SAN)" BUILD=$(BUILD) tools/grade -s $(SRC) $(if $(LAB),-l $(LAB)) $(GRADE_FLAGS)

# LABS=01-03 (or 01,02,05, or 04) makes handout, slides and docs for a
# release of those labs only (tools/release). Only a LABS given on make's
# command line counts: tests/run-all exports LABS, the list of every lab.
RELEASE := $(if $(filter command line,$(origin LABS)),$(LABS))

handout: ## the student tarball in build/handout/: everything but solutions/, tests/mutants/, instructors/ (LABS=01-03: those labs only)
	@tools/handout $(if $(RELEASE),-l $(RELEASE))

gradescope: ## Gradescope autograder zip (LAB=NN: one lab) in build/gradescope/, from the handout
	@tools/gradescope-bundle $(LAB)

stress: ## run every solution's autograder N times (N=20), half under a CPU hog, and report every flaky test
	@BUILD=$(BUILD) MAKE="$(MAKE)" tools/stress -n $(or $(N),20)

loadgen: $(LOADGEN) ## build the load generator, build/tools/loadgen

bench: $(LOADGEN) $(UV_ECHO) ## run loadgen against every echo solution and libuv (QUICK=1: under 2 minutes): build/bench/
	@$(MAKE) --no-print-directory all SRC=solutions >/dev/null
	@BUILD=$(BUILD) QUICK=$(QUICK) LOADGEN=$(LOADGEN) UV_ECHO=$(UV_ECHO) tools/bench/run

skeletons: ## regenerate labs/*/*.c from the markers in solutions/
	@tools/skeletonize --write $(LAB_DIRS)

check-skeletons: ## fail if a committed skeleton differs from what the markers give
	@tools/skeletonize --check $(LAB_DIRS)

slides: ## render every deck of slides/ to self-contained HTML, PDF and PNG pages in build/slides (LABS=01-03: that release's decks)
	@tools/slides/build $(if $(RELEASE),--labs $(RELEASE))

docs: ## Doxygen HTML: lib/ and the harness, every guide in course order, diagrams, glossary, into build/docs (LABS=01-03: that release's guides)
	@tools/docs/build $(if $(RELEASE),--labs $(RELEASE))

compile_commands.json: ## write build/compile_commands.json for editors (clangd finds it there)
	@mkdir -p build
	@tools/compdb "$(CC)" "$(CFLAGS)" "$(TEST_CFLAGS)" > build/compile_commands.json.tmp
	@mv build/compile_commands.json.tmp build/compile_commands.json
	@echo "wrote build/compile_commands.json"

setup: ## (as root) install the Debian packages the project needs, then build everything
	@tools/install-deps $(DEB_PACKAGES)
	$(MAKE) all
	@if [ -d solutions ]; then $(MAKE) all SRC=solutions; fi
	@if [ -n "$${SUDO_UID:-}" ]; then chown -R "$$SUDO_UID:$$SUDO_GID" build; fi

print-out:
	@echo $(OUT)

print-deps:
	@echo $(DEB_PACKAGES)

print-grading-deps:
	@echo $(GRADING_PACKAGES)

# What tools/grade compiles a submission with: the compiler, the flags
# (SAN=1: the sanitizer build's), and lab LAB's extra libraries.
print-cc:
	@echo $(CC)

print-cflags:
	@echo $(CFLAGS) $(LDFLAGS)

print-lab-ldlibs:
	@echo $(LAB_LDLIBS_$(LAB))

clean: ## remove build/
	rm -rf build

help: ## list every target
	@echo "socklab targets (SRC=labs|solutions|PATH selects the tree, SAN=1 adds ASan+UBSan):"
	@grep -hE '^[a-z][a-zA-Z0-9_.-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## /  \1\t/' | expand -t 26
	@echo "  labNN                   build lab NN ($(LAB_NUMS))"
	@echo "  test-labNN              build lab NN and run its autograder"
	@echo "  capture-labNN           record lab NN's exchange into build/captures/labNN.pcapng ($(CAPTURE_LABS))"
	@echo "  check-capture-labNN     score labs/NN-slug/capture-answers.txt against that capture"
