# hookpipe build. Everything goes to $(BUILD) (default build/).
#   make          build the programs and the unit tests
#   make test     install what is missing, build, run every suite (what CI runs)
#   make check    the suites built with AddressSanitizer + UBSan (build-san/)
#   make bench    the benchmarks; figures go to tests/bench/RESULTS.md
#   make run      run the whole stack locally until Ctrl-C
#
# Parts: each folder below is one part with its own archive, compiled with the
# include directories of the parts it may use and no others, so an #include
# across the layers does not compile. common/ is the utility layer every part
# uses; a program links its part and what that part uses.
#   part       sources                              may include
#   common     common/                              common
#   gateway    gateway/                             common
#   ctl        ctl/                                 common
#   registry   schema-registry/ (the server)        common
#   srclient   schema-registry/client/              common
#   sinks      sinks/, sinks/avro/, sinks/warehouse/ common, srclient
# The programs' entry points (PROGRAMS) are outside the archives. Each
# tests/unit/test_*.c becomes a test binary linked with every archive.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
WERROR  ?= -Werror
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Wshadow -Wstrict-prototypes \
           $(WERROR) -MMD -MP $(SAN)
LDFLAGS += $(SAN)
LDLIBS  += -lrdkafka -lmicrohttpd -ljansson -lavro -lpq -lsqlite3 -lcurl -lssl -lcrypto -lsnappy -lz \
           -lpthread -lm

PARTS          := sinks srclient registry gateway ctl common
common_DIRS    := common
common_USES    :=
gateway_DIRS   := gateway
gateway_USES   := common
ctl_DIRS       := ctl
ctl_USES       := common
registry_DIRS  := schema-registry
registry_USES  := common
srclient_DIRS  := schema-registry/client
srclient_USES  := common
sinks_DIRS     := sinks sinks/avro sinks/warehouse
sinks_USES     := srclient common

# program name : part : entry point
PROGRAMS := hookpipe-gateway:gateway:gateway/gateway_main.c \
            hookpipectl:ctl:ctl/ctl_main.c \
            hookpipe-registry:registry:schema-registry/registry_main.c \
            hookpipe-sink:sinks:sinks/sink_main.c

prog_name = $(word 1,$(subst :, ,$1))
prog_part = $(word 2,$(subst :, ,$1))
prog_main = $(word 3,$(subst :, ,$1))
MAINS     := $(foreach p,$(PROGRAMS),$(call prog_main,$p))
BINS      := $(foreach p,$(PROGRAMS),$(BUILD)/bin/$(call prog_name,$p))

part_srcs = $(filter-out $(MAINS),$(wildcard $(addsuffix /*.c,$($1_DIRS))))
part_lib  = $(BUILD)/lib/libhookpipe-$1.a
part_inc  = $(addprefix -I,$($1_DIRS) $(foreach u,$($1_USES),$($u_DIRS)))
# the archives a part links: its own, then those of the parts it uses
part_libs = $(call part_lib,$1) $(foreach u,$($1_USES),$(call part_lib,$u))

ALL_LIBS  := $(foreach p,$(PARTS),$(call part_lib,$p))
LIB_OBJS  := $(foreach p,$(PARTS),$(patsubst %.c,$(BUILD)/obj/%.o,$(call part_srcs,$p)))
# tests see every part
TEST_INC  := $(foreach p,$(PARTS),$(addprefix -I,$($p_DIRS))) -Itests/unit
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# C suites that need the running stack (PostgreSQL, Kafka): run by tests/run
# after `stack up`, with the stack's variables in the environment
ITEST_SRCS := $(wildcard tests/integration/itest_*.c)
ITEST_BINS := $(ITEST_SRCS:tests/integration/%.c=$(BUILD)/itests/%)

# PART_RULES part: its objects see only its include directories; its archive
define PART_RULES
$(patsubst %.c,$(BUILD)/obj/%.o,$(call part_srcs,$1) $(filter $(addsuffix /%,$($1_DIRS)),$(MAINS))): INC := $(call part_inc,$1)
$(call part_lib,$1): $(patsubst %.c,$(BUILD)/obj/%.o,$(call part_srcs,$1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach p,$(PARTS),$(eval $(call PART_RULES,$p)))

.PHONY: all deps layers test check bench bench-bins run fuzz fuzz-bins clean
all: $(BINS) $(TEST_BINS) $(ITEST_BINS) $(BUILD)/aux/harness_selftest

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c -o $@ $<

# test, benchmark and harness sources see every part
$(BUILD)/obj/tests/%.o: INC := $(TEST_INC)

define PROGRAM_RULE
$(BUILD)/bin/$(call prog_name,$1): $(BUILD)/obj/$(basename $(call prog_main,$1)).o $(call part_libs,$(call prog_part,$1))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$p)))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/itests/%: $(BUILD)/obj/tests/integration/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# benchmark programs: each tests/bench/*.c, linked with every archive; built by `make bench`
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
bench-bins: $(BENCH_BINS)
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/aux/harness_selftest: $(BUILD)/obj/tests/unit/harness_selftest.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# layers: checks that the parts' boundaries hold (tests/run unit counts it):
# no source includes by a relative path, and from each part a header of every
# part it may not use is not found.
layers:
	@bad=$$(grep -rlE '#include +"\.\./' $(foreach p,$(PARTS),$($p_DIRS))); \
	  if [ -n "$$bad" ]; then echo "layers: relative #include in $$bad"; exit 1; fi
	@$(foreach p,$(PARTS),$(foreach o,$(filter-out $p $($p_USES),$(PARTS)),\
	  h=$$(basename $$(ls $(firstword $($o_DIRS))/*.h | head -n 1)); \
	  if ! echo "#include \"$$h\"" | $(CC) -E -x c - $(call part_inc,$p) 2>&1 >/dev/null | \
	       grep -q "$$h: No such file"; then \
	    echo "layers: part $p can include $$h of part $o"; exit 1; fi;))
	@echo "layers: each of $(words $(PARTS)) parts sees only the parts it may use"

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
	    $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/fuzz/%)
build-fuzz/fuzz/%: tests/fuzz/%.c $(ALL_LIBS)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined $(TEST_INC) -o $@ $^ $(LDLIBS)
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
