import Glibc
import SIMDKernels
import XCTest

@testable import DirRMCore

/// AdamW's fused pass against the step computed in double from its definition, and bit for bit
/// against torch.optim.AdamW's float32 arithmetic written out per element, over counts that
/// exercise the blocks of eight and a partial last block, in every SIMD variant the CPU runs
/// and split over the pool; and the contract that an element whose new value or moments would
/// not be finite keeps its value and moments.
final class AdamWTests: XCTestCase {
  /// torch's float32 step for one element: mul_(1 − lr·wd), lerp_(g, 1 − β1),
  /// mul_(β2).addcmul_(g, g, 1 − β2), (sqrt(v) / sqrt(bc2)).add_(ε), addcdiv_(m, denom,
  /// −lr/bc1); the step's scalars are Python doubles rounded to float32 once. An element whose
  /// new p, m or v would not be finite keeps all three (dirrm's rule; torch has none).
  struct Reference {
    var p, m, v: [Float]
    var step = 0

    @discardableResult
    mutating func update(_ g: [Float], lr: Float, wd: Float) -> Bool {
      step += 1
      let lrd = Double(lr)
      let decay = Float(1 - lrd * Double(wd))
      let stepSize = Float(lrd / (1 - pow(AdamW.beta1, Double(step))))
      let root = Float((1 - pow(AdamW.beta2, Double(step))).squareRoot())
      let (beta2, epsilon) = (Float(AdamW.beta2), Float(AdamW.epsilon))
      let (oneMinusBeta1, oneMinusBeta2) = (Float(1 - AdamW.beta1), Float(1 - AdamW.beta2))
      var finite = true
      for i in p.indices {
        let decayed = p[i] * decay
        let m1 = m[i] + oneMinusBeta1 * (g[i] - m[i])
        let v1 = v[i] * beta2 + oneMinusBeta2 * g[i] * g[i]
        let denominator = v1.squareRoot() / root + epsilon
        let p1 = decayed + -stepSize * (m1 / denominator)
        if p1.isFinite && m1.isFinite && v1.isFinite {
          (m[i], v[i], p[i]) = (m1, v1, p1)
        } else {
          finite = false
        }
      }
      return finite
    }
  }

  /// Gradients over many scales, tiny ones included (their v is subnormal or zero).
  func gradient(_ n: Int, _ random: inout Xoshiro256) -> [Float] {
    (0..<n).map { _ in
      let scale = pow(10, Float(random.below(40)) - 30)
      return Float(random.normal()) * scale
    }
  }

  /// The step is the exact step up to float32 rounding: against the same step in double
  /// from the same float32 state, each new parameter is off by at most a few ulps of
  /// itself and of the terms of m's update (β1·m and (1 − β1)·g may cancel).
  func testOneStepIsCloseToTheStepInDouble() {
    var random = Xoshiro256(seed: 7)
    let n = 4096
    var parameters = (0..<n).map { _ in Float(random.normal()) }
    var optimizer = AdamW(count: n, learningRate: 1e-2, weightDecay: 0.01)
    for _ in 0..<20 { optimizer.update(&parameters, gradient: gradient(n, &random)) }
    let (p0, m0, v0, g) = (parameters, optimizer.firstMoment, optimizer.secondMoment, gradient(n, &random))
    optimizer.update(&parameters, gradient: g)
    let t = Double(optimizer.step)
    let stepSize = Double(Float(1e-2)) / (1 - pow(AdamW.beta1, t))
    let unit = Double(Float.ulpOfOne)
    for i in 0..<n {
      let (mi, gi) = (Double(m0[i]), Double(g[i]))
      let m = AdamW.beta1 * mi + (1 - AdamW.beta1) * gi
      let v = AdamW.beta2 * Double(v0[i]) + (1 - AdamW.beta2) * gi * gi
      let denominator = v.squareRoot() / (1 - pow(AdamW.beta2, t)).squareRoot() + AdamW.epsilon
      let change = -stepSize * m / denominator
      let want = Double(p0[i]) * (1 - Double(Float(1e-2)) * Double(Float(0.01))) + change
      let terms = stepSize * (Swift.abs(mi) + Swift.abs(gi - mi) / 10) / denominator
      let rounding = Double(Float(want).magnitude.ulp) + Double(p0[i].magnitude.ulp)
      let tolerance = 2 * rounding + 8 * unit * (Swift.abs(change) + terms)
      XCTAssertLessThanOrEqual(Swift.abs(Double(parameters[i]) - want), tolerance, "element \(i)")
    }
  }

  /// Elements 3 (inside a block of eight) and 36 (a partial last block) would overflow: they keep their value
  /// and moments, the others take torch's step, and the pass reports the failure.
  func testAnElementThatWouldOverflowKeepsItsValueAndMoments() {
    let n = 37
    var random = Xoshiro256(seed: 3)
    var parameters = (0..<n).map { _ in Float(random.normal()) }
    var g = gradient(n, &random)
    for i in [3, 36] { (parameters[i], g[i]) = (3.4e38, -1) }
    var optimizer = AdamW(count: n, learningRate: 1e37, weightDecay: 0)
    var reference = Reference(
      p: parameters, m: [Float](repeating: 0, count: n), v: [Float](repeating: 0, count: n))
    let before = parameters
    XCTAssertFalse(optimizer.update(&parameters, gradient: g))
    XCTAssertFalse(reference.update(g, lr: 1e37, wd: 0))
    for i in [3, 36] {
      XCTAssertEqual(parameters[i], before[i])
      XCTAssertEqual(optimizer.firstMoment[i], 0)
      XCTAssertEqual(optimizer.secondMoment[i], 0)
    }
    XCTAssertEqual(parameters.map(\.bitPattern), reference.p.map(\.bitPattern))
    XCTAssertEqual(optimizer.firstMoment.map(\.bitPattern), reference.m.map(\.bitPattern))
    XCTAssertTrue(parameters.allSatisfy(\.isFinite))
  }

