/// The serialized form of dirrm's stateful objects:
///
///     magic (8 bytes) | format version (u32) | payload length (u64) | payload | FNV-1a-64 (u64)
///
/// little-endian throughout. The checksum covers everything before it; FNV-1a applies a
/// bijection per byte, so any single changed byte always changes it.
public struct ByteWriter {
  public private(set) var bytes: [UInt8] = []

  public init() {}

  public mutating func u8(_ v: UInt8) { bytes.append(v) }
  public mutating func u32(_ v: UInt32) {
    for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
  }
  public mutating func u64(_ v: UInt64) {
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
  }
  public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
  public mutating func f32(_ v: Float) { u32(v.bitPattern) }
  public mutating func f64(_ v: Double) { u64(v.bitPattern) }
  public mutating func i64s(_ v: [Int]) {
    u64(UInt64(v.count))
    for x in v { i64(Int64(x)) }
  }

  /// Bytes serializing a state of `stateBytes` holds at most: the payload as it grows (up to
  /// twice its size, appended byte by byte) and its framed copy, with room for the headers.
  public static func savingBound(_ stateBytes: Int?) -> Int? {
    stateBytes.flatMap { Workspace.bytes([[3, $0], [4096]], elementSize: 1) }
  }

  /// Wraps a payload in the framed, checksummed form.
  public static func frame(magic: [UInt8], version: UInt32, payload: [UInt8]) -> [UInt8] {
    var out = ByteWriter()
    out.bytes = magic
    out.u32(version)
    out.u64(UInt64(payload.count))
    out.bytes += payload
    out.u64(fnv1a(out.bytes[...]))
    return out.bytes
  }
}

public enum FormatError: Error, Equatable {
  /// Truncated, damaged, or not this kind of object.
  case corrupt(String)
  /// A well-formed buffer written by an incompatible format version.
  case version(String)
}

public struct ByteReader {
  let bytes: ArraySlice<UInt8>
  var position: Int

  /// The format version the frame names.
  public private(set) var version: UInt32 = 0

  /// Checks the frame and returns a reader over the payload.
  public init(framed: [UInt8], magic: [UInt8], version: UInt32) throws(FormatError) {
    try self.init(framed: framed, magic: magic, versions: version...version)
  }

  /// The same for an object whose reader understands several format versions.
  public init(framed: [UInt8], magic: [UInt8], versions: ClosedRange<UInt32>) throws(FormatError) {
    let head = magic.count + 12
    guard framed.count >= head + 8 else { throw .corrupt("buffer of \(framed.count) bytes is too short") }
    guard Array(framed[0..<magic.count]) == magic else { throw .corrupt("wrong magic bytes") }
    var header = ByteReader(bytes: framed[magic.count..<head])
    let found = try header.u32()
    let length = try header.u64()
    guard length == UInt64(framed.count - head - 8) else {
      throw .corrupt("payload length \(length) does not match the buffer of \(framed.count) bytes")
    }
    var tail = ByteReader(bytes: framed[(framed.count - 8)...])
    guard try tail.u64() == fnv1a(framed[0..<(framed.count - 8)]) else {
      throw .corrupt("checksum mismatch")
    }
    guard versions.contains(found) else {
      let known =
        versions.count == 1
        ? "version \(versions.upperBound)" : "versions \(versions.lowerBound) to \(versions.upperBound)"
      throw .version("format version \(found); this library reads \(known)")
    }
    self.init(bytes: framed[head..<(framed.count - 8)])
    self.version = found
  }

  init(bytes: ArraySlice<UInt8>) {
    self.bytes = bytes
    self.position = bytes.startIndex
  }

  public var isAtEnd: Bool { position == bytes.endIndex }

  mutating func take(_ count: Int) throws(FormatError) -> ArraySlice<UInt8> {
    guard bytes.endIndex - position >= count else { throw .corrupt("payload ends early") }
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  public mutating func u8() throws(FormatError) -> UInt8 { try take(1).first ?? 0 }
  public mutating func u32() throws(FormatError) -> UInt32 {
    try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
  }
  public mutating func u64() throws(FormatError) -> UInt64 {
    try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
  }
  public mutating func i64() throws(FormatError) -> Int64 { Int64(bitPattern: try u64()) }
  public mutating func f32() throws(FormatError) -> Float { Float(bitPattern: try u32()) }
  public mutating func f64() throws(FormatError) -> Double { Double(bitPattern: try u64()) }

  /// An array of integers each in 0..<bound (a count bounded by the bytes left).
  public mutating func indices(below bound: Int) throws(FormatError) -> [Int] {
    let count = try u64()
    guard count <= UInt64(bytes.endIndex - position) / 8 else {
      throw .corrupt("array length \(count) exceeds the buffer")
    }
    var out: [Int] = []
    out.reserveCapacity(Int(count))
    for _ in 0..<count {
      let v = try i64()
      guard v >= 0, v < bound else { throw .corrupt("index \(v) outside 0..<\(bound)") }
      out.append(Int(v))
    }
    return out
  }
}

func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for b in bytes {
    hash ^= UInt64(b)
    hash &*= 0x0000_0100_0000_01B3
  }
  return hash
}
