#!/usr/bin/env bash
# Builds the libFuzzer targets into .build-fuzz/: DirRMCore and DirRM compiled with coverage
# and AddressSanitizer (-sanitize=fuzzer,address) as two modules, then each harness linked
# against them with libFuzzer's main. SwiftPM is not used because it cannot link a
# -sanitize=fuzzer executable from a library target without editing Package.swift.
# Usage: fuzz/build.sh [target ...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-fuzz
mkdir -p "$out"
flags=(-O -g -sanitize=fuzzer,address -use-ld=lld -I Sources/COpenBLAS -I Sources/CDirRM -I Sources/BLASKernel/include -I Sources/SIMDKernels/include -I "$out")
core=(Sources/DirRMCore/*.swift)
lib=(Sources/DirRM/*.swift)

# Rebuilds $1 when any of the remaining paths is newer.
stale() {
  local target=$1
  shift
  [ ! -e "$target" ] || [ -n "$(find "$@" -newer "$target" 2>/dev/null | head -1)" ]
}

if stale "$out/BLASKernel.o" Sources/BLASKernel/blas_kernel.c Sources/BLASKernel/include/blas_kernel.h; then
  echo "fuzz: compiling BLASKernel" >&2
  clang -O2 -g -fsanitize=address -I Sources/BLASKernel/include -c Sources/BLASKernel/blas_kernel.c \
    -o "$out/BLASKernel.o"
fi
if stale "$out/SIMDKernels.o" Sources/SIMDKernels/simd_kernels.c Sources/SIMDKernels/include/simd_kernels.h; then
  echo "fuzz: compiling SIMDKernels" >&2
  clang -O2 -g -fsanitize=address -I Sources/BLASKernel/include -I Sources/SIMDKernels/include \
    -c Sources/SIMDKernels/simd_kernels.c -o "$out/SIMDKernels.o"
fi
if stale "$out/DirRMCore.o" "${core[@]}" fuzz/build.sh; then
  echo "fuzz: compiling DirRMCore" >&2
  swiftc "${flags[@]}" -parse-as-library -module-name DirRMCore -wmo -c "${core[@]}" \
    -emit-module -emit-module-path "$out/DirRMCore.swiftmodule" -o "$out/DirRMCore.o"
fi
if stale "$out/DirRM.o" "${lib[@]}" "$out/DirRMCore.o" include/dirrm.h; then
  echo "fuzz: compiling DirRM" >&2
  swiftc "${flags[@]}" -parse-as-library -module-name DirRM -wmo -c "${lib[@]}" \
    -emit-module -emit-module-path "$out/DirRM.swiftmodule" -o "$out/DirRM.o"
fi

# Each target: its harness, the shared helpers, and what it links.
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(fuzz/targets.sh))
for target in "${targets[@]}"; do
  case $target in
    club_load) sources=(fuzz/ClubLoadFuzzer.swift fuzz/SavedState.swift) ;;
    prioritizer_load) sources=(fuzz/PrioritizerLoadFuzzer.swift fuzz/SavedState.swift) ;;
    model_load) sources=(fuzz/ModelLoadFuzzer.swift fuzz/SavedState.swift) ;;
    api_sequence) sources=(fuzz/APISequenceFuzzer.swift fuzz/SavedState.swift) ;;
    numpy) sources=(fuzz/NumpyFuzzer.swift Sources/dirrm-cli/NumpyFile.swift Sources/dirrm-cli/DatasetFiles.swift Sources/dirrm-cli/FileIO.swift) ;;
    *) echo "fuzz: unknown target $target" >&2; exit 2 ;;
  esac
  sources+=(fuzz/FuzzBytes.swift)
  objects=()
  # The .npy reader takes its limits from the core; the other targets call the C API.
  objects=("$out/DirRMCore.o" "$out/SIMDKernels.o" "$out/BLASKernel.o" -lopenblas -ldl)
  [ "$target" = numpy ] || objects=("$out/DirRM.o" "${objects[@]}")
  if stale "$out/fuzz-$target" "${sources[@]}" "$out/DirRM.o"; then
    echo "fuzz: linking fuzz-$target" >&2
    swiftc "${flags[@]}" -parse-as-library -module-name "Fuzz_$target" "${sources[@]}" \
      "${objects[@]}" -o "$out/fuzz-$target"
  fi
done
