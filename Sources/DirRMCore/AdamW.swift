import Glibc
import SIMDKernels

/// AdamW with decoupled weight decay, step for step as torch.optim.AdamW (single-tensor
/// path, β = (0.9, 0.999), ε = 1e-8). The state is float32, and so is the arithmetic: torch's
/// x86 CPU arithmetic, its two fused multiply-adds included, in one pass over p, g, m and v
/// (SIMDKernels' `dirrm_adamw_step`), so m and v equal torch's bit for bit and p nearly always
/// (docs/mathematics.md §2.4).
public struct AdamW: Equatable {
  public var learningRate: Float
  public var weightDecay: Float
  public internal(set) var step = 0
  var firstMoment: [Float]
  var secondMoment: [Float]

  static let beta1 = 0.9
  static let beta2 = 0.999
  static let epsilon = 1e-8

  public init(count: Int, learningRate: Float, weightDecay: Float) {
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    firstMoment = [Float](repeating: 0, count: count)
    secondMoment = [Float](repeating: 0, count: count)
  }

  public mutating func reset() {
    step = 0
    for i in firstMoment.indices {
      firstMoment[i] = 0
      secondMoment[i] = 0
    }
  }

  /// One step; returns whether every element could be updated to finite values, checked
  /// inside the same pass. An element whose new value or moments would not be finite keeps
  /// its value and moments, so a caller needs neither a second sweep nor a snapshot to survive
  /// a diverged step, and the state can always be saved and loaded again.
  @discardableResult
  public mutating func update(_ parameters: inout [Float], gradient: [Float]) -> Bool {
    precondition(
      parameters.count == firstMoment.count && gradient.count == firstMoment.count
        && secondMoment.count == firstMoment.count,
      "AdamW for \(firstMoment.count) parameters updated with \(parameters.count) and \(gradient.count)")
    step = Limits.counted(step)
    // torch computes the step's scalars in Python doubles and rounds each to float32 where it
    // meets a float32 tensor.
    let lr = Double(learningRate)
    let constants = dirrm_adamw_constants(
      decay: Float(1 - lr * Double(weightDecay)), one_minus_beta1: Float(1 - Self.beta1),
      beta2: Float(Self.beta2), one_minus_beta2: Float(1 - Self.beta2),
      negative_step_size: Float(-(lr / (1 - Self.pow(Self.beta1, step)))),
      correction2: Float((1 - Self.pow(Self.beta2, step)).squareRoot()), epsilon: Float(Self.epsilon))
    let n = parameters.count
    // Each element's update depends on that element alone, so any split gives the same bits.
    let parts = (n + Self.partSize - 1) / Self.partSize
    return withUnsafePointer(to: constants) { k in
      gradient.withUnsafeBufferPointer { g in
        parameters.withUnsafeMutableBufferPointer { p in
          firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
              WorkerPool.map(parts: parts) { part in
                let start = part * Self.partSize
                // The four buffers have n > start elements (checked above), so each base exists.
                return dirrm_adamw_step(
                  p.baseAddress.unsafelyUnwrapped + start, g.baseAddress.unsafelyUnwrapped + start,
                  m.baseAddress.unsafelyUnwrapped + start, v.baseAddress.unsafelyUnwrapped + start,
                  min(Self.partSize, n - start), k) != 0
              }.allSatisfy { $0 }
            }
          }
        }
      }
    }
  }

  /// Elements per part of the pool's work. Two cores still take less time than one on this
  /// memory-bound pass (docs/decisions.md); parts this size keep a small q on the calling
  /// thread.
  static let partSize = 1 << 16

  static func pow(_ base: Double, _ exponent: Int) -> Double {
    Glibc.pow(base, Double(exponent))
  }
}
