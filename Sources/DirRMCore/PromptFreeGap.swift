import Glibc

/// The prompt-free reward gap Δr2 (docs/mathematics.md §3): the root d of Φ(d) = Σ_k w_k σ(g_k − d) = 1/2
/// for each pair's gaps g under K prompts.
public struct PromptFreeGap {
  public enum Weighting: Equatable {
    case uniform
    /// p on the pair's own prompt, (1 − p)/(K − 1) on each other one.
    case corresponding(p: Double)
    /// A non-negative n × K matrix, each row normalized here.
    case explicit
    /// log-weights per cell, normalized per row by a softmax.
    case logWeights
  }

  public enum Solver: Equatable {
    /// Safeguarded Newton inside the data bracket, on the float32 grid; stops when
    /// |Φ − 1/2| ≤ tolerance or the root lies between two adjacent float32 values.
    case newton
    /// The paper's Alg. 1: bisection on `bracket` (default: the data bracket) until it is
    /// narrower than the tolerance; returns the bracket's midpoint.
    case bisection(bracket: (low: Double, high: Double)?)

    public static func == (a: Solver, b: Solver) -> Bool {
      switch (a, b) {
      case (.newton, .newton): true
      case (.bisection(let x), .bisection(let y)): x?.low == y?.low && x?.high == y?.high
      default: false
      }
    }
  }

  public var weighting: Weighting
  public var solver: Solver
  public var tolerance: Double
  public var maxIterations: Int

  public init(weighting: Weighting, solver: Solver, tolerance: Double, maxIterations: Int) {
    self.weighting = weighting
    self.solver = solver
    self.tolerance = tolerance
    self.maxIterations = maxIterations
  }

  /// Solves every row of the n × k matrix `gaps`. Nothing is written if it throws.
  ///
  /// The caller guarantees: finite gaps; `corresponding` in 0..<k where the weighting needs
  /// it or `dr1` is wanted; `weights` (n × k) finite, and non-negative with positive row sums
  /// for `.explicit`; tolerance > 0; maxIterations ≥ 1.
  public func solve(
    gaps: UnsafeBufferPointer<Float>, k: Int, corresponding: UnsafeBufferPointer<Int64>?,
    weights: UnsafeBufferPointer<Float>?, dr2: UnsafeMutableBufferPointer<Float>,
    dr1: UnsafeMutableBufferPointer<Float>?, iterations: UnsafeMutableBufferPointer<Int32>?
  ) throws(NumericError) {
    let n = dr2.count
    var roots = [Double](repeating: 0, count: n)
    var counts = [Int32](repeating: 0, count: n)
    var row = [Double](repeating: 0, count: k)
    var w = [Double](repeating: 0, count: k)
    var scratch = RootScratch(k: k)
    for i in 0..<n {
      for j in 0..<k { row[j] = Double(gaps[i * k + j]) }
      rowWeights(i, k: k, corresponding: corresponding, weights: weights, into: &w)
      guard let (root, count) = root(gaps: row, weights: w, scratch: &scratch) else {
        throw .notConverged(
          "pair \(i) did not converge within max_iter = \(maxIterations) iterations")
      }
      roots[i] = root
      counts[i] = Int32(count)
      if dr1 != nil, let corresponding {
        let related = row[Int(corresponding[i])] - root
        guard related.fitsInFloat else {
          throw .overflow("dr1 of pair \(i) (\(related)) does not fit in float32")
        }
      }
    }
    for i in 0..<n {
      dr2[i] = Float(roots[i])
      iterations?[i] = counts[i]
      if let dr1, let corresponding {
        dr1[i] = Float(Double(gaps[i * k + Int(corresponding[i])]) - roots[i])
      }
    }
  }

  /// Row i's normalized weights.
  func rowWeights(
    _ i: Int, k: Int, corresponding: UnsafeBufferPointer<Int64>?,
    weights: UnsafeBufferPointer<Float>?, into w: inout [Double]
  ) {
    switch weighting {
    case .uniform:
      for j in 0..<k { w[j] = 1 / Double(k) }
    case .corresponding(let p):
      guard k > 1 else {
        w[0] = 1
        return
      }
      for j in 0..<k { w[j] = (1 - p) / Double(k - 1) }
      if let corresponding { w[Int(corresponding[i])] = p }
    case .explicit:
      guard let weights else { return }
      var total = 0.0
      for j in 0..<k { total += Double(weights[i * k + j]) }
      for j in 0..<k { w[j] = Double(weights[i * k + j]) / total }
    case .logWeights:
      guard let weights else { return }
      var largest = -Double.infinity
      for j in 0..<k { largest = max(largest, Double(weights[i * k + j])) }
      var total = 0.0
      for j in 0..<k {
        w[j] = exp(Double(weights[i * k + j]) - largest)
        total += w[j]
      }
      for j in 0..<k { w[j] /= total }
    }
  }

