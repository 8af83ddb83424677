#!/usr/bin/env bash
# The installs a user does, each into a temporary virtual environment or prefix that is
# removed on exit (run by `make install-test`, part of `make test`):
#   1. `pip install ./bindings/python` in a fresh, isolated virtual environment, then
#      `import dirrm` from outside the checkout;
#   2. `make wheel`: a manylinux wheel that auditwheel accepts, whose libdirrm.so resolves
#      every library to the core system set or to a copy inside the wheel, and against which
#      the package's tests pass; and a wheel built from the sdist alone;
#   3. `make install` into a prefix: a C program built with pkg-config and the CMake example
#      built with find_package(dirrm) run; the SONAME; `make uninstall` leaves no file; the
#      same with DESTDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
make=${MAKE:-make}
version=$(scripts/version.sh)
major=$(scripts/version.sh major)
work=$(mktemp -d "${TMPDIR:-/tmp}/dirrm-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset DIRRM_LIBRARY PYTHONPATH

step() { printf '\ninstall-test: %s\n' "$*" >&2; }
fail() {
  echo "install-test: FAILED: $*" >&2
  exit 1
}
# The libraries a manylinux wheel may take from the system (auditwheel's policy, plus the
# loader and the vDSO).
core_library() {
  case "$1" in
    linux-vdso.so.1 | ld-linux-x86-64.so.2 | libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | \
      librt.so.1 | libgcc_s.so.1 | libstdc++.so.6) return 0 ;;
  esac
  return 1
}
site_packages() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])'; }

# ---------------------------------------------------------------------------------------------
step "1. pip install ./bindings/python in a fresh, isolated virtual environment"
"$python" -m venv "$work/venv-source"
"$work/venv-source/bin/pip" install -q ./bindings/python
site=$(site_packages "$work/venv-source")
out=$(cd "$work" && "$work/venv-source/bin/python" -c 'import dirrm; print(dirrm.__version__, dirrm.library_path())')
echo "$out"
[ "$out" = "$version $site/dirrm/libdirrm.so" ] || fail "expected '$version $site/dirrm/libdirrm.so'"
rm -rf "$work/venv-source"

# The README's extras, "./bindings/python[torch]" and "./bindings/python[trl]", with the
# installed CPU torch kept (the constraint the README gives): in a venv that sees the system's
# packages, so that nothing is downloaded when they are present.
if "$python" -c 'import torch, trl, transformers, accelerate, datasets' 2>/dev/null; then
  step "1. pip install \"./bindings/python[torch]\" and \"./bindings/python[trl]\" keep the CPU torch"
  "$python" -m venv --system-site-packages "$work/venv-extras"
  torch_before=$("$python" -c 'import torch; print(torch.__version__)')
  echo "torch==$torch_before" > "$work/constraint.txt"
  "$work/venv-extras/bin/pip" install -q -c "$work/constraint.txt" "./bindings/python[torch]"
  "$work/venv-extras/bin/pip" install -q -c "$work/constraint.txt" "./bindings/python[trl]"
  out=$(cd "$work" && "$work/venv-extras/bin/python" -c 'import dirrm.trl, torch; print(torch.__version__)')
  [ "$out" = "$torch_before" ] || fail "the extras replaced torch $torch_before with $out"
  # dirrm.trl calls one private method of the Trainer, so pyproject.toml pins the TRL versions
  # tested: the newest is `make setup`'s; here the tests of dirrm.trl run against the oldest
  # (the checkpoint's restore, training with club_mi logged, resuming both trainers, the audit).
  oldest=$(grep -o '"trl>=[0-9.]*' bindings/python/pyproject.toml | cut -d= -f2)
  step "1. the tests of dirrm.trl against the oldest pinned TRL, $oldest"
  "$work/venv-extras/bin/pip" install -q -c "$work/constraint.txt" "trl==$oldest"
  # Not -q: the header line names the dirrm the tests imported, which is checked below.
  (cd "$work" && "$work/venv-extras/bin/python" -m pytest -p no:cacheprovider \
    "$repo/bindings/python/tests/test_checkpoint_safety.py" "$repo/bindings/python/tests/test_torch_examples.py" \
    "$repo/bindings/python/tests/test_audit.py" -k "checkpoint or trl_example_trains or trl_default or audit_model") |
    tee "$work/pytest-trl.log"
  grep -q "^dirrm $version: $(site_packages "$work/venv-extras")/dirrm" "$work/pytest-trl.log" ||
    fail "the TRL tests did not run against the extras' dirrm"
  [ "$("$work/venv-extras/bin/python" -c 'import trl; print(trl.__version__)')" = "$oldest" ] ||
    fail "the TRL tests did not run against TRL $oldest"
  rm -rf "$work/venv-extras" "$work/constraint.txt"
