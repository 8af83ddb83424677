import Glibc

/// The caller's floating-point environment is an input like any other. Traps it enabled
/// (`feenableexcept`) would turn the core's deliberate NaNs (x − x tells a non-finite value
/// from a finite one) into SIGFPE in the caller's process; flush-to-zero, denormals-are-zero
/// or another rounding mode would change results, and make them depend on which thread ran a
/// part, as dirrm's workers keep the default. So every exported call runs in glibc's default
/// environment and gives the caller's back, its exception flags included, as it found it.
enum FloatingPointEnvironment {
  /// Runs `body` in the default environment and gives this thread's back, flags included
  /// (the flags `body` raised are dropped: they are dirrm's, not the caller's).
  @inline(__always)
  static func withDefault<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    var callers = fenv_t()
    fegetenv(&callers)
    installDefault()
    defer { fesetenv(&callers) }
    return try body()
  }

  /// Runs a caller's callback in a fresh default environment, and installs the default again
  /// when it returns: whatever the callback does to the environment (traps, a rounding mode)
  /// must not reach the rest of the call.
  static func runCallback<T>(_ callback: () -> T) -> T {
    installDefault()
    defer { installDefault() }
    return callback()
  }

  private static func installDefault() {
    fesetenv(UnsafePointer<fenv_t>(bitPattern: defaultEnvironmentAddress))
  }
}

/// Fills a caller's parameter struct with its defaults (the _params_init functions), in the
/// default environment: their Double-to-Float conversions round by the environment, and trapped
/// under FE_INEXACT in the caller's.
func fillDefaults<T>(_ p: UnsafeMutablePointer<T>?, _ defaults: () -> T) {
  guard let p else { return }
  p.pointee = FloatingPointEnvironment.withDefault(defaults)
}

/// glibc's FE_DFL_ENV is `((const fenv_t *) -1)`, a macro Swift does not import.
private let defaultEnvironmentAddress = -1
