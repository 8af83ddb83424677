#!/usr/bin/env bash
# make asan / make tsan: the Swift tests built with a sanitizer, then the Python tests
# against a libdirrm.so built with the same sanitizer (in .build-asan or .build-tsan).
#
# Python is not instrumented, so the sanitizer runtime is LD_PRELOADed into it (it must be
# the first library loaded) and the binding is pointed at the sanitized library with
# $DIRRM_LIBRARY. Leak checking is off: CPython and numpy keep allocations alive at exit
# on purpose. OpenBLAS runs one thread: its worker threads synchronize with spin-waits
# TSan cannot see, which would be reported as races in the library's buffers.
# Usage: scripts/sanitize.sh asan|tsan [PYTEST_ARGS...]   (default: every Python test)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize.sh asan|tsan [PYTEST_ARGS...]}
shift
if [ $# -eq 0 ]; then set -- bindings/python/tests; fi
case $kind in
  asan) sanitizer=address ;;
  tsan) sanitizer=thread ;;
  *) echo "sanitize: unknown kind $kind" >&2; exit 2 ;;
esac
scratch=.build-$kind
export OPENBLAS_NUM_THREADS=1
export SWIFT_BACKTRACE=enable=no
toolchain=$(dirname "$(command -v swiftc)")
export ASAN_SYMBOLIZER_PATH=$toolchain/llvm-symbolizer
# The library asks malloc for a request's working set before it starts (Workspace.reserve)
# and answers OUT_OF_MEMORY when malloc returns NULL; the sanitizers' allocators abort on a
# request they cannot serve unless told to return NULL, as glibc's malloc does.
# die_after_fork=0: the fork tests fork from a threaded process on purpose (what dirrm's fork
# gate is for), and TSan otherwise kills a child that starts threads after such a fork.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1 die_after_fork=0 external_symbolizer_path=$toolchain/llvm-symbolizer"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1

echo "sanitize: Swift tests under -sanitize=$sanitizer" >&2
swift test --sanitize="$sanitizer" --disable-swift-testing --scratch-path "$scratch" -Xswiftc -use-ld=lld

echo "sanitize: libdirrm.so under -sanitize=$sanitizer" >&2
scripts/build.sh --sanitize="$sanitizer" --scratch-path "$scratch" --product dirrm -Xswiftc -use-ld=lld
runtime=$(ls "$toolchain"/../lib/clang/*/lib/linux/libclang_rt."$kind"-x86_64.so | head -1)
preload=$runtime
# The toolchain's TSan runtime intercepts libdispatch too and needs its symbols at load.
swiftlibs=$toolchain/../lib/swift/linux
if [ "$kind" = tsan ]; then preload="$runtime $swiftlibs/libdispatch.so $swiftlibs/libBlocksRuntime.so"; fi

# test_no_swift_runtime_or_foundation_dependency runs ldd, which sees the preloaded runtime
# (under /opt/swift/...) as a dependency; it is about the shipped build, checked by make test.
echo "sanitize: Python tests with $runtime preloaded" >&2
DIRRM_LIBRARY=$PWD/$scratch/release/libdirrm.so PYTHONPATH=$PWD/bindings/python LD_PRELOAD=$preload \
  python3 -m pytest -q -p no:cacheprovider -k "not test_no_swift_runtime_or_foundation_dependency" "$@"
