import CDirRM
import DirRMCore

/// A failed call: the status code the C caller receives and the message it can read.
struct ABIError: Error {
  var status: Int32
  var message: String

  init(_ status: Int32, _ message: String) {
    self.status = status
    self.message = message
  }

}

/// A failure of the core, in the core's words, that the C caller receives as a status.
protocol CoreFailure: Error {
  /// The status and message; `prefix` is the caller's spelling of a field's path ("p->").
  func abiError(prefix: String) -> ABIError
}

// The one place where the core's kinds of failure get the header's status codes.

extension ConfigError: CoreFailure {
  func abiError(prefix: String) -> ABIError {
    let status =
      switch kind {
      case .invalid: DIRRM_ERR_INVALID_ARGUMENT
      case .nonFinite: DIRRM_ERR_NONFINITE
      case .shape: DIRRM_ERR_SHAPE
      }
    return ABIError(status, message(prefix: prefix))
  }
}

extension NumericError: CoreFailure {
  func abiError(prefix: String) -> ABIError {
    switch self {
    case .overflow(let what): ABIError(DIRRM_ERR_NONFINITE, what)
    case .notConverged(let what): ABIError(DIRRM_ERR_NOT_CONVERGED, what)
    case .internalFailure(let what): ABIError(DIRRM_ERR_INTERNAL, what)
    }
  }
}

extension AllocationError: CoreFailure {
  func abiError(prefix: String) -> ABIError { ABIError(DIRRM_ERR_OUT_OF_MEMORY, message) }
}

/// A call the object's state refuses (a prioritizer's decide before its propose).
extension MisuseError: CoreFailure {
  func abiError(prefix: String) -> ABIError { ABIError(DIRRM_ERR_MISUSE, message) }
}

extension FormatError: CoreFailure {
  func abiError(prefix: String) -> ABIError {
    switch self {
    case .corrupt(let what): ABIError(DIRRM_ERR_CORRUPT, "corrupt buffer: \(what)")
    case .version(let what): ABIError(DIRRM_ERR_VERSION, what)
    }
  }
}

/// The error bridge: runs one core call and turns whatever it throws into the status and
/// message the caller receives, naming fields as the caller wrote them (`prefix`: "p->",
/// "p->club."; "" for a function's own arguments). Every export reaches the core through it.
@inline(__always)
func bridge<T, E: CoreFailure>(_ prefix: String = "", _ body: () throws(E) -> T) throws(ABIError) -> T {
  do { return try body() } catch { throw error.abiError(prefix: prefix) }
}

let lastError = ThreadLocalText()

/// Runs the body of an exported function in the default floating-point environment
/// (`FloatingPointEnvironment`): a thrown error becomes the returned status and this thread's
/// last error, prefixed with the function's name.
@inline(__always)
func abiCall(_ function: StaticString, _ body: () throws(ABIError) -> Void) -> Int32 {
  Handles.beginCall()
  defer { Handles.endCall() }
  return FloatingPointEnvironment.withDefault {
    do throws(ABIError) {
      try body()
      return DIRRM_OK
    } catch {
      lastError.store("\(function): \(error.message)")
      return error.status
    }
  }
}

func statusDescription(_ status: Int32) -> StaticString {
  switch status {
  case DIRRM_OK: "ok"
  case DIRRM_ERR_NULL_POINTER: "null pointer"
  case DIRRM_ERR_INVALID_ARGUMENT: "invalid argument"
  case DIRRM_ERR_SHAPE: "bad shape"
  case DIRRM_ERR_NONFINITE: "non-finite value"
  case DIRRM_ERR_OUT_OF_MEMORY: "out of memory"
  case DIRRM_ERR_MISUSE: "misuse"
  case DIRRM_ERR_NOT_CONVERGED: "not converged"
  case DIRRM_ERR_CORRUPT: "corrupt buffer"
  case DIRRM_ERR_VERSION: "incompatible version"
  case DIRRM_ERR_BUFFER_TOO_SMALL: "buffer too small"
  case DIRRM_ERR_IO: "i/o error"
  case DIRRM_ERR_INTERNAL: "internal error"
  default: "unknown status"
  }
}

/// Reserves the working set an operation will hold, or fails with OUT_OF_MEMORY.
func reserve(_ bytes: Int?, for what: String) throws(ABIError) {
  try bridge { () throws(AllocationError) in try Workspace.reserve(bytes, for: what) }
}
