/// Every default of the library, each stated once. The C API's `_params_init` functions are
/// these values converted to their structs; the CLI's options start from them; the Python
/// binding reaches them through the `_params_init` functions (a keyword left None is the
/// library's default). include/dirrm.h documents each value beside its field, and
/// bindings/python/tests/test_defaults.py checks that the header and `_params_init` agree.
/// The limits are in Limits.swift, the rules in ConfigValidation.swift.
///
/// A field the caller must set (an estimator's hidden dimension, a model's feature
/// dimensions) is 0 here, as in the structs: validate() refuses it until it is set.

extension ClubEstimator.Config {
  /// DIR's official code: a categorical q over 2 classes of X = h_chosen − h_rejected, one
  /// hidden layer of 1024, five AdamW steps per fit at 1e-4 with weight decay 0.01; a Gaussian
  /// q's log-variance bounded by 5.
  public static var defaults: Self {
    Self(
      kind: .categorical(classes: 2), hiddenDim: 0, pairMode: .difference, qHidden: 1024, fitSteps: 5,
      learningRate: 1e-4, weightDecay: 0.01, logvarBound: 5, seed: 0)
  }
}

extension PromptFreeGap {
  /// Half the weight on the pair's own prompt; Newton to |Φ − 1/2| ≤ 1e-6 in at most 100
  /// evaluations.
  public static var defaults: Self {
    Self(weighting: .corresponding(p: 0.5), solver: .newton, tolerance: 1e-6, maxIterations: 100)
  }
}

extension Prioritizer.Settings {
  /// k-means boundaries followed with α = 0.9 from λ₀ = 0; a rejected pair returns once per
  /// epoch, at a random place in the pool; a new order every epoch.
  public static var defaults: Self {
    Self(
      placement: .kmeans, emaWeight: 0.9, initialThreshold: 0, lazyReinsertion: false, maxReinsertions: 1,
      shuffle: true, seed: 0)
  }
}

extension SyntheticPreferences.Settings {
  /// Length-biased data: 2000 prompts with 4 responses each, 80% of the training pairs
  /// chosen-longer, 64 prompt and 64 response features.
  public static var defaults: Self {
    Self(
      kind: .length, biasRatio: 0.8, promptCount: 2000, responsesPerPrompt: 4, promptDim: 64, responseDim: 64,
      seed: 0)
  }
}

extension RewardModel.Shape {
  /// Hidden width 128, two backbone layers; the feature dimensions are the caller's (0: unset).
  public static var defaults: Self { Self(promptDim: 0, responseDim: 0, width: 128, depth: 2) }
}

extension RewardModel {
  /// The seed of a new model's initialization.
  public static var defaultSeed: UInt64 { 0 }
}

extension DIRLoss.Settings {
  /// DIR's policy wherever it runs, chosen by the README's sweep where the papers give no
  /// value: λ = 1 (DIR's published script; its code's 0.1 barely acts), the bound clipped at
  /// zero and its gradient capped at the preference loss's (docs/decisions.md §1), and a
  /// Gaussian q of width 64 on one standardized bias attribute (e.g. the length gap),
  /// otherwise the estimator's defaults: five AdamW steps at 1e-4 per batch. The hidden
  /// dimension is the caller's (0: unset).
  public static var defaults: Self {
    var club = ClubEstimator.Config.defaults
    club.kind = .gaussian(dimensions: 1)
    club.qHidden = 64
    return Self(lambda: 1, clip: true, cap: true, club: club)
  }
}

extension BiasAudit.Settings {
  /// 1,000 resamples for a 95% interval, quintiles of the attribute gap, and q (DIR's Gaussian
  /// of width 64) fitted for 500 steps of 256 pairs at 1e-3: an audit fits q once, to
  /// convergence, where training refits it a few steps per batch.
  public static var defaults: Self {
    Self(
      bootstrap: 1000, level: 0.95, buckets: 5, clubSteps: 500, clubBatch: 256, qHidden: 64,
      clubLearningRate: 1e-3, seed: 0)
  }
}

extension Trainer.Settings {
  /// docs/mathematics.md §5, with the choices the README's sweep made where the papers give
  /// no value: three epochs of AdamW at 1e-3 on batches of 64; DIR's policy on bias column 0;
  /// the prompt-free decomposition over K = 8 prompts with the pair's own prompt left out
  /// (p = 0) and 200 Newton iterations (always enough on the float grid from its start, where
  /// the solver's default 100 is not for every gap a training meets; otherwise the solver's
  /// defaults), at most eight rounds of proposals per step; the
  /// prioritizer's defaults but without reinsertion: a rejected pair waits for the next epoch.
  ///
  /// `hiddenDim` only fills `dir.club.hiddenDim`, which the trainer sets from the model anyway.
  public static func defaults(
    method: Trainer.Method = .vanilla, hiddenDim: Int = ClubEstimator.Config.defaults.hiddenDim,
    seed: UInt64 = 0
  ) -> Self {
    var dir = DIRLoss.Settings.defaults
    dir.club.hiddenDim = hiddenDim
    var promptFree = PromptFreeGap.defaults
    promptFree.weighting = .corresponding(p: 0)
    promptFree.maxIterations = 200
    var prioritizer = Prioritizer.Settings.defaults
    prioritizer.maxReinsertions = 0
    return Self(
      method: method, epochs: 3, batchSize: 64, learningRate: 1e-3, weightDecay: 0.01, dir: dir,
      biasColumn: 0, promptsPerPair: 8, promptFree: promptFree, promptFreeRounds: 8, prioritizer: prioritizer,
      seed: seed)
  }
}