else
  echo "skipped: the [torch] and [trl] extras need torch, trl, transformers, accelerate and datasets installed (make setup)"
fi

# ---------------------------------------------------------------------------------------------
step "2. make wheel; auditwheel show"
rm -f dist/dirrm-"$version"-*.whl
"$make" --no-print-directory wheel
wheels=(dist/dirrm-"$version"-*manylinux*.whl)
[ ${#wheels[@]} = 1 ] && [ -f "${wheels[0]}" ] || fail "make wheel made no single manylinux wheel: ${wheels[*]}"
wheel=${wheels[0]}
shown=$("$python" -m auditwheel show "$wheel") || fail "auditwheel show $wheel"
grep -q 'consistent with the following platform tag: "manylinux_' <<<"$(echo "$shown" | tr '\n' ' ')" ||
  fail "auditwheel show: $shown"
echo "$wheel ($(du -k "$wheel" | cut -f1) KiB): $(echo "$shown" | tr '\n' ' ' | grep -o 'platform tag: "[^"]*"' | head -1)"

step "2. the wheel alone in a fresh virtual environment: ldd, then the package's tests"
# --system-site-packages lends the environment numpy, pytest and torch (none of them holds a
# dirrm); --no-index makes sure nothing but the wheel is installed.
"$python" -m venv --system-site-packages "$work/venv-wheel"
"$work/venv-wheel/bin/pip" install -q --no-index "$wheel"
site=$(site_packages "$work/venv-wheel")
library=$(cd "$work" && "$work/venv-wheel/bin/python" -c 'import dirrm; print(dirrm.library_path())')
[ "$library" = "$site/dirrm/libdirrm.so" ] || fail "the wheel's package loaded $library"
bundled=()
while read -r name arrow path _; do
  [ "$arrow" = "=>" ] || { path=$name; name=$(basename "$name"); }
  [ "$path" != "not" ] || fail "ldd: $name not found"
  if core_library "$name"; then continue; fi
  case "$(realpath -m "$path")" in
    "$(realpath -m "$site")"/dirrm.libs/*) bundled+=("$name") ;;
    *) fail "$library needs $name from $path, neither a core system library nor in the wheel" ;;
  esac
done < <(ldd "$library" | sed 's/ (0x[0-9a-f]*)$//')
[[ " ${bundled[*]}" == *" libopenblas"* ]] || fail "OpenBLAS does not come from the wheel"
echo "ldd: ${bundled[*]} from the wheel's dirrm.libs; everything else from the core system set"
(cd "$work" && "$work/venv-wheel/bin/python" -m pytest -p no:cacheprovider "$repo/bindings/python/tests") |
  tee "$work/pytest.log"
grep -q "^dirrm $version: $site/dirrm, library $site/dirrm/libdirrm.so" "$work/pytest.log" ||
  fail "the tests did not run against the installed wheel"
rm -rf "$work/venv-wheel"

step "2. a wheel from the sdist alone (it carries the Swift sources and builds them)"
"$python" -m build -q --sdist -o "$work/sdist" bindings/python >/dev/null
(cd "$work" && "$python" -m pip wheel -q --no-cache-dir --no-deps -w "$work/sdist" "$work/sdist/dirrm-$version.tar.gz")
"$python" -m pip install -q --no-deps --target "$work/sdist-target" "$work"/sdist/dirrm-"$version"-*.whl
out=$(cd "$work" && PYTHONPATH="$work/sdist-target" "$python" -c 'import dirrm; print(dirrm.__version__, dirrm.library_path())')
echo "$out"
[ "$out" = "$version $work/sdist-target/dirrm/libdirrm.so" ] || fail "the wheel built from the sdist: $out"

# ---------------------------------------------------------------------------------------------
step "3. make install PREFIX=<temporary>"
prefix=$work/prefix
"$make" --no-print-directory -s install PREFIX="$prefix"
for file in include/dirrm.h lib/libdirrm.so."$version" lib/pkgconfig/dirrm.pc lib/cmake/dirrm/dirrm-config.cmake \
  lib/cmake/dirrm/dirrm-config-version.cmake; do
  [ -f "$prefix/$file" ] || fail "make install did not install $file"
done
[ "$(readlink "$prefix/lib/libdirrm.so.$major")" = "libdirrm.so.$version" ] || fail "libdirrm.so.$major"
[ "$(readlink "$prefix/lib/libdirrm.so")" = "libdirrm.so.$major" ] || fail "libdirrm.so"
soname=$(readelf -d "$prefix/lib/libdirrm.so.$version" | grep "(SONAME)" || true)
echo "readelf -d: $soname"
[[ $soname == *"[libdirrm.so.$major]" ]] || fail "SONAME is not libdirrm.so.$major"

step "3. a C program built with pkg-config"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion dirrm)" = "$version" ] || fail "pkg-config --modversion dirrm"
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
"${CC:-cc}" -std=c99 -Wall -Wextra -Werror examples/c/bt_loss.c $(pkg-config --cflags --libs dirrm) -o "$work/bt_loss"
# grep -q reads its input from a string, not a pipe: under pipefail, a pipe's writer killed by
# SIGPIPE once grep -q has its match fails the check (seen under load in CI).
grep -q "NEEDED.*\[libdirrm.so.$major\]" <<<"$(readelf -d "$work/bt_loss")" || fail "bt_loss does not ask for libdirrm.so.$major"
grep -q "libdirrm.so.$major => $prefix/lib/libdirrm.so.$major" <<<"$(LD_LIBRARY_PATH=$prefix/lib ldd "$work/bt_loss")" ||
  fail "bt_loss does not load the installed library"
LD_LIBRARY_PATH=$prefix/lib "$work/bt_loss"

step "3. the CMake example, built with find_package(dirrm)"
cmake -S examples/cmake -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
grep -q "libdirrm.so.$major => $prefix/lib/libdirrm.so.$major" <<<"$(ldd "$work/cmake-build/train_dir")" ||
  fail "train_dir does not load the installed library"
"$work/cmake-build/train_dir"

step "3. make uninstall leaves no file behind"
"$make" --no-print-directory -s uninstall PREFIX="$prefix"
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"

step "3. make install DESTDIR=<staging> PREFIX=/usr/local, then uninstall"
stage=$work/stage
"$make" --no-print-directory -s install DESTDIR="$stage" PREFIX=/usr/local >/dev/null
[ -f "$stage/usr/local/lib/libdirrm.so.$version" ] || fail "DESTDIR install"
grep -qx "prefix=/usr/local" "$stage/usr/local/lib/pkgconfig/dirrm.pc" || fail "dirrm.pc under DESTDIR names the staging folder"
grep -q '"/usr/local/lib/libdirrm.so' "$stage/usr/local/lib/cmake/dirrm/dirrm-config.cmake" ||
  fail "dirrm-config.cmake under DESTDIR names the staging folder"
"$make" --no-print-directory -s uninstall DESTDIR="$stage" PREFIX=/usr/local
left=$(find "$stage" ! -type d)
[ -z "$left" ] || fail "make uninstall DESTDIR= left: $left"

step "all installs passed"
