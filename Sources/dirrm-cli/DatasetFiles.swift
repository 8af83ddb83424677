import DirRMCore

/// The .npy files a dataset is read from, checked for shape before the core checks the values.
struct PreferenceDatasetFiles {
  var prompts: NumpyArray
  var responses: NumpyArray
  var pairs: NumpyArray
  var bias: NumpyArray?
  var pairsPath: String
}

extension NumpyFile {
  /// A dataset from .npy files: prompts (P, dp), responses (R, dr), pairs (N, 3) integers,
  /// bias (N,) or (N, b) optional.
  static func dataset(prompts: String, responses: String, pairs: String, bias: String?) throws
    -> PreferenceDatasetFiles
  {
    let p = try features(prompts, "(num_prompts, prompt_dim)")
    let r = try features(responses, "(num_responses, response_dim)")
    let q = try read(pairs)
    guard q.isInteger, q.shape.count == 2, q.columns == 3, q.rows >= 1 else {
      throw CLIError("\(pairs): expected an integer array (num_pairs, 3), got \(q.summary)")
    }
    let b = try bias.map { path in
      let array = try read(path)
      guard array.rows == q.rows, array.columns >= 1 else {
        throw CLIError(
          "\(path): expected (num_pairs,) or (num_pairs, bias_dim) values for \(q.rows) pairs, got \(array.summary)"
        )
      }
      return array
    }
    return PreferenceDatasetFiles(prompts: p, responses: r, pairs: q, bias: b, pairsPath: pairs)
  }

  static func features(_ path: String, _ expected: String) throws -> NumpyArray {
    let array = try read(path)
    guard !array.isInteger, array.shape.count == 2, array.rows >= 1,
      (1...maxFeatureDim).contains(array.columns)
    else {
      throw CLIError(
        "\(path): expected a float array \(expected) with 1 to \(maxFeatureDim) columns, got \(array.summary)"
      )
    }
    return array
  }
}
