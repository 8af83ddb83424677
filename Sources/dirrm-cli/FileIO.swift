import DirRMCore
import Glibc

struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Whole-file reads and crash-safe whole-file writes.
enum FileIO {
  /// The most a file of unknown size (a pipe, a device) may hold; a regular file's size is
  /// known first and checked against the memory it needs instead.
  static let maxUnsizedInput = 1 << 32

  /// The whole file. `checkPrefix` sees its first bytes (up to 64 KiB) before the rest is
  /// read, so that a file of the wrong kind (e.g. /dev/zero as a .npy) fails at once. Memory
  /// is probed before it is taken: a file too large for the process's memory is an error,
  /// not an abort.
  static func read(_ path: String, checkPrefix: ([UInt8]) throws -> Void = { _ in }) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else { throw CLIError("\(path): cannot open (\(errorText()))") }
    defer { fclose(file) }
    var info = stat()
    guard fstat(fileno(file), &info) == 0 else { throw CLIError("\(path): cannot stat (\(errorText()))") }
    let kind = info.st_mode & S_IFMT
    guard kind != S_IFDIR else { throw CLIError("\(path): is a folder, not a file") }
    let sized = kind == S_IFREG
    let expected = sized ? Int(info.st_size) : nil
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var checked = false
    if let expected { try reserveInput(expected, path) }
    while true {
      let read = fread(&chunk, 1, chunk.count, file)
      if read > 0 {
        let total = bytes.count + read
        if total > (expected.map { max($0, chunk.count) } ?? maxUnsizedInput) {
          throw CLIError(
            "\(path): larger than \(expected.map { "its size, \($0) bytes" } ?? "\(maxUnsizedInput) bytes")")
        }
        if expected == nil, total > bytes.capacity { try reserveInput(max(2 * bytes.capacity, total), path) }
        bytes += chunk[0..<read]
      }
      if !checked {
        checked = true
        try checkPrefix(bytes)
      }
      if read < chunk.count { break }
    }
    if ferror(file) != 0 { throw CLIError("\(path): read error (\(errorText()))") }
    return bytes
  }

  /// Reading `count` bytes holds them about three times over (the bytes, their decoded copy,
  /// and the data built from it): probe that before taking any.
  private static func reserveInput(_ count: Int, _ path: String) throws {
    // (Not OptionChecks.reserve: the .npy fuzzer builds this file without it.)
    do {
      try Workspace.reserve(Workspace.bytes([[count, 3]], elementSize: 1), for: path)
    } catch {
      throw CLIError("\(path): not enough memory to read it (\(count) bytes, about three times over)")
    }
  }

  /// Replaces `path` with `bytes` so that a crash or kill at any moment leaves either the
  /// previous file or the complete new one: the bytes go to a temporary file in the same
  /// folder (rename is atomic only within one file system), are synced to disk, and the
  /// temporary file is renamed over the target.
  static func replace(_ path: String, with bytes: [UInt8]) throws {
    let (folder, name) = split(path)
    guard !name.isEmpty else { throw CLIError("\(path): is a folder, not a file name") }
    // Only a regular file (or nothing) is replaced: renaming over a symbolic link, a FIFO or
    // a device (as root, /dev/null) would destroy it instead of writing through it.
    var info = stat()
    if lstat(path, &info) == 0 {
      let kind = info.st_mode & S_IFMT
      guard kind == S_IFREG else {
        let what =
          kind == S_IFLNK
          ? "a symbolic link"
          : kind == S_IFDIR ? "a folder" : kind == S_IFIFO ? "a FIFO" : "not a regular file"
        throw CLIError("\(path): is \(what); --output must name a regular file or a new one")
      }
    }
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
      let temporary = "\(folder)/\(temporaryName(for: name, suffix: ".tmp-\(getpid())-\(attempt)"))"
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

  /// "." + name + suffix, with the name shortened (at a character boundary) so that the whole
  /// stays within NAME_MAX bytes: a legal 255-byte target name still gets a temporary file.
  static func temporaryName(for name: String, suffix: String) -> String {
    let room = Int(NAME_MAX) - 1 - suffix.utf8.count
    var kept = ""
    for character in name {
      guard kept.utf8.count + String(character).utf8.count <= room else { break }
      kept.append(character)
    }
    return "." + kept + suffix
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

/// Writes to standard error (file descriptor 2, not the shared FILE stream).
func writeStderr(_ text: String) {
  let bytes = Array(text.utf8)
  _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func makeDirectory(_ path: String) throws {
  if mkdir(path, 0o755) != 0 && errno != EEXIST {
    throw CLIError("\(path): cannot create the folder (\(String(cString: strerror(errno))))")
  }
}
