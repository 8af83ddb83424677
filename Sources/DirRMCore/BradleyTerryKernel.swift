import SIMDKernels

/// The per-pair passes of the Bradley–Terry loss: z_i = r_rejected,i − r_chosen,i + m_i,
/// softplus(z_i) weighted and summed in double, then the gradient from σ(z_i), recomputed in a
/// second pass that writes only once the loss has passed its checks. The arithmetic
/// is SIMDKernels' (float32 vectors of the widest instruction set the CPU has, chosen at run
/// time); this type splits the arrays into parts for the pool.
///
/// Unsafe only in handing each part's base address and length to the C kernels: every array
/// has n elements (checked on entry) and a part's range lies within 0..<n.
struct BradleyTerryKernel {
  let chosen: UnsafeBufferPointer<Float>
  let rejected: UnsafeBufferPointer<Float>
  let margin: UnsafeBufferPointer<Float>?
  let weight: UnsafeBufferPointer<Float>?

  var count: Int { chosen.count }

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

  /// Σ w_i·softplus(z_i) in double, summed part by part in order.
  func softplusSum() -> Double {
    inParts { range in
      dirrm_bt_softplus_sum(
        Self.at(chosen, range), Self.at(rejected, range), margin.map { Self.at($0, range) },
        weight.map { Self.at($0, range) }, range.count)
    }.reduce(0, +)
  }

  /// dL/dr_chosen = −w_i·scale·σ(z_i) into `gradient.chosen` and its negation into
  /// `gradient.rejected` (n elements each, overlapping no input), each shifted by
  /// center·(r_chosen,i + r_rejected,i) in double when center ≠ 0.
  func gradient(
    scale: Float, center: Double,
    into gradient: (chosen: UnsafeMutableBufferPointer<Float>, rejected: UnsafeMutableBufferPointer<Float>)
  ) {
    precondition(gradient.chosen.count == count && gradient.rejected.count == count)
    _ = inParts { range in
      dirrm_bt_gradient(
        Self.at(chosen, range), Self.at(rejected, range), margin.map { Self.at($0, range) },
        weight.map { Self.at($0, range) }, scale, center, Self.at(gradient.chosen, range),
        Self.at(gradient.rejected, range), range.count)
    }
  }

  /// The address of element `range.lowerBound` (the arrays are non-empty when a part exists).
  private static func at(_ b: UnsafeBufferPointer<Float>, _ range: Range<Int>) -> UnsafePointer<Float> {
    b.baseAddress.unsafelyUnwrapped + range.lowerBound
  }

  private static func at(_ b: UnsafeMutableBufferPointer<Float>, _ range: Range<Int>) -> UnsafeMutablePointer<
    Float
  > {
    b.baseAddress.unsafelyUnwrapped + range.lowerBound
  }
}

extension BradleyTerryKernel {
  /// A kernel over the spans and arrays, valid inside `body` only.
  static func with<R>(
    chosen: Span<Float>, rejected: Span<Float>, margin: [Float]?, weight: [Float]?, _ body: (Self) -> R
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
