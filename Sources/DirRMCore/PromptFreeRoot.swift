import Glibc

/// Root finding for PromptFreeGap: Φ(d) = 1/2 on one pair's gaps, by Alg. 1's bisection or
/// by safeguarded Newton from a closed-form start (docs/mathematics.md §3).
extension PromptFreeGap {
  /// The root of Φ(d) = 1/2 and the number of Φ evaluations, or nil if the iteration budget
  /// ran out. `weights` sum to 1; `proportional` are the same up to a factor, exactly.
  func root(gaps: [Double], weights: [Double], proportional: [Double], scratch: inout RootScratch)
    -> (Double, Int)?
  {
    var low = Double.infinity
    var high = -Double.infinity
    for j in gaps.indices where weights[j] > 0 {
      low = min(low, gaps[j])
      high = max(high, gaps[j])
    }
    switch solver {
    case .newton:
      if low == high { return (low, 0) }
      let start = scratch.start(gaps, weights)
      return newton(gaps, proportional, low, high, start, exps: &scratch.exps)
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

  /// Φ(d) − ½ and Φ'(d), both times Σw (the weights need not be normalized) and times e^m,
  /// with m the distance from d to the nearest gap; free of the cancellation of Φ − ½ where Φ
  /// is a staircase. With x = g − d, σ(x) − ½ = sgn(x)(½ − σ(−|x|)), so
  ///     Φ − ½ = ½ Σ sgn(x) w − Σ sgn(x) w σ(−|x|):
  /// the weighted sign count, exactly 0 when the weights above and below d balance, and the
  /// tails, which then alone say where the root is. The factor e^m keeps the nearest tails
  /// from underflowing when every gap is hundreds of units from d, and both sums are kept as
  /// double-doubles (TwoSum), so tails far below the weights' rounding still count. Every
  /// operation is odd in x, so negating the gaps negates f bit for bit.
  ///
  /// `exps` (k elements, any values) is work space: e^−|x| of every gap, computed before the
  /// two sums so that no libm call runs inside their loops (but the rare one past e^600).
  static func excess(_ gaps: [Double], _ weights: [Double], at d: Double, exps: inout [Double])
    -> (f: Double, slope: Double, logScale: Double)
  {
    gaps.withUnsafeBufferPointer { gaps in
      weights.withUnsafeBufferPointer { weights in
        exps.withUnsafeMutableBufferPointer { exps in
          precondition(weights.count == gaps.count && exps.count >= gaps.count)
          for j in gaps.indices where weights[j] > 0 {
            exps[j] = exp(-Swift.abs(gaps[j] - d))
          }
          let (nearest, signs) = signSum(gaps, weights, at: d)
          let balanced = signs.high == 0 && signs.low == 0
          // Unbalanced, the sign count dominates far from every gap: e^600 keeps ½ S e^m finite.
          let m = balanced ? nearest : min(nearest, 600)
          // One exp per gap: σ(−|x|) e^m as σ(−|x|) times e^m while e^m is finite; past e^600
          // only a balanced row is left, and then e^(m − |x|) / (1 + e^−|x|) directly.
          let scale = m <= 600 ? exp(m) : .nan
          let (tails, slope) = tailSum(gaps, weights, UnsafeBufferPointer(exps), at: d, m: m, scale: scale)
          guard !balanced else { return (-(tails.high + tails.low), slope, m) }
          let half = 0.5 * scale
          return ((half * signs.high - tails.high) + (half * signs.low - tails.low), slope, m)
        }
      }
    }
  }

  // The two sums of `excess`, each in a function of its own with no call inside its loop
  // (tailSum's second loop, for rows hundreds of units from every gap, excepted): the
  // sums are chains of dependent additions, and a sum that lives across a libm call is kept
  // in memory by the register allocator, a store and a load added to every link.

  /// min |g_j − d| and Σ sgn(g_j − d) w_j (double-double), over w_j > 0.
  @inline(never)
  private static func signSum(
    _ gaps: UnsafeBufferPointer<Double>, _ weights: UnsafeBufferPointer<Double>, at d: Double
  ) -> (nearest: Double, signs: CompensatedSum) {
    var nearest = Double.infinity
    var signs = CompensatedSum()
    for j in gaps.indices where weights[j] > 0 {
      let x = gaps[j] - d
      nearest = min(nearest, Swift.abs(x))
      if x != 0 { signs.add(x > 0 ? weights[j] : -weights[j]) }
    }
    return (nearest, signs)
  }

  /// Σ sgn(x) w σ(−|x|) e^m (double-double) and the slope, x = g_j − d, over w_j > 0, from
  /// exps_j = e^−|x_j|.
  @inline(never)
  private static func tailSum(
    _ gaps: UnsafeBufferPointer<Double>, _ weights: UnsafeBufferPointer<Double>,
    _ exps: UnsafeBufferPointer<Double>, at d: Double, m: Double, scale: Double
  ) -> (tails: CompensatedSum, slope: Double) {
    var tails = CompensatedSum()
    var slope = 0.0
    if m <= 600 {
      for j in gaps.indices where weights[j] > 0 {
        let x = gaps[j] - d
        // x = 0 makes m = 0 and scale = e^0 = 1 = e^m.
        guard x != 0 else {
          slope -= weights[j] * scale / 4
          continue
        }
        let e = exps[j]
        let tail = e / (1 + e)
        let scaledTail = tail * scale
        tails.add((x > 0 ? weights[j] : -weights[j]) * scaledTail)
        slope -= weights[j] * scaledTail * (1 - tail)
      }
    } else {
      // No gap is at d (m > 0).
      for j in gaps.indices where weights[j] > 0 {
        let x = gaps[j] - d
        let e = exps[j]
        let tail = e / (1 + e)
        let scaledTail = exp(m - Swift.abs(x)) / (1 + e)
        tails.add((x > 0 ? weights[j] : -weights[j]) * scaledTail)
        slope -= weights[j] * scaledTail * (1 - tail)
      }
    }
    return (tails, slope)
  }

  /// log |Φ(d) − ½| up to the common log Σw, from `excess`.
  static func logMagnitude(_ e: (f: Double, slope: Double, logScale: Double)) -> Double {
    log(Swift.abs(e.f)) - e.logScale
  }

  /// Newton on the float32 grid, to the float32 root: every iterate is a float32 value and
  /// the bracket [lo, hi], Φ(lo) > ½ > Φ(hi), closes until Φ(d) = ½ exactly, a Newton
  /// correction rounds away (the root is within half an ulp of d), or lo and hi are adjacent
  /// floats, of which the one with the smaller |Φ − ½| is returned (the smaller magnitude on a
  /// tie). Each rule reads only the root's neighbourhood, not the path to it, and f is odd in
  /// the gaps, so Δr2(−g) = −Δr2(g) exactly. A step that leaves the bracket, or one not half the size of
  /// the step before last, is replaced by the midpoint in float order, which reaches
  /// adjacent floats in at most 32 halvings at any magnitude.
  func newton(
    _ gaps: [Double], _ weights: [Double], _ low: Double, _ high: Double, _ start: Double,
    exps: inout [Double]
  ) -> (Double, Int)? {
    var lo = low
    var hi = high
    // log |Φ − ½| at lo and at hi, once known.
    var fLow: Double? = nil
    var fHigh: Double? = nil
    var d = Double(Float(start.isFinite ? min(max(start, lo), hi) : lo + (hi - lo) / 2))
    var count = 0
    // The sizes of the last two steps (Numerical Recipes' rtsafe rule).
    var steps = (Double.infinity, Double.infinity)
    while count < maxIterations {
      count += 1
      let e = Self.excess(gaps, weights, at: d, exps: &exps)
      let (f, slope) = (e.f, e.slope)
      if f == 0 { return (d, count) }
      if f > 0 {
        (lo, fLow) = (d, Self.logMagnitude(e))
      } else {
        (hi, fHigh) = (d, Self.logMagnitude(e))
      }
      if Float(lo).nextUp >= Float(hi) {
        // log |Φ − ½| at an end, evaluated (and counted) only if no iterate landed there.
        func magnitude(_ known: Double?, at end: Double) -> Double? {
          if let known { return known }
          guard count < maxIterations else { return nil }
          count += 1
          return Self.logMagnitude(Self.excess(gaps, weights, at: end, exps: &exps))
        }
        guard let a = magnitude(fLow, at: lo), let b = magnitude(fHigh, at: hi) else { return nil }
        if a != b { return (a < b ? lo : hi, count) }
        return (Swift.abs(lo) <= Swift.abs(hi) ? lo : hi, count)
      }
      let newtonStep = slope < 0 ? f / slope : .nan
      var x = Swift.abs(newtonStep) * 2 <= steps.0 ? Double(Float(d - newtonStep)) : .nan
      // Newton's correction rounds away: the root is within half an ulp of d, whose float it
      // is (the mirrored problem takes the same decision, as f is odd and the slope even).
      if x == d { return (d, count) }
      if !(x > lo && x < hi) { x = Self.midpointInFloatOrder(lo, hi) }
      steps = (steps.1, Swift.abs(x - d))
      d = x
    }
    return nil
  }

  /// The float32 halfway between lo < hi in the order of float32 values (not of reals), so
  /// that bisection reaches adjacent floats in at most 32 halvings at any magnitude.
  static func midpointInFloatOrder(_ lo: Double, _ hi: Double) -> Double {
    func key(_ v: Float) -> Int64 {
      let bits = Int64(v.bitPattern & 0x7FFF_FFFF)
      return v.sign == .minus ? -bits : bits
    }
    func value(_ k: Int64) -> Float {
      let magnitude = Float(bitPattern: UInt32(Swift.abs(k)))
      return k < 0 ? -magnitude : magnitude
    }
    let (a, b) = (key(Float(lo)), key(Float(hi)))
    return Double(value(a + (b - a) / 2))
  }
}

/// A sum kept as an unevaluated pair high + low (Knuth's TwoSum), so that addends far below
/// the running total's rounding are not lost.
struct CompensatedSum {
  var high = 0.0
  var low = 0.0

  mutating func add(_ v: Double) {
    let s = high + v
    let bv = s - high
    low += (high - (s - bv)) + (v - bv)
    high = s
  }
}

/// Per-row work space for Newton's starting point, reused across rows.
struct RootScratch {
  var order: [Int]
  /// `excess`'s exponentials.
  var exps: [Double]

  init(k: Int) { (order, exps) = (Array(0..<k), Array(repeating: 0, count: k)) }

  /// The root in the limit where every sigmoid is saturated but the one whose gap holds the
  /// weighted median: there Φ(d) ≈ W_above + w_m σ(g_m − d), solved in closed form. Far from
  /// that limit Newton converges from here as well as from anywhere; near it this is almost
  /// exact, where plain Newton would crawl across the flat steps of Φ.
  mutating func start(_ gaps: [Double], _ weights: [Double]) -> Double {
    Self.sortDescending(&order, by: gaps)
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

  /// `order` (a permutation of the gaps' indices, so every read is in bounds) by descending
  /// gap, stably. Up to 32 prompts an insertion sort over raw buffers, as the standard
  /// library's sort does for short runs, without its closure and bounds checks (4% of
  /// `pf_gap` at K = 16); beyond, the library's sort. Each row starts from the previous row's
  /// order, so stability is what keeps the result, and the ties' sum, the same.
  static func sortDescending(_ order: inout [Int], by gaps: [Double]) {
    // Insertion sort is quadratic: past a few dozen prompts the library's (stable) merging
    // sort, which gives the same order.
    guard order.count <= 32 else {
      order.sort { gaps[$0] > gaps[$1] }
      return
    }
    gaps.withUnsafeBufferPointer { gaps in
      order.withUnsafeMutableBufferPointer { order in
        for i in order.indices.dropFirst() {
          let item = order[i]
          let key = gaps[item]
          var j = i
          while j > 0 && key > gaps[order[j - 1]] {
            order[j] = order[j - 1]
            j -= 1
          }
          order[j] = item
        }
      }
    }
  }
}
