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
  /// torch's float32 step for one element as its x86 CPU build computes it: mul_(1 − lr·wd),
  /// lerp_(g, 1 − β1) as one fused multiply-add, mul_(β2).addcmul_(g, g, 1 − β2) with its
  /// multiply-add fused, (sqrt(v) / sqrt(bc2)).add_(ε), addcdiv_(m, denom, −lr/bc1) as
  /// self + (value·m) / denom; the step's scalars are Python doubles rounded to float32 once.
  /// An element whose new p, m or v would not be finite keeps all three (dirrm's rule; torch
  /// has none).
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
        let m1 = m[i].addingProduct(oneMinusBeta1, g[i] - m[i])
        let v1 = (v[i] * beta2).addingProduct(oneMinusBeta2 * g[i], g[i])
        let denominator = v1.squareRoot() / root + epsilon
        let p1 = decayed + (-stepSize * m1) / denominator
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
    XCTAssertEqual(optimizer.secondMoment.map(\.bitPattern), reference.v.map(\.bitPattern))
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
        [0x2db0_8f20_c81d_7675, 0x11eb_38f1_ecb3_a880, 0x10c9_bcdb_f5d4_73cf], "variant \(level)")
    }
  }

  /// torch.optim.AdamW's own bits (torch 2.13's x86 CPU build, single-tensor path, lr and
  /// weight decay given as dirrm's float32 values) on a fixed case of 13 elements and four
  /// steps, written by `benchmarks/adamw_vs_torch.py --swift`: p, m and v after every step, in
  /// every variant. (Over many elements torch's p differs from dirrm's in the last bit in about
  /// 0.07% per step; m and v agree bit for bit; the script measures it.)
  func testTorchsOwnBits() {
    let start: [UInt32] = [
      0xc010_0000, 0xc008_0000, 0xc000_0000, 0xbff0_0000, 0xbfe0_0000, 0xbfd0_0000, 0xbfc0_0000, 0xbfb0_0000,
      0xbfa0_0000, 0xbf90_0000, 0xbf80_0000, 0xbf60_0000, 0xbf40_0000,
    ]
    let gradients: [[UInt32]] = [
      [
        0xbf30_0000, 0xbccc_cccd, 0x3af5_c28f, 0x3a23_d70a, 0xb81d_4952, 0x3d80_0000, 0x3d4c_cccd,
        0xbba3_d70a, 0xb883_126f, 0x381d_4952, 0xbf20_0000, 0xbc99_999a, 0x3b23_d70a,
      ],
      [
        0x3e00_0000, 0x3d66_6666, 0xbb8f_5c29, 0x0000_0000, 0x3837_8034, 0xbf10_0000, 0xbc4c_cccd,
        0x3b4c_cccd, 0xba34_3958, 0xb7d1_b717, 0x3e40_0000, 0x3d80_0000, 0xbb75_c28f,
      ],
      [
        0xbf00_0000, 0xbbcc_cccd, 0x3b75_c28f, 0xba23_d70a, 0xb79d_4952, 0x3e80_0000, 0x3d8c_cccd,
        0xbb4c_cccd, 0x3903_126f, 0x386b_edfa, 0xbee0_0000, 0x0000_0000, 0x3b8f_5c29,
      ],
      [
        0x3ea0_0000, 0xbd8c_cccd, 0xbb23_d70a, 0x3944_9ba6, 0x3883_126f, 0xbec0_0000, 0x3bcc_cccd,
        0x3ba3_d70a, 0xba03_126f, 0xb6d1_b717, 0x3ec0_0000, 0xbd80_0000, 0xbaf5_c28f,
      ],
    ]
    let torchP: [[UInt32]] = [
      [
        0xc00f_ef40, 0xc007_ef45, 0xc000_100e, 0xbff0_2026, 0xbfdf_deab, 0xbfd0_203d, 0xbfc0_2047,
        0xbfaf_dec7, 0xbf9f_ded4, 0xbf90_2064, 0xbf7f_bdcf, 0xbf5f_bde4, 0xbf40_410b,
      ],
      [
        0xc00f_e644, 0xc007_f59b, 0xc000_08d8, 0xbff0_357d, 0xbfdf_e253, 0xbfd0_09e4, 0xbfc0_2f2b,
        0xbfaf_d8a4, 0xbf9f_c426, 0xbf90_24c1, 0xbf7f_a11d, 0xbf5f_df6b, 0xbf40_3051,
      ],
      [
        0xc00f_da63, 0xc007_f957, 0xc000_0ad1, 0xbff0_320f, 0xbfdf_de61, 0xbfd0_0265, 0xbfc0_468f,
        0xbfaf_ca7f, 0xbf9f_b37d, 0xbf90_3702, 0xbf7f_7721, 0xbf5f_f934, 0xbf40_43fe,
      ],
      [
        0xc00f_d46b, 0xc007_f426, 0xc000_0899, 0xbff0_3324, 0xbfdf_e990, 0xbfcf_f31c, 0xbfc0_5af6,
        0xbfaf_cc80, 0xbf9f_9d2f, 0xbf90_4430, 0xbf7f_685a, 0xbf5f_eddb, 0xbf40_486e,
      ],
    ]
    let torchM: [[UInt32]] = [
      [
        0xbd8c_cccd, 0xbb23_d70b, 0x3944_9ba6, 0x3883_126f, 0xb67b_a883, 0x3bcc_cccd, 0x3ba3_d70b,
        0xba03_126f, 0xb6d1_b718, 0x367b_a883, 0xbd80_0000, 0xbaf5_c290, 0x3983_126f,
      ],
      [
        0xbd4a_3d71, 0x3b5d_2f1a, 0xb98c_e704, 0x386b_edfb, 0x3586_37bb, 0xbd4f_5c2a, 0x3b54_fdf5,
        0xb910_2de0, 0xb89b_f9c6, 0x356a_e18e, 0xbd19_999a, 0x3b95_8106, 0xb91d_494f,
      ],
      [
        0xbdc1_6873, 0x3b1e_1b08, 0x390b_9778, 0xb747_3abc, 0xb582_dcc2, 0xbca8_72b2, 0x3c20_902e,
        0xb9e4_b87c, 0xb864_53d2, 0x36d7_2af5, 0xbd9e_b852, 0x3b86_8db9, 0x399e_98de,
      ],
      [
        0xbd5c_2268, 0xbb9a_21eb, 0xb908_82f2, 0x3707_442e, 0x36b4_456d, 0xbd65_66d0, 0x3c1a_bf34,
        0x38e1_2e84, 0xb8cf_9ade, 0x36ac_adf4, 0xbd04_1894, 0xbb27_674e, 0x38b1_bbd4,
      ],
    ]
    let torchV: [[UInt32]] = [
      [
        0x39f7_ceda, 0x3527_c5ad, 0x3171_9788, 0x2fd6_bf95, 0x2bc5_e981, 0x3683_126f, 0x3627_c5ad,
        0x32d6_bf95, 0x2c89_7061, 0x2bc5_e981, 0x39cc_ccce, 0x34bc_be63, 0x31d6_bf95,
      ],
      [
        0x39ff_c091, 0x367e_3cdd, 0x32c2_95e4, 0x2fd6_889b, 0x2c69_8c1a, 0x39a7_ef18, 0x3632_1715,
        0x3315_35b9, 0x3002_fed4, 0x2c0e_d66b, 0x39df_06f8, 0x368e_db50, 0x32ae_6deb,
      ],
      [
        0x3a41_48c4, 0x3680_4d6f, 0x331d_97ec, 0x3056_88a3, 0x2c81_06c0, 0x39c8_88b6, 0x36f7_8d9d,
        0x333f_00f2, 0x3007_28ce, 0x2cb6_ac45, 0x3a21_93fe, 0x368e_b6be, 0x3329_55f9,
      ],
      [
        0x3a5a_b0e3, 0x370f_62bb, 0x3338_4787, 0x305f_fb9e, 0x2d05_2b0c, 0x3a09_07df, 0x36f8_9dc9,
        0x3395_17ec, 0x304b_be64, 0x2cb7_dd5a, 0x3a46_47d0, 0x3708_d252, 0x3338_4418,
      ],
    ]
    SIMDVariants.forEach { level in
      var parameters = start.map(Float.init(bitPattern:))
      var optimizer = AdamW(count: start.count, learningRate: 1e-3, weightDecay: 0.01)
      for (step, gradient) in gradients.enumerated() {
        XCTAssertTrue(optimizer.update(&parameters, gradient: gradient.map(Float.init(bitPattern:))))
        let label = "step \(step + 1), variant \(level)"
        XCTAssertEqual(parameters.map(\.bitPattern), torchP[step], label)
        XCTAssertEqual(optimizer.firstMoment.map(\.bitPattern), torchM[step], label)
        XCTAssertEqual(optimizer.secondMoment.map(\.bitPattern), torchV[step], label)
      }
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
