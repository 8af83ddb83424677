import Glibc
import SIMDKernels
import XCTest

@testable import DirRMCore

/// AdamW's fused pass against the step computed in double from its definition, and against
/// torch.optim.AdamW's float32 arithmetic written out per element, over counts that exercise
/// the blocks of eight and a partial last block; bit for bit against the scalar double loop it
/// replaced, in every SIMD variant the CPU runs and split over the pool; and the contract that
/// an element whose new value or moments would not be finite keeps its value and moments.
final class AdamWTests: XCTestCase {
  /// torch's float32 step for one element: mul_(1 − lr·wd), lerp_(g, 1 − β1),
  /// mul_(β2).addcmul_(g, g, 1 − β2), (sqrt(v) / sqrt(bc2)).add_(ε), addcdiv_(m, denom,
  /// −lr/bc1); the step's scalars are Python doubles rounded to float32 once.
  struct Reference {
    var p, m, v: [Float]

    mutating func update(_ g: [Float], step: Int, lr: Float, wd: Float) {
      let lrd = Double(lr)
      let decay = Float(1 - lrd * Double(wd))
      let stepSize = Float(lrd / (1 - pow(AdamW.beta1, Double(step))))
      let root = Float((1 - pow(AdamW.beta2, Double(step))).squareRoot())
      let (beta2, epsilon) = (Float(AdamW.beta2), Float(AdamW.epsilon))
      let (oneMinusBeta1, oneMinusBeta2) = (Float(1 - AdamW.beta1), Float(1 - AdamW.beta2))
      for i in p.indices {
        let decayed = p[i] * decay
        m[i] = m[i] + oneMinusBeta1 * (g[i] - m[i])
        v[i] = v[i] * beta2 + oneMinusBeta2 * g[i] * g[i]
        let denominator = v[i].squareRoot() / root + epsilon
        p[i] = decayed + -stepSize * (m[i] / denominator)
      }
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
  /// and moments, the others take their step, and the pass reports the failure.
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
    reference.update(g, step: 1, lr: 1e37, wd: 0)
    for i in 0..<n {
      if i == 3 || i == 36 {
        XCTAssertTrue(reference.p[i].isInfinite)
        XCTAssertEqual(parameters[i], before[i])
        XCTAssertEqual(optimizer.firstMoment[i], 0)
        XCTAssertEqual(optimizer.secondMoment[i], 0)
      } else {
        // torch's float32 step rounds each operation; this one rounds once.
        XCTAssertLessThanOrEqual(abs(parameters[i] - reference.p[i]), 4 * reference.p[i].ulp, "element \(i)")
        XCTAssertLessThanOrEqual(
          abs(optimizer.firstMoment[i] - reference.m[i]), reference.m[i].ulp, "element \(i)")
      }
    }
    XCTAssertTrue(parameters.allSatisfy(\.isFinite))
  }

  /// The scalar loop the fused pass replaced, operation for operation in double: every
  /// variant and every split into the pool's parts must give its bits exactly, so that results
  /// tables computed before the pass changed still reproduce. An element whose new p, m or v
  /// would not be finite keeps all three (the SSE2 loop checked p alone; the cases below never
  /// overflow m or v, where the two rules differ).
  struct ScalarDoubleStep {
    var p, m, v: [Float]
    var step = 0

    mutating func update(_ g: [Float], lr: Float, wd: Float) -> Bool {
      step += 1
      let lrd = Double(lr)
      let decay = 1 - lrd * Double(wd)
      let stepSize = lrd / (1 - Glibc.pow(AdamW.beta1, Double(step)))
      let correction2 = (1 - Glibc.pow(AdamW.beta2, Double(step))).squareRoot()
      var finite = true
      for i in p.indices {
        let gi = Double(g[i])
        let m1 = AdamW.beta1 * Double(m[i]) + (1 - AdamW.beta1) * gi
        let v1 = AdamW.beta2 * Double(v[i]) + (1 - AdamW.beta2) * gi * gi
        let p1 = Double(p[i]) * decay - stepSize * m1 / (v1.squareRoot() / correction2 + AdamW.epsilon)
        if Float(p1).isFinite && Float(m1).isFinite && Float(v1).isFinite {
          (m[i], v[i], p[i]) = (Float(m1), Float(v1), Float(p1))
        } else {
          finite = false
        }
      }
      return finite
    }
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
  func testEveryVariantAndEverySplitGiveTheScalarDoubleStepsBits() {
    let threads = WorkerPool.threadCount
    defer { WorkerPool.setThreadCount(threads) }
    for n in [1, 7, 8, 9, 31, 1001, AdamW.partSize - 1, 2 * AdamW.partSize + 5] {
      let (start, gradients) = problem(n)
      var reference = ScalarDoubleStep(
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

  /// The bits of the SSE2 loop the pass replaced (dirrm at 5e93ec6, whose AdamWKernel gave
  /// these FNV-1a hashes for `run(1001)`), so that neither the pass nor the reference above can
  /// drift from it together.
  func testSameBitsAsTheLoopItReplaced() {
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
        [0xad1d_57e6_502c_9454, 0x22c7_2030_a365_106a, 0x670d_caa9_230e_1c67], "variant \(level)")
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
      var reference = ScalarDoubleStep(
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
