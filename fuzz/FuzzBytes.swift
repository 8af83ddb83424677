/// The fuzzer's bytes as a stream of choices. Reading past the end yields zeros, so every
/// input, however short, is a complete program: the fuzzer never wastes runs on "too short".
struct FuzzBytes {
  let bytes: UnsafeBufferPointer<UInt8>
  var position = 0

  init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
    bytes = UnsafeBufferPointer(start: size > 0 ? data : nil, count: size > 0 ? size : 0)
  }

  var isAtEnd: Bool { position >= bytes.count }

  mutating func u8() -> UInt8 {
    guard position < bytes.count else { return 0 }
    defer { position += 1 }
    return bytes[position]
  }
  mutating func u32() -> UInt32 { (0..<4).reduce(0) { acc, i in acc | UInt32(u8()) << (8 * i) } }
  mutating func u64() -> UInt64 { (0..<8).reduce(0) { acc, i in acc | UInt64(u8()) << (8 * i) } }
  mutating func bool() -> Bool { u8() & 1 == 1 }

  /// The bytes not yet consumed.
  mutating func rest() -> [UInt8] {
    defer { position = bytes.count }
    return position < bytes.count ? Array(bytes[position...]) : []
  }

  /// A small value in 0...limit most of the time; the fuzzer steers it byte by byte.
  mutating func small(_ limit: Int) -> Int { Int(u8()) % (limit + 1) }

  /// A float that is usually ordinary, sometimes extreme: the values validation must catch.
  mutating func float() -> Float {
    let code = u8()
    switch code {
    case 0..<200: return Float(Int(code) - 100) / 16
    case 200: return .nan
    case 201: return .infinity
    case 202: return -.infinity
    case 203: return .greatestFiniteMagnitude
    case 204: return -.greatestFiniteMagnitude
    case 205: return .leastNonzeroMagnitude
    case 206: return 1e30
    case 207: return -1e30
    case 208: return -0.0
    default: return Float(bitPattern: u32())
    }
  }

  mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float() } }

  /// An Int32 for an enum or parameter field: usually in a small window around the valid
  /// range, sometimes anything.
  mutating func int32(around low: Int32, _ high: Int32) -> Int32 {
    let code = u8()
    switch code {
    case 0..<240: return low - 2 + Int32(code) % (high - low + 5)
    case 240: return .min
    case 241: return .max
    case 242: return -1
    default: return Int32(bitPattern: u32())
    }
  }

  /// An element count that is either real (0...limit, backed by a buffer of that size) or
  /// absurd: a value no caller can back with memory, which the library must reject before
  /// reading anything. `absurd` tells the caller to allocate nothing meaningful.
  mutating func count(_ limit: Int) -> (value: Int64, absurd: Bool) {
    let code = u8()
    switch code {
    case 0..<240: return (Int64(Int(code) % (limit + 1)), false)
    case 240: return (-1, true)
    case 241: return (.min, true)
    case 242: return (.max, true)
    case 243: return (1 << 45, true)
    case 244: return (1 << 62, true)
    case 245: return (Int64(Int32.max) * 1_000_003, true)
    default: return (-Int64(u32()), true)
    }
  }
}

/// The serialized-state frame of Sources/DirRMCore/ByteCoding.swift, re-implemented here so
/// that a harness can wrap fuzzer bytes with a valid length and checksum.
enum Frame {
  static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
      hash ^= UInt64(b)
      hash &*= 0x0000_0100_0000_01B3
    }
    return hash
  }

  static func wrap(magic: String, version: UInt32, payload: [UInt8]) -> [UInt8] {
    var out = Array(magic.utf8) + [0]
    func le(_ v: UInt64, _ n: Int) { for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    le(UInt64(version), 4)
    le(UInt64(payload.count), 8)
    out += payload
    le(fnv1a(out), 8)
    return out
  }

  /// How a load harness turns fuzzer bytes into a buffer. The first byte chooses: mostly a
  /// valid frame of the format's current `version` around the rest (so the payload parser is
  /// what gets explored), sometimes one of the previous version (the reader of older states),
  /// the rest unframed (the frame checks themselves), or a frame with any version.
  static func loadInput(_ input: inout FuzzBytes, magic: String, version: UInt32) -> [UInt8] {
    let mode = input.u8()
    switch mode & 0x0F {
    case 0x0F: return input.rest()
    case 0x0E:
      let version = input.u32()
      return wrap(magic: magic, version: version, payload: input.rest())
    case 0x0D: return wrap(magic: magic, version: max(version, 2) - 1, payload: input.rest())
    default: return wrap(magic: magic, version: version, payload: input.rest())
    }
  }
}

/// A broken promise of the library found by a harness check (not a crash of its own):
/// traps so that libFuzzer records the input.
func violated(_ what: String) -> Never {
  fatalError("dirrm fuzz check failed: \(what)")
}
