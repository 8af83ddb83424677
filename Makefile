# The two commands a user needs:
#   make demo   set up, build, and run the main job
#   make test   set up, build, and run every test (Swift, C, Python)
# Robustness (issue "No input can kill the host process"):
#   make fuzz [SECONDS=30]   build the libFuzzer targets (fuzz/) and run each for SECONDS;
#                            fails on any crash, reproducers in fuzz/findings/
#   make fuzz-ci             the same at 30 s per target, for CI
#   make asan                Swift and Python tests against an AddressSanitizer build
#   make tsan                the same under ThreadSanitizer (see scripts/sanitize.sh)
LIB := .build/release/libdirrm.so
EXAMPLES := .build/examples
CC ?= cc

SECONDS ?= 30

.PHONY: demo test setup build examples swift-test python-test results fuzz fuzz-build fuzz-ci asan tsan

demo: build
	.build/release/dirrm-cli demo --out out

test: swift-test examples python-test

setup:
	@scripts/setup.sh

build: setup
	scripts/build.sh

examples: build
	@mkdir -p $(EXAMPLES)
	for example in bt_loss train_rm; do \
	  $(CC) -std=c99 -Wall -Wextra -Werror -Iinclude examples/c/$$example.c \
	    -L.build/release -ldirrm -Wl,-rpath,'$$ORIGIN/../release' -lm -o $(EXAMPLES)/$$example || exit 1; \
	done

swift-test: setup
	swift test --disable-swift-testing

python-test: build examples
	python3 -m pytest -q bindings/python/tests

# Regenerates the effectiveness table in README.md (three seeds, library defaults).
results: build
	.build/release/dirrm-cli experiment --seeds 3 --readme README.md

fuzz-build: setup
	fuzz/build.sh

fuzz: fuzz-build
	fuzz/run.sh $(SECONDS)

fuzz-ci: fuzz-build
	fuzz/run.sh 30

asan: build examples
	scripts/sanitize.sh asan

tsan: build examples
	scripts/sanitize.sh tsan
