# Settings shared by run.sh and triage.sh (sourced).
# Swift's own backtracer would replace the sanitizer's symbolized stack; one BLAS thread
# keeps runs reproducible and leaves the second core to the other target or build.
export SWIFT_BACKTRACE=enable=no
export OPENBLAS_NUM_THREADS=1
# A malloc above max_allocation_size_mb returns NULL instead of reporting, so that the
# library's OUT_OF_MEMORY path is what gets tested: a trap after a NULL is a finding, a
# status is not. Leak checking is off: the Swift runtime's lazily filled caches look like
# leaks to LeakSanitizer, and a leak does not kill the host process.
export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=0:handle_abort=1
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(dirname "$(command -v swiftc)")/llvm-symbolizer}
# libFuzzer limits: RSS and single-malloc ceilings above the ASan one, and a per-input
# timeout far above any legitimate input the harnesses build.
FUZZ_RSS_MB=${FUZZ_RSS_MB:-3072}
FUZZ_MALLOC_MB=${FUZZ_MALLOC_MB:-2048}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-20}
