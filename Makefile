# The two commands a user needs:
#   make demo   set up, build, and run the main job
#   make test   set up, build, and run every test (Swift, C, Python)
LIB := .build/release/libdirrm.so
EXAMPLES := .build/examples
CC ?= cc

.PHONY: demo test setup build examples hostile swift-test python-test results

demo: build
	.build/release/dirrm-cli demo --out out

test: swift-test examples hostile python-test

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

# Inputs that once killed the host process, each run in a forked child (Tests/hostile).
hostile: build
	@mkdir -p $(EXAMPLES)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude Tests/hostile/hostile_calls.c \
	  -L.build/release -ldirrm -Wl,-rpath,'$$ORIGIN/../release' -lpthread -o $(EXAMPLES)/hostile_calls
	$(EXAMPLES)/hostile_calls

swift-test: setup
	swift test --disable-swift-testing

python-test: build examples
	python3 -m pytest -q bindings/python/tests

# Regenerates the effectiveness table in README.md (three seeds, library defaults).
# OpenBLAS picks its GEMM kernels by CPU, and AVX-512 kernels round differently from AVX2
# ones; the tables are computed with the Haswell (AVX2) kernels so that they reproduce to the
# last digit on any x86-64 machine with AVX2.
TABLE_ENV := OPENBLAS_CORETYPE=Haswell
results: build
	$(TABLE_ENV) .build/release/dirrm-cli experiment --seeds 3 --readme README.md
