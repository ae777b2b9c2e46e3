MAKEFLAGS += --no-print-directory
# The README's two commands: `make demo` and `make test`. Both install the
# Debian packages they need (scripts/deps.sh), configure and build first.
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
WERROR  ?= $(if $(CI),ON,OFF)
CMAKE_FLAGS ?=

.PHONY: all build demo test test-release test-asan test-tsan test-clang fuzz install bench clean

all: build

build:
	@scripts/deps.sh build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DEMBER_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/examples/pi

test: test-release test-asan test-tsan test-clang

test-release:
	@scripts/deps.sh test
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DEMBER_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
test-asan:
	@scripts/deps.sh test
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DEMBER_WERROR=$(WERROR) \
	    -DEMBER_SANITIZE=address,undefined >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	@cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -LE nosan

# the threaded parts (executor, scheduler, shared variables) under ThreadSanitizer
test-tsan:
	@scripts/deps.sh test
	@cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=Debug -DEMBER_WERROR=$(WERROR) \
	    -DEMBER_SANITIZE=thread >/dev/null
	@cmake --build $(BUILD)-tsan -j $(JOBS)
	@cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) -L tsan

# clang's UndefinedBehaviorSanitizer (and ASan) beside gcc's, and the libFuzzer
# harnesses for FUZZ_SMOKE seconds each (their corpus replayed first)
FUZZ_SMOKE ?= 20
test-clang:
	@scripts/deps.sh test
	@CC=clang cmake -S . -B $(BUILD)-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_WERROR=OFF \
	    -DEMBER_SANITIZE=address,undefined -DEMBER_FUZZ=ON -DEMBER_FUZZ_TIME=$(FUZZ_SMOKE) >/dev/null
	@cmake --build $(BUILD)-clang -j $(JOBS)
	@cd $(BUILD)-clang && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS) -LE nosan

# every fuzz harness for FUZZ_TIME seconds on JOBS workers; new inputs and
# findings stay in $(BUILD)-clang (copy findings to tests/fuzz/corpus/NAME/)
FUZZ_TIME ?= 600
fuzz:
	@scripts/deps.sh test
	@CC=clang cmake -S . -B $(BUILD)-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_WERROR=OFF \
	    -DEMBER_SANITIZE=address,undefined -DEMBER_FUZZ=ON >/dev/null
	@cmake --build $(BUILD)-clang -j $(JOBS)
	@cd $(BUILD)-clang && for h in csv json_lines codecs records http_request; do \
	    ../tests/fuzz/run.sh tests/fuzz_$$h ../tests/fuzz/corpus/$$h $(FUZZ_TIME) $(JOBS) || exit 1; done

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	@scripts/deps.sh bench
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-clang
