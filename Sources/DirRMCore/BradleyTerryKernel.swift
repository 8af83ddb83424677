/// The per-pair passes of the Bradley–Terry loss in float32 vectors (VectorMath), with the
/// sum accumulated in double: z_i = r_rejected,i − r_chosen,i + m_i, softplus(z_i) weighted
/// and summed, σ(z_i) kept for the gradient.
///
/// The only unsafe code in the loss: the arrays are read and written through raw buffers,
/// eight lanes at a time, which is what lets the loop compile to vector instructions. Every
/// array has n elements (checked on entry), full vectors end at or before n, and the last
/// partial vector is gathered and scattered lane by lane within n.
struct BradleyTerryKernel {
  typealias Value = VectorMath.Value

  let chosen: UnsafeBufferPointer<Float>
  let rejected: UnsafeBufferPointer<Float>
  let margin: UnsafeBufferPointer<Float>?
  let weight: UnsafeBufferPointer<Float>?

  var count: Int { chosen.count }

  @inline(__always)
  private func load(_ b: UnsafeBufferPointer<Float>, _ i: Int, _ lanes: Int, padding: Float = 0) -> Value {
    guard lanes < Value.scalarCount else {
      return UnsafeRawPointer(b.baseAddress!).loadUnaligned(
        fromByteOffset: i * MemoryLayout<Float>.stride, as: Value.self)
    }
    var v = Value(repeating: padding)
    for lane in 0..<lanes { v[lane] = b[i + lane] }
    return v
  }

  @inline(__always)
  private func gap(_ i: Int, _ lanes: Int) -> Value {
    let z = load(rejected, i, lanes) - load(chosen, i, lanes)
    guard let margin else { return z }
    return z + load(margin, i, lanes)
  }

  /// Elements per part of the pool's work: parts of a fixed size keep the sum's order, and so
  /// the loss, independent of the thread count.
  static let partSize = 1 << 16

  /// The parts' element ranges, and a kernel call on each over the pool.
  private func inParts<T>(_ body: (Range<Int>) -> T) -> [T] {
    let parts = (count + Self.partSize - 1) / Self.partSize
    return WorkerPool.map(parts: parts) { part in
      body((part * Self.partSize)..<min(count, (part + 1) * Self.partSize))
    }
  }

  /// Σ w_i·softplus(z_i) in double, summed part by part in order; σ(z_i) into `sigmoid` when
  /// it is given (n elements).
  func softplusSum(sigmoid: UnsafeMutableBufferPointer<Float>?) -> Double {
    inParts { softplusSum($0, sigmoid: sigmoid) }.reduce(0, +)
  }

  /// The sum over `range` (padding lanes weigh 0).
  private func softplusSum(_ range: Range<Int>, sigmoid: UnsafeMutableBufferPointer<Float>?) -> Double {
    var total = SIMD8<Double>()
    var i = range.lowerBound
    while i < range.upperBound {
      let lanes = min(Value.scalarCount, range.upperBound - i)
      let z = gap(i, lanes)
      let w = weight.map { load($0, i, lanes) } ?? Value(repeating: 1)
      let live = lanes == Value.scalarCount ? w : w.replacing(with: 0, where: Self.padding(lanes))
      if let sigmoid {
        let (sp, sg) = VectorMath.softplusAndSigmoid(z)
        total += SIMD8<Double>(live) * SIMD8<Double>(sp)
        store(sg, sigmoid, i, lanes)
      } else {
        total += SIMD8<Double>(live) * SIMD8<Double>(VectorMath.softplus(z))
      }
      i += lanes
    }
    return total.sum()
  }

  /// dL/dr_chosen = −w_i·σ_i/W into `chosen`, and its negation into `rejected`, from σ_i
  /// already in `rejected` (the loss pass wrote it there); without centering, which the
  /// caller adds in double.
  func pull(
    inverseWeightSum: Float,
    into gradient: (chosen: UnsafeMutableBufferPointer<Float>, rejected: UnsafeMutableBufferPointer<Float>)
  ) {
    _ = inParts { pull($0, inverseWeightSum: inverseWeightSum, into: gradient) }
  }

  private func pull(
    _ range: Range<Int>, inverseWeightSum: Float,
    into gradient: (chosen: UnsafeMutableBufferPointer<Float>, rejected: UnsafeMutableBufferPointer<Float>)
  ) {
    var i = range.lowerBound
    let scale = Value(repeating: inverseWeightSum)
    while i < range.upperBound {
      let lanes = min(Value.scalarCount, range.upperBound - i)
      let sigma = load(UnsafeBufferPointer(gradient.rejected), i, lanes)
      let w = weight.map { load($0, i, lanes) * scale } ?? scale
      let pull = w * sigma
      store(-pull, gradient.chosen, i, lanes)
      store(pull, gradient.rejected, i, lanes)
      i += lanes
    }
  }

  @inline(__always)
  private func store(_ v: Value, _ b: UnsafeMutableBufferPointer<Float>, _ i: Int, _ lanes: Int) {
    guard lanes < Value.scalarCount else {
      UnsafeMutableRawPointer(b.baseAddress!).storeBytes(
        of: v, toByteOffset: i * MemoryLayout<Float>.stride, as: Value.self)
      return
    }
    for lane in 0..<lanes { b[i + lane] = v[lane] }
  }

  /// The lanes at and beyond `lanes`.
  private static func padding(_ lanes: Int) -> SIMDMask<SIMD8<Int32>> {
    SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= Int32(lanes)
  }
}

extension BradleyTerryKernel {
  /// A kernel over the arrays, valid inside `body` only.
  static func with<R>(
    chosen: [Float], rejected: [Float], margin: [Float]?, weight: [Float]?, _ body: (Self) -> R
  ) -> R {
    let n = chosen.count
    precondition(rejected.count == n && (margin?.count ?? n) == n && (weight?.count ?? n) == n)
    return chosen.withUnsafeBufferPointer { c in
      rejected.withUnsafeBufferPointer { r in
        withBuffer(margin) { m in
          withBuffer(weight) { w in body(Self(chosen: c, rejected: r, margin: m, weight: w)) }
        }
      }
    }
  }

  private static func withBuffer<R>(_ array: [Float]?, _ body: (UnsafeBufferPointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0) }
  }
}
