import Glibc

/// xoshiro256**, seeded through SplitMix64: a small, fast generator whose sequence is fixed
/// by its seed on every platform and toolchain (the standard library's conversions to
/// ranges are not promised to stay the same, so ranges are drawn here too).
public struct Xoshiro256: Equatable {
  public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var mix = SplitMix64(state: seed)
    state = (mix.next(), mix.next(), mix.next(), mix.next())
  }

  /// Restores a generator from `state` (never all zero: that state is a fixed point).
  public init?(state: (UInt64, UInt64, UInt64, UInt64)) {
    guard state != (0, 0, 0, 0) else { return nil }
    self.state = state
  }

  public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.state == b.state }

  public mutating func next() -> UInt64 {
    let result = rotl(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotl(state.3, 45)
    return result
  }

  /// Uniform in 0..<bound without modulo bias (Lemire's multiply-and-reject).
  public mutating func below(_ bound: Int) -> Int {
    let range = UInt64(bound)
    var product = next().multipliedFullWidth(by: range)
    if product.low < range {
      let threshold = (0 &- range) % range
      while product.low < threshold {
        product = next().multipliedFullWidth(by: range)
      }
    }
    return Int(product.high)
  }

  /// Uniform in [0, 1) with 53 random bits.
  public mutating func unit() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  public mutating func shuffle<T>(_ items: inout [T]) {
    guard items.count > 1 else { return }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
      items.swapAt(i, below(i + 1))
    }
  }

  private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// The seeding generator; also a cheap way to derive independent streams from (seed, index).
public struct SplitMix64 {
  public var state: UInt64
  public init(state: UInt64) { self.state = state }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension Xoshiro256 {
  /// A standard normal draw (Box–Muller, one of the pair).
  public mutating func normal() -> Double {
    let u = max(unit(), 0x1p-60)
    return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * unit())
  }
}
