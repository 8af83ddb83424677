import Glibc

struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Whole-file reads and crash-safe whole-file writes.
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

  /// Replaces `path` with `bytes` so that a crash or kill at any moment leaves either the
  /// previous file or the complete new one: the bytes go to a temporary file in the same
  /// folder (rename is atomic only within one file system), are synced to disk, and the
  /// temporary file is renamed over the target.
  static func replace(_ path: String, with bytes: [UInt8]) throws {
    let (folder, name) = split(path)
    guard !name.isEmpty else { throw CLIError("\(path): is a folder, not a file name") }
    let (file, temporary) = try createTemporary(in: folder, for: name, target: path)
    do {
      try writeAndClose(file, bytes, temporary: temporary, target: path)
      guard rename(temporary, path) == 0 else {
        throw CLIError("\(path): cannot replace it with \(temporary) (\(errorText()))")
      }
    } catch {
      unlink(temporary)
      throw error
    }
    try syncFolder(folder, target: path)
  }

  /// The folder part ("." when there is none) and the file name part of a path.
  static func split(_ path: String) -> (folder: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let folder = String(path[..<slash])
    return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
  }

  /// A new file next to the target. The pid keeps concurrent dirrm-cli processes apart, and
  /// exclusive creation ("x") never reuses a file a killed process left behind.
  static func createTemporary(in folder: String, for name: String, target: String) throws -> (
    UnsafeMutablePointer<FILE>, String
  ) {
    let mode = existingMode(target)
    for attempt in 0..<100 {
      let temporary = "\(folder)/.\(name).tmp-\(getpid())-\(attempt)"
      if let file = fopen(temporary, "wbx") {
        // The replacement keeps the permissions the user gave the previous file.
        if let mode { fchmod(fileno(file), mode) }
        return (file, temporary)
      }
      if errno != EEXIST {
        throw CLIError("\(target): cannot create the temporary file \(temporary) (\(errorText()))")
      }
    }
    throw CLIError("\(target): cannot find an unused temporary file name in \(folder)")
  }

  static func existingMode(_ path: String) -> mode_t? {
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    return info.st_mode & 0o7777
  }

  /// fclose runs exactly once whatever fails, and its result counts: it can report the
  /// write error of buffered data.
  static func writeAndClose(
    _ file: UnsafeMutablePointer<FILE>, _ bytes: [UInt8], temporary: String, target: String
  ) throws {
    var failure: String? = nil
    if fwrite(bytes, 1, bytes.count, file) != bytes.count {
      failure = "write error"
    } else if fflush(file) != 0 {
      failure = "write error"
    } else if fsync(fileno(file)) != 0 {
      failure = "cannot sync to disk"
    }
    if let failure {
      let reason = errorText()
      fclose(file)
      throw CLIError("\(target): \(failure) in \(temporary) (\(reason))")
    }
    guard fclose(file) == 0 else { throw CLIError("\(target): write error in \(temporary) (\(errorText()))") }
  }

  /// The rename is durable only once the folder's entry is on disk.
  static func syncFolder(_ folder: String, target: String) throws {
    let descriptor = open(folder, O_RDONLY | O_DIRECTORY)
    guard descriptor >= 0 else {
      throw CLIError("\(target): cannot open its folder to sync (\(errorText()))")
    }
    defer { close(descriptor) }
    // Some file systems cannot sync folders (EINVAL); the file itself is already synced.
    guard fsync(descriptor) == 0 || errno == EINVAL else {
      throw CLIError("\(target): cannot sync its folder to disk (\(errorText()))")
    }
  }

  static func errorText() -> String { String(cString: strerror(errno)) }
}
