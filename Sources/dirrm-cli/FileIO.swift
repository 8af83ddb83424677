import Glibc

struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Whole-file reads.
enum FileIO {
  static func read(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else { throw CLIError("\(path): cannot open (\(errorText()))") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let read = fread(&chunk, 1, chunk.count, file)
      if read > 0 { bytes += chunk[0..<read] }
      if read < chunk.count { break }
    }
    if ferror(file) != 0 { throw CLIError("\(path): read error (\(errorText()))") }
    return bytes
  }

  static func errorText() -> String { String(cString: strerror(errno)) }
}
