import CDirRM
import DirRMCore

/// Argument checks at the C boundary. Each either returns a safe Swift view of the argument
/// or throws an error naming it, before anything that could trap touches the value.
enum Check {
  /// The largest element count any buffer may have (the core's limit, as Int64).
  static let maxElements = Int64(Limits.maxElements)

  /// A count in [minimum, maxElements].
  static func count(_ n: Int64, _ name: String, minimum: Int64 = 1) throws(ABIError) -> Int {
    guard n >= minimum else {
      throw ABIError(DIRRM_ERR_SHAPE, "\(name) = \(n) must be at least \(minimum)")
    }
    guard n <= maxElements else {
      throw ABIError(DIRRM_ERR_SHAPE, "\(name) = \(n) exceeds the limit of \(maxElements) elements")
    }
    return Int(n)
  }

  /// A non-NULL pointer to `count` finite floats.
  fileprivate static func input(
    _ pointer: UnsafePointer<Float>?, _ count: Int, _ name: String
  ) throws(ABIError) -> UnsafeBufferPointer<Float> {
    let buffer = try unchecked(pointer, count, name)
    try requireFinite(buffer, name)
    return buffer
  }

  /// A non-NULL pointer to `count` floats, read in place (no copy) and not yet checked: for a
  /// core routine that fails on any non-finite value anyway, after which `requireFinite` names
  /// it, so that the common call reads the floats once.
  static func unchecked(_ pointer: UnsafePointer<Float>?, _ count: Int, _ name: String) throws(ABIError)
    -> UnsafeBufferPointer<Float>
  {
    guard let pointer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "\(name) is NULL") }
    return UnsafeBufferPointer(start: pointer, count: count)
  }

  /// Whether every output range shares no byte with another output or with an input (inputs
  /// may share bytes with each other: they are only read). Unsigned differences of start
  /// addresses, so no end address is formed and nothing can overflow.
  static func disjoint(_ outputs: [UnsafeRawBufferPointer], from inputs: [UnsafeRawBufferPointer]) -> Bool {
    func overlap(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
      guard let p = a.baseAddress, let q = b.baseAddress, a.count > 0, b.count > 0 else { return false }
      let (x, y) = (UInt(bitPattern: p), UInt(bitPattern: q))
      return x >= y ? x - y < UInt(b.count) : y - x < UInt(a.count)
    }
    for (i, output) in outputs.enumerated() {
      for other in outputs[(i + 1)...] + inputs where overlap(output, other) { return false }
    }
    return true
  }

  /// Whether every range starts at a float32-aligned address, as Span requires.
  static func aligned(_ ranges: [UnsafeRawBufferPointer]) -> Bool {
    ranges.allSatisfy { UInt(bitPattern: $0.baseAddress) % UInt(MemoryLayout<Float>.alignment) == 0 }
  }

  /// A non-NULL output pointer.
  static func output<T>(_ pointer: UnsafeMutablePointer<T>?, _ name: String) throws(ABIError)
    -> UnsafeMutablePointer<T>
  {
    guard let pointer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "\(name) is NULL") }
    return pointer
  }

  static func finite(_ value: Float, _ name: String) throws(ABIError) {
    guard value.isFinite else { throw ABIError(DIRRM_ERR_NONFINITE, "\(name) is \(spelled(value))") }
  }

  /// nan, inf or -inf: NaN's sign bit says nothing useful to the reader.
  static func spelled(_ value: Float) -> String {
    value.isNaN ? "nan" : "\(value)"
  }

  static func requireFinite(_ buffer: UnsafeBufferPointer<Float>, _ name: String) throws(ABIError) {
    guard !VectorMath.allFinite(buffer) else { return }
    if let i = buffer.firstIndex(where: { !$0.isFinite }) {
      throw ABIError(DIRRM_ERR_NONFINITE, "\(name)[\(i)] is \(spelled(buffer[i]))")
    }
  }

}

/// Copies between C buffers and the Swift arrays the core takes and returns. The core never
/// sees a pointer: each input is checked, then copied after a probe that its bytes can be
/// allocated (so a huge count fails with OUT_OF_MEMORY instead of trapping); each result is
/// copied out once every check has passed. (dirrm_bt_loss, whose buffers are n floats and
/// whose work is a pass or two over them, hands the core spans over the caller's buffers
/// instead, when they are aligned and no output overlaps another buffer.)
extension Check {
  /// A non-NULL pointer to `count` finite floats, as an array.
  static func array(_ pointer: UnsafePointer<Float>?, _ count: Int, _ name: String) throws(ABIError)
    -> [Float]
  {
    let buffer = try input(pointer, count, name)
    try reserve(Workspace.bytes([[count]], elementSize: MemoryLayout<Float>.size), for: name)
    return Array(buffer)
  }

  /// Like `array`, but NULL means "not given".
  static func optionalArray(_ pointer: UnsafePointer<Float>?, _ count: Int, _ name: String)
    throws(ABIError) -> [Float]?
  {
    guard pointer != nil else { return nil }
    return try array(pointer, count, name)
  }

  /// A non-NULL pointer to `count` indices, each in 0..<bound, as Swift integers.
  static func indexArray(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ name: String, below bound: Int)
    throws(ABIError) -> [Int]
  {
    let buffer = try indices(pointer, count, name, below: bound)
    try reserve(Workspace.bytes([[count]], elementSize: MemoryLayout<Int>.size), for: name)
    return buffer.map { Int($0) }
  }

  /// Copies a result to a caller's buffer of the same length.
  static func write<T>(_ values: [T], to pointer: UnsafeMutablePointer<T>) {
    values.withUnsafeBufferPointer { source in
      if let start = source.baseAddress { pointer.update(from: start, count: source.count) }
    }
  }

  /// Copies a result to an output the caller may leave out with NULL.
  static func write<T>(_ values: [T], toOptional pointer: UnsafeMutablePointer<T>?) {
    if let pointer { write(values, to: pointer) }
  }
}

extension Check {
  /// rows × columns as an element count, refusing products past the element limit.
  static func product(_ rows: Int, _ columns: Int, _ name: String) throws(ABIError) -> Int {
    let (total, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard !overflow, Int64(total) <= maxElements else {
      throw ABIError(
        DIRRM_ERR_SHAPE, "\(name): \(rows) x \(columns) exceeds the limit of \(maxElements) elements")
    }
    return total
  }

  /// A non-NULL pointer to `count` indices, each in 0..<bound.
  fileprivate static func indices(
    _ pointer: UnsafePointer<Int64>?, _ count: Int, _ name: String, below bound: Int
  ) throws(ABIError) -> UnsafeBufferPointer<Int64> {
    guard let pointer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "\(name) is NULL") }
    let buffer = UnsafeBufferPointer(start: pointer, count: count)
    if let i = buffer.firstIndex(where: { $0 < 0 || $0 >= Int64(bound) }) {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "\(name)[\(i)] = \(buffer[i]) is outside [0, \(bound))")
    }
    return buffer
  }

  /// An enum-like Int32 parameter among the listed values.
  static func oneOf(_ value: Int32, _ allowed: ClosedRange<Int32>, _ name: String, _ family: String)
    throws(ABIError)
  {
    guard allowed.contains(value) else {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "\(name) = \(value) is not one of the \(family) constants")
    }
  }

  static func inUnitInterval(_ value: Float, _ name: String) throws(ABIError) {
    try finite(value, name)
    guard value >= 0, value <= 1 else {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "\(name) = \(value) is outside [0, 1]")
    }
  }
}
