import Glibc
import SIMDKernels

/// Root finding for PromptFreeGap: Φ(d) = 1/2 on one pair's gaps, by Alg. 1's bisection or
/// by safeguarded Newton from a closed-form start (docs/mathematics.md §3; Newton's
/// iteration itself in PromptFreeNewton.swift).
extension PromptFreeGap {
  /// [min, max] of the gaps with positive weight.
  static func dataBracket(_ gaps: [Double], _ weights: [Double]) -> (low: Double, high: Double) {
    var low = Double.infinity
    var high = -Double.infinity
    for j in gaps.indices {
      // Without a branch on the weight, which a row's zeros would make unpredictable.
      let weighted = weights[j] > 0
      low = min(low, weighted ? gaps[j] : .infinity)
      high = max(high, weighted ? gaps[j] : -.infinity)
    }
    return (low, high)
  }

  /// Alg. 1's root and its number of Φ evaluations, or nil if the iteration budget ran out:
  /// bisection on the solver's bracket, else the data bracket. `weights` sum to 1.
  func bisectionRoot(gaps: [Double], weights: [Double], bracket: (low: Double, high: Double)?) -> (
    Double, Int
  )? {
    let (lo, hi) = bracket ?? Self.dataBracket(gaps, weights)
    return bisection(gaps, weights, lo, hi)
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
  typealias Excess = (f: Double, slope: Double, logScale: Double)

  /// `work` holds e^−|x| and σ(−|x|) of every gap, computed (by a vector kernel) before the
  /// sums so that no libm call runs inside their loops (but the rare one past e^600).
  static func excess(_ gaps: [Double], _ weights: [Double], at d: Double, work: inout ExcessWork) -> Excess {
    gaps.withUnsafeBufferPointer { gaps in
      weights.withUnsafeBufferPointer { weights in
        work.exps.withUnsafeMutableBufferPointer { exps in
          work.tails.withUnsafeMutableBufferPointer { tails in
            precondition(weights.count == gaps.count && exps.count == gaps.count && tails.count == gaps.count)
            let nearest = dirrm_neg_distance_sigmoid(
              gaps.baseAddress, weights.baseAddress, d, exps.baseAddress, tails.baseAddress, gaps.count)
            // Unbalanced, the sign count dominates far from every gap: m = min(nearest, 600), as
            // e^600 keeps ½ S e^m finite; balanced, m = nearest. Within 600 both are `nearest`,
            // so the signs need not be known first and both sums share one pass.
            if nearest <= 600 {
              let scale = exp(nearest)
              let (signs, tailSum, slope) = sums(
                gaps, weights, UnsafeBufferPointer(tails), at: d, scale: scale)
              return combined(signs, tailSum, slope, scale: scale, m: nearest)
            }
            let signs = signSum(gaps, weights, at: d)
            let balanced = signs.high == 0 && signs.low == 0
            let m = balanced ? nearest : 600
            // σ(−|x|) e^m as σ(−|x|) times e^m while e^m is finite; past e^600 only a balanced
            // row is left, and then e^(m − |x|) / (1 + e^−|x|) directly.
            let scale = m <= 600 ? exp(m) : .nan
            let (tailSum, slope) = farTailSum(
              gaps, weights, UnsafeBufferPointer(exps), UnsafeBufferPointer(tails), at: d, m: m, scale: scale)
            return combined(signs, tailSum, slope, scale: scale, m: m)
          }
        }
      }
    }
  }

  /// f from the sums: ½ S e^m − T, or −T when the signs balance (S = 0), where e^m may be NaN.
  static func combined(
    _ signs: CompensatedSum, _ tails: CompensatedSum, _ slope: Double, scale: Double, m: Double
  ) -> Excess {
    guard signs.high != 0 || signs.low != 0 else { return (-(tails.high + tails.low), slope, m) }
    let half = 0.5 * scale
    return ((half * signs.high - tails.high) + (half * signs.low - tails.low), slope, m)
  }

  // The sums of `excess`, each in a function of its own with no call inside its loop
  // (farTailSum's second loop excepted): the sums are chains of dependent additions, and a
  // sum that lives across a libm call is kept in memory by the register allocator, a store
  // and a load added to every link. Newton runs the common case (`sums`) four rows at a time
  // in SIMDKernels' pf_excess4, which performs these operations lane by lane; this scalar
  // code serves rows more than 600 from every gap, parts of fewer than four rows, and the
  // tests as pf_excess4's reference.

  /// Σ sgn(x) w (double-double), Σ sgn(x) w σ(−|x|) e^m (double-double) and the slope,
  /// x = g_j − d, over w_j > 0, from tails_j = σ(−|x_j|) and scale = e^m ≤ e^600.
  @inline(never)
  private static func sums(
    _ gaps: UnsafeBufferPointer<Double>, _ weights: UnsafeBufferPointer<Double>,
    _ tails: UnsafeBufferPointer<Double>, at d: Double, scale: Double
  ) -> (signs: CompensatedSum, tails: CompensatedSum, slope: Double) {
    var signs = CompensatedSum()
    var tailSum = CompensatedSum()
    var slope = 0.0
    for j in gaps.indices where weights[j] > 0 {
      let x = gaps[j] - d
      // x = 0 makes m = 0 and scale = e^0 = 1 = e^m.
      guard x != 0 else {
        slope -= weights[j] * scale / 4
        continue
      }
      let signed = x > 0 ? weights[j] : -weights[j]
      signs.add(signed)
      let tail = tails[j]
      let scaledTail = tail * scale
      tailSum.add(signed * scaledTail)
      slope -= weights[j] * scaledTail * (1 - tail)
    }
    return (signs, tailSum, slope)
  }

  /// Σ sgn(g_j − d) w_j (double-double), over w_j > 0.
  @inline(never)
  private static func signSum(
    _ gaps: UnsafeBufferPointer<Double>, _ weights: UnsafeBufferPointer<Double>, at d: Double
  ) -> CompensatedSum {
    var signs = CompensatedSum()
    for j in gaps.indices where weights[j] > 0 {
      let x = gaps[j] - d
      if x != 0 { signs.add(x > 0 ? weights[j] : -weights[j]) }
    }
    return signs
  }

  /// `sums`' tail sum and slope for a row more than 600 units from d (no gap is at d): with
  /// scale = e^600 if the signs do not balance, else NaN and e^(m − |x|) per gap.
  @inline(never)
  private static func farTailSum(
    _ gaps: UnsafeBufferPointer<Double>, _ weights: UnsafeBufferPointer<Double>,
    _ exps: UnsafeBufferPointer<Double>, _ tails: UnsafeBufferPointer<Double>, at d: Double, m: Double,
    scale: Double
  ) -> (tails: CompensatedSum, slope: Double) {
    var tailSum = CompensatedSum()
    var slope = 0.0
    for j in gaps.indices where weights[j] > 0 {
      let x = gaps[j] - d
      let tail = tails[j]
      let scaledTail = m <= 600 ? tail * scale : exp(m - Swift.abs(x)) / (1 + exps[j])
      tailSum.add((x > 0 ? weights[j] : -weights[j]) * scaledTail)
      slope -= weights[j] * scaledTail * (1 - tail)
    }
    return (tailSum, slope)
  }

  /// log |Φ(d) − ½| up to the common log Σw, from `excess`.
  static func logMagnitude(_ e: Excess) -> Double {
    log(Swift.abs(e.f)) - e.logScale
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

/// `excess`'s work space for rows of k prompts: e^−|x| and σ(−|x|) of each gap.
struct ExcessWork {
  var exps: [Double]
  var tails: [Double]

  init(k: Int) { (exps, tails) = (Array(repeating: 0, count: k), Array(repeating: 0, count: k)) }
}

/// Per-row work space for the root, reused across rows.
struct RootScratch {
  var order: [Int]
  /// `sortDescending`'s work space for rows of up to 32 gaps (empty beyond): the gaps in
  /// `order`'s order, and the new order.
  var keys: [Double]
  var ranked: [Int]
  var work: ExcessWork

  init(k: Int) {
    order = Array(0..<k)
    (keys, ranked) = k <= 32 ? (Array(repeating: 0, count: k), order) : ([], [])
    work = ExcessWork(k: k)
  }

  /// The root in the limit where every sigmoid is saturated but the one whose gap holds the
  /// weighted median: there Φ(d) ≈ W_above + w_m σ(g_m − d), solved in closed form. Far from
  /// that limit Newton converges from here as well as from anywhere; near it this is almost
  /// exact, where plain Newton would crawl across the flat steps of Φ.
  mutating func start(_ gaps: [Double], _ weights: [Double]) -> Double {
    sortDescending(by: gaps)
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
  /// gap, stably. Each row starts from the previous row's order, so stability is what keeps
  /// the result, and the ties' sum, the same. Up to 32 prompts by rank, without a branch
  /// on the data: the element at position p goes to the count of larger gaps plus equal ones
  /// before p, which is the stable order; the counting loops vectorize, where an insertion
  /// sort's moves mispredicted on random rows (a fifth of `pf_gap` at K = 16). Beyond 32,
  /// where the k² comparisons cost more, the library's (stable) merging sort.
  mutating func sortDescending(by gaps: [Double]) {
    guard order.count <= 32 else {
      order.sort { gaps[$0] > gaps[$1] }
      return
    }
    gaps.withUnsafeBufferPointer { gaps in
      order.withUnsafeMutableBufferPointer { order in
        keys.withUnsafeMutableBufferPointer { keys in
          ranked.withUnsafeMutableBufferPointer { ranked in
            precondition(
              gaps.count == order.count && keys.count == order.count && ranked.count == order.count)
            // Int is 64 bits on every platform dirrm builds for (Package.swift).
            order.withMemoryRebound(to: Int64.self) { order in
              ranked.withMemoryRebound(to: Int64.self) { ranked in
                dirrm_rank_descending(
                  gaps.baseAddress, order.baseAddress, keys.baseAddress, ranked.baseAddress, order.count)
              }
            }
          }
        }
      }
    }
  }
}
