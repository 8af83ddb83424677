/// Every size limit of the library, in one place: the C API, the loaders and the CLI all
/// check against these. Each keeps products of sizes far inside Int (and BLAS's Int32
/// dimensions) so that no size arithmetic can overflow once a value has passed its check.
public enum Limits {
  /// The largest element count of any buffer a caller passes.
  public static let maxElements = 1 << 40
  /// The estimator's hidden, q and bias dimensions.
  public static let maxClubDimension = 1 << 20
  /// The reward model's prompt and response feature dimensions.
  public static let maxFeatureDim = 1 << 16
  public static let modelWidth = 1...4096
  public static let modelDepth = 1...16
  public static let batchSize = 1...(1 << 20)
  /// Prompts K per pair in prompt-free training.
  public static let promptsPerPair = 1...4096
  /// Counters that are only ever incremented (steps, epochs, AdamW's step, a prioritizer's
  /// tallies): a state is refused beyond this, which leaves 2^62 increments before overflow.
  public static let maxCounter = 1 << 62

  /// `value + k`, held at maxCounter: a state loaded at the limit still steps, and what it
  /// saves still loads (a counter this far out has no meaning left to lose).
  @inlinable
  public static func counted(_ value: Int, plus k: Int = 1) -> Int { min(value + k, maxCounter) }
  /// Step, iteration and reinsertion budgets (fit_steps, max_iter, max_reinsertions, epochs,
  /// club_steps): 2^31 − 1, what the saved formats store for them (ClubCoding,
  /// PrioritizerCoding), so that every setting a caller can give also saves and loads.
  public static let maxBudget = (1 << 31) - 1
  /// Rows of one call on the estimator: its products pass the row count to BLAS, whose
  /// dimensions are 32-bit.
  public static let maxRowsPerProduct = (1 << 31) - 1
  /// Estimator fits running in the background at once, process-wide (dirrm_club_fit_begin):
  /// each is a thread that may be inside OpenBLAS, whose fixed table of buffers ran out (a
  /// crash, not an error) near 300 threads at once.
  public static let maxBackgroundFits = 32
  /// Training steps in one dirrm_train call.
  public static let maxTrainingSteps = 1 << 40
  /// Threads of dirrm's worker pool (dirrm_set_num_threads).
  public static let threads = 1...1024
  /// Gaussian log-variance bound B.
  public static let maxLogvarBound: Float = 30
  /// An audit's bootstrap resamples and attribute-gap buckets.
  public static let auditResamples = 1 << 20
  public static let auditBuckets = 1 << 10
  /// The synthetic generator's settings (SyntheticPreferences.Settings.validate()).
  public static let syntheticPrompts = 2...1_000_000
  public static let syntheticResponsesPerPrompt = 2...64
  public static let syntheticPromptDim = 2...4096
  /// At least 4: two surface blocks (length, flag) and some content.
  public static let syntheticResponseDim = 4...4096
  public static let syntheticBiasRatio = 0.5...1.0
}
