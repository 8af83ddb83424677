import Glibc

/// A 1-D or 2-D array read from a .npy file (numpy's format, versions 1–3, little-endian,
/// C order): float32 or float64 as floats, int32 or int64 as integers.
struct NumpyArray {
  var shape: [Int]
  var floats: [Float] = []
  var integers: [Int64] = []
  var isInteger: Bool

  var rows: Int { shape.first ?? 1 }
  var columns: Int { shape.count > 1 ? shape[1] : 1 }
}

struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

enum NumpyFile {
  static func readBytes(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else {
      throw CLIError("\(path): cannot open (\(String(cString: strerror(errno))))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let read = fread(&chunk, 1, chunk.count, file)
      if read > 0 { bytes += chunk[0..<read] }
      if read < chunk.count { break }
    }
    if ferror(file) != 0 { throw CLIError("\(path): read error") }
    return bytes
  }

  static func writeBytes(_ bytes: [UInt8], to path: String) throws {
    guard let file = fopen(path, "wb") else {
      throw CLIError("\(path): cannot create (\(String(cString: strerror(errno))))")
    }
    defer { fclose(file) }
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count else { throw CLIError("\(path): write error") }
  }

  static func read(_ path: String) throws -> NumpyArray {
    let bytes = try readBytes(path)
    func fail(_ why: String) -> CLIError { CLIError("\(path): not a usable .npy file: \(why)") }
    guard bytes.count >= 10, Array(bytes[0..<6]) == [0x93] + Array("NUMPY".utf8) else {
      throw fail("wrong magic bytes")
    }
    let major = bytes[6]
    guard (1...3).contains(major) else { throw fail("unsupported format version \(major)") }
    let headerLength: Int
    let start: Int
    if major == 1 {
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      start = 10
    } else {
      guard bytes.count >= 12 else { throw fail("truncated header") }
      headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
      start = 12
    }
    guard bytes.count >= start + headerLength else { throw fail("truncated header") }
    let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
    func field(_ key: String) -> Substring? {
      guard let range = header.firstRange(of: "'\(key)':") else { return nil }
      return header[range.upperBound...].drop(while: { $0 == " " })
    }
    guard let descrField = field("descr"), descrField.first == "'" else { throw fail("no dtype") }
    let descr = String(descrField.dropFirst().prefix(while: { $0 != "'" }))
    guard let fortran = field("fortran_order") else { throw fail("no fortran_order") }
    guard fortran.hasPrefix("False") else {
      throw fail("Fortran-ordered arrays are not supported; save with C order")
    }
    guard let shapeField = field("shape"), shapeField.first == "(" else { throw fail("no shape") }
    let shapeText = shapeField.dropFirst().prefix(while: { $0 != ")" })
    var shape: [Int] = []
    for part in shapeText.split(separator: ",") {
      let trimmed = part.trimmingCharacters(in: " L")
      guard !trimmed.isEmpty else { continue }
      guard let v = Int(trimmed), v >= 0 else { throw fail("bad shape (\(shapeText))") }
      shape.append(v)
    }
    guard (1...2).contains(shape.count) else {
      throw fail("expected a 1-D or 2-D array, got shape (\(shapeText))")
    }
    let (count, overflow) = shape.reduce((1, false)) { acc, v in
      let (p, o) = acc.0.multipliedReportingOverflow(by: v)
      return (p, acc.1 || o)
    }
    let sizes = ["<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|i1": 1, "|u1": 1]
    guard let itemSize = sizes[descr] else {
      throw fail("dtype \(descr) is not supported (use float32, float64, int32 or int64, little-endian)")
    }
    let data = start + headerLength
    guard !overflow, bytes.count - data == count * itemSize else {
      throw fail("data holds \(bytes.count - data) bytes, the shape needs \(count * itemSize) (truncated?)")
    }
    var array = NumpyArray(shape: shape, isInteger: descr.contains("i") || descr.contains("u"))
    func word(_ i: Int, _ size: Int) -> UInt64 {
      (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[data + i * size + $1]) << (8 * $1) }
    }
    switch descr {
    case "<f4": array.floats = (0..<count).map { Float(bitPattern: UInt32(word($0, 4))) }
    case "<f8": array.floats = (0..<count).map { Float(Double(bitPattern: word($0, 8))) }
    case "<i4": array.integers = (0..<count).map { Int64(Int32(bitPattern: UInt32(word($0, 4)))) }
    case "<i8": array.integers = (0..<count).map { Int64(bitPattern: word($0, 8)) }
    case "|i1": array.integers = (0..<count).map { Int64(Int8(bitPattern: bytes[data + $0])) }
    default: array.integers = (0..<count).map { Int64(bytes[data + $0]) }
    }
    if let i = array.floats.firstIndex(where: { !$0.isFinite }) { throw fail("element \(i) is not finite") }
    return array
  }

  /// A dataset from .npy files: prompts (P, dp), responses (R, dr), pairs (N, 3) integers,
  /// bias (N,) or (N, b) optional.
  static func dataset(prompts: String, responses: String, pairs: String, bias: String?) throws
    -> PreferenceDatasetFiles
  {
    let p = try read(prompts)
    let r = try read(responses)
    let q = try read(pairs)
    guard !p.isInteger, p.shape.count == 2, p.rows >= 1, p.columns >= 1 else {
      throw CLIError("\(prompts): expected a float array (num_prompts, prompt_dim)")
    }
    guard !r.isInteger, r.shape.count == 2, r.rows >= 1, r.columns >= 1 else {
      throw CLIError("\(responses): expected a float array (num_responses, response_dim)")
    }
    guard q.isInteger, q.shape.count == 2, q.columns == 3, q.rows >= 1 else {
      throw CLIError("\(pairs): expected an integer array (num_pairs, 3)")
    }
    var b: NumpyArray? = nil
    if let bias {
      let array = try read(bias)
      guard !array.isInteger || array.integers.count == q.rows, array.rows == q.rows else {
        throw CLIError("\(bias): expected (num_pairs,) or (num_pairs, bias_dim) values for \(q.rows) pairs")
      }
      b = array
    }
    return PreferenceDatasetFiles(prompts: p, responses: r, pairs: q, bias: b, pairsPath: pairs)
  }
}

struct PreferenceDatasetFiles {
  var prompts: NumpyArray
  var responses: NumpyArray
  var pairs: NumpyArray
  var bias: NumpyArray?
  var pairsPath: String
}

extension Substring {
  func trimmingCharacters(in characters: String) -> Substring {
    var s = self
    while let c = s.first, characters.contains(c) { s = s.dropFirst() }
    while let c = s.last, characters.contains(c) { s = s.dropLast() }
    return s
  }
}
