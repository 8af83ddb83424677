import DirRMCore
import Glibc

/// The element types the reader accepts. numpy writes '<' for little-endian and '|' for
/// one-byte types.
enum NumpyDType: String {
  case float32 = "<f4"
  case float64 = "<f8"
  case int8 = "|i1"
  case uint8 = "|u1"
  case int16 = "<i2"
  case uint16 = "<u2"
  case int32 = "<i4"
  case uint32 = "<u4"
  case int64 = "<i8"
  case uint64 = "<u8"

  var size: Int {
    switch self {
    case .int8, .uint8: 1
    case .int16, .uint16: 2
    case .float32, .int32, .uint32: 4
    case .float64, .int64, .uint64: 8
    }
  }

  var isInteger: Bool { self != .float32 && self != .float64 }
}

/// A 1-D or 2-D array read from a .npy file (numpy's format, versions 1–3, little-endian,
/// C order): floats as finite Floats, integers as Int64.
struct NumpyArray {
  var dtype: NumpyDType
  var shape: [Int]
  var floats: [Float] = []
  var integers: [Int64] = []

  var isInteger: Bool { dtype.isInteger }
  var rows: Int { shape.first ?? 1 }
  var columns: Int { shape.count > 1 ? shape[1] : 1 }
  var summary: String { "a \(dtype) array of shape \(shapeText(shape))" }
}

func shapeText(_ shape: [Int]) -> String {
  "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
}

/// Why a file is not a usable .npy file; `NumpyFile.read` adds the path.
private struct Malformed: Error {
  var reason: String
  init(_ reason: String) { self.reason = reason }
}

enum NumpyFile {
  /// The library's limit on feature dimensions, so that a model the CLI trains can be loaded
  /// through the C API.
  static let maxFeatureDim = Limits.maxFeatureDim

  struct Header {
    var dtype: NumpyDType
    var shape: [Int]
    var dataOffset: Int
  }

  /// Every size below comes from the file, so each is computed with overflow checks and
  /// compared with the bytes actually present before anything is allocated for it.
  static func read(_ path: String) throws -> NumpyArray {
    let bytes = try FileIO.read(path) { prefix in
      guard prefix.count >= 6, Array(prefix[0..<6]) == [0x93] + Array("NUMPY".utf8) else {
        throw CLIError("\(path): not a usable .npy file: wrong magic bytes")
      }
    }
    do {
      let header = try parseHeader(bytes)
      let count = try elementCount(header, available: bytes.count - header.dataOffset)
      // Decoded, an integer is 8 bytes whatever its width in the file (up to 8 times the
      // file's 1-byte ones), a float 4; and the data built from the values holds them again.
      let decoded = Workspace.bytes([[count, header.dtype.isInteger ? 8 : 4, 2]], elementSize: 1)
      // (Its own probe, not OptionChecks.reserve: the .npy fuzzer builds this file alone.)
      guard (try? Workspace.reserve(decoded, for: path)) != nil else {
        throw CLIError("\(path): not enough memory for its \(count) values, decoded")
      }
      return try decode(bytes, header, count: count)
    } catch let error as Malformed {
      throw CLIError("\(path): not a usable .npy file: \(error.reason)")
    }
  }

