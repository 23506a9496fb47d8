# cairn: one plain Makefile.
#
# Three builds share one source list and differ only in flags:
#   build/rel   -O2, the library, the `cairn` binary, the unit tests
#   build/asan  ASan+UBSan build of the unit tests and test tools
#   build/tsan  TSan build, for the tests where threads meet
# Sources are found by wildcard (src/<layer>/*.c, tests/<layer>/test_*.c,
# tests/tools/*.c, fuzz/fuzz_*.c), so adding a file never means editing this.
# A plain Makefile was chosen over CMake: the project has one platform, no
# configure step and a handful of Debian libraries, and this file stays
# readable top to bottom.

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

CC       ?= cc
Q        := $(if $(V),,@)
say       = $(if $(V),,@printf '  %-6s %s\n' $(1) $(2);)
FUZZ_CC  ?= clang
NPROC    := $(shell nproc 2>/dev/null || echo 2)

WARN     := -std=c11 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion \
            -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wvla \
            -Wno-format-truncation -Werror
CPPFLAGS := -D_GNU_SOURCE -Iinclude -Isrc
BASEFLAGS := -fPIC -fvisibility=hidden -pthread
LIBS     := -llmdb -lsqlite3 -lcrypto -lzstd -lpthread -lm
CLI_LIBS := -ledit

CFLAGS_rel  := -O2 -g -fno-omit-frame-pointer
CFLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=all -DCAIRN_SANITIZE=1
CFLAGS_tsan := -O1 -g -fsanitize=thread -DCAIRN_SANITIZE=1
CFGS := rel asan tsan

