/// AdamW's per-element update over raw buffers of equal count (AdamW.fusedPass made them).
///
/// One pass reads p, g, m, v and writes p, m, v: the step is bound by memory traffic, so
/// everything torch does in five tensor passes is done here in one. The arithmetic is
/// torch's, operation for operation and without fused multiply-adds (its results differ
/// from torch's only where torch's vector code fuses them, by float32 rounding).
struct AdamWKernel {
  let p: UnsafeMutableBufferPointer<Float>
  let g: UnsafeBufferPointer<Float>
  let m: UnsafeMutableBufferPointer<Float>
  let v: UnsafeMutableBufferPointer<Float>
  let c: AdamWConstants

  typealias Vector = SIMD16<Float>

  /// Updates every element whose new parameter is finite; an element whose new parameter
  /// would not be keeps its parameter and moments, so that a diverged step leaves q usable
  /// without a copy of it. Returns whether every element was updated. One thread: the pass
  /// is bound by memory bandwidth, and a second thread measured no faster on this machine's
  /// two cores (3.6–4.4 ms either way for q's 4.2M parameters at the DIR shapes).
  func run() -> Bool { update(0..<p.count) }

  func update(_ range: Range<Int>) -> Bool {
    let width = Vector.scalarCount
    let decay = Vector(repeating: c.decay)
    let oneMinusBeta1 = Vector(repeating: c.oneMinusBeta1)
    let beta2 = Vector(repeating: c.beta2)
    let oneMinusBeta2 = Vector(repeating: c.oneMinusBeta2)
    let negativeStep = Vector(repeating: -c.stepSize)
    let correction2Root = Vector(repeating: c.correction2Root)
    let epsilon = Vector(repeating: c.epsilon)
    // x − x is 0 for finite x and NaN otherwise, and NaN survives any sum: one add per
    // vector instead of a branch per element.
    var check = Vector()
    var i = range.lowerBound
    let bytes = MemoryLayout<Float>.stride
    let (pb, gb, mb, vb) = (
      UnsafeMutableRawPointer(p.baseAddress), UnsafeRawPointer(g.baseAddress),
      UnsafeMutableRawPointer(m.baseAddress), UnsafeMutableRawPointer(v.baseAddress)
    )
    if let pb, let gb, let mb, let vb {
      while i + width <= range.upperBound {
        let offset = i * bytes
        let gi = gb.loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let mi = mb.loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let vi = vb.loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let p0 = pb.loadUnaligned(fromByteOffset: offset, as: Vector.self)
        // torch: lerp_(g, 1 − β1) (its small-weight form), mul_(β2).addcmul_(g, g, 1 − β2).
        var m1 = mi + oneMinusBeta1 * (gi - mi)
        var v1 = vi * beta2 + oneMinusBeta2 * gi * gi
        let denominator = Vector16.squareRoot(v1) / correction2Root + epsilon
        var p1 = p0 * decay + negativeStep * (m1 / denominator)
        let residue = p1 - p1
        check += residue
        let diverged = residue .!= Vector()
        if any(diverged) {
          m1.replace(with: mi, where: diverged)
          v1.replace(with: vi, where: diverged)
          p1.replace(with: p0, where: diverged)
        }
        mb.storeBytes(of: m1, toByteOffset: offset, as: Vector.self)
        vb.storeBytes(of: v1, toByteOffset: offset, as: Vector.self)
        pb.storeBytes(of: p1, toByteOffset: offset, as: Vector.self)
        i += width
      }
    }
    var finite = check == Vector()
    while i < range.upperBound {
      let (gi, pi) = (g[i], p[i] * c.decay)
      let m1 = m[i] + c.oneMinusBeta1 * (gi - m[i])
      let v1 = v[i] * c.beta2 + c.oneMinusBeta2 * gi * gi
      let p1 = pi + -c.stepSize * (m1 / (v1.squareRoot() / c.correction2Root + c.epsilon))
      if p1.isFinite {
        (m[i], v[i], p[i]) = (m1, v1, p1)
      } else {
        finite = false
      }
      i += 1
    }
    return finite
  }
}