  fileprivate static func parseHeader(_ bytes: [UInt8]) throws -> Header {
    guard bytes.count >= 10, Array(bytes[0..<6]) == [0x93] + Array("NUMPY".utf8) else {
      throw Malformed("wrong magic bytes")
    }
    let major = bytes[6]
    guard (1...3).contains(major) else { throw Malformed("unsupported format version \(major)") }
    // Version 1 stores the header length in 2 bytes, later versions in 4; either way it is
    // far below Int.max, so the sums below cannot overflow.
    let lengthBytes = major == 1 ? 2 : 4
    let start = 8 + lengthBytes
    guard bytes.count >= start else { throw Malformed("truncated header") }
    let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
    guard bytes.count - start >= headerLength else {
      throw Malformed(
        "the header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
    }
    let text = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
    return Header(dtype: try dtype(text), shape: try shape(text), dataOffset: start + headerLength)
  }

  /// The text after `'key':` in the header dictionary.
  static func field(_ key: String, in header: String) -> Substring? {
    guard let range = header.firstRange(of: "'\(key)':") else { return nil }
    return header[range.upperBound...].drop(while: { $0 == " " })
  }

  fileprivate static func dtype(_ header: String) throws -> NumpyDType {
    guard let descrField = field("descr", in: header), descrField.first == "'" else {
      throw Malformed("no dtype")
    }
    let descr = String(descrField.dropFirst().prefix(while: { $0 != "'" }))
    guard let dtype = NumpyDType(rawValue: descr) else {
      throw Malformed("dtype \(descr) is not supported (use little-endian float32, float64 or integers)")
    }
    guard let fortran = field("fortran_order", in: header) else { throw Malformed("no fortran_order") }
    guard fortran.hasPrefix("False") else {
      throw Malformed("Fortran-ordered arrays are not supported; save with C order")
    }
    return dtype
  }

  fileprivate static func shape(_ header: String) throws -> [Int] {
    guard let shapeField = field("shape", in: header), shapeField.first == "(" else {
      throw Malformed("no shape")
    }
    let text = shapeField.dropFirst().prefix(while: { $0 != ")" })
    var shape: [Int] = []
    for part in text.split(separator: ",") {
      let trimmed = part.trimmingCharacters(in: " L")
      guard !trimmed.isEmpty else { continue }
      // Int(_:) is nil past Int.max, so a huge dimension is refused here, not wrapped.
      guard let dim = Int(trimmed), dim >= 0 else { throw Malformed("bad shape (\(text))") }
      shape.append(dim)
    }
    guard (1...2).contains(shape.count) else {
      throw Malformed("expected a 1-D or 2-D array, got shape (\(text))")
    }
    return shape
  }

  /// The number of elements, once the shape's byte size is known to equal the data present.
  fileprivate static func elementCount(_ header: Header, available: Int) throws -> Int {
    let tooLarge = Malformed(
      "shape \(shapeText(header.shape)) of \(header.dtype) needs more bytes than any file can hold")
    var count = 1
    for dim in header.shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dim)
      guard !overflow else { throw tooLarge }
      count = product
    }
    let (size, overflow) = count.multipliedReportingOverflow(by: header.dtype.size)
    guard !overflow else { throw tooLarge }
    guard size == available else {
      // A short file is the common case (an interrupted copy or save); say so.
      let hint = size > available ? " (truncated?)" : ""
      throw Malformed(
        "shape \(shapeText(header.shape)) of \(header.dtype) needs \(size) bytes of data, the file holds \(available)\(hint)"
      )
    }
    return count
  }

  fileprivate static func decode(_ bytes: [UInt8], _ header: Header, count: Int) throws -> NumpyArray {
    var array = NumpyArray(dtype: header.dtype, shape: header.shape)
    try bytes.withUnsafeBytes { raw in
      let data = UnsafeRawBufferPointer(rebasing: raw[header.dataOffset...])
      if header.dtype.isInteger {
        array.integers = try integers(data, header, count: count)
      } else {
        array.floats = try floats(data, header, count: count)
      }
    }
    return array
  }

  static func load<T: FixedWidthInteger>(_ data: UnsafeRawBufferPointer, _ i: Int, as: T.Type) -> T {
    T(littleEndian: data.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
  }

  /// Non-finite features would poison training silently (the C API refuses them too), and
  /// float64 values past Float's range would become infinities on conversion.
  fileprivate static func floats(_ data: UnsafeRawBufferPointer, _ header: Header, count: Int) throws
    -> [Float]
  {
    var out = [Float](repeating: 0, count: count)
    for i in 0..<count {
      let value =
        header.dtype == .float32
        ? Double(Float(bitPattern: load(data, i, as: UInt32.self)))
        : Double(bitPattern: load(data, i, as: UInt64.self))
      guard value.isFinite else {
        throw Malformed("element \(position(i, header.shape)) is \(value); the values must be finite")
      }
      out[i] = Float(value)
      guard out[i].isFinite else {
        throw Malformed("element \(position(i, header.shape)) = \(value) is outside the float32 range")
      }
    }
    return out
  }

  fileprivate static func integers(_ data: UnsafeRawBufferPointer, _ header: Header, count: Int) throws
    -> [Int64]
  {
    var out = [Int64](repeating: 0, count: count)
    for i in 0..<count {
      switch header.dtype {
      case .int8: out[i] = Int64(load(data, i, as: Int8.self))
      case .uint8: out[i] = Int64(load(data, i, as: UInt8.self))
      case .int16: out[i] = Int64(load(data, i, as: Int16.self))
      case .uint16: out[i] = Int64(load(data, i, as: UInt16.self))
      case .int32: out[i] = Int64(load(data, i, as: Int32.self))
      case .uint32: out[i] = Int64(load(data, i, as: UInt32.self))
      case .int64: out[i] = load(data, i, as: Int64.self)
      case .uint64:
        let value = load(data, i, as: UInt64.self)
        guard let exact = Int64(exactly: value) else {
          throw Malformed("element \(position(i, header.shape)) = \(value) is past the largest Int64")
        }
        out[i] = exact
      case .float32, .float64: break  // decoded by floats(_:_:count:)
      }
    }
    return out
  }

  /// "[i]" or "[row, column]", as numpy would index the element.
  static func position(_ i: Int, _ shape: [Int]) -> String {
    guard shape.count == 2, shape[1] > 0 else { return "[\(i)]" }
    return "[\(i / shape[1]), \(i % shape[1])]"
  }
}

extension Substring {
  func trimmingCharacters(in characters: String) -> Substring {
    var s = self
    while let c = s.first, characters.contains(c) { s = s.dropFirst() }
    while let c = s.last, characters.contains(c) { s = s.dropLast() }
    return s
  }
}