SRC       := $(sort $(wildcard src/*/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
UNIT_SRC  := $(sort $(wildcard tests/*/test_*.c))
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
BENCH_LIB_SRC := $(sort $(wildcard bench/lib/*.c))
TEST_SRC  := $(UNIT_SRC) $(SUPPORT_SRC) $(BENCH_LIB_SRC)
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_PROGS := $(patsubst bench/%.c,build/rel/bench/%,$(BENCH_SRC))
TOOLS     := $(patsubst tests/tools/%.c,%,$(TOOL_SRC))
FUZZERS   := $(patsubst fuzz/fuzz_%.c,%,$(FUZZ_SRC))

obj = $(patsubst %.c,build/$(2)/obj/%.o,$(1))

# --- per-configuration rules --------------------------------------------------
define CFG_RULES
build/$(1)/obj/%.o: %.c
	@mkdir -p $$(@D)
	$$(call say,CC,$$<)$$(CC) $$(CPPFLAGS) $$(WARN) $$(BASEFLAGS) $$(CFLAGS_$(1)) -MMD -MP -c $$< -o $$@

build/$(1)/obj/tests/%.o: tests/%.c
	@mkdir -p $$(@D)
	$$(call say,CC,$$<)$$(CC) $$(CPPFLAGS) -Itests $$(WARN) -Wno-missing-prototypes $$(BASEFLAGS) $$(CFLAGS_$(1)) -MMD -MP -c $$< -o $$@

build/$(1)/obj/fuzz/%.o: fuzz/%.c
	@mkdir -p $$(@D)
	$$(call say,CC,$$<)$$(CC) $$(CPPFLAGS) $$(WARN) -Wno-missing-prototypes $$(BASEFLAGS) $$(CFLAGS_$(1)) -MMD -MP -c $$< -o $$@

build/$(1)/libcairn.a: $(call obj,$(SRC),$(1))
	@rm -f $$@
	$$(call say,AR,$$@)ar rcs $$@ $$^

build/$(1)/test_registry.c: $(UNIT_SRC) scripts/gen_test_registry.sh
	@mkdir -p $$(@D)
	$$(Q)sh scripts/gen_test_registry.sh $(UNIT_SRC) > $$@

build/$(1)/obj/test_registry.o: build/$(1)/test_registry.c
	$$(Q)$$(CC) $$(CPPFLAGS) -Itests $$(BASEFLAGS) $$(CFLAGS_$(1)) -c $$< -o $$@

build/$(1)/cairn-tests: build/$(1)/obj/tests/runner.o build/$(1)/obj/test_registry.o \
                        $(call obj,$(TEST_SRC),$(1)) build/$(1)/libcairn.a
	$$(call say,LINK,$$@)$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -o $$@ $$^ $$(LIBS)

build/$(1)/tools/%: build/$(1)/obj/tests/tools/%.o $(call obj,$(SUPPORT_SRC),$(1)) build/$(1)/libcairn.a
	@mkdir -p $$(@D)
	$$(call say,LINK,$$@)$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -o $$@ $$^ $$(LIBS)

build/$(1)/fuzz-replay/%: build/$(1)/obj/fuzz/fuzz_%.o build/$(1)/obj/fuzz/replay.o build/$(1)/libcairn.a
	@mkdir -p $$(@D)
	$$(call say,LINK,$$@)$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -o $$@ $$^ $$(LIBS)

build/$(1)/conformance: build/$(1)/obj/tests/conformance/conformance.o build/$(1)/libcairn.a
	$$(call say,LINK,$$@)$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -o $$@ $$^ $$(LIBS)

# the command, in every build: tests/cli drives the binary of its own build
build/$(1)/cairn: $(call obj,$(CLI_SRC),$(1)) build/$(1)/libcairn.a
	$$(call say,LINK,$$@)$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -o $$@ $$^ $$(LIBS) $$(CLI_LIBS)

$(1): build/$(1)/libcairn.a build/$(1)/cairn-tests $(addprefix build/$(1)/tools/,$(TOOLS)) \
      $(addprefix build/$(1)/fuzz-replay/,$(FUZZERS)) build/$(1)/conformance build/$(1)/cairn
.PHONY: $(1)
endef
$(foreach c,$(CFGS),$(eval $(call CFG_RULES,$(c))))

# --- the library and the command ---------------------------------------------
build/rel/libcairn.so: $(call obj,$(SRC),rel)
	$(call say,LINK,$@)$(CC) -shared $(BASEFLAGS) -o $@ $^ $(LIBS)

build/rel/bench/%: build/rel/obj/bench/%.o $(call obj,$(SUPPORT_SRC),rel) $(call obj,$(BENCH_LIB_SRC),rel) \
                   build/rel/libcairn.a
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(BASEFLAGS) $(CFLAGS_rel) -o $@ $^ $(LIBS)

all: build/rel/libcairn.a build/rel/libcairn.so build/rel/cairn build/rel/cairn.pc
.PHONY: all

build/rel/cairn.pc: scripts/cairn.pc.in
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(or $(PREFIX),/usr/local)|' -e 's|@LIBS@|$(LIBS)|' $< > $@

# --- the two README commands --------------------------------------------------
setup:
	@sh scripts/setup.sh build
setup-test:
	@sh scripts/setup.sh test
.PHONY: setup setup-test

run: setup
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@sh scripts/run.sh
.PHONY: run

test: setup-test
	@$(MAKE) --no-print-directory -j$(NPROC) all rel asan tsan build/headertest.ok $(BENCH_PROGS)
	@sh tests/run_all.sh
.PHONY: test

# The long storage tests (reliability.md R1-R3, R9): 1000 writer kills, 5x
# the sampled crash states and head races. SCALE=n multiplies further.
soak-store: setup-test
	@$(MAKE) --no-print-directory -j$(NPROC) rel
	CAIRN_TEST_SCALE=$(or $(SCALE),5) build/rel/cairn-tests -t 7200 store
.PHONY: soak-store

# Only the unit tests of the release build (fast inner loop while developing).
unit: all rel $(BENCH_PROGS)
	build/rel/cairn-tests $(T)
.PHONY: unit

# The query engine against its naive reference evaluator on many more random
# databases and queries than make test runs (CAIRN_TEST_SCALE rounds).
SOAK_SCALE ?= 40
soak-query: rel
	CAIRN_TEST_SCALE=$(SOAK_SCALE) build/rel/cairn-tests -t 14400 test_query_differential
.PHONY: soak-query

# Any corpus folder of the conformance format: make conformance CORPUS=<dir>
CORPUS ?= ../shared/conformance
conformance: rel
	build/rel/conformance -k tests/conformance/known-failures.txt $(CORPUS)
.PHONY: conformance

# --- headers -------------------------------------------------------------------
HEADERS := include/cairn.h $(wildcard include/cairn/*.h)
build/headertest.ok: $(HEADERS) tests/headertest/headertest.c
	@mkdir -p build
	$(CC) -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -x c -c include/cairn.h -o /dev/null
	$(CC) -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -c tests/headertest/headertest.c -o build/headertest.o
	@for h in $(HEADERS); do \
	  echo "#include \"$${h#include/}\"" | $(CC) -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -x c -c - -o /dev/null || exit 1; \
	done
	@touch $@
check-headers: build/headertest.ok
	@echo "headers: ok"
.PHONY: check-headers

# --- fuzzing (libFuzzer, clang) -------------------------------------------------
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
              -Wno-unknown-warning-option -Wno-string-conversion \
              -fno-omit-frame-pointer -DCAIRN_SANITIZE=1 -DCAIRN_FUZZING=1
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$<)$(FUZZ_CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(BASEFLAGS) $(FUZZ_FLAGS) -c $< -o $@
build/fuzz/libcairn.a: $(call obj,$(SRC),fuzz)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^
build/fuzz/fuzz_%: build/fuzz/obj/fuzz/fuzz_%.o build/fuzz/libcairn.a
	$(call say,LINK,$@)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -pthread -o $@ $^ $(LIBS)

FUZZ_SECONDS ?= 60
fuzz: setup-fuzz-pkgs $(addprefix build/fuzz/fuzz_,$(FUZZERS))
	@sh scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZERS)
setup-fuzz-pkgs:
	@sh scripts/setup.sh fuzz
.PHONY: fuzz setup-fuzz-pkgs

# --- benchmarks ----------------------------------------------------------------
bench: all $(BENCH_PROGS)
	@sh scripts/setup.sh bench
	@sh bench/run.sh quick
bench-full: all $(BENCH_PROGS)
	@sh scripts/setup.sh bench
	@sh bench/run.sh full
.PHONY: bench bench-full

clean:
	rm -rf build
.PHONY: clean

-include $(shell find build -name '*.d' 2>/dev/null)
