# rampart build. `make` builds build/rampart; `make test` rebuilds everything with -Werror, ASan
# and UBSan under build/test and runs the unit, conformance, integration and fuzz-smoke tests.

PKGS := jansson libpsl icu-uc icu-i18n libevent libevent_pthreads libevent_openssl yaml-0.1 sqlite3 libcrypto libssl libhs libzip
TEST_PKGS := cmocka

BUILD ?= build
MODE ?= release
CC ?= cc
FUZZ_CC ?= clang-14

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wvla
CPPFLAGS_ALL := -Iinclude -D_GNU_SOURCE $(CPPFLAGS)
ifeq ($(MODE),test)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -Werror \
	-DRP_TEST_BUILD
  LDOPT := -fsanitize=address,undefined
else ifeq ($(MODE),fuzz)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -DRP_TEST_BUILD
  LDOPT := -fsanitize=address,undefined
else
  OPT := -O2 -g
  LDOPT :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lm -lpthread
CFLAGS_ALL = -std=c11 $(WARN) $(OPT) $(PKG_CFLAGS) $(CFLAGS)

LIB_SRCS := $(sort $(wildcard lib/*/*.c))
SRC_SRCS := $(sort $(wildcard src/*.c src/server/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
TOOL_SRCS := tools/demo-model/demo_model.c
# Files compiled into the binary so that `rampart url` works with no files beside it.
EMBEDDED := conf/brands.txt conf/shorteners.txt conf/suspicious-tlds.txt conf/url-model.txt \
	conf/guard-rules.yaml conf/guard-input-model.txt conf/guard-output-model.txt

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/lib/base/embed.o
SRC_OBJS := $(SRC_SRCS:%.c=$(BUILD)/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/%)
LIB := $(BUILD)/librampart.a

# `make V=1` shows whole commands.
Q := $(if $(V),,@)

.PHONY: all deps run demo-url npm-test-deps bench-gateway bench-signup-load test test-build fuzz-build check bench-url url-model format clean eval-url eval-guard bench-guard guard-models simulate bench-vulns
all: $(BUILD)/rampart $(BUILD)/rampart-demo-model

# Missing libraries: install them when we are root, else print the exact command.
deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: scripts/install-deps
	@mkdir -p $(BUILD)
	@scripts/install-deps --check-or-install
	@touch $@

$(BUILD)/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# .incbin paths are relative to the top of the tree.
$(BUILD)/lib/base/embed.o: lib/base/embed.S $(EMBEDDED)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -c $< -o $@ -Wa,-I.

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/rampart: $(SRC_OBJS) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) $(LDOPT) -o $@ $(SRC_OBJS) $(LIB) $(PKG_LIBS) $(LDFLAGS)

# The echoing model that `make run`, the integration tests and the benchmarks put behind the
# gateway: a test tool with its own HTTP stack, not a command of the product (README.md).
$(BUILD)/rampart-demo-model: $(BUILD)/tools/demo-model/demo_model.o $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) $(LDOPT) -o $@ $< $(LIB) $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(shell pkg-config --cflags $(TEST_PKGS)) -MMD -MP \
		-o $@ $< $(LIB) $(PKG_LIBS) $(shell pkg-config --libs $(TEST_PKGS)) $(LDOPT)

# The store executor belongs to the program; its unit test links it.
$(BUILD)/tests/test_offload: tests/unit/test_offload.c $(BUILD)/src/server/offload.o $(LIB) \
		| $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) -Isrc/server $(CFLAGS_ALL) $(shell pkg-config --cflags $(TEST_PKGS)) \
		-MMD -MP -o $@ $< $(BUILD)/src/server/offload.o $(LIB) $(PKG_LIBS) \
		$(shell pkg-config --libs $(TEST_PKGS)) $(LDOPT)

# The gateway's route tables belong to the program too; their unit test links them.
$(BUILD)/tests/test_route: tests/unit/test_route.c $(BUILD)/src/server/route.o $(LIB) \
		| $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) -Isrc/server $(CFLAGS_ALL) $(shell pkg-config --cflags $(TEST_PKGS)) \
		-MMD -MP -o $@ $< $(BUILD)/src/server/route.o $(LIB) $(PKG_LIBS) \
		$(shell pkg-config --libs $(TEST_PKGS)) $(LDOPT)

# The gateway's HTTP layer belongs to the program, not to the library: only its own fuzz
# targets link it; every other target links librampart alone.
GWHTTP_FUZZ := $(BUILD)/fuzz_httpd $(BUILD)/fuzz_upstream
$(BUILD)/libgwhttp.a: $(BUILD)/src/server/httpd.o $(BUILD)/src/server/upstream.o \
		$(BUILD)/src/server/connect.o
	@rm -f $@
	$(Q)ar rcs $@ $^

$(GWHTTP_FUZZ): $(BUILD)/fuzz_%: fuzz/fuzz_%.c $(BUILD)/libgwhttp.a $(LIB)
	@echo "  FUZZ    $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) -Isrc/server $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< \
		$(BUILD)/libgwhttp.a $(LIB) $(PKG_LIBS) $(LDOPT)

$(filter-out $(GWHTTP_FUZZ),$(FUZZ_BINS)): $(BUILD)/fuzz_%: fuzz/fuzz_%.c $(LIB)
	@echo "  FUZZ    $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(LIB) $(PKG_LIBS) $(LDOPT)

run: $(BUILD)/rampart $(BUILD)/rampart-demo-model
	@scripts/demo-serve $(BUILD)/rampart

demo-url: $(BUILD)/rampart
	@scripts/demo-url $(BUILD)/rampart

test: check npm-test-deps
	$(MAKE) --no-print-directory BUILD=build/test MODE=test test-build
	$(MAKE) --no-print-directory BUILD=build/fuzz MODE=fuzz CC=$(FUZZ_CC) fuzz-build
	@[ -d build/npm/node_modules/openai ] || echo "make: *** WARNING: the official OpenAI" \
		"client is not installed (see above): its test will be SKIPPED" >&2
	scripts/run-tests build/test build/fuzz

test-build: $(BUILD)/rampart $(BUILD)/rampart-demo-model $(UNIT_BINS)
fuzz-build: $(FUZZ_BINS)

check:
	scripts/checksrc

# The official OpenAI client, for the test that points it at the gateway, from the npm registry.
# It comes after the packages, since Debian's npm is one of them. Without npm or the registry
# the build goes on, that one test is skipped, and make says so loudly, with npm's own words.
npm-test-deps: build/npm/node_modules/openai
build/npm/node_modules/openai: | $(BUILD)/.deps-ok
	@mkdir -p build/npm
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "make: *** WARNING: npm is not installed (scripts/install-deps installs it as" \
			"root): the official OpenAI client test will be SKIPPED" >&2; \
	else \
		rc=0; (cd build/npm && timeout 120 npm install --no-audit --no-fund openai@4 \
			>install.log 2>&1) || rc=$$?; \
		if [ $$rc -ne 0 ]; then \
			[ $$rc = 124 ] && why="no answer in 120 s" || why="exit status $$rc"; \
			echo "make: *** WARNING: 'npm install openai@4' failed ($$why): is the npm" \
				"registry reachable? From build/npm/install.log:" >&2; \
			grep -v ' at \|error *$$' build/npm/install.log | head -n 4 | sed 's/^/make: ***   /' >&2; \
			echo "make: *** the official OpenAI client test will be SKIPPED; retry with" \
				"'make npm-test-deps'" >&2; \
		fi; \
	fi

bench-url: $(BUILD)/rampart $(BUILD)/bench_url
	bench/bench-url $(BUILD)/rampart

bench-gateway: $(BUILD)/rampart $(BUILD)/rampart-demo-model
	bench/bench-gateway $(BUILD)/rampart $(BENCH_GATEWAY_ARGS)

bench-signup-load: $(BUILD)/rampart $(BUILD)/rampart-demo-model
	bench/bench-signup-load $(BUILD)/rampart

eval-url: $(BUILD)/rampart
	bench/eval-url $(BUILD)/rampart

# The guardrails on the 20% evaluation split that guard-train never trains on (docs/guardrails.md).
eval-guard: $(BUILD)/rampart
	$(BUILD)/rampart guard-eval --data ../shared/data/prompts/labeled.jsonl --split held-out
	$(BUILD)/rampart guard-eval --data ../shared/data/prompts/responses.jsonl --split held-out

# Populations of users and attackers against the real gateway (docs/abuse.md).
simulate: $(BUILD)/rampart $(BUILD)/rampart-demo-model
	bench/simulate $(BUILD)/rampart

bench-guard: $(BUILD)/bench_guard
	$(BUILD)/bench_guard ../shared/data/prompts/labeled.jsonl ../shared/data/prompts/responses.jsonl 16

# rampart vulns: index build, scan of a 10,000-package inventory, and the ratio of the scan to
# decompressing the database (docs/vulns.md).
bench-vulns: $(BUILD)/bench_vulns
	bench/bench-vulns $(BUILD)/bench_vulns

$(BUILD)/bench_vulns: bench/bench_vulns.c $(LIB)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(LIB) $(PKG_LIBS) $(LDOPT)

$(BUILD)/bench_guard: bench/bench_guard.c $(LIB)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(LIB) $(PKG_LIBS) $(LDOPT)

# Retrains the guardrails' classifiers (docs/guardrails.md): deterministic, a few seconds each.
# The ordinary SMS messages train the prompt classifier on short everyday texts ("hello",
# "thanks!"), which the labelled prompts lack.
guard-models: $(BUILD)/rampart
	$(BUILD)/rampart guard-train --data ../shared/data/prompts/labeled.jsonl \
		--benign ../shared/data/messages/sms_labeled.jsonl \
		--out conf/guard-input-model.txt --bits 18 --epochs 20 --ngrams 0-0 --l2 0.003 \
		--ordinary-weight 32 --calibrate --target-fpr 0.002
	$(BUILD)/rampart guard-train --data ../shared/data/prompts/responses.jsonl \
		--out conf/guard-output-model.txt --bits 16 --epochs 12 --ngrams 0-0 --target-fpr 0.01

$(BUILD)/bench_url: bench/bench_url.c $(LIB)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(LIB) $(PKG_LIBS) $(LDOPT)

# Retrains conf/url-model.txt (docs/url-model.md): the labelled URLs plus the reference links of the
# OSV advisories as more benign sites. Deterministic; about 45 seconds on one core.
url-model: $(BUILD)/rampart
	scripts/osv-reference-urls > $(BUILD)/osv-reference-urls.jsonl
	$(BUILD)/rampart url-train --data ../shared/data/url/phishing_labeled.jsonl \
		--data $(BUILD)/osv-reference-urls.jsonl --out conf/url-model.txt

format:
	clang-format -i $(LIB_SRCS) $(SRC_SRCS) $(UNIT_SRCS) $(FUZZ_SRCS) $(TOOL_SRCS) include/rampart/*.h

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
