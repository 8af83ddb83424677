/// Whole-array float32 checks and element-wise passes in vectors. (The loss's softplus and
/// sigmoid and AdamW's step are C, in SIMDKernels, compiled for each instruction set.)
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

/// Element-wise passes over whole arrays, on raw buffers so that the compiler vectorizes
/// them (indexing an array checks every index and keeps the loop scalar). Each element is
/// what the indexed loop computed, so results are the same bits.
extension VectorMath {
  /// a − b, element by element (a.count == b.count).
  static func difference(_ a: [Float], _ b: [Float]) -> [Float] {
    precondition(a.count == b.count)
    return [Float](unsafeUninitializedCapacity: a.count) { out, count in
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          for i in 0..<a.count { out[i] = a[i] - b[i] }
        }
      }
      count = a.count
    }
  }

  /// total += part, element by element (part.count == total.count).
  static func add(_ part: [Float], into total: inout [Float]) {
    precondition(part.count == total.count)
    part.withUnsafeBufferPointer { part in
      total.withUnsafeMutableBufferPointer { total in
        for i in 0..<total.count { total[i] += part[i] }
      }
    }
  }

  /// The column sums of a rows × columns matrix (row-major), each accumulated in double in
  /// row order (rows · columns == matrix.count).
  static func columnSums(_ matrix: [Float], rows: Int, columns: Int) -> [Double] {
    precondition(rows * columns == matrix.count)
    var sums = [Double](repeating: 0, count: columns)
    matrix.withUnsafeBufferPointer { matrix in
      sums.withUnsafeMutableBufferPointer { sums in
        guard let base = matrix.baseAddress else { return }
        for i in 0..<rows {
          let row = base + i * columns
          for o in 0..<columns { sums[o] += Double(row[o]) }
        }
      }
    }
    return sums
  }

  /// values_i = 0 where gate_i ≤ 0 (ReLU's backward mask; values.count == gate.count).
  static func zero(_ values: inout [Float], whereNotPositive gate: [Float]) {
    precondition(values.count == gate.count)
    gate.withUnsafeBufferPointer { gate in
      values.withUnsafeMutableBufferPointer { values in
        for i in 0..<values.count { values[i] = gate[i] <= 0 ? 0 : values[i] }
      }
    }
  }
}
