import _Builtin_intrinsics.intel

/// AdamW's per-element update in one pass over p, g, m and v (torch makes five tensor
/// passes), four floats at a time, each widened to double for the arithmetic. The double
/// arithmetic is the previous scalar loop's, operation for operation, so results are bit for
/// bit what they were: a float32 version (torch's own arithmetic, ~3.5× faster again) made
/// the end-to-end DIR test fail on 7 of 19 seeds against 0 of 15 in double
/// (test_club.py::test_dir_removes_a_linearly_decodable_attribute_and_keeps_the_task).
///
/// The only unsafe code in AdamW: `update` checked that the four buffers have one count,
/// full vectors end at or before it, and the buffers do not outlive its closures. The
/// intrinsics are SSE2, part of the x86-64 baseline; Swift's SIMD types alone convert and
/// take square roots lane by lane.
struct AdamWKernel {
  /// A step's scalars, hoisted out of the loop (β and ε too: read from AdamW's statics
  /// inside the loop they were a call per vector).
  struct Constants {
    var decay, stepSize, correction2: Double
    var beta1 = AdamW.beta1, beta2 = AdamW.beta2, epsilon = AdamW.epsilon
  }

  let p: UnsafeMutableBufferPointer<Float>
  let g: UnsafeBufferPointer<Float>
  let m: UnsafeMutableBufferPointer<Float>
  let v: UnsafeMutableBufferPointer<Float>
  let c: Constants

  typealias Pair = SIMD2<Double>
  typealias Quad = SIMD4<Float>

  /// The new (m, v, p) of two elements, in the previous scalar loop's order of operations.
  @inline(__always)
  private func step(_ g: Pair, _ m: Pair, _ v: Pair, _ p: Pair) -> (m: Pair, v: Pair, p: Pair) {
    let m1 = c.beta1 * m + (1 - c.beta1) * g
    let v1 = c.beta2 * v + (1 - c.beta2) * g * g
    let decayed = p * c.decay
    return (m1, v1, decayed - c.stepSize * m1 / (_mm_sqrt_pd(v1) / c.correction2 + c.epsilon))
  }

  @inline(__always) private func low(_ x: Quad) -> Pair { _mm_cvtps_pd(x) }
  @inline(__always) private func high(_ x: Quad) -> Pair { _mm_cvtps_pd(_mm_movehl_ps(x, x)) }
  @inline(__always) private func narrow(_ low: Pair, _ high: Pair) -> Quad {
    _mm_movelh_ps(_mm_cvtpd_ps(low), _mm_cvtpd_ps(high))
  }

  /// Updates every element whose new parameter is finite (in float32); an element whose new
  /// parameter would not be keeps its parameter and moments, so that a diverged step leaves q
  /// usable without a copy of it. Returns whether every element was updated.
  func run() -> Bool {
    let n = p.count
    var i = 0
    // x − x is 0 for finite x and NaN otherwise, and NaN survives any sum: one add per
    // vector instead of a branch per element.
    var check = Quad()
    if n >= Quad.scalarCount, let pb = UnsafeMutableRawPointer(p.baseAddress),
      let gb = UnsafeRawPointer(g.baseAddress), let mb = UnsafeMutableRawPointer(m.baseAddress),
      let vb = UnsafeMutableRawPointer(v.baseAddress)
    {
      while i + Quad.scalarCount <= n {
        let offset = i * MemoryLayout<Float>.stride
        let g4 = gb.loadUnaligned(fromByteOffset: offset, as: Quad.self)
        let m4 = mb.loadUnaligned(fromByteOffset: offset, as: Quad.self)
        let v4 = vb.loadUnaligned(fromByteOffset: offset, as: Quad.self)
        let p4 = pb.loadUnaligned(fromByteOffset: offset, as: Quad.self)
        let a = step(low(g4), low(m4), low(v4), low(p4))
        let b = step(high(g4), high(m4), high(v4), high(p4))
        var (m1, v1, p1) = (narrow(a.m, b.m), narrow(a.v, b.v), narrow(a.p, b.p))
        let residue = p1 - p1
        check += residue
        let diverged = residue .!= Quad()
        if any(diverged) {
          m1.replace(with: m4, where: diverged)
          v1.replace(with: v4, where: diverged)
          p1.replace(with: p4, where: diverged)
        }
        mb.storeBytes(of: m1, toByteOffset: offset, as: Quad.self)
        vb.storeBytes(of: v1, toByteOffset: offset, as: Quad.self)
        pb.storeBytes(of: p1, toByteOffset: offset, as: Quad.self)
        i += Quad.scalarCount
      }
    }
    var finite = check == Quad()
    while i < n {
      let r = step(
        Pair(repeating: Double(g[i])), Pair(repeating: Double(m[i])),
        Pair(repeating: Double(v[i])), Pair(repeating: Double(p[i])))
      if Float(r.p[0]).isFinite {
        (m[i], v[i], p[i]) = (Float(r.m[0]), Float(r.v[0]), Float(r.p[0]))
      } else {
        finite = false
      }
      i += 1
    }
    return finite
  }
}
