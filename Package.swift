// swift-tools-version: 6.1
import PackageDescription

// The shipped libdirrm.so is linked by scripts/build.sh with the Swift runtime static and
// only dirrm_* exported; those flags are passed there, not here, so that `swift test` links
// the same objects against the toolchain's runtime together with XCTest.
let package = Package(
  name: "dirrm",
  products: [
    .library(name: "dirrm", type: .dynamic, targets: ["DirRM"]),
    .executable(name: "dirrm-cli", targets: ["dirrm-cli"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
    .systemLibrary(name: "CDirRM", path: "Sources/CDirRM"),
    // C only because choosing OpenBLAS's kernels needs cpuid and must run at load time.
    .target(name: "BLASKernel", linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("dl")]),
    // C only because one function must be compiled for several instruction sets and chosen at
    // run time (the wheel runs on any x86-64).
    .target(name: "SIMDKernels", dependencies: ["BLASKernel"]),
    .target(name: "DirRMCore", dependencies: ["COpenBLAS", "BLASKernel", "SIMDKernels"]),
    .target(name: "DirRM", dependencies: ["DirRMCore", "CDirRM", "COpenBLAS"], exclude: ["exports.map"]),
    .executableTarget(
      name: "dirrm-cli",
      dependencies: [
        "DirRMCore", "COpenBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .testTarget(name: "DirRMTests", dependencies: ["DirRM", "CDirRM"]),
    .testTarget(name: "DirRMCoreTests", dependencies: ["DirRMCore", "SIMDKernels"]),
  ]
)