  /// Steps at a usual rate, then one so large that the elements at 5 and n − 1, started near the
  /// float maximum, overflow and must keep their state, then a usual one again.
  static let settings: [(lr: Float, wd: Float)] = [(1e-2, 0.01), (1e-3, 0.01), (1e37, 0), (1e-2, 0.01)]

  /// Start values and the gradients of `settings`' steps for n elements.
  func problem(_ n: Int) -> (start: [Float], gradients: [[Float]]) {
    var random = Xoshiro256(seed: UInt64(n))
    var start = (0..<n).map { _ in Float(random.normal()) }
    var gradients = Self.settings.map { _ in gradient(n, &random) }
    for i in [min(5, n - 1), n - 1] {
      start[i] = 3.4e38
      for step in gradients.indices { gradients[step][i] = -1 }
    }
    return (start, gradients)
  }

  /// `settings`' steps through AdamW: whether each was finite, and the final p, m and v.
  func run(_ n: Int) -> (finite: [Bool], p: [Float], m: [Float], v: [Float]) {
    var (parameters, gradients) = problem(n)
    var optimizer = AdamW(count: n, learningRate: 0, weightDecay: 0)
    let finite = zip(Self.settings, gradients).map { setting, g in
      (optimizer.learningRate, optimizer.weightDecay) = setting
      return optimizer.update(&parameters, gradient: g)
    }
    return (finite, parameters, optimizer.firstMoment, optimizer.secondMoment)
  }

  /// n = 1, 7, 8 and 9 end inside the first block of eight; 2 · partSize + 5 makes three parts,
  /// the last a partial block; each at one thread and at two.
  func testEveryVariantAndEverySplitGiveTorchsFloat32Bits() {
    let threads = WorkerPool.threadCount
    defer { WorkerPool.setThreadCount(threads) }
    for n in [1, 7, 8, 9, 31, 1001, AdamW.partSize - 1, 2 * AdamW.partSize + 5] {
      let (start, gradients) = problem(n)
      var reference = Reference(
        p: start, m: [Float](repeating: 0, count: n), v: [Float](repeating: 0, count: n))
      let expected = zip(Self.settings, gradients).map { reference.update($1, lr: $0.lr, wd: $0.wd) }
      XCTAssertEqual(expected, [true, true, false, true], "n \(n)")
      for threadCount in [1, 2] {
        WorkerPool.setThreadCount(threadCount)
        SIMDVariants.forEach { level in
          let got = run(n)
          let label = "n \(n), \(threadCount) threads, variant \(level)"
          XCTAssertEqual(got.finite, expected, label)
          XCTAssertEqual(got.p.map(\.bitPattern), reference.p.map(\.bitPattern), label)
          XCTAssertEqual(got.m.map(\.bitPattern), reference.m.map(\.bitPattern), label)
          XCTAssertEqual(got.v.map(\.bitPattern), reference.v.map(\.bitPattern), label)
        }
      }
    }
  }

  /// The bits the float32 pass gave when it was written (these FNV-1a hashes of `run(1001)`,
  /// equal to the reference's then), so that neither the pass nor the reference above can drift
  /// together, e.g. a compiler contracting a multiply and an add into an FMA.
  func testSameBitsAsWhenWritten() {
    func fnv(_ values: [Float]) -> UInt64 {
      var h: UInt64 = 0xcbf2_9ce4_8422_2325
      for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
      return h
    }
    SIMDVariants.forEach { level in
      let got = run(1001)
      XCTAssertEqual(got.finite, [true, true, false, true])
      XCTAssertEqual(
        [fnv(got.p), fnv(got.m), fnv(got.v)],
        [0xf013_373a_6d77_b5f3, 0x0800_36fe_b365_6bfd, 0x70a5_35da_fc5d_2292], "variant \(level)")
    }
  }

  /// A NaN gradient, and a gradient so large that v (not p) overflows: the element keeps its
  /// state, the others step, the pass reports it; an empty pass is finite.
  func testANaNGradientOrAnOverflowingMomentKeepsTheElement() {
    let n = 19
    var random = Xoshiro256(seed: 5)
    let start = (0..<n).map { _ in Float(random.normal()) }
    var g = gradient(n, &random)
    (g[2], g[17]) = (.nan, 1e21)
    SIMDVariants.forEach { level in
      var parameters = start
      var optimizer = AdamW(count: n, learningRate: 1e-2, weightDecay: 0.01)
      var reference = Reference(
        p: start, m: [Float](repeating: 0, count: n), v: [Float](repeating: 0, count: n))
      XCTAssertFalse(optimizer.update(&parameters, gradient: g), "variant \(level)")
      XCTAssertFalse(reference.update(g, lr: 1e-2, wd: 0.01))
      for i in [2, 17] {
        XCTAssertEqual(parameters[i], start[i], "element \(i), variant \(level)")
        XCTAssertEqual(optimizer.firstMoment[i], 0)
        XCTAssertEqual(optimizer.secondMoment[i], 0)
      }
      XCTAssertEqual(parameters.map(\.bitPattern), reference.p.map(\.bitPattern), "variant \(level)")
      XCTAssertEqual(optimizer.secondMoment.map(\.bitPattern), reference.v.map(\.bitPattern))
      XCTAssertNotEqual(parameters[3], start[3])
    }
    var empty = AdamW(count: 0, learningRate: 1e-2, weightDecay: 0.01)
    var none: [Float] = []
    XCTAssertTrue(empty.update(&none, gradient: []))
  }
}