  /// The root of Φ(d) = 1/2 and the number of Φ evaluations, or nil if the iteration budget
  /// ran out. `weights` sum to 1.
  func root(gaps: [Double], weights: [Double], scratch: inout RootScratch) -> (Double, Int)? {
    var low = Double.infinity
    var high = -Double.infinity
    for j in gaps.indices where weights[j] > 0 {
      low = min(low, gaps[j])
      high = max(high, gaps[j])
    }
    switch solver {
    case .newton:
      if low == high { return (low, 0) }
      return newton(gaps, weights, low, high, scratch.start(gaps, weights))
    case .bisection(let bracket):
      let (lo, hi) = bracket.map { ($0.low, $0.high) } ?? (low, high)
      return bisection(gaps, weights, lo, hi)
    }
  }

  static func phi(_ gaps: [Double], _ weights: [Double], at d: Double) -> Double {
    var sum = 0.0
    for j in gaps.indices where weights[j] > 0 {
      sum += weights[j] * Stable.sigmoid(gaps[j] - d)
    }
    return sum
  }

  func bisection(_ gaps: [Double], _ weights: [Double], _ low: Double, _ high: Double)
    -> (Double, Int)?
  {
    var lo = low
    var hi = high
    var count = 0
    while hi - lo > tolerance {
      guard count < maxIterations else { return nil }
      let mid = (lo + hi) / 2
      count += 1
      if Self.phi(gaps, weights, at: mid) > 0.5 { lo = mid } else { hi = mid }
    }
    return ((lo + hi) / 2, count)
  }

  /// Newton on the float32 grid: every iterate is a float32 value, so the tolerance is met
  /// by the value returned, not by a double that rounding then moves. When the root lies
  /// between two adjacent floats, the one with the smaller |Φ − 1/2| is returned.
  func newton(
    _ gaps: [Double], _ weights: [Double], _ low: Double, _ high: Double, _ start: Double
  ) -> (Double, Int)? {
    func evaluate(_ d: Double) -> (f: Double, slope: Double) {
      var f = -0.5
      var slope = 0.0
      for j in gaps.indices where weights[j] > 0 {
        let s = Stable.sigmoid(gaps[j] - d)
        f += weights[j] * s
        slope -= weights[j] * s * (1 - s)
      }
      return (f, slope)
    }
    // Φ(lo) ≥ 1/2 ≥ Φ(hi), both ends float32 values, the bracket shrinking at each step.
    var lo = low
    var hi = high
    var fLow: Double? = nil
    var fHigh: Double? = nil
    var d = Double(Float(start.isFinite ? min(max(start, lo), hi) : lo + (hi - lo) / 2))
    var count = 0
    while count < maxIterations {
      count += 1
      let (f, slope) = evaluate(d)
      if Swift.abs(f) <= tolerance { return (d, count) }
      if f > 0 {
        (lo, fLow) = (d, f)
      } else {
        (hi, fHigh) = (d, f)
      }
      if Float(lo).nextUp >= Float(hi) {
        let a = fLow ?? evaluate(lo).f
        let b = fHigh ?? evaluate(hi).f
        return (Swift.abs(a) <= Swift.abs(b) ? lo : hi, count)
      }
      var next = slope < 0 ? d - f / slope : .nan
      if !(next > lo && next < hi) { next = lo + (hi - lo) / 2 }
      var x = Double(Float(next))
      // Newton has settled on d's float: the root is within an ulp, on the side f points to.
      if x == d { x = Double(f > 0 ? Float(d).nextUp : Float(d).nextDown) }
      if !(x > lo && x < hi) { x = Double(Float(lo).nextUp) }
      d = x
    }
    return nil
  }
}

/// Per-row work space for Newton's starting point, reused across rows.
struct RootScratch {
  var order: [Int]

  init(k: Int) { order = Array(0..<k) }

  /// The root in the limit where every sigmoid is saturated but the one whose gap holds the
  /// weighted median: there Φ(d) ≈ W_above + w_m σ(g_m − d), solved in closed form. Far from
  /// that limit Newton converges from here as well as from anywhere; near it this is almost
  /// exact, where plain Newton would crawl across the flat steps of Φ.
  mutating func start(_ gaps: [Double], _ weights: [Double]) -> Double {
    order.sort { gaps[$0] > gaps[$1] }
    var above = 0.0
    var position = 0
    while position < order.count {
      // Equal gaps act as one sigmoid.
      let g = gaps[order[position]]
      var w = 0.0
      while position < order.count && gaps[order[position]] == g {
        w += weights[order[position]]
        position += 1
      }
      if above + w >= 0.5, w > 0 {
        let t = (0.5 - above) / w
        if t <= 0 || t >= 1 {
          // Φ crosses 1/2 exactly between two groups: start halfway to the next gap.
          let next = position < order.count ? gaps[order[position]] : g
          return (g + next) / 2
        }
        return g - log(t / (1 - t))
      }
      above += w
    }
    return gaps[order[order.count - 1]]
  }
}

extension PromptFreeGap {
  /// Bytes `solve` holds for n rows of k prompts: the roots, and per-row work of a few k.
  public static func workBytes(rows n: Int, k: Int) -> Int? {
    Workspace.bytes([[n], [k, 4]], elementSize: 8)
  }
}
