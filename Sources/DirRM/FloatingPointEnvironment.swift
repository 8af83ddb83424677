import Glibc

/// The caller's floating-point environment is an input like any other. Traps it enabled
/// (`feenableexcept`) would turn the core's deliberate NaNs (x − x tells a non-finite value
/// from a finite one) into SIGFPE in the caller's process; flush-to-zero, denormals-are-zero
/// or another rounding mode would change results, and make them depend on which thread ran a
/// part, as dirrm's workers keep the default. So every exported call runs in glibc's default
/// environment and gives the caller's back, its exception flags included, as it found it.
struct FloatingPointEnvironment {
  private var saved = fenv_t()

  /// Saves this thread's environment and installs the default one.
  static func enterDefault() -> FloatingPointEnvironment {
    var environment = FloatingPointEnvironment()
    fegetenv(&environment.saved)
    installDefault()
    return environment
  }

  /// Installs the default environment on this thread. A call does so again after each
  /// callback it runs: the callback is the caller's code, and whatever it does to the
  /// environment (traps, a rounding mode) must not reach the rest of the call.
  static func installDefault() {
    fesetenv(UnsafePointer<fenv_t>(bitPattern: defaultEnvironmentAddress))
  }

  /// Reinstalls the environment `enterDefault` saved.
  func restore() {
    withUnsafePointer(to: saved) { _ = fesetenv($0) }
  }
}

/// glibc's FE_DFL_ENV is `((const fenv_t *) -1)`, a macro Swift does not import.
private let defaultEnvironmentAddress = -1
