import CDirRM
import COpenBLAS
import DirRMCore
import Glibc

// The library as a whole: version, build description, threads, status and error text.

@c @implementation
public func dirrm_version_number() -> Int32 {
  dirrm_header_version_number()
}

private nonisolated(unsafe) let versionCString: UnsafePointer<CChar> =
  strdup("\(DIRRM_VERSION_MAJOR).\(DIRRM_VERSION_MINOR).\(DIRRM_VERSION_PATCH)").map {
    UnsafePointer<CChar>($0)
  } ?? emptyCString

@c @implementation
public func dirrm_version_string() -> UnsafePointer<CChar>? {
  versionCString
}

private let buildInfo = ThreadLocalText()

#if compiler(>=7.0)
  private let compilerName = "Swift 7 or later"
#elseif compiler(>=6.3)
  private let compilerName = "Swift 6.3"
#elseif compiler(>=6.2)
  private let compilerName = "Swift 6.2"
#else
  private let compilerName = "Swift 6.1"
#endif

/// `text` as a JSON string literal.
private func jsonString(_ text: String) -> String {
  var out = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case _ where scalar.value < 0x20:
      out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out + "\""
}

@c @implementation
public func dirrm_build_info() -> UnsafePointer<CChar>? {
  // The first call probes the exp kernel (floating-point work): in the default environment,
  // as every computing call.
  FloatingPointEnvironment.withDefault { buildInfoText() }
}

private func buildInfoText() -> UnsafePointer<CChar>? {
  let blas = openblas_get_config().map { String(cString: $0) } ?? "unknown"
  let version = String(cString: versionCString)
  let kernels =
    "\"blas_core\":\(jsonString(BLASKernelChoice.core)),"
    + "\"blas_core_chosen_by\":\(jsonString(BLASKernelChoice.chooser)),"
    + "\"blas_core_replaced\":\(jsonString(BLASKernelChoice.replaced)),"
    + "\"cpu_simd\":\(jsonString(BLASKernelChoice.cpuLevel)),"
    + "\"cpu_blas_core\":\(jsonString(BLASKernelChoice.classCore)),"
    + "\"simd_kernels\":\(jsonString(BLASKernelChoice.kernelLevel)),"
    + "\"pf_exp\":\(jsonString(BLASKernelChoice.pfExp)),"
  return buildInfo.store(
    "{\"version\":\(jsonString(version)),\"blas\":\(jsonString(blas)),\(kernels)"
      + "\"threads\":\(WorkerPool.threadCount),\"compiler\":\(jsonString(compilerName))}")
}

@c @implementation
public func dirrm_set_num_threads(_ numThreads: Int32) -> Int32 {
  abiCall("dirrm_set_num_threads") { () throws(ABIError) in
    try bridge { () throws(ConfigError) in try WorkerPool.configure(threads: Int(numThreads)) }
  }
}

@c @implementation
public func dirrm_last_error() -> UnsafePointer<CChar>? {
  lastError.current
}

@c @implementation
public func dirrm_status_string(_ status: Int32) -> UnsafePointer<CChar>? {
  cString(statusDescription(status))
}
