"""Builds libdirrm.so with the project's own script and ships it inside the `dirrm` package.

The static metadata is in pyproject.toml; this file adds what setuptools cannot declare:
- the version, read from include/dirrm.h (the one place it is written down) by scripts/version.sh;
- build_py runs scripts/build.sh and copies .build/release/libdirrm.so into the package, with
  a _version.py the loader checks the library against;
- the wheel is tagged py3-none-<platform>: it holds a native library but no CPython
  extension, so one wheel serves every Python 3;
- the sdist carries the Swift package (Package.swift, Sources, Tests, include, the build
  scripts) under native/, so a wheel builds from the sdist alone.
"""

import os
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
# What the sdist copies from the repository: everything scripts/build.sh reads.
# (SwiftPM checks every target's folder, so Tests/ must come along even though it is not built.)
NATIVE_PARTS = ["Package.swift", "Sources", "Tests", "include", "scripts/build.sh", "scripts/version.sh"]


def native_root() -> str:
    """The Swift package: native/ in an unpacked sdist, else the repository around this folder."""
    for root in (os.path.join(HERE, "native"), os.path.join(HERE, "..", "..")):
        if os.path.exists(os.path.join(root, "Package.swift")) and os.path.exists(
            os.path.join(root, "include", "dirrm.h")
        ):
            return os.path.normpath(root)
    raise RuntimeError(f"dirrm: no Swift package (Package.swift, include/dirrm.h) around {HERE} or in native/")


def header_version(root: str) -> str:
    # The same reader as the Makefile's, so the wheel and `make install` cannot disagree.
    return subprocess.check_output([os.path.join(root, "scripts", "version.sh")], text=True).strip()


class BuildPyWithLibrary(build_py):
    def run(self) -> None:
        # pip builds in this folder: without this, a module deleted from the sources would live
        # on in build/lib and in every wheel made afterwards.
        shutil.rmtree(os.path.join(self.build_lib, "dirrm"), ignore_errors=True)
        super().run()
        root = native_root()
        # swift build is incremental: when .build/release is up to date this only checks it.
        # `--product dirrm` skips the command-line program the package does not ship.
        subprocess.check_call([os.path.join(root, "scripts", "build.sh"), "--product", "dirrm"], cwd=root)
        if self.editable_mode:
            return  # an editable install loads the tree's .build/release, as a source checkout does
        package = os.path.join(self.build_lib, "dirrm")
        self.copy_file(os.path.join(root, ".build", "release", "libdirrm.so"), os.path.join(package, "libdirrm.so"))
        with open(os.path.join(package, "_version.py"), "w") as out:
            out.write(f'# Written by setup.py from include/dirrm.h.\nVERSION = "{header_version(root)}"\n')


class BinaryDistribution(Distribution):
    # The library makes the package platform-specific: the wheel's files go to platlib, where
    # auditwheel looks for them, and the wheel is tagged for the platform.
    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self) -> "tuple[str, str, str]":
        return ("py3", "none", super().get_tag()[2])


class SdistWithNative(sdist):
    def make_release_tree(self, base_dir: str, files: "list[str]") -> None:
        super().make_release_tree(base_dir, files)
        root = native_root()
        if root == os.path.join(HERE, "native"):
            return  # an sdist made from an sdist: MANIFEST.in's graft already copied native/
        for part in NATIVE_PARTS:
            source, target = os.path.join(root, part), os.path.join(base_dir, "native", part)
            if os.path.isdir(source):
                shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(source, target)


setup(
    version=header_version(native_root()),
    packages=["dirrm", "dirrm.torch"],
    package_data={"dirrm": ["py.typed"]},
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel, "sdist": SdistWithNative},
)
