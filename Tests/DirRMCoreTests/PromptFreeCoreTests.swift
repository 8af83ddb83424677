import XCTest

@testable import DirRMCore

/// The prompt-free core checks its own arguments: each rule the C API applies first is
/// also refused here, with the same wording, and a refusal changes nothing.
final class PromptFreeCoreTests: XCTestCase {
  let newton = PromptFreeGap(weighting: .uniform, solver: .newton, tolerance: 1e-6, maxIterations: 100)

  func refusal<T>(_ body: () throws(ConfigError) -> T) -> String? {
    do {
      _ = try body()
      return nil
    } catch {
      return error.message(prefix: "")
    }
  }

  func testProblemRules() {
    var s = newton
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try s.problem(gaps: [1, 2], k: 0, corresponding: nil, weights: nil)
      }, "k = 0 must be at least 1")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in
        try s.problem(gaps: [1, 2, 3], k: 2, corresponding: nil, weights: nil)
      }, "gaps holds 3 values, not whole rows of k = 2")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in
        try s.problem(gaps: [1, .nan], k: 2, corresponding: nil, weights: nil)
      }, "gaps[1] is nan")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try s.problem(gaps: [1, 2], k: 2, corresponding: [2], weights: nil)
      }, "corr_col[0] = 2 is outside [0, 2)")
    s.weighting = .corresponding(p: 0.5)
    XCTAssertNotNil(
      refusal { () throws(ConfigError) in try s.problem(gaps: [1, 2], k: 2, corresponding: nil, weights: nil)
      })
    s.weighting = .explicit
    XCTAssertEqual(
      refusal { () throws(ConfigError) in
        try s.problem(gaps: [1, 2, 3, 4], k: 2, corresponding: nil, weights: [1, 1, 1, -1])
      }, "weights row 1[1] = -1.0 is negative")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in
        try s.problem(gaps: [1, 2], k: 2, corresponding: nil, weights: [0, 0])
      }, "weights row 0 is zero everywhere; the weights must have a positive sum")
    XCTAssertNotNil(
      refusal { () throws(ConfigError) in try s.problem(gaps: [1, 2], k: 2, corresponding: nil, weights: nil)
      })
    s.weighting = .uniform
    s.tolerance = 0
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try s.problem(gaps: [1, 2], k: 2, corresponding: nil, weights: nil)
      }, "tolerance = 0.0 must be > 0")
  }

  func testSolveWithAndWithoutDr1() throws {
    var s = newton
    s.weighting = .corresponding(p: 0.7)
    let gaps: [Float] = [1, -2, 3, 0.5, 0.25, -1]
    let problem = try s.problem(gaps: gaps, k: 3, corresponding: [2, 0], weights: nil)
    let full = try problem.solve(dr1: true)
    let bare = try problem.solve(dr1: false)
    XCTAssertEqual(full.dr2, bare.dr2)
    XCTAssertNil(bare.dr1)
    XCTAssertEqual(
      full.dr1, [Float(Double(gaps[2]) - Double(full.dr2[0])), Float(Double(gaps[3]) - Double(full.dr2[1]))])
    XCTAssertEqual(full.iterations.count, 2)
  }

  func testBisectionBracketFromTheRewardRange() {
    XCTAssertEqual(PromptFreeGap.Solver.bisection(rewardsIn: -1, 2), .bisection(bracket: (low: -3, high: 3)))
    XCTAssertEqual(PromptFreeGap.Solver.bisection(rewardsIn: 0, 0), .bisection(bracket: nil))
    XCTAssertEqual(PromptFreeGap.Solver.bisection(rewardsIn: 2, 1), .bisection(bracket: nil))
  }

  func testSamplingRules() throws {
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try PromptSampling.sample(own: [0], k: 5, numPrompts: 4, seed: 1) },
      "k = 5 exceeds num_prompts = 4")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try PromptSampling.sample(own: [0], k: 0, numPrompts: 4, seed: 1) },
      "k = 0 must be at least 1")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in
        try PromptSampling.sample(own: [0, 4], k: 2, numPrompts: 4, seed: 1)
      }, "corr_prompt[1] = 4 is outside [0, 4)")
    let prompts = try PromptSampling.sample(own: [3, 1], k: 4, numPrompts: 4, seed: 1)
    XCTAssertEqual(prompts.count, 8)
    XCTAssertEqual([prompts[0], prompts[4]], [3, 1])
    XCTAssertEqual(Set(prompts[0..<4]), [0, 1, 2, 3])
    XCTAssertEqual(Set(prompts[4..<8]), [0, 1, 2, 3])
  }

  func testClusteringRules() throws {
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try BinaryClustering.threshold([], placement: .kmeans) },
      "values is empty")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try BinaryClustering.threshold([1, .infinity], placement: .otsu) },
      "values[1] is inf")
    XCTAssertEqual(try BinaryClustering.threshold([0, 0, 10, 10], placement: .otsu), 5)
  }

  func testPrioritizerRules() throws {
    let settings = Prioritizer.Settings(
      placement: .kmeans, emaWeight: 0.9, initialThreshold: 0, lazyReinsertion: false, maxReinsertions: 1,
      shuffle: true, seed: 4)
    var bad = settings
    bad.emaWeight = 2
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try Prioritizer(settings: bad, count: 4) },
      "ema_weight = 2.0 is outside [0, 1]")
    XCTAssertEqual(
      refusal { () throws(ConfigError) in try Prioritizer(settings: settings, count: 0) },
      "num_samples = 0 must be at least 1")

    var q = try Prioritizer(settings: settings, count: 4)
    XCTAssertThrowsError(try q.propose(maxCount: 0))
    let proposed = try q.propose(maxCount: 2)
    let before = q.serialized()
    for (indices, dr2) in [
      ([proposed[0], 4], [0, 0]), ([-1], [0]), (proposed, [0, .nan]), (proposed, [0]),
    ]
      as [([Int], [Float])]
    {
      XCTAssertThrowsError(try q.decide(indices, dr2))
      XCTAssertEqual(q.serialized(), before)
    }
    XCTAssertEqual(try q.decide(proposed, [-1, 1]), [true, false])
    let decided = q.serialized()
    XCTAssertThrowsError(try q.observe([2, .infinity]))
    XCTAssertEqual(q.serialized(), decided)
  }

  /// Ranks that observe each other's values end the step with the threshold of one
  /// prioritizer that decided them all, bit for bit, whatever the order.
  func testObserveGivesTheThresholdOfTheUnion() throws {
    let settings = Prioritizer.Settings(
      placement: .kmeans, emaWeight: 0.8, initialThreshold: 0.1, lazyReinsertion: false, maxReinsertions: 0,
      shuffle: true, seed: 1)
    var ranks = [
      try Prioritizer(settings: settings, count: 8), try Prioritizer(settings: settings, count: 8),
    ]
    var union = try Prioritizer(settings: settings, count: 64)
    var generator = Xoshiro256(seed: 5)
    for _ in 0..<6 {
      var values: [[Float]] = []
      for r in ranks.indices {
        var candidates = try ranks[r].propose(maxCount: 3)
        if candidates.isEmpty { candidates = try ranks[r].propose(maxCount: 3) }
        let dr2 = candidates.map { _ in Float(generator.next() % 1000) / 100 - 5 }
        _ = try ranks[r].decide(candidates, dr2)
        values.append(dr2)
      }
      try ranks[0].observe(values[1])
      try ranks[1].observe(values[0])
      let all = values[1] + values[0]
      _ = try union.decide(try union.propose(maxCount: all.count), all)
      let want = union.endStep()
      XCTAssertEqual(ranks.indices.map { ranks[$0].endStep() }, [want, want])
    }
  }

  /// The trainer's scale: Δr2 over max(RMS own-prompt gap, 1e-12), rounded once.
  func testNormalizedDividesByTheRMSOwnGapWithAFloor() throws {
    XCTAssertEqual(try PromptFreeScores.normalized([3, -6], ownGap: [3, -3]), [1, -2])
    XCTAssertEqual(try PromptFreeScores.normalized([1e-12, 0], ownGap: [0, 0]), [1, 0])
    XCTAssertEqual(try PromptFreeScores.normalized([], ownGap: []), [])
    XCTAssertThrowsError(try PromptFreeScores.normalized([1e30], ownGap: [0]))
  }
}
