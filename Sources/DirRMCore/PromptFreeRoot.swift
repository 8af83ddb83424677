import Glibc

/// Root finding for PromptFreeGap: Φ(d) = 1/2 on one pair's gaps, by Alg. 1's bisection or
/// by safeguarded Newton from a closed-form start (docs/mathematics.md §3).
extension PromptFreeGap {
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
