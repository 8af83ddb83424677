import Glibc

// The CLI's .npy reader (Sources/dirrm-cli/NumpyFile.swift, compiled into this harness). It
// reads paths, so the fuzzer's bytes go through a file in /dev/shm. A first byte with the
// top bit set splits the rest into four files for NumpyFile.dataset instead.
private let directory: String = {
  let path = "/dev/shm/dirrm-fuzz-npy-\(getpid())"
  mkdir(path, 0o700)
  return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumpy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var input = FuzzBytes(data, size)
  let mode = input.u8()
  let bytes = input.rest()
  do {
    if mode & 0x80 == 0 {
      let path = directory + "/array.npy"
      try FileIO.replace(path, with: bytes)
      _ = try NumpyFile.read(path)
    } else {
      // Parts separated by the 4-byte marker "\n@@\n" (absent parts are empty files).
      var parts: [[UInt8]] = [[]]
      var i = 0
      while i < bytes.count {
        if i + 4 <= bytes.count, bytes[i] == 10, bytes[i + 1] == 64, bytes[i + 2] == 64, bytes[i + 3] == 10 {
          parts.append([])
          i += 4
        } else {
          parts[parts.count - 1].append(bytes[i])
          i += 1
        }
      }
      while parts.count < 4 { parts.append([]) }
      let names = ["prompts", "responses", "pairs", "bias"].map { directory + "/\($0).npy" }
      for (part, name) in zip(parts, names) { try FileIO.replace(name, with: part) }
      _ = try NumpyFile.dataset(
        prompts: names[0], responses: names[1], pairs: names[2], bias: mode & 0x40 != 0 ? names[3] : nil)
    }
  } catch {}
  return 0
}
