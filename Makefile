# hookpipe build. Everything goes to $(BUILD) (default build/).
#   make          build the programs and the unit tests
#   make test     install what is missing, build, run every suite (what CI runs)
#   make check    the suites built with AddressSanitizer + UBSan (build-san/)
#   make bench    the benchmarks; figures go to tests/bench/RESULTS.md
#   make run      run the whole stack locally until Ctrl-C
#
# Sources: every .c under common/, gateway/, schema-registry/ and sinks/ goes
# into one static library, except the program entry points listed in PROGRAMS.
# Each tests/unit/test_*.c becomes a test binary linked with that library.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
WERROR  ?= -Werror
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Wshadow -Wstrict-prototypes \
           $(WERROR) -Icommon -MMD -MP $(SAN)
LDFLAGS += $(SAN)
LDLIBS  += -lrdkafka -lmicrohttpd -ljansson -lavro -lpq -lsqlite3 -lcurl -lssl -lcrypto -lsnappy -lz \
           -lpthread -lm

# program name : entry point
PROGRAMS := hookpipe-gateway:gateway/gateway_main.c \
            hookpipectl:gateway/ctl_main.c \
            hookpipe-registry:schema-registry/registry_main.c \
            hookpipe-sink:sinks/sink_main.c

prog_name = $(word 1,$(subst :, ,$1))
prog_main = $(word 2,$(subst :, ,$1))
MAINS     := $(foreach p,$(PROGRAMS),$(call prog_main,$p))
PRESENT   := $(foreach p,$(PROGRAMS),$(if $(wildcard $(call prog_main,$p)),$p))
BINS      := $(foreach p,$(PRESENT),$(BUILD)/bin/$(call prog_name,$p))

LIB_SRCS  := $(filter-out $(MAINS),$(wildcard common/*.c gateway/*.c schema-registry/*.c sinks/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libhookpipe.a
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# C suites that need the running stack (PostgreSQL, Kafka): run by tests/run
# after `stack up`, with the stack's variables in the environment
ITEST_SRCS := $(wildcard tests/integration/itest_*.c)
ITEST_BINS := $(ITEST_SRCS:tests/integration/%.c=$(BUILD)/itests/%)

.PHONY: all deps test check bench bench-bins run fuzz fuzz-bins clean
all: $(BINS) $(TEST_BINS) $(ITEST_BINS) $(BUILD)/aux/harness_selftest

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define PROGRAM_RULE
$(BUILD)/bin/$(call prog_name,$1): $(BUILD)/obj/$(basename $(call prog_main,$1)).o $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PRESENT),$(eval $(call PROGRAM_RULE,$p)))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/itests/%: $(BUILD)/obj/tests/integration/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# benchmark programs: each tests/bench/*.c, linked with the library; built by `make bench`
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
bench-bins: $(BENCH_BINS)
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/aux/harness_selftest: $(BUILD)/obj/tests/unit/harness_selftest.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

deps:
	@compose/local/install-deps

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run

check: deps
	@$(MAKE) --no-print-directory BUILD=build-san OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@HOOKPIPE_BUILD=build-san ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1 tests/run unit integration
	@$(MAKE) --no-print-directory all
	@tests/run valgrind

# libFuzzer targets (clang): tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME,
# crashes found earlier in tests/fuzz/regressions/NAME (replayed first).
# `make fuzz FUZZ_SECONDS=N` runs each target for N seconds (default 60).
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
fuzz-bins:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang WERROR= OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer" \
	    build-fuzz/libhookpipe.a $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/fuzz/%)
build-fuzz/fuzz/%: tests/fuzz/%.c build-fuzz/libhookpipe.a
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
fuzz: deps fuzz-bins
	@tests/fuzz/run $(FUZZ_SECONDS)

bench: deps
	@$(MAKE) --no-print-directory all bench-bins
	@tests/bench/run

run: deps
	@$(MAKE) --no-print-directory all
	@compose/local/run

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJS:.o=.d) $(MAINS:%.c=$(BUILD)/obj/%.d) $(TEST_SRCS:%.c=$(BUILD)/obj/%.d) $(ITEST_SRCS:%.c=$(BUILD)/obj/%.d)

# keep objects of test binaries and programs between builds
.SECONDARY:
