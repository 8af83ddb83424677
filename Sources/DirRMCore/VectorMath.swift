/// Whole-array float32 checks in vectors. (The loss's softplus and sigmoid are C, in
/// SIMDKernels, compiled for each instruction set.)
public enum VectorMath {}

extension VectorMath {
  /// Whether every element is finite: x − x is 0 for finite x and NaN for ±inf and NaN, and
  /// NaN survives any sum, so one subtraction and one addition per lane replace a branch per
  /// element. The argument checks call it first and search for the culprit only if it fails.
  /// Unsafe only in reading full 16-float vectors that end at or before `values.count`.
  public static func allFinite(_ values: UnsafeBufferPointer<Float>) -> Bool {
    typealias Wide = SIMD16<Float>
    var sum = Wide()
    var i = 0
    if let base = UnsafeRawPointer(values.baseAddress) {
      while i + Wide.scalarCount <= values.count {
        let x = base.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: Wide.self)
        sum += x - x
        i += Wide.scalarCount
      }
    }
    var finite = sum == Wide()
    while i < values.count {
      finite = finite && values[i].isFinite
      i += 1
    }
    return finite
  }
}
