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

  /// A configuration rule, with the caller's spelling of the field ("p->", "p->club.").
  init(_ error: ConfigError, prefix: String) {
    self.init(
      error.isNonFinite ? DIRRM_ERR_NONFINITE : DIRRM_ERR_INVALID_ARGUMENT, error.message(prefix: prefix))
  }

  init(_ error: AllocationError) {
    self.init(DIRRM_ERR_OUT_OF_MEMORY, error.message)
  }

  init(_ error: NumericError) {
    switch error {
    case .overflow(let what): self.init(DIRRM_ERR_NONFINITE, what)
    case .notConverged(let what): self.init(DIRRM_ERR_NOT_CONVERGED, what)
    case .internalFailure(let what): self.init(DIRRM_ERR_INTERNAL, what)
    }
  }
}

let lastError = ThreadLocalText()

/// Runs the body of an exported function: a thrown error becomes the returned status and
/// this thread's last error, prefixed with the function's name.
@inline(__always)
func abiCall(_ function: StaticString, _ body: () throws(ABIError) -> Void) -> Int32 {
  Handles.beginCall()
  defer { Handles.endCall() }
  do {
    try body()
    return DIRRM_OK
  } catch {
    lastError.store("\(function): \(error.message)")
    return error.status
  }
}

/// Runs mathematics whose failures are numeric, translating them to ABI errors.
@inline(__always)
func numeric<T>(_ body: () throws(NumericError) -> T) throws(ABIError) -> T {
  do {
    return try body()
  } catch {
    throw ABIError(error)
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

/// Runs a configuration's checks, naming its fields as the caller wrote them.
func validated(_ prefix: String, _ body: () throws(ConfigError) -> Void) throws(ABIError) {
  do { try body() } catch { throw ABIError(error, prefix: prefix) }
}

/// Builds a checked core value, naming its fields as the caller wrote them.
func configured<T>(_ prefix: String, _ body: () throws(ConfigError) -> T) throws(ABIError) -> T {
  do { return try body() } catch { throw ABIError(error, prefix: prefix) }
}

/// Reserves the working set an operation will hold, or fails with OUT_OF_MEMORY.
func reserve(_ bytes: Int?, for what: String) throws(ABIError) {
  do { try Workspace.reserve(bytes, for: what) } catch { throw ABIError(error) }
}
